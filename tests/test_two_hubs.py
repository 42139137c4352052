"""Two hubs on one PostgreSQL database, one active, each on a machine of its own (network
namespaces on TEST-NET-2, tests/hubsite.py): HAProxy on a fourth sends the hub's traffic
to the one whose /hub/health answers 200, configurable-http-proxy beside it keeps routing
running projects, and the standby takes over when the active hub is killed, frozen
(SIGSTOP) past its lease, cut off from its database or from the network; a frozen hub
continued afterwards exits without acting. The projects run in containers on a Docker
Engine on a fifth machine, which the hubs reach over TLS: the containers outlive the hubs
and are adopted, not restarted; so do Swarm services, on that machine as a swarm of one
(link cut) and on the two-machine test Swarm (SIGKILL). Throughout, under
20 requests a second through HAProxy, probes every 100 ms never see two active hubs,
and a kernel executing every 200 ms and a terminal answering every 200 ms through the
proxy keep working."""

import asyncio
import itertools
import json
import os
import secrets
import signal
import time
import types

import docker
import httpx
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .hubfixture import TLS
from .hubsite import (
    ENGINE_STATE,
    PROJECTS_SUBNET,
    Engine,
    active_and_standby,
    api_answers,
    equals,
    health,
    loopback_site,
    two_hub_site,
    until,
)
from .test_swarm import HUB_IP, MACHINES, MANAGER, needs_swarm, project_task, swarm_config

DOCKER_HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
DOCKER_IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not os.environ.get("SMCHUB_TEST_PG_URL"),
        reason="two hubs elect the active one on PostgreSQL (make test's PostgreSQL run)",
    ),
    pytest.mark.skipif(
        not DOCKER_HOSTS and not os.environ.get("CI"),
        reason="needs a test Docker Engine (tests/services/with-docker.sh starts it)",
    ),
]

LEASE = 6
# the projects' network on the engine machine, which the hub makes there
DOCKER_NETWORK = "smchub-test-two-hubs"
NODE = {"name": "dock0", "backend": "docker", "url": Engine.url, "cpu": 2, "memory_mb": 8000,
        "options": {"image": DOCKER_IMAGE, "network": DOCKER_NETWORK,
                    "network_subnet": PROJECTS_SUBNET}}  # fmt: skip
SITE = f"""
c.SMCHub.active_hub_lease = {LEASE}
c.SMCHub.compute_nodes = [{NODE!r}]
c.ProjectSpawner.start_timeout = 120
c.ProjectSpawner.http_timeout = 120
# one person starts 20 at once below, on 2 CPUs
c.SMCHub.max_running_per_person = 20
c.SMCHub.default_quotas = {{"memory_mb": 300, "cpu": 0.1}}
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
    """/hub/health of each hub, on its own port, asked every 100 ms whether or not the
    asks before have been answered (a hub cut off or frozen answers none): never do two
    hubs answer 200 to asks made less than 100 ms apart."""

    def __init__(self, hubs):
        self.hubs = hubs  # name -> HubProcess
        self.answers = []  # (when asked, hub's name, answered 200)
        self.samples = 0
        self.task = None
        self.asks = set()

    async def _probe(self, client, name, hub):
        asked = time.monotonic()
        try:
            r = await client.get(f"http://{hub.hub_host}:{hub.hub_port}/hub/health")
            active = r.status_code == 200
        except httpx.HTTPError:
            active = False
        self.answers.append((asked, name, active))

    async def _run(self):
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                self.samples += 1
                for name, hub in self.hubs.items():
                    ask = asyncio.ensure_future(self._probe(client, name, hub))
                    self.asks.add(ask)
                    ask.add_done_callback(self.asks.discard)
                await asyncio.sleep(0.1)

    @property
    def both_active(self):
        """The pairs of 200s from different hubs asked less than 100 ms apart."""
        active = sorted((asked, name) for asked, name, ok in self.answers if ok)
        return [
            (first, then)
            for first, then in itertools.pairwise(active)
            if first[1] != then[1] and then[0] - first[0] < 0.1
        ]

    def first_active(self, name, since):
        """When the first ask since `since` that hub `name` answered with 200 was made."""
        return min((asked for asked, n, ok in self.answers if ok and n == name and asked >= since),
                   default=None)  # fmt: skip

    def start(self):
        self.task = asyncio.ensure_future(self._run())

    async def stop(self):
        self.task.cancel()
        for ask in list(self.asks):
            ask.cancel()
        await asyncio.gather(self.task, *self.asks, return_exceptions=True)


@pytest.fixture
async def site(hub_root):
    """The two hubs (not started), their machines (`lan`), and the engine machine's
    Docker Engine as the test sees it (`engine`)."""
    assert DOCKER_HOSTS and DOCKER_IMAGE, "SMCHUB_TEST_DOCKER_HOSTS, SMCHUB_TEST_PROJECT_IMAGE"
    machine = Engine(ENGINE_STATE, DOCKER_HOSTS[0], DOCKER_IMAGE)
    async with two_hub_site(hub_root, SITE, engine=machine) as (hubs, lan):
        engine = docker.DockerClient(base_url=machine.local)
        try:
            yield types.SimpleNamespace(hubs=hubs, a=hubs["a"], b=hubs["b"], lan=lan,
                                        engine=engine)  # fmt: skip
        finally:
            engine.close()


def project_containers(engine, project_id):
    """The project's server containers (not the helpers that snapshot its home)."""
    found = engine.containers.list(all=True, filters={"label": f"smchub.project={project_id}"})
    return [c for c in found if "smchub.role" not in c.labels]


def running_containers(engine, project_id):
    return [c for c in project_containers(engine, project_id) if c.status == "running"]


async def start_in_container(site, person, name):
    """A new project of `person`'s, started on the Docker node: its id, its container,
    and when that started."""
    project = (await person.create_project(name))["id"]
    assert (await person.start_project(project))["node"] == "dock0"
    (container,) = project_containers(site.engine, project)
    return project, container.id, container.attrs["State"]["StartedAt"]


def assert_same_container(engine, project, container_id, started_at):
    """The project runs in the container it started in, never restarted."""
    (same,) = project_containers(engine, project)
    assert same.id == container_id and same.attrs["State"]["StartedAt"] == started_at


async def under_load(site, person, project):
    """A kernel and a terminal of `project` in use every 200 ms, 20 requests a second
    through HAProxy, probes of both hubs every 100 ms: started."""
    kernel = Kernel(person, project)
    await kernel.open()
    terminal = Terminal(person, project)
    await terminal.open()
    load = Load(person)
    load.start()
    probes = Probes(site.hubs)
    probes.start()
    return types.SimpleNamespace(kernel=kernel, terminal=terminal, load=load, probes=probes)


async def end_load(work):
    """Stop the load: the kernel and the terminal answered throughout, and the probes
    never saw two active hubs. Returns what they saw, for the test's report."""
    count = work.kernel.count

    async def kernel_went_on():
        return work.kernel.count > count + 5

    # a few more answers with the other hub active, then the kernel counts them all
    await until(kernel_went_on, 10, "the kernel answering with the other hub active")
    await work.kernel.close()
    await work.terminal.close()
    await work.load.stop()
    await work.probes.stop()
    assert work.probes.samples > 10 and work.probes.both_active == [], work.probes.both_active
    return (
        f"longest kernel reply {work.kernel.longest:.2f} s over {work.kernel.count} "
        f"executions, longest terminal answer {work.terminal.longest:.2f} s over "
        f"{work.terminal.count}; under load {work.load.answered} answered, "
        f"{work.load.failed} not"
    )


async def exit_of(hub, timeout):
    """When the hub's process exits (time.monotonic()), and its exit code."""
    code = await asyncio.to_thread(hub.proc.wait, timeout)
    return time.monotonic(), code


def assert_active_only_after(probes, name, since, exited_at):
    """Hub `name` answered no probe as the active hub before the other had exited: the
    one cut off could act (on the engine, still reachable) until it exited."""
    first = probes.first_active(name, since)
    assert first is not None, f"hub {name} never answered as the active hub"
    assert first > exited_at, (
        f"hub {name} active {first - since:.2f} s after the fault, while the other ran "
        f"until {exited_at - since:.2f} s"
    )


async def test_the_standby_takes_over_and_a_frozen_hub_never_acts(site):
    a, b = site.a, site.b
    await active_and_standby(a, b)
    assert await health(a) == 200
    alice = await a.person("alice")
    project, container, started_at = await start_in_container(site, alice, "Two hubs")
    work = {"type": "file", "format": "text", "content": "kept"}
    r = await alice.client.put(a.project_url(project, "api/contents/work.txt"), json=work)
    assert r.status_code in (200, 201), r.text
    load = await under_load(site, alice, project)

    # the active hub dies: the standby is active, the API answers through the balancer
    tic = time.monotonic()
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    await until(lambda: api_answers(alice), 5, "the API through the standby")
    took_sigkill = time.monotonic() - tic
    assert await health(b) == 200
    # the running project was adopted as it was, not restarted
    assert (await alice.wait_for_state(project, "running", timeout=30))["node"] == "dock0"
    assert_same_container(site.engine, project, container, started_at)
    r = await alice.client.get(a.project_url(project, "api/contents/work.txt"))
    assert r.status_code == 200 and r.json()["content"] == "kept", r.text

    # the killed hub comes back as the standby
    await a.start(answer=False)
    await until(lambda: equals(health(a), 503), 60, "the restarted hub standing by")

    # the active hub freezes past its lease: the standby takes over; continued, the
    # frozen one exits at once rather than act on what it knew
    b.proc.send_signal(signal.SIGSTOP)
    tic = time.monotonic()
    await until(lambda: api_answers(alice), 20, "the API after the active hub froze")
    took_frozen = time.monotonic() - tic
    # stopped for 30 s in all, long past its lease
    await asyncio.sleep(max(0, 30 - took_frozen))
    b.proc.send_signal(signal.SIGCONT)
    code = await asyncio.to_thread(b.proc.wait, 10)
    assert code == 3, f"the continued hub exited with {code}:\n{b.log()[-3000:]}"
    assert "may have lost the active hub's lock" in b.log()
    assert await health(a) == 200

    seen = await end_load(load)
    r = await alice.client.get(a.project_url(project, "api/contents/work.txt"))
    assert r.status_code == 200 and r.json()["content"] == "kept", r.text
    assert_same_container(site.engine, project, container, started_at)
    print(f"API back after SIGKILL in {took_sigkill:.1f} s, after SIGSTOP in "
          f"{took_frozen:.1f} s (lease {LEASE} s); {seen}")  # fmt: skip
    await alice.stop_project(project)
    assert running_containers(site.engine, project) == []


async def a_project_in_use(site, name):
    """Hub A active and hub B standing by, alice's project `name` in a container, and
    its kernel, its terminal, load and probes going (under_load)."""
    await active_and_standby(site.a, site.b)
    alice = await site.a.person("alice")
    project, container, started_at = await start_in_container(site, alice, name)
    return alice, project, container, started_at, await under_load(site, alice, project)


async def test_a_hub_cut_off_from_its_database_gives_way(site):
    """The database's machine drops the active hub's packets (a dead link, no reset): the
    hub exits before PostgreSQL ends its session, and the standby takes over."""
    a, b = site.a, site.b
    alice, project, container, started_at, load = await a_project_in_use(site, "Through a cut")

    tic = time.monotonic()
    site.lan.drop_between("db", "a")
    exited_at, code = await exit_of(a, 30)
    gave_up = exited_at - tic
    assert code == 3, f"the cut-off hub exited with {code}:\n{a.log()[-3000:]}"
    assert gave_up < LEASE, f"it acted on for {gave_up:.1f} s, past its lease"
    await until(lambda: api_answers(alice), 20, "the API after the cut")
    took = time.monotonic() - tic
    assert await health(b) == 200
    assert_active_only_after(load.probes, "b", tic, exited_at)
    assert (await alice.wait_for_state(project, "running", timeout=30))["node"] == "dock0"
    assert_same_container(site.engine, project, container, started_at)
    seen = await end_load(load)
    print(f"database traffic dropped: the active hub exited after {gave_up:.1f} s, the API "
          f"answered after {took:.1f} s (lease {LEASE} s); {seen}")  # fmt: skip
    # its database reachable again, the hub that gave way comes back as the standby
    site.lan.pass_between("db", "a")
    await a.start(answer=False)
    await until(lambda: equals(health(a), 503), 60, "the cut-off hub back as the standby")
    await alice.stop_project(project)


async def cut_link_of_a(site, person, load):
    """Hub A's machine loses its link: the API answers again within 20 s, hub A exits
    with 3 (it cannot prove it holds the lock), and hub B answered as the active hub
    only after that. Returns when the API answered and when hub A had exited (seconds
    after the cut)."""
    tic = time.monotonic()
    site.lan.cut("a")
    exit_a = asyncio.ensure_future(exit_of(site.a, 30))
    await until(lambda: api_answers(person), 20, "the API after the cut")
    took = time.monotonic() - tic
    exited_at, code = await exit_a
    assert code == 3, f"the cut-off hub exited with {code}:\n{site.a.log()[-3000:]}"
    assert_active_only_after(load.probes, "b", tic, exited_at)
    return took, exited_at - tic


async def test_a_hub_whose_network_link_is_cut_gives_way(site):
    """Hub A's machine loses its link: hub A exits (it cannot prove it holds the lock),
    PostgreSQL ends its session, and hub B answers within 20 s; the container, routed
    by the proxy on the balancer, keeps its kernel and terminal answering."""
    a, b = site.a, site.b
    alice, project, container, started_at, load = await a_project_in_use(site, "Beyond the cut")

    took, gave_up = await cut_link_of_a(site, alice, load)
    assert "may have lost the active hub's lock" in a.log()
    assert await health(b) == 200
    assert (await alice.wait_for_state(project, "running", timeout=60))["node"] == "dock0"
    assert_same_container(site.engine, project, container, started_at)
    seen = await end_load(load)
    print(f"link cut: the API answered after {took:.1f} s, the cut-off hub had exited by "
          f"{gave_up:.1f} s (lease {LEASE} s); {seen}")  # fmt: skip
    # its link back, the hub that gave way comes back as the standby
    site.lan.restore("a")
    await a.start(answer=False)
    await until(lambda: equals(health(a), 503), 60, "hub A back as the standby")
    assert await health(b) == 200
    await alice.stop_project(project)
    assert running_containers(site.engine, project) == []


async def test_a_hub_killed_during_20_starts_leaves_each_project_running_or_stopped(site):
    """20 projects asked to start at once, the active hub killed while their containers
    start: once the standby has taken over, each is running and answers through the
    proxy, or is stopped with no container running; the engine runs no container of
    theirs that the hub does not know of."""
    a, b = site.a, site.b
    await active_and_standby(a, b)
    alice = await a.person("alice")
    probes = Probes(site.hubs)
    probes.start()
    projects = [(await alice.create_project(f"Start {i}"))["id"] for i in range(20)]
    answers = await asyncio.gather(*(alice.api("POST", f"projects/{p}/start") for p in projects))
    refused = [r.text for r in answers if r.status_code != 202]
    assert refused == [], refused
    await asyncio.sleep(1)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    await until(lambda: api_answers(alice), 5, "the API through the standby")

    states = {}
    deadline = time.monotonic() + 180
    while True:
        r = await alice.api("GET", "projects")
        states = {p["id"]: p["state"] for p in r.json() if p["id"] in projects}
        if all(state in ("running", "stopped") for state in states.values()):
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.5)
    for project, state in states.items():
        running = running_containers(site.engine, project)
        if state == "running":
            assert len(running) == 1, (project, running)
            r = await alice.client.get(a.project_url(project, "api/status"))
            assert r.status_code == 200, (project, r.status_code, r.text[:300])
        else:
            assert running == [], (project, running)
    await probes.stop()
    assert probes.both_active == [], probes.both_active
    # and each can be started (again) and stopped by the hub now active
    await asyncio.gather(*(alice.start_project(p) for p in projects))
    await asyncio.gather(*(alice.stop_project(p) for p in projects))
    for project in projects:
        assert running_containers(site.engine, project) == [], project
    counts = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    print("after the kill: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


async def test_a_swarm_service_outlives_a_hub_whose_link_is_cut(hub_root):
    """The engine machine as a swarm of one (its manager over TLS), a project a service
    there: hub A's link is cut, hub B takes over and adopts the service's task as it
    is, and the project's kernel and terminal, routed by the proxy on the balancer,
    answer throughout."""
    machine = Engine(ENGINE_STATE, DOCKER_HOSTS[0], DOCKER_IMAGE, swarm=True)
    entry = {"name": "swarm", "backend": "swarm", "url": Engine.url,
             "options": {"cluster": True, "image": DOCKER_IMAGE}}  # fmt: skip
    config = SITE.replace(repr(NODE), repr(entry))
    config += "c.SMCHub.node_check_interval = 1\nc.SwarmBackend.stop_timeout = 3\n"
    async with two_hub_site(hub_root, config, engine=machine) as (hubs, lan):
        manager = docker.DockerClient(base_url=machine.local)
        try:
            site = types.SimpleNamespace(hubs=hubs, a=hubs["a"], b=hubs["b"], lan=lan)
            a = site.a
            await active_and_standby(a, site.b)
            alice = await a.person("alice")
            project = (await alice.create_project("In a swarm, beyond the cut"))["id"]
            node = (await alice.start_project(project))["node"]
            assert node.startswith("swarm-"), node
            service, task = project_task(manager, project)
            load = await under_load(site, alice, project)

            took, exited = await cut_link_of_a(site, alice, load)
            assert (await alice.wait_for_state(project, "running", timeout=60))["node"] == node
            same_service, same_task = project_task(manager, project)
            assert (same_service.id, same_task["ID"]) == (service.id, task["ID"])
            assert same_task["Status"]["State"] == "running"
            seen = await end_load(load)
            print(f"Swarm, link cut: the API answered after {took:.1f} s, the cut-off hub "
                  f"had exited by {exited:.1f} s, the same task running; {seen}")  # fmt: skip
            await alice.stop_project(project)
            assert manager.services.list(filters={"name": f"smchub-project-{project}"}) == []
        finally:
            manager.close()


@needs_swarm
async def test_a_swarm_service_outlives_the_active_hub(hub_root):
    """A project as a service of the test Swarm, its hubs on this machine (where the
    swarm's machines reach them, as in tests/test_swarm.py): the active hub killed, the
    other adopts the service's task as it is, and its kernel keeps answering."""

    manager = docker.DockerClient(base_url=MANAGER)
    made = []
    try:
        config = swarm_config(0.5, f"c.SMCHub.active_hub_lease = {LEASE}\n")
        async with loopback_site(hub_root, config, host=HUB_IP) as hubs:
            a, b = hubs["a"], hubs["b"]
            await active_and_standby(a, b)
            alice = await a.person("alice")
            project = (await alice.create_project("In a swarm"))["id"]
            made.append(project)
            node = (await alice.start_project(project))["node"]
            assert node.startswith("swarm-"), node
            service, task = project_task(manager, project)
            kernel = Kernel(alice, project)
            await kernel.open()
            probes = Probes(hubs)
            probes.start()

            tic = time.monotonic()
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait()
            await until(lambda: api_answers(alice), 5, "the API through the standby")
            took = time.monotonic() - tic
            assert (await alice.wait_for_state(project, "running", timeout=60))["node"] == node
            same_service, same_task = project_task(manager, project)
            assert (same_service.id, same_task["ID"]) == (service.id, task["ID"])
            assert same_task["Status"]["State"] == "running"
            count = kernel.count

            async def kernel_went_on():
                return kernel.count > count + 5

            await until(kernel_went_on, 10, "the kernel answering with hub B active")
            await kernel.close()
            await probes.stop()
            assert probes.samples > 10 and probes.both_active == [], probes.both_active
            print(f"Swarm: the API answered {took:.1f} s after the SIGKILL, the same task "
                  f"running; longest kernel reply {kernel.longest:.2f} s over "
                  f"{kernel.count}")  # fmt: skip
            await alice.stop_project(project)
            assert manager.services.list(filters={"name": f"smchub-project-{project}"}) == []
    finally:
        for service in manager.services.list(filters={"label": "smchub.project"}):
            if service.attrs["Spec"]["Labels"].get("smchub.project") in made:
                service.remove()
        for url in MACHINES.values():
            engine = docker.DockerClient(base_url=url)
            for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
                if container.labels["smchub.project"] in made:
                    container.remove(force=True)
            for volume in engine.volumes.list(filters={"label": "smchub.project"}):
                if volume.attrs["Labels"]["smchub.project"] in made:
                    volume.remove(force=True)
            engine.close()
        manager.close()
