"""Routes that change under traffic (issue 20): 200 clients stream requests through the
proxy to running projects while other projects start and stop. No answer may come from
a project other than the one asked, and only requests to a project that is not running
may fail, and then with the hub's or the proxy's answer, never a wrong project's.
Both proxies are tested; the test hubs' own proxy is the one SMCHUB_TEST_PROXY asks for."""

import asyncio
import json
import os
import shutil
from dataclasses import dataclass, field

import httpx
import pytest

from .hubfixture import TLS, proxy_under_test, running_hub

pytestmark = pytest.mark.timeout(300)

CLIENTS = 200
STEADY = 3  # projects that run throughout
CHURNING = 3  # projects started and stopped again and again while the clients run
CYCLES = 3  # starts and stops of each churning project
UP_FOR = 1.5  # seconds each churning project stays up per cycle, under traffic

HAPROXY_INSTALLED = bool(shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy"))

PROXIES = {
    "chp": "jupyterhub.proxy.ConfigurableHTTPProxy",
    "haproxy": "haproxy",
}


def whoami(pid):
    """The content of the file that tells which project answered."""
    return f"this is project {pid}"


@dataclass
class Answer:
    pid: str  # the project asked
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all (connection refused, reset, timeout)
    body: str = ""
    location: str = ""
    error: str = ""


@dataclass
class Traffic:
    answers: list = field(default_factory=list)
    # churning project -> [(since, until)] when it was running with its route in place,
    # as the hub said: a request inside one of these must succeed
    up: dict = field(default_factory=dict)
    done: bool = False


async def client_loop(hub, person, pids, offset, traffic):
    """One client on a connection of its own, asking the projects in turn."""
    loop = asyncio.get_running_loop()
    headers = {"Authorization": f"token {person.token}"}
    async with httpx.AsyncClient(
        headers=headers,
        timeout=30,
        verify=TLS,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=1),
    ) as client:
        n = offset
        while not traffic.done:
            pid = pids[n % len(pids)]
            n += 1
            started = loop.time()
            try:
                r = await client.get(hub.project_url(pid, "api/contents/whoami.txt"))
            except httpx.HTTPError as e:
                traffic.answers.append(
                    Answer(pid, started, loop.time(), None, error=f"{type(e).__name__}: {e}")
                )
                continue
            traffic.answers.append(
                Answer(
                    pid, started, loop.time(), r.status_code, r.text, r.headers.get("location", "")
                )
            )


async def churn(person, pid, traffic):
    """Start and stop a project CYCLES times, noting when it was up."""
    loop = asyncio.get_running_loop()
    traffic.up[pid] = []
    for _ in range(CYCLES):
        await person.start_project(pid)
        since = loop.time()
        await asyncio.sleep(UP_FOR)
        # from here on requests to it may fail: the stop takes its route away
        traffic.up[pid].append((since, loop.time()))
        await person.stop_project(pid)
        await asyncio.sleep(0.5)


def clean_refusal(answer, hub_url):
    """Whether a failed request got an answer of the hub's or the proxy's: the hub's
    redirect to its own origin (which offers to start the project), its 404 or 424, or
    the proxy's 502/503."""
    if answer.status in (301, 302, 303, 307):
        return answer.location.startswith(hub_url + "/")
    return answer.status in (404, 424, 502, 503)


def judge(answers, steady, churning, up, hub_url):
    """(misrouted, failed where none may, answers per project that came right)."""
    every = steady + churning
    misrouted, wrongly_failed = [], []
    served = {pid: 0 for pid in every}
    for a in answers:
        others = [pid for pid in every if pid != a.pid and pid in a.body + a.location]
        if others:
            misrouted.append((a.pid, a.status, others, a.body[:200]))
            continue
        if a.status == 200:
            try:
                content = json.loads(a.body)["content"]
            except (ValueError, KeyError, TypeError):
                content = None
            if content == whoami(a.pid):
                served[a.pid] += 1
                continue
        may_fail = a.pid in churning and not any(
            since <= a.started and a.ended <= until for since, until in up[a.pid]
        )
        if may_fail and clean_refusal(a, hub_url):
            continue
        wrongly_failed.append((a.pid, a.status, a.error or a.body[:200], a.location))
    return misrouted, wrongly_failed, served


@pytest.mark.parametrize(
    "proxy",
    [
        "chp",
        pytest.param(
            "haproxy",
            marks=pytest.mark.skipif(
                not HAPROXY_INSTALLED, reason="HAProxy is not installed (apt-get install haproxy)"
            ),
        ),
    ],
)
async def test_routes_change_under_traffic_without_misrouting(hub_root, proxy):
    root = os.path.join(hub_root, f"traffic-{proxy}")
    config = {"JupyterHub__proxy_class": PROXIES[proxy]}
    if proxy == "haproxy":
        config["HAProxyProxy__state_dir"] = os.path.join(root, "haproxy")
    async with running_hub(root, **config) as hub:
        owner = await hub.person()
        pids = [
            (await owner.create_project(f"Traffic {i}"))["id"] for i in range(STEADY + CHURNING)
        ]
        steady, churning = pids[:STEADY], pids[STEADY:]
        # every project gets its name in a file, then the churning ones stop again
        await asyncio.gather(*(owner.start_project(pid) for pid in pids))
        for pid in pids:
            r = await owner.client.put(
                hub.project_url(pid, "api/contents/whoami.txt"),
                json={"type": "file", "format": "text", "content": whoami(pid)},
            )
            assert r.status_code == 201, r.text
        await asyncio.gather(*(owner.stop_project(pid) for pid in churning))

        traffic = Traffic()
        clients = [
            asyncio.create_task(client_loop(hub, owner, pids, i, traffic)) for i in range(CLIENTS)
        ]
        try:
            await asyncio.sleep(1)
            await asyncio.gather(*(churn(owner, pid, traffic) for pid in churning))
        finally:
            traffic.done = True
            await asyncio.gather(*clients)

        misrouted, wrongly_failed, served = judge(
            traffic.answers, steady, churning, traffic.up, hub.url
        )
        statuses = {}
        for a in traffic.answers:
            statuses[a.status] = statuses.get(a.status, 0) + 1
        summary = f"{len(traffic.answers)} requests, statuses {statuses}, served {served}"
        assert not misrouted, f"{len(misrouted)} misrouted, e.g. {misrouted[:5]}; {summary}"
        assert not wrongly_failed, (
            f"{len(wrongly_failed)} failed, e.g. {wrongly_failed[:5]}; {summary}"
        )
        # the traffic was real: every project answered many times, the churning ones
        # in each of their cycles, and the stopped ones were asked too
        assert all(n >= 50 for n in served.values()), summary
        for pid in churning:
            for since, until in traffic.up[pid]:
                inside = [
                    a
                    for a in traffic.answers
                    if a.pid == pid and a.status == 200 and since <= a.started <= a.ended <= until
                ]
                assert len(inside) >= 10, (pid, since, until, summary)
        stopped = [a for a in traffic.answers if a.pid in churning and a.status != 200]
        assert len(stopped) >= 50, summary


async def test_the_test_hubs_run_behind_the_proxy_asked_for(hub):
    # make test runs the files that exercise the proxy most again with
    # SMCHUB_TEST_PROXY=haproxy: that run must not quietly test configurable-http-proxy
    expected = {"chp": "ConfigurableHTTPProxy", "haproxy": "HAProxyProxy"}[proxy_under_test()]
    assert type(hub.app.proxy).__name__ == expected
    owner = await hub.person()
    pid = (await owner.create_project("Behind the proxy asked for"))["id"]
    await owner.start_project(pid)
    try:
        routes = await hub.app.proxy.get_all_routes()
        assert routes[hub.app.users[pid].proxy_spec]["data"]["user"] == pid
        r = await owner.client.get(hub.project_url(pid, "api/status"))
        assert r.status_code == 200, r.text
    finally:
        await owner.stop_project(pid)
