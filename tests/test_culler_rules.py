"""Which running projects the idle culler stops: each after its own idle timeout."""

from datetime import datetime, timedelta
from types import SimpleNamespace

from smchub.culler import idle_projects

DEFAULTS = {"memory_mb": 2000, "cpu": 1.0, "idle_timeout_s": 3600, "disk_mb": 3000}
NOW = datetime(2026, 12, 4, 12, 0, 0)


def project(name, **overrides):
    return SimpleNamespace(id=name, quota_overrides=overrides or None)


def culled(*running):
    return [(p.id, since, timeout) for p, since, timeout in idle_projects(running, DEFAULTS, NOW)]


def ago(**delta):
    return NOW - timedelta(**delta)


def test_a_project_idle_past_the_default_timeout_is_stopped():
    assert culled((project("a"), ago(hours=2), ago(hours=3))) == [("a", ago(hours=2), 3600)]


def test_a_project_active_within_its_timeout_keeps_running():
    assert culled((project("a"), ago(minutes=59), ago(hours=3))) == []


def test_the_timeout_is_a_strict_limit():
    assert culled((project("a"), ago(seconds=3600), ago(hours=3))) == []
    assert culled((project("a"), ago(seconds=3601), ago(hours=3))) == [
        ("a", ago(seconds=3601), 3600)
    ]


def test_each_project_has_its_own_timeout():
    running = [
        (project("short", idle_timeout_s=600), ago(minutes=11), ago(hours=1)),
        (project("long", idle_timeout_s=86400), ago(hours=5), ago(hours=6)),
        (project("default"), ago(minutes=11), ago(hours=1)),
    ]
    assert culled(*running) == [("short", ago(minutes=11), 600)]


def test_a_timeout_of_zero_means_never():
    assert culled((project("kept", idle_timeout_s=0), ago(days=30), ago(days=31))) == []


def test_a_server_with_no_activity_yet_counts_from_its_start():
    assert culled((project("new"), None, ago(minutes=30))) == []
    assert culled((project("old"), None, ago(hours=2))) == [("old", ago(hours=2), 3600)]


def test_a_restart_counts_as_activity():
    # activity recorded before the server was started again is older than the start
    assert culled((project("a"), ago(hours=5), ago(minutes=5))) == []


def test_a_server_with_neither_activity_nor_start_is_left_alone():
    assert culled((project("unknown"), None, None)) == []
