"""The fork server's checks of what it is asked to run, without a fork server.

The fork server runs as root and forks project servers on request: every request is
read and checked field by field before anything else is done with it.
"""

import json
import os
import socket
import sys
import threading

import pytest

from smchub.spawners.forkserver import (
    IMPORT_TIME_ENV,
    MAX_REQUEST_BYTES,
    ForkServer,
    ForkServerError,
    check_request,
    read_request,
    runnable_module,
)

AS_ROOT = os.geteuid() == 0


def good_request(**changes):
    request = {
        "module": "jupyterhub.singleuser",
        "args": ["--port=8888"],
        "env": {"HOME": "/srv/projects/p1", "USER": "p1"},
        "cwd": "/srv/projects/p1",
        "uid": 1001,
        "gid": 1001,
        "groups": [],
        "hide_processes": True,
        "cgroups": ["/sys/fs/cgroup/smchub/p1"],
    }
    request.update(changes)
    return request


def test_a_request_as_the_hub_sends_it_passes():
    check_request(good_request())


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"module": ""}, "module"),
        ({"module": ["jupyterhub"]}, "module"),
        ({"args": "--port=8888"}, "args"),
        ({"args": ["--port", 8888]}, "args"),
        ({"env": {"HOME": 1}}, "env"),
        ({"env": [["HOME", "/"]]}, "env"),
        ({"cwd": "projects/p1"}, "cwd"),
        ({"cwd": None}, "cwd"),
        ({"uid": "1001"}, "uid"),
        ({"uid": True}, "uid"),  # a bool is not an account
        ({"gid": 1001.0}, "gid"),
        ({"groups": ["wheel"]}, "groups"),
        ({"groups": None}, "groups"),
        ({"hide_processes": "yes"}, "hide_processes"),
        ({"cgroups": ["/tmp/evil"]}, "cgroups"),
        ({"cgroups": ["/sys/fs/cgroup/../../etc"]}, "cgroups"),
        ({"cgroups": "/sys/fs/cgroup/p1"}, "cgroups"),
    ],
)
def test_each_bad_field_is_refused_by_name(changes, named):
    with pytest.raises(ForkServerError, match=f"bad request: .*{named}"):
        check_request(good_request(**changes))


def test_every_bad_field_is_named_at_once():
    with pytest.raises(ForkServerError) as refused:
        check_request(good_request(module="", cwd="relative", groups="x"))
    assert str(refused.value) == "bad request: module, cwd, groups"


def test_a_request_that_is_not_an_object_is_refused():
    with pytest.raises(ForkServerError, match="not a JSON object"):
        check_request(["jupyterhub.singleuser"])


@pytest.mark.skipif(not AS_ROOT, reason="the fork server refuses root only when it is root")
@pytest.mark.parametrize("changes", [{"uid": 0}, {"gid": 0}, {"uid": None}])
def test_a_root_fork_server_never_runs_a_project_as_root(changes):
    with pytest.raises(ForkServerError, match="refusing to run a project server as root"):
        check_request(good_request(**changes))


# --- reading a request off the socket --------------------------------------------------


@pytest.fixture
def connection():
    hub, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield hub, server
    hub.close()
    server.close()


def send_log_fd(sock):
    read_end, write_end = os.pipe()
    socket.send_fds(sock, [b"F"], [write_end])
    os.close(write_end)
    return read_end


def test_a_request_is_read_with_its_log_descriptor(connection):
    hub, server = connection
    read_end = send_log_fd(hub)
    hub.sendall(json.dumps(good_request()).encode() + b"\n")
    request, log_fd = read_request(server)
    assert request == good_request()
    # the descriptor received is the project server's log: what it writes, the hub reads
    os.write(log_fd, b"started\n")
    os.close(log_fd)
    assert os.read(read_end, 100) == b"started\n"
    os.close(read_end)


def test_a_request_without_its_log_descriptor_is_refused(connection):
    hub, server = connection
    hub.sendall(json.dumps(good_request()).encode() + b"\n")
    with pytest.raises(ForkServerError, match="log file descriptor first"):
        read_request(server)


def test_a_request_cut_short_is_refused(connection):
    hub, server = connection
    os.close(send_log_fd(hub))
    hub.sendall(b'{"module": "jupyterhub.singleuser"')
    hub.shutdown(socket.SHUT_WR)
    with pytest.raises(ForkServerError, match="ended early"):
        read_request(server)


def test_an_oversized_request_is_refused_before_it_is_parsed(connection):
    hub, server = connection
    os.close(send_log_fd(hub))

    def send_too_much():
        # a line that never ends: the fork server must stop reading, not wait for more
        try:
            hub.sendall(b"x" * (MAX_REQUEST_BYTES + 2**17))
        except OSError:
            pass  # the fork server hung up, as it should

    sender = threading.Thread(target=send_too_much)
    sender.start()
    try:
        with pytest.raises(ForkServerError, match="too large"):
            read_request(server)
    finally:
        server.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    assert not sender.is_alive()


def test_a_checked_request_is_checked_as_it_is_read(connection):
    hub, server = connection
    os.close(send_log_fd(hub))
    hub.sendall(json.dumps(good_request(cwd="relative")).encode() + b"\n")
    with pytest.raises(ForkServerError, match="bad request: cwd"):
        read_request(server)


# --- what the hub sends to a fork server at all ------------------------------------------


def test_only_python_dash_m_with_the_hubs_interpreter_is_forked():
    assert runnable_module([sys.executable, "-m", "jupyterhub.singleuser"]) == (
        "jupyterhub.singleuser"
    )
    assert runnable_module([sys.executable, "jupyterhub-singleuser.py"]) is None
    assert runnable_module([sys.executable, "-m"]) is None
    assert runnable_module(["/opt/other/bin/python3", "-m", "jupyterhub.singleuser"]) is None


def test_a_server_whose_import_time_environment_differs_is_not_forked(tmp_path):
    server = ForkServer(str(tmp_path / "fs.sock"), str(tmp_path / "fs.log"), None)
    same = server.environment()
    assert server.can_serve(dict(same))
    for key in IMPORT_TIME_ENV:
        assert not server.can_serve({**same, key: "/somewhere/else"}), key
