"""HAProxy at the front (issue 20): a hub whose proxy is HAProxy, changed at run time."""

import asyncio
import contextlib
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess

import httpx
import pytest
from tornado import httpserver, web

from smchub import haproxy_config
from smchub.haproxy import HAProxyProxy, _may_raise_file_limit

from .hubfixture import running_hub
from .ports import unused_port

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not (shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy")),
        reason="HAProxy is not installed (apt-get install haproxy)",
    ),
]

NOTE = {"type": "file", "format": "text", "content": "through HAProxy"}


@pytest.fixture(scope="module")
async def haproxy_hub(hub_root):
    root = os.path.join(hub_root, "haproxy")
    async with running_hub(
        root,
        JupyterHub__proxy_class="haproxy",
        HAProxyProxy__state_dir=os.path.join(root, "haproxy"),
        HAProxyProxy__check_running_interval=1,
    ) as hub:
        yield hub


async def reachable(person, pid, timeout=10):
    """The project's note through the proxy, as soon as the project answers again."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            r = await person.client.get(person.hub.project_url(pid, "api/contents/note.txt"))
            if r.status_code == 200:
                return r.json()["content"]
        except Exception:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"project {pid} is not reachable through HAProxy")
        await asyncio.sleep(0.1)


async def test_projects_and_the_hub_are_served_through_haproxy(haproxy_hub):
    hub = haproxy_hub
    proxy = hub.app.proxy
    assert type(proxy).__name__ == "HAProxyProxy"
    # the admin socket and the maps are the hub account's alone
    state = proxy.abs_state_dir
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    for name in os.listdir(state):
        if not name.endswith(".sock"):
            assert stat.S_IMODE(os.stat(os.path.join(state, name)).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(proxy.api_socket).st_mode) == 0o600
    if os.geteuid() == 0:
        # HAProxy faces the network: it does not keep root's rights (Debian's account)
        assert proxy.user == "haproxy"
        with open(f"/proc/{proxy.process.pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(pwd.getpwnam("haproxy").pw_uid)}

    alice = await hub.person()
    pid = (await alice.create_project("Behind HAProxy"))["id"]
    await alice.start_project(pid)
    # the hub's pages and API come through HAProxy's default route
    r = await alice.client.get("/hub/login")
    assert r.status_code == 200 and "<form" in r.text
    r = await alice.client.put(hub.project_url(pid, "api/contents/note.txt"), json=NOTE)
    assert r.status_code == 201, r.text
    assert await reachable(alice, pid) == "through HAProxy"
    # a kernel's websocket, both ways
    assert (await alice.execute(pid, "print(6 * 7)")).strip() == "42"
    # the route, as JupyterHub sees it
    routes = await proxy.get_all_routes()
    spec = hub.app.users[pid].proxy_spec
    assert routes[spec]["data"] == {"user": pid, "server_name": ""}
    assert routes[spec]["target"] == hub.app.users[pid].spawner.server.host
    assert routes["/"]["data"] == {"hub": True}

    # stopped: the project's host gets the hub's answer, as with CHP
    await alice.stop_project(pid)
    assert spec not in await proxy.get_all_routes()
    r = await alice.client.get(hub.project_url(pid, "api/contents/note.txt"))
    # (the hub's answer, a Tornado one, not HAProxy's error page)
    assert r.headers.get("server", "").startswith("TornadoServer"), (r.status_code, r.headers)


async def test_haproxy_has_a_file_descriptor_for_every_connection(haproxy_hub):
    proxy = haproxy_hub.app.proxy
    answer = await proxy._api("show info")
    info = dict(line.split(": ", 1) for line in answer.splitlines() if ": " in line)
    maxconn = int(info["Maxconn"])
    assert maxconn == proxy.effective_maxconn()
    # two per connection (the client's and the target's), which HAProxy set for itself
    assert int(info["Ulimit-n"]) > 2 * maxconn
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if _may_raise_file_limit() or hard >= haproxy_config.fds_needed(10_000):
        assert maxconn >= 10_000
    else:
        # 5,000 open websockets are 10,000 descriptors: this machine holds them
        assert maxconn == (hard - haproxy_config.FD_RESERVE) // 2


def test_maxconn_follows_the_limit_on_open_files():
    default = haproxy_config.DEFAULT_MAXCONN
    assert haproxy_config.default_maxconn(1 << 20, can_raise_limit=False) == default
    assert haproxy_config.default_maxconn(4096, can_raise_limit=True) == default
    assert haproxy_config.default_maxconn(20_000, can_raise_limit=False) == 9_950
    if not _may_raise_file_limit():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        proxy = HAProxyProxy(state_dir="/tmp/unused", public_url="http://127.0.0.1:1/")
        proxy.maxconn = hard
        with pytest.raises(ValueError, match="LimitNOFILE"):
            proxy.config_text()


async def test_a_killed_haproxy_comes_back_with_its_routes(haproxy_hub):
    hub = haproxy_hub
    proxy = hub.app.proxy
    bob = await hub.person()
    pid = (await bob.create_project("Survives HAProxy"))["id"]
    await bob.start_project(pid)
    r = await bob.client.put(hub.project_url(pid, "api/contents/note.txt"), json=NOTE)
    assert r.status_code == 201, r.text
    try:
        killed = proxy.process.pid
        os.kill(killed, signal.SIGKILL)
        await asyncio.sleep(0.2)
        assert await reachable(bob, pid, timeout=10) == "through HAProxy"
        assert proxy.process.pid != killed
        assert hub.app.users[pid].proxy_spec in await proxy.get_all_routes()
    finally:
        await bob.stop_project(pid)


async def test_routes_survive_a_hub_restart(haproxy_hub):
    hub = haproxy_hub
    carol = await hub.person("carol")
    pid = (await carol.create_project("Survives the hub"))["id"]
    await carol.start_project(pid)
    r = await carol.client.put(hub.project_url(pid, "api/contents/note.txt"), json=NOTE)
    assert r.status_code == 201, r.text
    first = hub.app.proxy.process.pid

    await hub.stop(leave_servers=True)
    await hub.start()

    carol = await hub.person("carol")
    await carol.wait_for_state(pid, "running", timeout=10)
    assert hub.app.proxy.process.pid != first
    assert await reachable(carol, pid, timeout=10) == "through HAProxy"
    routes = await hub.app.proxy.get_all_routes()
    assert routes[hub.app.users[pid].proxy_spec]["data"] == {"user": pid, "server_name": ""}
    await carol.stop_project(pid)


async def test_an_haproxy_the_admin_runs(hub_root):
    root = os.path.join(hub_root, "haproxy-admin")
    state = os.path.join(root, "haproxy")
    port = unused_port()
    # what the admin does once: the hub's config, then their own haproxy on it
    admins = HAProxyProxy(
        state_dir=state, public_url=f"http://127.0.0.1:{port}/", host_routing=True
    )
    admins.write_state_dir()
    command = [*admins.command, "-db", "-f", os.path.join(state, "haproxy.cfg")]
    haproxy = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        async with running_hub(
            root,
            JupyterHub__port=port,
            JupyterHub__proxy_class="smchub.haproxy.HAProxyProxy",
            HAProxyProxy__should_start=False,
            HAProxyProxy__state_dir=state,
        ) as hub:
            assert hub.app.proxy.process is None
            dave = await hub.person()
            pid = (await dave.create_project("Behind the admin's HAProxy"))["id"]
            await dave.start_project(pid)
            r = await dave.client.put(hub.project_url(pid, "api/contents/note.txt"), json=NOTE)
            assert r.status_code == 201, r.text
            assert await reachable(dave, pid) == "through HAProxy"

            # the admin restarts their HAProxy: it reads the routes the hub wrote
            haproxy.terminate()
            haproxy.wait()
            haproxy = subprocess.Popen(command, stdin=subprocess.DEVNULL)
            assert await reachable(dave, pid) == "through HAProxy"
            await dave.stop_project(pid)
    finally:
        haproxy.terminate()
        haproxy.wait()


class Named(web.RequestHandler):
    def initialize(self, name):
        self.name = name

    def get(self, path):
        # what the server was asked, for the error page's request
        self.set_header("X-Seen-Uri", self.request.uri)
        self.set_header("X-Seen-Cookie", self.request.headers.get("Cookie", ""))
        self.finish(self.name)


@contextlib.asynccontextmanager
async def named_servers(*names):
    """A tiny HTTP server per name, answering its name: {name: its URL}."""
    servers, urls = [], {}
    for name in names:
        port = unused_port()
        server = httpserver.HTTPServer(web.Application([(r"(.*)", Named, {"name": name})]))
        server.listen(port, "127.0.0.1")
        servers.append(server)
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        yield urls
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("host_routing", [True, False], ids=["hosts", "paths"])
async def test_the_longest_route_wins(hub_root, host_routing):
    port = unused_port()
    proxy = HAProxyProxy(
        state_dir=os.path.join(hub_root, f"haproxy-table-{host_routing}"),
        public_url=f"http://127.0.0.1:{port}/",
        host_routing=host_routing,
    )
    await proxy.start()
    host = "a.hub.localhost"
    prefix = host + "/" if host_routing else "/"
    try:
        async with (
            named_servers("hub", "a", "ax") as urls,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            # deepest first: the order routes come in does not matter
            await proxy.add_route(f"{prefix}user/a/x/", urls["ax"], {"n": 2})
            await proxy.add_route(f"{prefix}user/a/", urls["a"], {"user": "a"})
            await proxy.add_route("/", urls["hub"], {"hub": True})

            async def served_by(path, host=host):
                r = await client.get(path, headers={"Host": host})
                assert r.status_code == 200, (path, r.status_code, r.text)
                return r.text

            assert await served_by("/user/a/api/status?x=/user/a/x/") == "a"
            assert await served_by("/user/a") == "a"
            assert await served_by("/user/a/x") == "ax"
            assert await served_by("/user/a/x/y/z") == "ax"
            assert await served_by("/user/ab/") == "hub"
            assert await served_by("/hub/login") == "hub"
            if host_routing:
                # host names are case-blind, the port is not part of the route
                assert await served_by("/user/a/", host="A.Hub.Localhost:8000") == "a"
                assert await served_by("/user/a/", host="b.hub.localhost") == "hub"

            routes = await proxy.get_all_routes()
            assert routes == {
                "/": {"routespec": "/", "target": urls["hub"], "data": {"hub": True}},
                f"{prefix}user/a/": {
                    "routespec": f"{prefix}user/a/",
                    "target": urls["a"],
                    "data": {"user": "a"},
                },
                f"{prefix}user/a/x/": {
                    "routespec": f"{prefix}user/a/x/",
                    "target": urls["ax"],
                    "data": {"n": 2},
                },
            }
            # a new target for a route replaces the old one
            await proxy.add_route(f"{prefix}user/a/x/", urls["hub"], {"n": 3})
            assert await served_by("/user/a/x/y") == "hub"
            await proxy.delete_route(f"{prefix}user/a/x/")
            assert await served_by("/user/a/x/y") == "a"
            assert set(await proxy.get_all_routes()) == {"/", f"{prefix}user/a/"}

            # a server that is gone while its route is still there: the hub's error page
            # (JupyterHub's /hub/error/<code>), asked as CHP asks it, with a 503
            await proxy.add_route(f"{prefix}user/gone/", f"http://127.0.0.1:{unused_port()}", {})
            headers = {"Host": host, "Cookie": "jupyterhub-session-id=secret"}
            gone = "/user/gone/api/contents?type=file&x=a%20b"
            page, post = await asyncio.gather(
                client.get(gone, headers=headers), client.post(gone, headers=headers)
            )
            assert page.status_code == 503 and page.text == "hub", page.text
            assert page.headers["x-seen-uri"] == (
                "/hub/error/503?url=%2Fuser%2Fgone%2Fapi%2Fcontents%3Ftype%3Dfile%26x%3Da%2520b"
            )
            assert page.headers["x-seen-cookie"] == ""
            assert post.status_code == 503 and "not answering" in post.text, post.text
            if host_routing:
                # the hub down too: HAProxy says so
                await proxy.add_route("/", f"http://127.0.0.1:{unused_port()}", {"hub": True})
                r = await client.get(gone, headers=headers)
                assert r.status_code == 503 and "neither is the hub" in r.text, r.text
    finally:
        await proxy.stop()


def test_routes_haproxy_cannot_take_are_refused():
    proxy = HAProxyProxy(state_dir="/tmp/unused", public_url="http://127.0.0.1:1/")
    for spec in ("/user/a b/", "/user/a;show info/"):
        with pytest.raises(ValueError, match="cannot route"):
            asyncio.run(proxy.add_route(spec, "http://127.0.0.1:2", {}))
    with pytest.raises(ValueError, match="http://host:port targets only"):
        asyncio.run(proxy.add_route("/user/a/", "https://127.0.0.1:2", {}))
