"""`smchub node ...`: manage compute nodes from the command line, on the hub's database."""

import sys

from traitlets import Dict, Float, Integer, List, Unicode
from traitlets.config import Application

from . import nodes, orm


class NodeCommand(Application):
    """Base of the node subcommands: opens the hub's database with the hub's config."""

    config_file = Unicode("jupyterhub_config.py", help="The hub's config file.").tag(config=True)
    aliases = {"f": "NodeCommand.config_file", "config": "NodeCommand.config_file"}

    def open_hub(self):
        from .app import SMCHub

        hub = SMCHub(parent=self, log=self.log)
        hub.config_file = self.config_file
        hub.load_config_file(hub.config_file)
        hub.elects = False
        hub.init_db()
        return hub

    def fail(self, message):
        print(f"smchub node: {message}", file=sys.stderr)
        self.exit(1)

    def one_name(self):
        if len(self.extra_args) != 1:
            self.fail(f"give exactly one node name (got {len(self.extra_args)})")
        return self.extra_args[0]


class NodeList(NodeCommand):
    description = "List compute nodes with their load."

    def start(self):
        hub = self.open_hub()
        rows, loads = nodes.loads_for(hub.db, nodes.allocations_in_db(hub.db, hub.default_quotas))
        print(f"{'NAME':16} {'BACKEND':8} {'STATE':9} {'RUNNING':>7} {'MEMORY MB':>17} "
              f"{'CPU':>11}  URL")  # fmt: skip
        for node in rows:
            load = loads[node.name]
            memory = f"{load.memory_allocated_mb}/{node.memory_mb}"
            cpu = f"{load.cpu_allocated:g}/{node.cpu:g}"
            print(f"{node.name:16} {node.backend:8} {node.state:9} {load.running:>7} "
                  f"{memory:>17} {cpu:>11}  {node.url}")  # fmt: skip


class NodeAdd(NodeCommand):
    description = "Add a compute node: smchub node add NAME --backend docker --url ..."

    backend = Unicode(
        "docker", help="Kind of node: one registered in the smchub.node_backends entry points"
    ).tag(config=True)
    url = Unicode("", help="The node's engine, e.g. unix:///var/run/docker.sock").tag(config=True)
    cpu = Float(0, help="CPUs placement may hand out").tag(config=True)
    memory_mb = Integer(0, help="Memory (MB) placement may hand out").tag(config=True)
    labels = List(Unicode(), help="KEY=VALUE labels").tag(config=True)
    options = Dict(help="Backend options").tag(config=True)

    aliases = {
        **NodeCommand.aliases,
        "backend": "NodeAdd.backend",
        "url": "NodeAdd.url",
        "cpu": "NodeAdd.cpu",
        "memory-mb": "NodeAdd.memory_mb",
        "label": "NodeAdd.labels",
        "option": "NodeAdd.options",
    }

    def start(self):
        name = self.one_name()
        spec = {"name": name, "backend": self.backend, "url": self.url, "options": self.options}
        if self.cpu:
            spec["cpu"] = self.cpu
        if self.memory_mb:
            spec["memory_mb"] = self.memory_mb
        try:
            spec["labels"] = dict(item.split("=", 1) for item in self.labels)
        except ValueError:
            self.fail("labels are KEY=VALUE")
        hub = self.open_hub()
        try:
            spec = nodes.check_node_spec(spec)
            node = nodes.new_node(spec)
        except nodes.InvalidNode as e:
            self.fail(str(e))
        if hub.db.get(orm.ComputeNode, name) is not None:
            self.fail(f"node {name} already exists")
        hub.db.add(node)
        hub.db.commit()
        print(f"added node {name} ({node.backend}, {node.cpu:g} CPU, {node.memory_mb} MB)")


class NodeSetState(NodeCommand):
    state = "draining"

    def start(self):
        name = self.one_name()
        hub = self.open_hub()
        node = hub.db.get(orm.ComputeNode, name)
        if node is None:
            self.fail(f"no such node: {name}")
        node.state = self.state
        hub.db.commit()
        print(f"node {name} is {self.state}")


class NodeDrain(NodeSetState):
    description = "Stop placing new projects on a node (running ones keep running)."
    state = "draining"


class NodeActivate(NodeSetState):
    description = "Let a drained or down node take projects again."
    state = "active"


class NodeRemove(NodeCommand):
    description = "Remove a node that holds no project's files."

    def start(self):
        name = self.one_name()
        hub = self.open_hub()
        node = hub.db.get(orm.ComputeNode, name)
        if node is None:
            self.fail(f"no such node: {name}")
        held = nodes.projects_on(hub.db, name)
        if held:
            listed = ", ".join(f"{p.id} ({p.title})" for p in held)
            self.fail(f"node {name} still holds the files of {len(held)} project(s): {listed}")
        hub.db.delete(node)
        hub.db.commit()
        print(f"removed node {name}")


class NodeApp(Application):
    name = "smchub node"
    description = "Manage compute nodes: list, add, drain, activate, remove."
    subcommands = {
        "list": (NodeList, NodeList.description),
        "add": (NodeAdd, NodeAdd.description),
        "drain": (NodeDrain, NodeDrain.description),
        "activate": (NodeActivate, NodeActivate.description),
        "remove": (NodeRemove, NodeRemove.description),
    }

    def start(self):
        if self.subapp is None:
            self.print_subcommands()
            self.exit(1)
        self.subapp.start()
