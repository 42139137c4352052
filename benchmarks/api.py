"""(d) The hub's API with 10,000 projects and 1,000 people in the database.

smchub's project endpoints (GET /hub/api/projects, GET /hub/api/projects/<id>) against
JupyterHub's own GET /hub/api/users/<name>, served by the same hub from the same
database, each called by people with their own tokens (a person's list, one of their
projects, their own user model). Requests go straight to the hub's port, so the proxy's
cost (measured in proxy.py) is not counted here.

The database is filled through the ORMs before the hub starts: people and projects with
what the API would have made (project users with their server rows and the 'user' role,
owners and collaborators, JupyterHub shares), each person owning 10 projects and
collaborating on 10 more.
"""

import os
import random
import time
from datetime import timedelta

import httpx
import psutil
from jupyterhub import orm as hub_orm
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from smchub import orm
from smchub.names import new_project_id
from smchub.projects import COLLABORATOR_SERVER_SCOPES

from .hubs import SMCHubUnderTest
from .loadgen import closed_loop, open_loop, sweep

TOKEN_HOLDERS = 200  # people whose tokens the load uses


def populate(db_file, people, projects, seed=6):
    """Fill a hub's database; returns [(name, token, [project ids])] for token holders."""
    rng = random.Random(seed)
    engine = create_engine("sqlite:///" + db_file)
    now = orm.now()
    with Session(engine) as db:
        user_role = hub_orm.Role.find(db, "user")
        persons = [hub_orm.User(name=f"person{i:04d}") for i in range(people)]
        db.add_all(persons)
        user_role.users.extend(persons)
        db.flush()
        owned = {p.id: [] for p in persons}
        for i in range(projects):
            pid = new_project_id()
            project_user = hub_orm.User(name=pid)
            spawner = hub_orm.Spawner(user=project_user, name="")
            user_role.users.append(project_user)
            owner = persons[i % people]
            other = persons[(i * 7 + 1 + rng.randrange(people - 1)) % people]
            if other is owner:
                other = persons[(i + 1) % people]
            project = orm.Project(
                id=pid,
                title=f"Project {i}",
                description="",
                quota_overrides={},
                created=now - timedelta(minutes=projects - i),
            )
            project.collaborators.append(orm.Collaborator(user=owner, role="owner"))
            project.collaborators.append(orm.Collaborator(user=other, role="collaborator"))
            scopes = sorted(
                hub_orm.Share._apply_filter(frozenset(COLLABORATOR_SERVER_SCOPES), pid, "")
            )
            for person in (owner, other):
                db.add(
                    hub_orm.Share(
                        created_at=hub_orm.Share.now(),
                        owner=project_user,
                        spawner=spawner,
                        user=person,
                        scopes=scopes,
                    )
                )
                owned[person.id].append(pid)
            db.add_all([project_user, spawner, project])
            if i % 1000 == 999:
                db.flush()
        db.commit()
        holders = []
        for person in persons[:TOKEN_HOLDERS]:
            token = person.new_api_token(note="bench")
            holders.append((person.name, token, owned[person.id]))
        db.commit()
    engine.dispose()
    return holders


ENDPOINTS = {
    "GET /hub/api/projects": lambda name, ids, rng: "/hub/api/projects",
    "GET /hub/api/projects/<id>": lambda name, ids, rng: f"/hub/api/projects/{rng.choice(ids)}",
    "GET /hub/api/users/<name>": lambda name, ids, rng: f"/hub/api/users/{name}",
}


def request_maker(holders, path_for, seed=1):
    rng = random.Random(seed)
    headers = [f"Authorization: token {token}\r\n".encode() for _, token, _ in holders]

    def next_request(index):
        which = rng.randrange(len(holders))
        name, _, ids = holders[which]
        return path_for(name, ids, rng), headers[which]

    return next_request


async def api_benchmark(root, people, projects, clients, rate, throughput_seconds,
                        latency_seconds):  # fmt: skip
    hub = SMCHubUnderTest(os.path.join(root, "api"))
    tic = time.perf_counter()
    # a first start makes the schema and roles; the people and projects go in after
    await hub.start()
    await hub.stop()
    holders = populate(hub.db_file, people, projects)
    filled = time.perf_counter() - tic
    results = {"people": people, "projects": projects, "fill_seconds": round(filled, 1)}
    await hub.start()
    try:
        hub_process = psutil.Process(hub.pid)
        me = psutil.Process()
        # every endpoint once for every token holder: the hub keeps the people it has
        # seen (and what is shared with them) in memory, and each endpoint should find
        # the same warm hub, whichever runs first
        rng = random.Random(2)
        warmup = [
            (path_for(name, ids, rng), f"Authorization: token {token}\r\n".encode())
            for name, token, ids in holders
            for path_for in ENDPOINTS.values()
        ]
        statuses = await sweep("127.0.0.1", hub.hub_port, warmup, clients)
        results["warmup_errors"] = sum(status != 200 for status in statuses)
        for label, path_for in ENDPOINTS.items():
            next_request = request_maker(holders, path_for)
            hub_cpu, my_cpu = hub_process.cpu_times(), me.cpu_times()
            throughput = await closed_loop(
                "127.0.0.1", hub.hub_port, next_request, clients, throughput_seconds
            )
            throughput["hub_cpu_percent"] = _cpu_percent(hub_cpu, hub_process.cpu_times(),
                                                         throughput["seconds"])  # fmt: skip
            throughput["load_generator_cpu_percent"] = _cpu_percent(
                my_cpu, me.cpu_times(), throughput["seconds"]
            )
            stalls_before = await loop_stalls(hub)
            # when, to find the window in the hub's log (--keep-logs)
            window_start = time.strftime("%H:%M:%S")
            latency = await open_loop(
                "127.0.0.1", hub.hub_port, next_request, rate, latency_seconds
            )
            latency["loop_stalls"] = stalls_between(stalls_before, await loop_stalls(hub))
            latency["window"] = [window_start, time.strftime("%H:%M:%S")]
            results[label] = {"throughput": throughput, "latency": latency}
        results["longest_loop_stall_ms"] = (await loop_stalls(hub))["longest_ms"]
    finally:
        await hub.stop()
    return results


async def loop_stalls(hub):
    """The hub's event-loop stall metrics (smchub/loopwatch.py), from /hub/metrics."""
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(
            hub.hub_url + "/hub/metrics", headers={"Authorization": f"token {hub.admin_token}"}
        )
        r.raise_for_status()
    stalls = {"longest_ms": None, "buckets": {}}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == "smchub_event_loop_longest_stall_seconds":
                stalls["longest_ms"] = round(1e3 * sample.value, 1)
            elif sample.name == "smchub_event_loop_stall_seconds_bucket":
                stalls["buckets"][float(sample.labels["le"])] = sample.value
    return stalls


def stalls_between(before, after):
    """What the loop watcher saw between two readings: how many measurements, how many
    of them over 50 ms, and the bucket the longest fell in."""
    counts = {le: after["buckets"][le] - before["buckets"].get(le, 0) for le in after["buckets"]}
    total = counts.get(float("inf"), 0)
    longest_le = min((le for le, n in counts.items() if n == total), default=None)
    return {
        "measurements": int(total),
        "over_50_ms": int(total - counts.get(0.05, 0)),
        "longest_at_most_ms": None if longest_le is None else 1e3 * longest_le,
        # the longest since the hub started; the figure for this window if it grew in it
        "longest_since_start_ms": after["longest_ms"],
        "longest_grew": after["longest_ms"] != before["longest_ms"],
    }


def _cpu_percent(before, after, seconds):
    used = (after.user - before.user) + (after.system - before.system)
    return round(100 * used / seconds, 1)
