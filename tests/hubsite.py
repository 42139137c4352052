"""Two hubs on one PostgreSQL database, one active, as an admin runs them on separate
machines: each machine a network namespace on 198.51.100.128/26, linked to a bridge on
this side (198.51.100.129), where the people (the tests) are. That is the upper part of
TEST-NET-2, whose first addresses the test Swarm's link uses (docker/test-swarm.sh);
TEST-NET-1 is this machine's own network here (eth0), and the test engines' networks are
on TEST-NET-3.

    balancer  198.51.100.130  HAProxy in front of the hubs, configurable-http-proxy
    a         198.51.100.131  hub A
    b         198.51.100.132  hub B
    db        198.51.100.133  PostgreSQL
    engine    198.51.100.134  a Docker Engine (`Engine`), answering on TCP with TLS; or
                              a swarm of one, its manager

A machine's link can be taken down (`Lan.cut`), and a machine can drop another's packets
(`Lan.drop_between`, iptables in its namespace): a dead link, with no reset.

tests/test_two_hubs.py fails hubs over on it; benchmarks/failover.py times the failovers,
and also runs the same two hubs on one machine's loopback (`loopback_site`), where a
local node's projects outlive the hub process that started them."""

import asyncio
import contextlib
import dataclasses
import glob
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import docker
import httpx
from certipy import Certipy

from .hubfixture import new_database_url, remove_accounts_under
from .hubprocess import HubProcess
from .ports import unused_port

LAN, LAN_GATEWAY, LAN_SUBNET = "198.51.100", "198.51.100.129", "198.51.100.128/26"
# machine: (last byte of its address, letter of its link's name)
MACHINES = {"balancer": (130, "l"), "a": (131, "a"), "b": (132, "b"), "db": (133, "d"),
            "engine": (134, "e")}  # fmt: skip
DOCKER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docker")
# the engine machine's data, beside the test engines' (its image copied from theirs once)
ENGINE_STATE = os.path.join(os.environ.get("SMCHUB_TEST_DOCKER_STATE", "/tmp/smchub-docker"),
                            "lan-engine")  # fmt: skip
# its projects' network, room for the 21 projects of a test: a part of TEST-NET-2 beside
# the machines that the test Swarm's link leaves alone, on that machine only
PROJECTS_SUBNET = "198.51.100.192/27"


def haproxy_config(port, hubs, bind="127.0.0.1"):
    """HAProxy in front of the hubs' own ports, as examples/two_hubs has it: a hub is
    sent traffic while its /hub/health answers 200 (the standby answers 503). `hubs`:
    name -> (address, port)."""
    servers = "\n".join(
        f"    server {name} {host}:{hub_port} check inter 200ms fall 3 rise 1"
        " observe layer4 error-limit 1 on-error mark-down"
        for name, (host, hub_port) in hubs.items()
    )
    return f"""global
    log stdout format raw local0 warning
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend hubs
    bind {bind}:{port}
    default_backend active_hub
backend active_hub
    option httpchk GET /hub/health
    http-check expect status 200
    option redispatch
    retries 2
    # a refused connection is retried after this (at most 1 s): the hubs are near
    timeout connect 300ms
    # a busy hub answers its checks late: three late or failed checks take it out (a
    # dead one refuses connections and is out at the first, by observe layer4)
    timeout check 2s
{servers}
"""


async def health(hub):
    """The status of the hub's own /hub/health (200 active, 503 standby), or None."""
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            url = f"http://{hub.hub_host}:{hub.hub_port}/hub/health"
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return None


async def until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        await asyncio.sleep(0.1)


async def equals(awaitable, value):
    return (await awaitable) == value


async def api_answers(person):
    try:
        # not person.api: HAProxy's own 503 while no hub is up is no answer of smchub's
        r = await person.client.get("/hub/api/projects", timeout=3)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


async def active_and_standby(a, b):
    """Start hub `a`, then `b`, which stands by."""
    await a.start()
    await b.start(answer=False)
    await until(lambda: equals(health(b), 503), 60, "the second hub standing by")


class Relay:
    """A TCP relay from `host`:`port` (a port of its own) to `target_host`:`target_port`,
    whose traffic the caller can drop: while `dropping`, bytes are held in both
    directions (as by a dead link: no answer, no reset)."""

    def __init__(self, target_port, host="127.0.0.1", target_host="127.0.0.1", port=None):
        self.target_port, self.target_host = target_port, target_host
        self.host = host
        self.port = port or unused_port()
        self.dropping = False
        self.server = None
        self.tasks = set()

    async def start(self):
        self.server = await asyncio.start_server(self._connection, self.host, self.port)

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                while self.dropping:
                    await asyncio.sleep(0.05)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _connection(self, reader, writer):
        try:
            upstream = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        up_reader, up_writer = upstream
        for task in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.ensure_future(task)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def close(self):
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def run(*command, ns=None):
    prefix = ["ip", "netns", "exec", ns] if ns else []
    done = subprocess.run([*prefix, *command], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(done.args)}: {done.returncode}, {done.stderr.strip()}")


def refuse_if_in_use(subnet):
    """Stop before this machine's own traffic could be routed to the test's bridge: an
    address of its own, a route, or a gateway in `subnet` (a wider route, as the test
    Swarm's, is fine: the bridge's is more specific, for addresses no one else uses)."""
    net = ipaddress.ip_network(subnet)
    for entry in json.loads(subprocess.check_output(["ip", "-j", "-4", "addr"])):
        for info in entry.get("addr_info", []):
            if ipaddress.ip_address(info["local"]) in net:
                raise RuntimeError(f"{subnet} is in use here: {entry['ifname']} {info['local']}")
    for route in json.loads(subprocess.check_output(["ip", "-j", "-4", "route"])):
        dst = route["dst"] if route["dst"] != "default" else "0.0.0.0/0"
        gateway = route.get("gateway")
        if ipaddress.ip_network(dst, strict=False).subnet_of(net) or (
            gateway and ipaddress.ip_address(gateway) in net
        ):  # fmt: skip
            raise RuntimeError(f"{subnet} is in use here: route {route}")


class Lan:
    """A bridge on this side with 198.51.100.129, and a network namespace per machine
    (MACHINES), each linked to the bridge by a veth pair. Use as a context manager."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.bridge = f"s2hb{tag}"
        self.ns = {m: f"smchub-{m}-{tag}" for m in MACHINES}
        self.link = {m: f"s2h{tag}{letter}" for m, (_, letter) in MACHINES.items()}
        self.address = {m: f"{LAN}.{n}" for m, (n, _) in MACHINES.items()}
        self.dropped = []

    def __enter__(self):
        refuse_if_in_use(LAN_SUBNET)
        try:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            prefix = LAN_SUBNET.split("/")[1]
            run("ip", "addr", "add", f"{LAN_GATEWAY}/{prefix}", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
            for machine, ns in self.ns.items():
                run("ip", "netns", "add", ns)
                run("ip", "link", "add", self.link[machine], "type", "veth", "peer", "name",
                    "eth0", "netns", ns)  # fmt: skip
                run("ip", "link", "set", self.link[machine], "master", self.bridge, "up")
                address = f"{self.address[machine]}/{prefix}"
                run("ip", "addr", "add", address, "dev", "eth0", ns=ns)
                run("ip", "link", "set", "eth0", "up", ns=ns)
                run("ip", "link", "set", "lo", "up", ns=ns)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for machine, ns in self.ns.items():
            subprocess.run(["ip", "link", "del", self.link[machine]], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def cut(self, machine):
        run("ip", "link", "set", self.link[machine], "down")

    def restore(self, machine):
        run("ip", "link", "set", self.link[machine], "up")

    def drop_between(self, machine, other):
        """`machine` drops every packet from and to `other`."""
        for chain, way in (("INPUT", "-s"), ("OUTPUT", "-d")):
            run("iptables", "-I", chain, way, self.address[other], "-j", "DROP",
                ns=self.ns[machine])  # fmt: skip
        self.dropped.append((machine, other))

    def pass_between(self, machine, other):
        for chain, way in (("INPUT", "-s"), ("OUTPUT", "-d")):
            run("iptables", "-D", chain, way, self.address[other], "-j", "DROP",
                ns=self.ns[machine])  # fmt: skip
        self.dropped.remove((machine, other))

    def popen(self, machine, command, **kwargs):
        """A program on `machine`: `ip netns exec` execs it, so the pid is its own."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns[machine], *command], **kwargs)


@contextlib.contextmanager
def postgres_on(lan, folder, machine="db"):
    """A PostgreSQL server of its own on `machine`, reached by the others on the LAN.
    Yields the URL of its `smchub` database."""
    (bin_dir,) = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:]
    os.makedirs(folder, mode=0o700)
    subprocess.run(["chown", "postgres:", folder], check=True)

    def as_postgres(*command, ns=None):
        run("runuser", "-u", "postgres", "--", *command, ns=ns)

    as_postgres(f"{bin_dir}/initdb", "-D", folder, "-U", "smchub", "--auth=trust", "-E", "UTF8")
    with open(os.path.join(folder, "pg_hba.conf"), "a") as f:
        f.write(f"host all all {LAN_SUBNET} trust\n")
    address = lan.address[machine]
    options = f"-c listen_addresses={address} -p 5432 -k {folder} -c fsync=off"
    as_postgres(f"{bin_dir}/pg_ctl", "-D", folder, "-l", os.path.join(folder, "server.log"),
                "-w", "-t", "60", "-o", options, "start", ns=lan.ns[machine])  # fmt: skip
    try:
        as_postgres(f"{bin_dir}/createdb", "-h", folder, "-U", "smchub", "smchub")
        yield f"postgresql://smchub@{address}:5432/smchub"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{bin_dir}/pg_ctl", "-D", folder,
                        "-m", "immediate", "-w", "stop"], capture_output=True)  # fmt: skip


@dataclasses.dataclass
class Engine:
    """A Docker Engine of its own on the engine machine, a compute node on another machine
    as the hubs see it: they reach its API at `url` over TLS, with a client certificate
    of a CA made for the site, and its project servers on the ports it publishes on its
    address. Its data stays in `state` between runs, so the image is copied once from
    `source`, an engine that has it. The test looks at it through `local`, its socket."""

    state: str
    source: str
    image: str
    url: str = f"tcp://{LAN}.{MACHINES['engine'][0]}:2376"
    local: str = ""
    # a swarm of this one machine, made as docker/test-swarm.sh makes one (no routing
    # mesh; the projects' network of swarm scope from a config-only one)
    swarm: bool = False


def daemons(engine, lan, *args, tls_address=""):
    """docker/test-daemons.sh in the engine machine's network namespace only (nsenter:
    its mounts stay this machine's), managing iptables there."""
    env = {**os.environ, "SMCHUB_DOCKERD_IPTABLES": "1", "SMCHUB_DOCKERD_TLS_ADDRESS": tls_address,
           # a task starts from the image the machine has, not after asking a registry
           "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"}  # fmt: skip
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{lan.ns['engine']}",
         os.path.join(DOCKER_DIR, "test-daemons.sh"), *args, engine.state],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"test-daemons.sh {args[0]}: {done.stderr.strip()}")
    return done.stdout


def site_ca(folder):
    """A CA of the site's and its certificates: issue(name, *alt_names) makes one, signed
    by it, and returns its files ({"key", "cert", "ca"})."""
    certs = Certipy(store_dir=folder)
    certs.create_ca("ca")

    def issue(name, *alt_names):
        return certs.create_signed_pair(name, "ca", alt_names=list(alt_names) or None)["files"]

    return issue


@contextlib.contextmanager
def engine_on(lan, folder, engine):
    """`engine` started on its machine, the image copied in; yields the hub's options
    for it (tls_ca, tls_cert, tls_key: the site's CA, a client certificate of the hub's).
    Afterwards the engine keeps none of the test's containers, volumes or networks, and
    is stopped."""
    issue = site_ca(os.path.join(folder, "engine-tls"))
    server, client = issue("engine", f"IP:{lan.address['engine']}"), issue("hub")
    tls = os.path.join(engine.state, "d0", "tls")
    os.makedirs(tls, exist_ok=True)
    for name in ("ca", "cert", "key"):
        shutil.copyfile(server[name], os.path.join(tls, f"{name}.pem"))
    address = engine.url.removeprefix("tcp://")
    engine.local = daemons(engine, lan, "start", "1", tls_address=address).strip()
    try:
        subprocess.run([os.path.join(DOCKER_DIR, "load-image.sh"), engine.source, engine.local,
                        engine.image], check=True, capture_output=True)  # fmt: skip
        if engine.swarm:
            make_swarm(engine, lan.address["engine"])
        yield {"tls_ca": client["ca"], "tls_cert": client["cert"], "tls_key": client["key"]}
    finally:
        with contextlib.closing(docker.DockerClient(base_url=engine.local)) as api:
            in_swarm = api.info()["Swarm"]["LocalNodeState"] != "inactive"
            for service in api.services.list() if in_swarm else []:
                service.remove()
            for container in api.containers.list(all=True):
                container.remove(force=True)
            for volume in api.volumes.list():
                volume.remove(force=True)
            if in_swarm:
                api.swarm.leave(force=True)
            # every network made for the test, a swarm's config-only one too (which
            # prune keeps)
            for network in api.networks.list():
                if network.name not in ("bridge", "host", "none"):
                    network.remove()
        daemons(engine, lan, "stop")


def make_swarm(engine, address):
    """The engine's machine as a swarm of one, with the projects' network smchub uses."""

    def cli(*args):
        run("docker", "-H", engine.local, *args)

    with contextlib.closing(docker.DockerClient(base_url=engine.local)) as api:
        # one a test cut short left in the engine's data
        for network in api.networks.list(names=["smchub-projects-config"]):
            network.remove()
        api.swarm.init(advertise_addr=address, listen_addr=f"{address}:2377")
        api.networks.get("ingress").remove()
    cli("network", "create", "--config-only", "--subnet", PROJECTS_SUBNET,
        "-o", "com.docker.network.bridge.enable_icc=false", "smchub-projects-config")  # fmt: skip
    cli("network", "create", "-d", "bridge", "--scope", "swarm",
        "--config-from", "smchub-projects-config", "smchub-projects")  # fmt: skip


def hub_settings(root, public, hub_bind, hub_connect, proxy_api, token, extra):
    """What both hubs' configurations say alike, and where this one binds."""
    return (
        f"""
c.JupyterHub.port = {public}
c.JupyterHub.hub_bind_url = "{hub_bind}"
c.JupyterHub.hub_connect_url = "{hub_connect}"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "{proxy_api}"
c.ConfigurableHTTPProxy.auth_token = {token!r}
c.JupyterHub.cookie_secret_file = {os.path.join(root, "cookie_secret")!r}
c.SMCHub.data_dir = {os.path.join(root, "data")!r}
c.JupyterHub.cleanup_servers = False
"""
        + extra
    )


def start_proxies(root, lan=None, public=None, proxy_api=None, balancer=None, token=None,
                  address="127.0.0.1", balancer_host=None):  # fmt: skip
    """HAProxy (its configuration written before) and configurable-http-proxy on
    `address`, on the balancer machine of `lan`, or here; their output in proxies.log.
    The proxy sends what is not a project's to HAProxy at `balancer_host` (`address`)."""
    chp = os.path.join(os.path.dirname(sys.executable), "configurable-http-proxy")
    commands = [
        (["haproxy", "-f", os.path.join(root, "haproxy.cfg")], {}),
        ([chp, "--ip", address, "--port", str(public),
          "--api-ip", address, "--api-port", str(proxy_api),
          "--default-target", f"http://{balancer_host or address}:{balancer}",
          "--log-level", "warn",
          # each project on its own origin (JupyterHub passes it with subdomains)
          "--host-routing"], {"CONFIGPROXY_AUTH_TOKEN": token}),
    ]  # fmt: skip
    processes = []
    with open(os.path.join(root, "proxies.log"), "ab") as log:
        for command, env in commands:
            kwargs = {"stdout": log, "stderr": subprocess.STDOUT, "env": {**os.environ, **env}}
            if lan is not None:
                processes.append(lan.popen("balancer", command, **kwargs))
            else:
                processes.append(subprocess.Popen(command, **kwargs))
    return processes


async def stop_site(hubs, processes):
    for hub in hubs.values():
        if hub.proc is not None and hub.proc.poll() is None:
            hub.proc.send_signal(signal.SIGCONT)
    for hub in hubs.values():
        await hub.stop()
    for process in processes:
        process.terminate()
        process.wait(10)


@contextlib.asynccontextmanager
async def two_hub_site(hub_root, extra_config="", engine=None):
    """Two hubs (a, b) configured alike, each on a machine of its own, on a PostgreSQL
    server on a third, HAProxy and configurable-http-proxy on a fourth; neither hub
    started yet. The people reach the proxy's public port on this side's loopback (a
    relay to the balancer machine, their path to it), as `hub.url` says.

    Yields (hubs, lan). With `engine` (an Engine), that Docker Engine runs on the engine
    machine, the hubs reach it with their client certificate, and its containers reach
    the hubs' API through the proxy on the balancer."""
    root = os.path.join(hub_root, "two-hubs-" + secrets.token_hex(3))
    os.makedirs(root, mode=0o711)
    public, balancer, proxy_api = unused_port(), unused_port(), unused_port()
    token = secrets.token_hex(16)
    with contextlib.ExitStack() as machines:
        lan = machines.enter_context(Lan())
        db_url = machines.enter_context(postgres_on(lan, os.path.join(root, "postgres")))
        front = lan.address["balancer"]
        if engine is not None:
            tls = machines.enter_context(engine_on(lan, root, engine))
            extra_config += "".join(f"c.DockerBackend.{k} = {v!r}\n" for k, v in tls.items())
            # the containers reach the active hub through the proxy, as anyone does
            extra_config += f'c.DockerBackend.hub_api_url = "http://{front}:{public}/hub/api"\n'
        ports = {"a": unused_port(), "b": unused_port()}
        with open(os.path.join(root, "haproxy.cfg"), "w") as f:
            f.write(haproxy_config(balancer, {n: (lan.address[n], p) for n, p in ports.items()},
                                   bind=front))  # fmt: skip
        hubs = {}
        for name, hub_port in ports.items():
            settings = hub_settings(
                root, public, f"http://{lan.address[name]}:{hub_port}",
                f"http://{front}:{balancer}", f"http://{front}:{proxy_api}", token, extra_config,
            )  # fmt: skip
            hub = HubProcess(os.path.join(root, name), settings, db_url=db_url)
            hub.port, hub.hub_port, hub.hub_host = public, hub_port, lan.address[name]
            hub.netns = lan.ns[name]
            hub.url = f"http://hub.localhost:{public}"
            hubs[name] = hub
        people = Relay(public, target_host=front, port=public)
        processes = []
        try:
            processes = start_proxies(root, lan, public, proxy_api, balancer, token, front)
            await people.start()
            yield hubs, lan
        finally:
            await stop_site(hubs, processes)
            await people.close()
            remove_accounts_under(root)


@contextlib.asynccontextmanager
async def loopback_site(hub_root, extra_config="", host="127.0.0.1"):
    """The same two hubs on this machine, the test PostgreSQL server's new database:
    a local node's projects outlive the hub that started them. The hubs and HAProxy
    listen on `host` (this machine's loopback, or an address its compute nodes reach
    it at), the proxy on loopback. Hub A reaches the database through a relay whose
    traffic the caller can drop (`hubs["a"].relay`)."""
    root = os.path.join(hub_root, "two-hubs-" + secrets.token_hex(3))
    os.makedirs(root, mode=0o711)
    public, balancer, proxy_api = unused_port(), unused_port(), unused_port()
    token = secrets.token_hex(16)
    ports = {"a": unused_port(), "b": unused_port()}
    with open(os.path.join(root, "haproxy.cfg"), "w") as f:
        f.write(haproxy_config(balancer, {n: (host, p) for n, p in ports.items()}, bind=host))
    db_url = new_database_url(root)
    relay = Relay(int(db_url.rsplit(":", 1)[1].split("/")[0]))
    await relay.start()
    hubs = {}
    for name, hub_port in ports.items():
        settings = hub_settings(
            root, public, f"http://{host}:{hub_port}", f"http://{host}:{balancer}",
            f"http://127.0.0.1:{proxy_api}", token, extra_config,
        )  # fmt: skip
        url = db_url.replace(f":{relay.target_port}/", f":{relay.port}/") if name == "a" else db_url
        hub = HubProcess(os.path.join(root, name), settings, db_url=url)
        hub.port, hub.hub_port, hub.hub_host = public, hub_port, host
        hub.url = f"http://hub.localhost:{public}"
        hubs[name] = hub
    hubs["a"].relay = relay
    processes = []
    try:
        processes = start_proxies(root, None, public, proxy_api, balancer, token,
                                  balancer_host=host)  # fmt: skip
        yield hubs
    finally:
        await stop_site(hubs, processes)
        await relay.close()
        remove_accounts_under(root)
