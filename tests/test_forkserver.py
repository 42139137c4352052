"""Project servers forked by the local node's fork server: isolation, secrets, lifecycle."""

import os
import pwd
import signal
import stat

import psutil
import pytest

from smchub.names import unix_name

from .hubfixture import remove_project_accounts
from .hubprocess import HubProcess

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason="per-project accounts need root"),
]


def local_backend(hub):
    return hub.app.backend_for("local")


def fork_server_pid(hub):
    server = local_backend(hub).fork_server()
    assert server.running, "the fork server is not running"
    return server.pid


def server_process(hub, project_id):
    handle = hub.app.users[project_id].spawner.handle
    return psutil.Process(handle["pid"])


async def test_projects_are_forked_as_their_own_accounts(hub):
    alice = await hub.person()
    first = (await alice.create_project("One"))["id"]
    second = (await alice.create_project("Two"))["id"]
    await alice.start_project(first)
    await alice.start_project(second)
    try:
        for project_id in (first, second):
            process = server_process(hub, project_id)
            # forked by the fork server, not started by the hub
            assert process.ppid() == fork_server_pid(hub)
            account = pwd.getpwnam(unix_name(project_id))
            assert process.uids().real == process.uids().effective == account.pw_uid
            assert process.gids().real == account.pw_gid
            home = os.path.join(hub.app.projects_root, project_id)
            st = os.stat(home)
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (account.pw_uid, 0o700)
            # its own session, so stopping it reaches its kernels
            assert os.getsid(process.pid) == process.pid
            # settings computed from the environment were computed from the project's
            assert os.path.exists(
                os.path.join(home, ".local", "share", "jupyter", "file_id_manager.db")
            )

        r = await alice.client.put(
            hub.project_url(first, "api/contents/secret.txt"),
            json={"type": "file", "format": "text", "content": "only for One"},
        )
        assert r.status_code in (200, 201), r.text
        secret = os.path.join(hub.app.projects_root, first, "secret.txt")
        # the second project's kernel cannot read the first one's files
        out = await alice.execute(
            second,
            f"try:\n    open({secret!r}).read()\n    print('read it')\n"
            "except PermissionError:\n    print('refused')",
        )
        assert out.strip() == "refused"
        out = await alice.execute(second, "import os; print(os.getuid(), os.getcwd())")
        uid, cwd = out.split()
        assert int(uid) == pwd.getpwnam(unix_name(second)).pw_uid
        assert cwd == os.path.join(hub.app.projects_root, second)
    finally:
        await alice.stop_project(first)
        await alice.stop_project(second)


def _control_socket_inodes(path):
    inodes = set()
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path:
                inodes.add(fields[6])
    return inodes


async def test_forked_servers_hold_no_hub_secrets_or_sockets(hub, monkeypatch):
    # secrets in the hub's environment, then a fresh fork server that could inherit them
    secrets = {
        "CONFIGPROXY_AUTH_TOKEN": "proxy-secret-" + os.urandom(8).hex(),
        "JPY_COOKIE_SECRET": os.urandom(32).hex(),
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    backend = local_backend(hub)
    await backend.close()
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    await alice.start_project(pid)
    try:
        process = server_process(hub, pid)
        fork_server = backend.fork_server()
        assert process.ppid() == fork_server.pid

        def leaks(text):
            return [key for key, value in secrets.items() if key in text or value in text]

        # neither the server's environment (as the kernel inherits it) ...
        out = await alice.execute(pid, "import os; print(sorted(os.environ.items()))")
        assert leaks(out) == []
        assert "JUPYTERHUB_API_TOKEN" in out  # its own token is there, as it should be
        # ... nor what the process was started with, nor the fork server's
        for p in (process.pid, fork_server.pid):
            with open(f"/proc/{p}/environ", "rb") as f:
                assert leaks(f.read().decode(errors="replace")) == []

        # no descriptor of the fork server's: its socket, its log
        control = _control_socket_inodes(fork_server.socket_path)
        assert control, "the fork server's socket was not found"
        targets = [os.readlink(f"/proc/{process.pid}/fd/{fd}")
                   for fd in os.listdir(f"/proc/{process.pid}/fd")]  # fmt: skip
        assert not [t for t in targets if t.startswith("socket:[") and t[8:-1] in control]
        assert fork_server.log_path not in targets
        assert os.readlink(f"/proc/{process.pid}/fd/1").endswith(f"{pid}.log")
    finally:
        await alice.stop_project(pid)


async def test_killing_the_fork_server_spares_running_projects(hub):
    alice = await hub.person()
    running = (await alice.create_project("Running"))["id"]
    later = (await alice.create_project("Started later"))["id"]
    await alice.start_project(running)
    try:
        old = fork_server_pid(hub)
        os.kill(old, signal.SIGKILL)
        psutil.Process(old).wait(timeout=10)
        # the project's server goes on, and answers
        assert server_process(hub, running).is_running()
        r = await alice.client.get(hub.project_url(running, "api/status"))
        assert r.status_code == 200
        # the next start brings up a new fork server and is forked by it
        await alice.start_project(later)
        new = fork_server_pid(hub)
        assert new != old
        assert server_process(hub, later).ppid() == new
        assert (await alice.execute(later, "print(6 * 7)")).strip() == "42"
    finally:
        await alice.stop_project(running)
        await alice.stop_project(later)


async def test_projects_start_without_a_fork_server(hub, monkeypatch):
    """If the fork server cannot come up, servers are started as new processes."""
    backend = local_backend(hub)
    await backend.close()
    # no time to import anything: the fork server never answers in time
    monkeypatch.setattr(backend, "fork_server_timeout", 0.0)
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    try:
        await alice.start_project(pid)
        process = server_process(hub, pid)
        assert process.ppid() == os.getpid()  # started by the hub itself
        assert (await alice.execute(pid, "print('works')")).strip() == "works"
    finally:
        await alice.stop_project(pid)
        await backend.close()


@pytest.fixture
async def restartable_hub(hub_root):
    hub = HubProcess(
        os.path.join(hub_root, "fork-restart"), "c.JupyterHub.cleanup_servers = False\n"
    )
    await hub.start()
    yield hub
    await hub.stop()
    with open(hub.config_file, "a") as f:
        f.write("c.JupyterHub.cleanup_servers = True\n")
    await hub.start()
    await hub.stop()
    projects = os.path.join(hub.root, "data", "projects")
    remove_project_accounts(os.listdir(projects) if os.path.isdir(projects) else [])


def _fork_servers_of(pid):
    try:
        return [
            child
            for child in psutil.Process(pid).children()
            if "smchub.spawners.forkserver" in " ".join(child.cmdline())
        ]
    except psutil.Error:
        return []


async def test_forked_servers_survive_a_hub_restart(restartable_hub):
    hub = restartable_hub
    alice = await hub.person("alice")
    pid = (await alice.create_project("Kept"))["id"]
    await alice.start_project(pid)
    (old_fork_server,) = _fork_servers_of(hub.proc.pid)
    server = next(p for p in old_fork_server.children() if p.uids().real != 0)

    await hub.stop()
    # the hub's fork server went with it; the project's server did not
    old_fork_server.wait(timeout=10)
    assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE

    await hub.start()
    alice = await hub.person("alice")
    project = await alice.wait_for_state(pid, "running", timeout=10)
    assert project["state"] == "running"
    r = await alice.client.get(hub.project_url(pid, "api/status"))
    assert r.status_code == 200
    (new_fork_server,) = _fork_servers_of(hub.proc.pid)
    assert new_fork_server.pid != old_fork_server.pid
    await alice.stop_project(pid)
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
