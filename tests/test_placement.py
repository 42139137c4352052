"""Placement rules, as pure functions."""

import random
from collections import Counter
from types import SimpleNamespace

import pytest

from smchub.placement import (
    Overcommit,
    PlacementRefused,
    Request,
    node_loads,
    place_project,
    why_not,
)


def nodes(*specs):
    return [
        SimpleNamespace(
            name=name,
            backend="docker",
            state=state,
            cpu=cpu,
            memory_mb=mem,
            labels=labels,
            options={},
        )
        for name, state, cpu, mem, labels in specs
    ]


SMALL = Request(memory_mb=1000, cpu=1.0)


def test_only_active_nodes_are_eligible():
    loads = node_loads(
        nodes(
            ("a", "draining", 4, 8000, {}), ("b", "down", 4, 8000, {}), ("c", "active", 4, 8000, {})
        ),
        [],
    )
    for _ in range(20):
        assert place_project(loads, SMALL) == "c"
    assert "draining" in why_not(loads["a"], SMALL, Overcommit())
    assert "down" in why_not(loads["b"], SMALL, Overcommit())


def test_labels_must_match():
    loads = node_loads(
        nodes(("cpu", "active", 4, 8000, {}), ("gpu", "active", 4, 8000, {"gpu": "yes"})), []
    )
    request = Request(memory_mb=100, cpu=0.5, labels={"gpu": "yes"})
    assert {place_project(loads, request) for _ in range(20)} == {"gpu"}
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, Request(100, 0.5, {"zone": "b"}))
    assert "lacks the labels zone=b" in str(refused.value)


def test_capacity_with_overcommit():
    loads = node_loads(
        nodes(("a", "active", 2, 4000, {})),
        [("a", "p1", 3000, 1.0), ("a", "p2", 500, 1.0)],
    )
    assert loads["a"].running == 2
    # 500 MB left: a 1000 MB project does not fit without overcommit...
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, SMALL, overcommit=Overcommit(memory=1.0, cpu=4.0))
    assert "500 MB of memory free" in str(refused.value)
    assert "needs 1000 MB" in str(refused.value)
    # ... and does with 50% memory overcommit
    assert place_project(loads, SMALL, overcommit=Overcommit(memory=1.5, cpu=4.0)) == "a"
    # CPU: 2 cores, 2 allocated, no CPU overcommit
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, SMALL, overcommit=Overcommit(memory=2, cpu=1.0))
    assert "CPUs free" in str(refused.value)


def test_sticky_goes_home_even_if_others_are_emptier():
    loads = node_loads(
        nodes(("full", "active", 8, 16000, {}), ("empty", "active", 8, 16000, {})),
        [("full", f"p{i}", 1000, 0.5) for i in range(10)],
    )
    assert {place_project(loads, SMALL, home_node="full") for _ in range(20)} == {"full"}


@pytest.mark.parametrize("state", ["draining", "down"])
def test_sticky_refuses_when_home_is_not_active(state):
    loads = node_loads(nodes(("home", state, 8, 16000, {}), ("other", "active", 8, 16000, {})), [])
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, SMALL, home_node="home")
    message = str(refused.value)
    assert "files are on node 'home'" in message and state in message
    assert "move the project" in message


def test_sticky_says_whether_waiting_helps():
    loads = node_loads(
        nodes(("home", "active", 8, 16000, {})),
        [("home", f"p{i}", 1000, 0.5) for i in range(15)],
    )
    # full for now: other projects stopping will make room
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, Request(memory_mb=2000, cpu=1.0), home_node="home")
    assert "try again when other projects on it have stopped" in str(refused.value)
    assert refused.value.status == 503
    # more than the node has in all, memory or CPUs: no wait helps, the quota must change
    for request in (Request(memory_mb=1_000_000, cpu=1.0), Request(memory_mb=100, cpu=64)):
        with pytest.raises(PlacementRefused) as refused:
            place_project(loads, request, home_node="home")
        message = str(refused.value)
        assert "more than the node has in all: lower the project's quota" in message, message
        assert "try again" not in message and refused.value.status == 409


def test_sticky_refuses_when_home_is_gone():
    loads = node_loads(nodes(("other", "active", 8, 16000, {})), [])
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, SMALL, home_node="vanished")
    assert "no longer exists" in str(refused.value)


def test_new_projects_spread_across_nodes():
    specs = [(f"n{i}", "active", 16, 64000, {}) for i in range(5)]
    rng = random.Random(1)
    allocations = []
    counts = Counter()
    for i in range(100):
        loads = node_loads(nodes(*specs), allocations)
        name = place_project(loads, SMALL, rng=rng)
        allocations.append((name, f"p{i}", SMALL.memory_mb, SMALL.cpu))
        counts[name] += 1
    assert len(counts) == 5
    assert max(counts.values()) <= 30


def test_a_burst_without_load_updates_still_spreads():
    # placement decisions made before any of them shows up as load (a burst of starts)
    loads = node_loads(nodes(*[(f"n{i}", "active", 16, 64000, {}) for i in range(4)]), [])
    counts = Counter(place_project(loads, SMALL, rng=random.Random(i)) for i in range(100))
    assert len(counts) >= 3
    assert max(counts.values()) < 60


def test_refusal_names_every_node_and_reason():
    loads = node_loads(
        nodes(("a", "draining", 4, 8000, {}), ("b", "active", 1, 500, {})),
        [],
    )
    with pytest.raises(PlacementRefused) as refused:
        place_project(loads, SMALL)
    message = str(refused.value)
    assert "node 'a' is draining" in message
    assert "node 'b' has 500 MB of memory free" in message
    with pytest.raises(PlacementRefused) as refused:
        place_project({}, SMALL)
    assert "no compute nodes" in str(refused.value)
