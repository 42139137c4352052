"""Admin REST API for compute nodes: /hub/api/nodes."""

from tornado import web

from .. import nodes, orm
from ..scopes import NODES_SCOPE, READ_NODES_SCOPE
from .base import SMCAPIHandler


class NodeAPIHandlerBase(SMCAPIHandler):
    def check_node_scope(self, write=True):
        """Refuse (403) a request whose scopes do not reach compute nodes: a person's or a
        service's, whatever their admin flag, only the token's scopes count."""
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        scope = NODES_SCOPE if write else READ_NODES_SCOPE
        if not self.may(scope):
            what = "manage" if write else "see"
            raise web.HTTPError(
                403,
                f"Only admins can {what} compute nodes; this needs the {scope} scope, which "
                "admins' own tokens have (a token made with narrower scopes does not).",
            )

    def models(self, rows=None):
        all_rows, loads = self.smchub.node_loads()
        rows = all_rows if rows is None else rows
        return [nodes.node_model(n, loads.get(n.name)) for n in rows]

    def find_node(self, name):
        node = self.db.get(orm.ComputeNode, name)
        if node is None:
            raise web.HTTPError(404, f"No such node: {name}")
        return node


class NodeListAPIHandler(NodeAPIHandlerBase):
    def get(self):
        self.check_node_scope(write=False)
        self.write_json(self.models())

    def post(self):
        self.check_node_scope()
        model = self.json_object_body(nodes.NODE_FIELDS, required=("name", "backend"))
        try:
            spec = nodes.check_node_spec(model)
            if self.db.get(orm.ComputeNode, spec["name"]) is not None:
                raise web.HTTPError(409, f"Node {spec['name']} already exists.")
            node = nodes.new_node(spec)
        except nodes.InvalidNode as e:
            raise web.HTTPError(400, str(e))
        self.db.add(node)
        self.db.commit()
        self.log.info("Added compute node %s (%s %s)", node.name, node.backend, node.url)
        self.write_json(self.models([node])[0], status=201)


class NodeAPIHandler(NodeAPIHandlerBase):
    def get(self, name):
        self.check_node_scope(write=False)
        self.write_json(self.models([self.find_node(name)])[0])

    def patch(self, name):
        self.check_node_scope()
        node = self.find_node(name)
        model = self.json_object_body(nodes.NODE_FIELDS - {"name", "backend"})
        try:
            spec = nodes.check_node_spec(model, partial=True)
        except nodes.InvalidNode as e:
            raise web.HTTPError(400, str(e))
        nodes.update_node(node, spec)
        self.db.commit()
        self.log.info("Changed compute node %s: %s", node.name, sorted(spec))
        self.write_json(self.models([node])[0])

    async def delete(self, name):
        self.check_node_scope()
        node = self.find_node(name)
        held = nodes.projects_on(self.db, name)
        if held:
            listed = ", ".join(f"{p.id} ({p.title})" for p in held[:20])
            more = f" and {len(held) - 20} more" if len(held) > 20 else ""
            raise web.HTTPError(
                409,
                f"Node {name} still holds the files of {len(held)} project(s): {listed}{more}. "
                "Drain it and move them first.",
            )
        self.db.delete(node)
        self.db.commit()
        await self.smchub.forget_backend(name)
        self.log.info("Removed compute node %s", name)
        self.set_status(204)
        self.finish()


default_handlers = [
    (r"/api/nodes", NodeListAPIHandler),
    (r"/api/nodes/([^/]+)", NodeAPIHandler),
]
