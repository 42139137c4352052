"""The hubs under test: smchub and stock JupyterHub, each a subprocess in its own folder.

Both run from this Python environment, on random loopback ports, with their own SQLite
database, the same configurable-http-proxy and an admin API token given in the config.
For the proxy rows, a second smchub differs from the first only by its proxy class
(`c.JupyterHub.proxy_class = "haproxy"`).
"""

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import psutil
from jupyterhub.utils import random_port

from smchub import haproxy_config
from smchub.app import _find_chp
from smchub.names import unix_name
from smchub.origins import EMBEDDED_HUB_HOST

BIN = os.path.dirname(sys.executable)
ADMIN = "admin"
# the host, under the hub's, that smchub's proxy routes to the websocket echo server
ECHO_NAME = "bench-echo"


class Hub:
    """A hub process under test; subclasses say how servers are created and started."""

    kind = "abstract"
    proxy_only = False

    def __init__(self, root):
        self.root = root
        os.makedirs(root, mode=0o711, exist_ok=True)
        os.chmod(root, 0o711)
        # different ports: random_port() can hand out the same free port twice; the last
        # one is for the websocket echo server behind the proxy (benchmarks.proxy_load)
        self.port, self.hub_port, proxy_api_port, self.echo_port = _distinct_ports(4)
        self.url = f"http://127.0.0.1:{self.port}"
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.proxy_api_url = f"http://127.0.0.1:{proxy_api_port}"
        self.proxy_token = secrets.token_hex(16)
        self.admin_token = secrets.token_hex(32)
        self.db_file = os.path.join(root, "hub.sqlite")
        self.log_file = os.path.join(root, "hub.log")
        self.config_file = os.path.join(root, "jupyterhub_config.py")
        self.proc = None
        self.servers = []  # names of the servers made, for clean-up
        self.write_config()

    def settings(self):
        return {
            "c.JupyterHub.ip": "127.0.0.1",
            "c.JupyterHub.port": self.port,
            "c.JupyterHub.hub_ip": "127.0.0.1",
            "c.JupyterHub.hub_port": self.hub_port,
            "c.ConfigurableHTTPProxy.api_url": self.proxy_api_url,
            "c.ConfigurableHTTPProxy.auth_token": self.proxy_token,
            "c.ConfigurableHTTPProxy.command": [_find_chp()],
            "c.ConfigurableHTTPProxy.pid_file": os.path.join(self.root, "proxy.pid"),
            "c.JupyterHub.db_url": "sqlite:///" + self.db_file,
            "c.JupyterHub.cookie_secret_file": os.path.join(self.root, "cookie_secret"),
            "c.JupyterHub.pid_file": os.path.join(self.root, "hub.pid"),
            "c.JupyterHub.api_tokens": {self.admin_token: ADMIN},
            # a generated-looking token: hashed once, like tokens the hub makes itself
            "c.JupyterHub.trust_user_provided_tokens": True,
            "c.Authenticator.admin_users": {ADMIN},
        }

    def extra_config(self):
        return ""

    def write_config(self):
        with open(self.config_file, "w") as f:
            f.write("c = get_config()  # noqa\n")
            for key, value in self.settings().items():
                f.write(f"{key} = {value!r}\n")
            f.write(textwrap.dedent(self.extra_config()))

    @property
    def command(self):
        raise NotImplementedError

    def environment(self):
        env = dict(os.environ)
        env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
        return env

    async def start(self, timeout=120):
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.command, "-f", self.config_file],
                cwd=self.root,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.kind} exited as it started:\n{self.log_tail()}")
                try:
                    if (await client.get(self.url + "/hub/api")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not answer in {timeout}s:\n{self.log_tail()}")

    async def stop(self):
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        for _ in range(600):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def log_tail(self, chars=5000):
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()[-chars:]
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def server_host(self, name):
        """The Host header that reaches `name`'s server through the proxy."""
        return f"127.0.0.1:{self.port}"

    def server_url(self, name, path="", scheme="http"):
        """`path` on `name`'s server, through the proxy."""
        return f"{scheme}://{self.server_host(name)}/user/{name}/{path}"

    def route_key(self, name):
        """The proxy's routing-table key for `name`'s server."""
        return f"/user/{name}"

    def client(self, **kwargs):
        """An HTTP client through the proxy, as the admin."""
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=httpx.Timeout(300, connect=30),
            limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
            **kwargs,
        )

    # --- servers -------------------------------------------------------------------

    async def create_server(self, client):
        """A new, stopped server; returns the JupyterHub user name serving it."""
        raise NotImplementedError

    async def request_start(self, client, name):
        """Ask for the server to start; True if the answer says it is ready already."""
        raise NotImplementedError

    async def request_stop(self, client, name):
        raise NotImplementedError

    async def start_until_ready(self, client, name):
        """Start a server; (ok, seconds until it answers through the proxy, error)."""
        tic = time.perf_counter()
        try:
            if not await self.request_start(client, name):
                await self.wait_for_progress(client, name)
            r = await client.get(self.server_url(name, "api/status"))
            if r.status_code != 200:
                raise RuntimeError(f"the server answered {r.status_code} through the proxy")
        except Exception as e:
            return False, time.perf_counter() - tic, f"{type(e).__name__}: {e}"
        return True, time.perf_counter() - tic, None

    async def wait_for_progress(self, client, name):
        """Follow JupyterHub's progress event stream until the spawn ends (no polling)."""
        url = f"/hub/api/users/{name}/server/progress"
        async with client.stream("GET", url, timeout=httpx.Timeout(None, connect=30)) as r:
            if r.status_code == 400:
                return  # not starting any more: done, the proxy check tells how it went
            if r.status_code != 200:
                raise RuntimeError(f"progress: {r.status_code}")
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("ready"):
                    return
                if event.get("failed"):
                    raise RuntimeError(event.get("message", "spawn failed"))
        raise RuntimeError("the progress stream ended without an outcome")

    async def server_state(self, client, name):
        r = await client.get(f"/hub/api/users/{name}")
        r.raise_for_status()
        server = r.json().get("servers", {}).get("")
        return server

    async def server_pid(self, client, name):
        raise NotImplementedError

    async def stop_servers(self, client, names, timeout=120):
        await asyncio.gather(*(self.request_stop(client, name) for name in names))
        deadline = time.monotonic() + timeout
        for name in names:
            while time.monotonic() < deadline:
                if await self.server_state(client, name) is None:
                    break
                await asyncio.sleep(0.2)

    async def routes(self):
        """The proxy's routing table: path prefix -> target."""
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.get(
                self.proxy_api_url + "/api/routes",
                headers={"Authorization": f"token {self.proxy_token}"},
            )
            r.raise_for_status()
            return {path: route["target"] for path, route in r.json().items()}

    async def server_target(self, name):
        """The URL the proxy forwards `name`'s server to (its own port)."""
        return (await self.routes())[self.route_key(name)]

    @property
    def echo_host(self):
        """The Host header the proxy routes to the echo server; None: no such route."""
        return None

    async def proxy_info(self):
        """What the proxy says of itself (HAProxy's `show info`); {} for CHP."""
        return {}

    def proxy_processes(self):
        """The proxy's processes (configurable-http-proxy, started by the hub)."""
        return self._descendants(lambda p: "configurable-http-proxy" in " ".join(p.cmdline()))

    def _descendants(self, match):
        if self.proc is None:
            return []
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []
        found = []
        for child in children:
            try:
                if match(child):
                    found.append(child)
            except psutil.Error:
                pass
        return found

    def helper_processes(self):
        """Processes a node keeps for all its servers (counted in memory per server)."""
        return []

    def remove_accounts(self):
        pass


class SMCHubUnderTest(Hub):
    """smchub with its defaults on the local node (fork server included)."""

    kind = "smchub"

    def settings(self):
        settings = super().settings()
        settings.update(
            {
                "c.SMCHub.data_dir": os.path.join(self.root, "data"),
                # 50 projects on a 2-core, 24 GiB node: smaller memory quotas, and CPUs
                # handed out 30 times over (placement would refuse the 9th project with
                # the defaults of 1 CPU each and 4x overcommit)
                "c.SMCHub.default_quotas": {"memory_mb": 400, "cpu": 1.0},
                "c.SMCHub.overcommit": {"memory": 1.0, "cpu": 30.0},
                # every stall over 100 ms in the log, with its stack (--keep-logs)
                "c.LoopWatch.stall_threshold": 0.1,
                # a host routed to the bench's websocket echo server (the idle websockets
                # of the proxy rows); the hub keeps it in the proxy as its own routes
                "c.Proxy.extra_routes": {
                    f"{ECHO_NAME}.{EMBEDDED_HUB_HOST}/": f"http://127.0.0.1:{self.echo_port}"
                },
            }
        )
        return settings

    @property
    def echo_host(self):
        return f"{ECHO_NAME}.{EMBEDDED_HUB_HOST}:{self.port}"

    @property
    def command(self):
        return [os.path.join(BIN, "smchub")]

    # each project on its own origin, <id>.hub.localhost (the default on loopback)
    def server_host(self, name):
        return f"{name}.{EMBEDDED_HUB_HOST}:{self.port}"

    def route_key(self, name):
        return f"/{name}.{EMBEDDED_HUB_HOST}/user/{name}"

    async def create_server(self, client):
        r = await client.post("/hub/api/projects", json={"title": "bench"})
        r.raise_for_status()
        name = r.json()["id"]
        self.servers.append(name)
        return name

    async def request_start(self, client, name):
        r = await client.post(f"/hub/api/projects/{name}/start")
        if r.status_code != 202:
            raise RuntimeError(f"start: {r.status_code} {r.text[:200]}")
        return r.json()["state"] == "running"

    async def request_stop(self, client, name):
        await client.post(f"/hub/api/projects/{name}/stop")

    async def server_pid(self, client, name):
        server = await self.server_state(client, name)
        return server["state"]["handle"]["pid"]

    def helper_processes(self):
        if self.proc is None:
            return []
        try:
            hub = psutil.Process(self.proc.pid)
            return [
                p for p in hub.children() if "smchub.spawners.forkserver" in " ".join(p.cmdline())
            ]
        except psutil.Error:
            return []

    def remove_accounts(self):
        if os.geteuid() != 0:
            return
        for name in self.servers:
            subprocess.run(["userdel", unix_name(name)], capture_output=True)


class SMCHubWithHAProxy(SMCHubUnderTest):
    """The same smchub behind HAProxy: only the proxy class differs.

    HAProxy's config, maps and admin socket are where smchub puts them, in
    <data_dir>/haproxy.
    """

    kind = "smchub-haproxy"
    # the proxy rows only: starts are the hub's and the project servers' work
    proxy_only = True

    def settings(self):
        settings = super().settings()
        settings["c.JupyterHub.proxy_class"] = "haproxy"
        return settings

    @property
    def haproxy_dir(self):
        return os.path.join(self.root, "data", "haproxy")

    async def _admin(self, command):
        """One command on HAProxy's admin socket (runtime API); its answer."""
        reader, writer = await asyncio.open_unix_connection(
            os.path.join(self.haproxy_dir, haproxy_config.ADMIN_SOCKET)
        )
        try:
            writer.write(f"{command}\n".encode())
            return (await reader.read()).decode()
        finally:
            writer.close()

    async def server_target(self, name):
        # HAProxy has no REST API: its data map holds each route's target URL as
        # JupyterHub gave it
        path = os.path.join(self.haproxy_dir, haproxy_config.DATA_MAP)
        entries = haproxy_config.parse_show_map(await self._admin(f"show map {path}"))
        key = haproxy_config.route_key(f"{name}.{EMBEDDED_HUB_HOST}/user/{name}/")
        return haproxy_config.decode_data(entries[key])["target"]

    async def proxy_info(self):
        lines = (await self._admin("show info")).splitlines()
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    def proxy_processes(self):
        return self._descendants(lambda p: p.name() == "haproxy")


class StockJupyterHub(Hub):
    """JupyterHub 6 as it comes, with SimpleLocalProcessSpawner (servers run as the hub's
    user: root here, hence --allow-root), DummyAuthenticator and a home per user."""

    kind = "stock"

    def settings(self):
        settings = super().settings()
        homes = os.path.join(self.root, "homes")
        os.makedirs(homes, exist_ok=True)
        settings.update(
            {
                "c.JupyterHub.spawner_class": "jupyterhub.spawner.SimpleLocalProcessSpawner",
                "c.SimpleLocalProcessSpawner.home_dir_template": homes + "/{username}",
                "c.JupyterHub.authenticator_class": "dummy",
            }
        )
        if os.geteuid() == 0:
            settings["c.Spawner.args"] = ["--allow-root"]
        return settings

    @property
    def command(self):
        return [os.path.join(BIN, "jupyterhub")]

    async def create_server(self, client):
        name = "u" + secrets.token_hex(5)
        r = await client.post(f"/hub/api/users/{name}")
        r.raise_for_status()
        self.servers.append(name)
        return name

    async def request_start(self, client, name):
        r = await client.post(f"/hub/api/users/{name}/server")
        if r.status_code not in (201, 202):
            raise RuntimeError(f"start: {r.status_code} {r.text[:200]}")
        return r.status_code == 201

    async def request_stop(self, client, name):
        await client.delete(f"/hub/api/users/{name}/server")

    async def server_pid(self, client, name):
        server = await self.server_state(client, name)
        return server["state"]["pid"]


def _distinct_ports(count):
    ports = []
    while len(ports) < count:
        port = random_port()
        if port not in ports:
            ports.append(port)
    return ports


def make_root(prefix):
    """A temporary folder that per-project accounts can walk through."""
    import tempfile

    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o711)
    return root


def remove_root(root):
    shutil.rmtree(root, ignore_errors=True)
