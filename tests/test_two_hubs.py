"""Two hubs on one PostgreSQL database, one active: HAProxy sends the hub's traffic to the
one whose /hub/health answers 200, configurable-http-proxy runs outside both and keeps
routing running projects, and the standby takes over when the active hub is killed, or
frozen (SIGSTOP) past its lease; a frozen hub continued afterwards exits without acting.
Probes every 100 ms never see two active hubs, and a kernel executing every 200 ms
through the proxy keeps answering throughout."""

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from docker import types as docker_types
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .hubfixture import TLS, new_database_url, remove_accounts_under
from .hubprocess import HubProcess
from .ports import unused_port

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not os.environ.get("SMCHUB_TEST_PG_URL"),
        reason="two hubs elect the active one on PostgreSQL (make test's PostgreSQL run)",
    ),
]

LEASE = 6


def haproxy_config(port, hubs, also_on=None):
    """HAProxy in front of the hubs' own ports, as examples/two_hubs has it: a hub is
    sent traffic while its /hub/health answers 200 (the standby answers 503). `hubs`:
    name -> (address, port); `also_on`: a second address to listen on."""
    servers = "\n".join(
        f"    server {name} {host}:{hub_port} check inter 200ms fall 3 rise 1"
        " observe layer4 error-limit 1 on-error mark-down"
        for name, (host, hub_port) in hubs.items()
    )
    extra_bind = f"    bind {also_on}:{port}\n" if also_on else ""
    return f"""global
    log stdout format raw local0 warning
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend hubs
    bind 127.0.0.1:{port}
{extra_bind}    default_backend active_hub
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


class EveryFifthOfASecond:
    """A websocket through the proxy to a project, used every 200 ms by `step(n)`, which
    waits for its answer: the answers are counted (`count`) and the longest wait kept."""

    what = "websocket"

    def __init__(self, person, project_id):
        self.person, self.project_id = person, project_id
        self.count = 0
        self.longest = 0.0
        self.failure = None
        self.task = None
        self.halt = False

    async def connect(self, path):
        url = self.person.hub.project_url(self.project_id, path, "ws")
        headers = {"Authorization": f"token {self.person.token}"}
        self.ws = await websocket_connect(HTTPRequest(url, headers=headers, ssl_options=TLS))

    async def message(self):
        raw = await asyncio.wait_for(self.ws.read_message(), 10)
        assert raw is not None, f"the {self.what}'s websocket closed"
        return json.loads(raw)

    def start(self):
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            while not self.halt:
                tic = time.monotonic()
                await self.step(self.count)
                self.count += 1
                self.longest = max(self.longest, time.monotonic() - tic)
                await asyncio.sleep(0.2)
        except BaseException as e:
            self.failure = e

    async def close(self):
        # the last answer counted before the count is checked
        self.halt = True
        await asyncio.wait_for(self.task, 30)
        assert self.failure is None, f"the {self.what} stopped answering: {self.failure!r}"


class Kernel(EveryFifthOfASecond):
    """A kernel executing `n += 1` every 200 ms."""

    what = "kernel"

    async def open(self):
        hub = self.person.hub
        r = await self.person.client.post(
            hub.project_url(self.project_id, "api/kernels"), json={"name": "python3"}
        )
        assert r.status_code == 201, r.text
        await self.connect(f"api/kernels/{r.json()['id']}/channels")
        await self.execute("n = 0")
        self.start()

    async def execute(self, code):
        msg_id = secrets.token_hex(8)
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "",
                  "session": "s", "version": "5.3", "date": ""}  # fmt: skip
        self.ws.write_message(json.dumps({
            "header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False}, "buffers": [],
        }))  # fmt: skip
        while True:
            message = await self.message()
            if message["parent_header"].get("msg_id") == msg_id:
                if message["msg_type"] == "execute_reply":
                    assert message["content"]["status"] == "ok", message["content"]
                    return

    async def step(self, n):
        await self.execute("n += 1")

    async def close(self):
        await super().close()
        await self.execute(f"assert n == {self.count}, n")
        self.ws.close()


class Terminal(EveryFifthOfASecond):
    """A terminal answering a command every 200 ms (`echo T-$((n + 1000))`: the shell
    computes the marker, so the echoed command line never holds it)."""

    what = "terminal"

    async def open(self):
        hub = self.person.hub
        r = await self.person.client.post(hub.project_url(self.project_id, "api/terminals"))
        assert r.status_code == 200, r.text
        await self.connect(f"terminals/websocket/{r.json()['name']}")
        self.start()

    async def step(self, n):
        self.ws.write_message(json.dumps(["stdin", f"echo T-$(({n} + 1000))\r"]))
        marker, text = f"T-{n + 1000}", ""
        while marker not in text:
            message = await self.message()
            if message[0] == "stdout":
                text += message[1]

    async def close(self):
        await super().close()
        self.ws.close()


class Load:
    """20 requests a second through the proxy and HAProxy (GET /hub/api/projects), open
    loop, whatever the answers: the hubs fail over under traffic."""

    def __init__(self, person):
        self.person = person
        self.answered = self.failed = 0
        self.tasks = set()
        self.task = None

    async def _one(self):
        try:
            r = await self.person.client.get("/hub/api/projects", timeout=5)
            if r.status_code == 200:
                self.answered += 1
            else:
                self.failed += 1
        except httpx.HTTPError:
            self.failed += 1

    async def _run(self):
        while True:
            task = asyncio.ensure_future(self._one())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            await asyncio.sleep(0.05)

    def start(self):
        self.task = asyncio.ensure_future(self._run())

    async def stop(self):
        self.task.cancel()
        await asyncio.gather(self.task, *self.tasks, return_exceptions=True)


class Probes:
    """/hub/health of each hub, on its own port, every 100 ms: never two 200 at once."""

    def __init__(self, hubs):
        self.hubs = hubs  # name -> HubProcess
        self.both_active = []
        self.samples = 0
        self.task = None

    async def _probe(self, client, hub):
        try:
            r = await client.get(f"http://{hub.hub_host}:{hub.hub_port}/hub/health")
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def _run(self):
        async with httpx.AsyncClient(timeout=0.5) as client:
            while True:
                answers = await asyncio.gather(
                    *(self._probe(client, h) for h in self.hubs.values())
                )
                self.samples += 1
                if sum(answers) > 1:
                    self.both_active.append(time.monotonic())
                await asyncio.sleep(0.1)

    def start(self):
        self.task = asyncio.ensure_future(self._run())

    async def stop(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def health(hub):
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


class Relay:
    """A TCP relay on loopback between hub A and PostgreSQL whose traffic the test can
    drop: while dropping, bytes are held in both directions (as by a dead link: no
    answer, no reset)."""

    def __init__(self, target_port, host="127.0.0.1"):
        self.target_port = target_port
        self.host = host
        self.port = unused_port()
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
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        for task in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.ensure_future(task)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def close(self):
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def two_hubs(hub_root):
    async with two_hub_site(hub_root) as hubs:
        yield hubs


@contextlib.asynccontextmanager
async def two_hub_site(hub_root, extra_config="", a_netns=None):
    """Two hubs (a, b) configured alike on one new database, HAProxy in front of their
    own ports, configurable-http-proxy outside both; neither started yet.

    With `a_netns` (hub_namespace()), hub A runs in that network namespace, reaching
    the database, the proxy's API and HAProxy through the namespace's link, by relays
    (they listen on loopback here)."""
    root = os.path.join(hub_root, "two-hubs-" + secrets.token_hex(3))
    os.makedirs(root, mode=0o711)
    public, balancer = unused_port(), unused_port()
    proxy_api, token = unused_port(), secrets.token_hex(16)
    # where each hub binds, and where HAProxy, the probes and the other hub reach it
    here = a_netns["host"] if a_netns else "127.0.0.1"
    hosts = {"a": a_netns["inside"] if a_netns else "127.0.0.1", "b": "127.0.0.1"}
    ports = {"a": unused_port(), "b": unused_port()}
    with open(os.path.join(root, "haproxy.cfg"), "w") as f:
        servers = {name: (hosts[name], port) for name, port in ports.items()}
        f.write(haproxy_config(balancer, servers, also_on=here if a_netns else None))
    db_url = new_database_url(root)
    # hub A reaches the database through a relay whose traffic a test drops
    relay = Relay(urlsplit(db_url).port, host=here)
    await relay.start()
    api_relay = None
    if a_netns:
        api_relay = Relay(proxy_api, host=here)
        await api_relay.start()
    processes, hubs = [], {}
    for name, hub_port in ports.items():
        reach = here if name == "a" else "127.0.0.1"
        api = f"http://{here}:{api_relay.port}" if name == "a" and api_relay else (
            f"http://127.0.0.1:{proxy_api}"
        )  # fmt: skip
        shared = (
            f"""
c.JupyterHub.port = {public}
c.JupyterHub.hub_bind_url = "http://{hosts[name]}:{hub_port}"
c.JupyterHub.hub_connect_url = "http://{reach}:{balancer}"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "{api}"
c.ConfigurableHTTPProxy.auth_token = {token!r}
c.JupyterHub.cookie_secret_file = {os.path.join(root, "cookie_secret")!r}
c.SMCHub.data_dir = {os.path.join(root, "data")!r}
c.SMCHub.active_hub_lease = {LEASE}
c.JupyterHub.cleanup_servers = False
# one person starts 20 at once below, on 2 CPUs
c.SMCHub.max_running_per_person = 20
c.SMCHub.default_quotas = {{"memory_mb": 300, "cpu": 0.1}}
"""
            + extra_config
        )
        url = (
            db_url.replace(f"127.0.0.1:{relay.target_port}/", f"{here}:{relay.port}/")
            if name == "a" else db_url
        )  # fmt: skip
        hub = HubProcess(os.path.join(root, name), shared, db_url=url)
        hub.port, hub.hub_port, hub.hub_host = public, hub_port, hosts[name]
        if name == "a" and a_netns:
            hub.netns = a_netns["name"]
        hub.url = f"http://hub.localhost:{public}"
        hubs[name] = hub
    hubs["a"].relay = relay
    try:
        log = open(os.path.join(root, "proxies.log"), "ab")
        processes.append(
            subprocess.Popen(
                ["haproxy", "-f", os.path.join(root, "haproxy.cfg")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
        chp = os.path.join(os.path.dirname(sys.executable), "configurable-http-proxy")
        processes.append(
            subprocess.Popen(
                [chp, "--ip", "127.0.0.1", "--port", str(public),
                 "--api-ip", "127.0.0.1", "--api-port", str(proxy_api),
                 "--default-target", f"http://127.0.0.1:{balancer}", "--log-level", "warn",
                 # each project on its own origin (JupyterHub passes it with subdomains)
                 "--host-routing"],
                env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
                stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        log.close()
        yield hubs
    finally:
        for hub in hubs.values():
            if hub.proc is not None and hub.proc.poll() is None:
                hub.proc.send_signal(signal.SIGCONT)
        for hub in hubs.values():
            await hub.stop()
        for process in processes:
            process.terminate()
            process.wait(10)
        await relay.close()
        if api_relay is not None:
            await api_relay.close()
        remove_accounts_under(root)


async def test_the_standby_takes_over_and_a_frozen_hub_never_acts(two_hubs):
    a, b = two_hubs["a"], two_hubs["b"]
    await active_and_standby(a, b)
    assert await health(a) == 200
    probes = Probes(two_hubs)
    probes.start()

    alice = await a.person("alice")
    project = (await alice.create_project("Through two hubs"))["id"]
    await alice.start_project(project)
    work = {"type": "file", "format": "text", "content": "kept"}
    r = await alice.client.put(a.project_url(project, "api/contents/work.txt"), json=work)
    assert r.status_code in (200, 201), r.text
    kernel = Kernel(alice, project)
    await kernel.open()
    terminal = Terminal(alice, project)
    await terminal.open()
    load = Load(alice)
    load.start()
    servers_before = project_servers(a.root, project)
    assert len(servers_before) == 1, servers_before

    # the active hub dies: the standby is active, the API answers through the balancer
    tic = time.monotonic()
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    await until(lambda: api_answers(alice), 20, "the API through the standby")
    took_sigkill = time.monotonic() - tic
    assert await health(b) == 200
    # the running project was adopted as it was, not restarted
    assert (await alice.wait_for_state(project, "running", timeout=30))["state"] == "running"
    assert project_servers(a.root, project) == servers_before
    r = await alice.client.get(a.project_url(project, "api/contents/work.txt"))
    assert r.status_code == 200 and r.json()["content"] == "kept", r.text

    # the killed hub comes back as the standby
    await a.start(answer=False)
    await until(lambda: equals(health(a), 503), 60, "the restarted hub standing by")

    # the active hub freezes past its lease: the standby takes over; continued, the
    # frozen one exits at once rather than act on what it knew
    b.proc.send_signal(signal.SIGSTOP)
    tic = time.monotonic()
    await until(lambda: api_answers(alice), 30, "the API after the active hub froze")
    took_frozen = time.monotonic() - tic
    # stopped for 30 s in all, long past its lease
    await asyncio.sleep(max(0, 30 - took_frozen))
    b.proc.send_signal(signal.SIGCONT)
    code = await asyncio.to_thread(b.proc.wait, 10)
    assert code == 3, f"the continued hub exited with {code}:\n{b.log()[-3000:]}"
    assert "may have lost the active hub's lock" in b.log()
    assert await health(a) == 200

    await kernel.close()
    await terminal.close()
    await load.stop()
    await probes.stop()
    assert probes.samples > 50 and probes.both_active == [], probes.both_active
    r = await alice.client.get(a.project_url(project, "api/contents/work.txt"))
    assert r.status_code == 200 and r.json()["content"] == "kept", r.text
    assert project_servers(a.root, project) == servers_before
    print(f"API back after SIGKILL in {took_sigkill:.1f} s, after SIGSTOP in "
          f"{took_frozen:.1f} s (lease {LEASE} s); longest kernel reply "
          f"{kernel.longest:.2f} s over {kernel.count} executions, longest terminal "
          f"answer {terminal.longest:.2f} s over {terminal.count}; under load "
          f"{load.answered} answered, {load.failed} not")  # fmt: skip
    await alice.stop_project(project)


async def active_and_standby(a, b):
    """Start hub `a`, then `b`, which stands by."""
    await a.start()
    await b.start(answer=False)
    await until(lambda: equals(health(b), 503), 60, "the second hub standing by")


async def equals(awaitable, value):
    return (await awaitable) == value


async def api_answers(person):
    try:
        # not person.api: HAProxy's own 503 while no hub is up is no answer of smchub's
        r = await person.client.get("/hub/api/projects", timeout=3)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


async def no_processes_left(root, project, timeout=10):
    """What still runs as the project's account once `timeout` has passed (a killed
    process takes a moment to end): [(pid, status, command line)]."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid in project_server_pids(root, project):
            try:
                process = psutil.Process(pid)
                if process.status() != psutil.STATUS_ZOMBIE:
                    left.append((pid, process.status(), process.cmdline()[:3]))
            except psutil.Error:
                pass
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


def project_servers(root, project):
    """The pids of the project's server processes (its kernels and terminals aside,
    and a terminal's passing children)."""
    found = []
    for pid in project_server_pids(root, project):
        try:
            if "jupyterhub.singleuser" in psutil.Process(pid).cmdline():
                found.append(pid)
        except psutil.Error:
            pass
    return found


def project_server_pids(root, project):
    """The pids of the processes running as the project's account."""
    home = os.path.join(root, "..", "data", "projects", project)
    if not os.path.exists(home):
        return []  # never started
    uid = os.stat(home).st_uid
    return sorted(p.pid for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid)


async def test_a_hub_cut_off_from_its_database_gives_way(two_hubs):
    """The active hub's database traffic is dropped (its link to PostgreSQL dead, with
    no reset): it exits before PostgreSQL ends its session, and the standby takes over."""
    a, b = two_hubs["a"], two_hubs["b"]
    await active_and_standby(a, b)
    probes = Probes(two_hubs)
    probes.start()
    alice = await a.person("alice")
    project = (await alice.create_project("Through a cut"))["id"]
    await alice.start_project(project)
    kernel = Kernel(alice, project)
    await kernel.open()
    terminal = Terminal(alice, project)
    await terminal.open()
    load = Load(alice)
    load.start()

    tic = time.monotonic()
    a.relay.dropping = True
    code = await asyncio.to_thread(a.proc.wait, 30)
    gave_up = time.monotonic() - tic
    assert code == 3, f"the cut-off hub exited with {code}:\n{a.log()[-3000:]}"
    assert gave_up < LEASE, f"it acted on for {gave_up:.1f} s, past its lease"
    await until(lambda: api_answers(alice), 30, "the API after the cut")
    took = time.monotonic() - tic
    assert await health(b) == 200
    assert (await alice.wait_for_state(project, "running", timeout=30))["state"] == "running"
    await kernel.close()
    await terminal.close()
    await load.stop()
    await probes.stop()
    assert probes.both_active == [], probes.both_active
    print(f"database traffic dropped: the active hub exited after {gave_up:.1f} s, the API "
          f"answered after {took:.1f} s (lease {LEASE} s)")  # fmt: skip
    # its link back, the hub that gave way comes back as the standby
    a.relay.dropping = False
    await a.start(answer=False)
    await until(lambda: equals(health(a), 503), 60, "the cut-off hub back as the standby")
    await alice.stop_project(project)


async def test_a_hub_killed_during_20_starts_leaves_each_project_running_or_stopped(two_hubs):
    """20 projects asked to start at once, the active hub killed while they start: once
    the standby has taken over, each is running and answers through the proxy, or is
    stopped with no process left; none runs unrouted or unknown."""
    a, b = two_hubs["a"], two_hubs["b"]
    await active_and_standby(a, b)
    alice = await a.person("alice")
    probes = Probes(two_hubs)
    probes.start()
    projects = [(await alice.create_project(f"Start {i}"))["id"] for i in range(20)]
    answers = await asyncio.gather(*(alice.api("POST", f"projects/{p}/start") for p in projects))
    refused = [r.text for r in answers if r.status_code != 202]
    assert refused == [], refused
    await asyncio.sleep(1)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    await until(lambda: api_answers(alice), 60, "the API through the standby")

    states = {}
    deadline = time.monotonic() + 120
    while True:
        r = await alice.api("GET", "projects")
        states = {p["id"]: p["state"] for p in r.json() if p["id"] in projects}
        if all(state in ("running", "stopped") for state in states.values()):
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.5)
    for project, state in states.items():
        if state == "running":
            r = await alice.client.get(a.project_url(project, "api/status"))
            assert r.status_code == 200, (project, r.status_code, r.text[:300])
        else:
            left = await no_processes_left(a.root, project)
            assert left == [], (project, left)
    await probes.stop()
    assert probes.both_active == [], probes.both_active
    # and each can be started (again) and stopped by the hub now active
    for project in projects:
        await alice.start_project(project)
    for project in projects:
        await alice.stop_project(project)
    for project in projects:
        left = await no_processes_left(a.root, project)
        assert left == [], (project, left)
    print("after the kill: " + ", ".join(f"{n} {s}" for s, n in _count(states.values())))


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items())


DOCKER_HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
DOCKER_IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")
# this test's projects network, a /28 of 203.0.113.128/25 (docker/test-daemons.sh) that
# no other test uses on the test engines
DOCKER_NETWORK, DOCKER_SUBNET = "smchub-test-two-hubs", "203.0.113.208/28"


def project_containers(engine, project_id):
    """The project's server containers (not the helpers that snapshot its home)."""
    found = engine.containers.list(all=True, filters={"label": f"smchub.project={project_id}"})
    return [c for c in found if "smchub.role" not in c.labels]


needs_docker = pytest.mark.skipif(
    not DOCKER_HOSTS and not os.environ.get("CI"),
    reason="needs a test Docker Engine (tests/services/with-docker.sh starts it)",
)


def docker_node_config(**backend):
    """Both hubs' configuration for one Docker node, the test engine, on the test's
    network; `backend`: DockerBackend settings."""
    node = {"name": "dock0", "backend": "docker", "url": DOCKER_HOSTS[0], "cpu": 2,
            "memory_mb": 4000, "options": {"image": DOCKER_IMAGE, "network": DOCKER_NETWORK,
                                           "network_subnet": DOCKER_SUBNET}}  # fmt: skip
    settings = "".join(f"c.DockerBackend.{k} = {v!r}\n" for k, v in backend.items())
    return (
        f"c.SMCHub.compute_nodes = [{node!r}]\n"
        "c.ProjectSpawner.start_timeout = 120\nc.ProjectSpawner.http_timeout = 120\n" + settings
    )


@contextlib.contextmanager
def test_engine():
    """The test Docker Engine; the containers and volumes of the projects the test adds
    to the list it is given, and the test's network, go afterwards."""
    import docker

    assert DOCKER_HOSTS and DOCKER_IMAGE, "SMCHUB_TEST_DOCKER_HOSTS, SMCHUB_TEST_PROJECT_IMAGE"
    engine = docker.DockerClient(base_url=DOCKER_HOSTS[0])
    made = []
    try:
        yield engine, made
    finally:
        for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
            if container.labels["smchub.project"] in made:
                # the hub may be removing it too
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": "smchub.project"}):
            if volume.attrs["Labels"]["smchub.project"] in made:
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    volume.remove(force=True)
        for network in engine.networks.list(names=[DOCKER_NETWORK]):
            network.remove()
        engine.close()


@needs_docker
async def test_containers_outlive_the_active_hub_and_a_start_it_cut_short_leaves_none(hub_root):
    with test_engine() as (engine, made):
        async with two_hub_site(hub_root, docker_node_config()) as hubs:
            a, b = hubs["a"], hubs["b"]
            await active_and_standby(a, b)
            alice = await a.person("alice")
            project = (await alice.create_project("In a container"))["id"]
            made.append(project)
            container, started_at = await start_in_container(alice, engine, project)
            work = {"type": "file", "format": "text", "content": "kept"}
            r = await alice.client.put(a.project_url(project, "api/contents/w.txt"), json=work)
            assert r.status_code in (200, 201), r.text
            kernel = Kernel(alice, project)
            await kernel.open()

            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait()
            await until(lambda: api_answers(alice), 60, "the API through the standby")
            running = await alice.wait_for_state(project, "running", timeout=60)
            assert running["node"] == "dock0"
            # the same container, never restarted, reaching the hub now active (its
            # server checks alice's token with the hub: through the new hub's relay)
            assert_same_container(engine, project, container.id, started_at)
            alice.client.cookies.clear()
            r = await alice.client.get(a.project_url(project, "api/contents/w.txt"))
            assert r.status_code == 200 and r.json()["content"] == "kept", r.text
            await kernel.close()

            # the hub now active is killed while three containers start: the other
            # keeps or removes each, and leaves no container it does not know of
            await a.start(answer=False)
            await until(lambda: equals(health(a), 503), 60, "the restarted hub standing by")
            starting = [(await alice.create_project(f"Cut {i}"))["id"] for i in range(3)]
            made.extend(starting)
            for p in starting:
                assert (await alice.api("POST", f"projects/{p}/start")).status_code == 202
            await asyncio.sleep(0.5)
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            await until(lambda: api_answers(alice), 60, "the API through the other hub")
            for p in starting:
                deadline = time.monotonic() + 120
                while (state := (await alice.api("GET", f"projects/{p}")).json()["state"]) not in (
                    "running", "stopped"
                ):  # fmt: skip
                    assert time.monotonic() < deadline, (p, state)
                    await asyncio.sleep(0.5)
                containers = [c for c in project_containers(engine, p) if c.status == "running"]
                assert len(containers) == (1 if state == "running" else 0), (p, state, containers)
            for p in [project, *starting]:
                await alice.stop_project(p)
                assert [c for c in project_containers(engine, p) if c.status == "running"] == []


async def start_in_container(person, engine, project):
    """Start the project on the Docker node: its container, and when it started."""
    assert (await person.start_project(project))["node"] == "dock0"
    (container,) = project_containers(engine, project)
    return container, container.attrs["State"]["StartedAt"]


def assert_same_container(engine, project, container_id, started_at):
    (same,) = project_containers(engine, project)
    assert same.id == container_id and same.attrs["State"]["StartedAt"] == started_at


@pytest.fixture
def hub_namespace():
    with network_namespace() as namespace:
        yield namespace


def forward(interface):
    """Let the host forward packets that come in on `interface` (between hub A's
    namespace and the test engine's bridge; the host may forward nothing else)."""
    with open(f"/proc/sys/net/ipv4/conf/{interface}/forwarding", "w") as f:
        f.write("1")


@contextlib.contextmanager
def network_namespace():
    """A network namespace for hub A, linked to this one by a veth pair on TEST-NET-1
    (192.0.2.200/30): `cut()` takes this side of the link down, `route(subnet)` sends
    the namespace's traffic for a subnet of this side through the link."""
    name = "smchub-2h-" + secrets.token_hex(3)
    outside, inside = f"s2h{name[-6:]}o", f"s2h{name[-6:]}i"
    host, guest = "192.0.2.201", "192.0.2.202"

    def ip(*args, ns=None):
        prefix = ["ip", "netns", "exec", ns] if ns else []
        subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)

    def route(subnet):
        ip("route", "add", subnet, "via", host, ns=name)
        forward(outside)

    ip("netns", "add", name)
    try:
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", name)
        ip("addr", "add", f"{host}/30", "dev", outside)
        ip("link", "set", outside, "up")
        ip("addr", "add", f"{guest}/30", "dev", inside, ns=name)
        ip("link", "set", inside, "up", ns=name)
        ip("link", "set", "lo", "up", ns=name)
        yield {"name": name, "host": host, "inside": guest, "route": route,
               "cut": lambda: ip("link", "set", outside, "down"),
               "restore": lambda: ip("link", "set", outside, "up")}  # fmt: skip
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def make_projects_network(engine):
    """The projects' network of the test engine, made as smchub makes it but with a
    bridge name the test knows (hub A, in its namespace, reaches containers through
    it), so hub A finds it. Returns its gateway address (on this side)."""
    gateway = str(next(ipaddress.ip_network(DOCKER_SUBNET).hosts()))
    bridge = "s2hbr" + secrets.token_hex(3)
    pool = docker_types.IPAMPool(subnet=DOCKER_SUBNET, gateway=gateway)
    engine.networks.create(
        DOCKER_NETWORK, driver="bridge", ipam=docker_types.IPAMConfig(pool_configs=[pool]),
        options={"com.docker.network.bridge.enable_icc": "false",
                 "com.docker.network.bridge.name": bridge},
        labels={"smchub.network": "projects"},
    )  # fmt: skip
    forward(bridge)
    return gateway


@needs_docker
async def test_a_hub_whose_network_link_is_cut_gives_way(hub_root, hub_namespace):
    """Hub A, in a network namespace of its own, runs a project on a Docker Engine out
    of that namespace, and loses its link: it exits (it cannot prove it holds the lock),
    PostgreSQL ends its session, and hub B answers within 20 s. The project's container,
    routed by the proxy outside both hubs, keeps its kernel and terminal answering
    every 200 ms throughout, and hub B adopts it as it is."""
    with test_engine() as (engine, made):
        gateway = make_projects_network(engine)
        hub_namespace["route"](DOCKER_SUBNET)
        # containers reach the active hub through the proxy, as anyone does: a relay on
        # their network's gateway to the proxy's public port (no hub can keep one there:
        # hub A's namespace does not have the gateway's address)
        to_proxy = Relay(None, host=gateway)
        config = docker_node_config(hub_api_url=f"http://{gateway}:{to_proxy.port}/hub/api")
        async with two_hub_site(hub_root, config, a_netns=hub_namespace) as hubs:
            a, b = hubs["a"], hubs["b"]
            to_proxy.target_port = a.port
            await to_proxy.start()
            try:
                await active_and_standby(a, b)
                assert await health(a) == 200
                alice = await a.person("alice")
                project = (await alice.create_project("Beyond the cut"))["id"]
                made.append(project)
                container, started_at = await start_in_container(alice, engine, project)
                kernel = Kernel(alice, project)
                await kernel.open()
                terminal = Terminal(alice, project)
                await terminal.open()
                load = Load(alice)
                load.start()
                probes = Probes(hubs)
                probes.start()

                tic = time.monotonic()
                hub_namespace["cut"]()
                await until(lambda: api_answers(alice), 20, "the API after the cut")
                took = time.monotonic() - tic
                code = await asyncio.to_thread(a.proc.wait, 20)
                gave_up = time.monotonic() - tic
                assert code == 3, f"the cut-off hub exited with {code}:\n{a.log()[-3000:]}"
                assert "may have lost the active hub's lock" in a.log()
                assert await health(b) == 200
                running = await alice.wait_for_state(project, "running", timeout=60)
                assert running["node"] == "dock0"
                assert_same_container(engine, project, container.id, started_at)
                # a few more answers with hub B active, then the kernel counts them all
                count = kernel.count

                async def kernel_went_on():
                    return kernel.count > count + 5

                await until(kernel_went_on, 10, "the kernel answering with hub B active")
                await kernel.close()
                await terminal.close()
                await load.stop()
                await probes.stop()
                assert probes.both_active == [], probes.both_active
                print(f"link cut: the API answered after {took:.1f} s, the cut-off hub had "
                      f"exited by {gave_up:.1f} s (lease {LEASE} s); longest kernel reply "
                      f"{kernel.longest:.2f} s over {kernel.count}, longest terminal answer "
                      f"{terminal.longest:.2f} s over {terminal.count}; under load "
                      f"{load.answered} answered, {load.failed} not")  # fmt: skip
                # its link back, the hub that gave way comes back as the standby
                hub_namespace["restore"]()
                await a.start(answer=False)
                await until(lambda: equals(health(a), 503), 60, "hub A back as the standby")
                assert await health(b) == 200
                await alice.stop_project(project)
                running = [c for c in project_containers(engine, project) if c.status == "running"]
                assert running == []
            finally:
                await to_proxy.close()
