"""Projects of people who do not trust each other, on the local node: what one project's
code can reach of another project's kernels, and of the hub's own files.

Every attack runs as a real kernel of the attacker's project (`person.execute`), as a
student in a class would run it.
"""

import asyncio
import os
import pwd
import secrets

import psutil
import pytest

from smchub.names import unix_name

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="projects have accounts of their own only when the hub is root"
)

# A kernel that finds another account's kernels and subscribes to their output channel
# (iopub, which needs no key to read): over TCP, the victim account's listening ports in
# /proc/net/tcp; over IPC, every kernel socket path in /proc/net/unix. It prints whether
# the secret came through. The secret is handed over reversed, so the attacker's own
# messages (which echo its code) never contain it.
SUBSCRIBE_ATTACK = """
import time, zmq
victim_uid, wanted = {uid}, {reversed_secret!r}[::-1].encode()
addresses = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[7]) == victim_uid:
            addresses.append("tcp://127.0.0.1:%d" % int(fields[1].rsplit(":", 1)[1], 16))
for line in open("/proc/net/unix").read().splitlines()[1:]:
    fields = line.split()
    if len(fields) >= 8 and "kernel-" in fields[7]:
        addresses.append("ipc://" + fields[7])
sub = zmq.Context.instance().socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.setsockopt(zmq.LINGER, 0)
for address in addresses:
    try:
        sub.connect(address)
    except zmq.ZMQError:
        pass
captured, deadline = False, time.monotonic() + {seconds}
while time.monotonic() < deadline and not captured:
    if sub.poll(200):
        captured = any(wanted in part for part in sub.recv_multipart())
print("tried", len(addresses), "captured", captured)
"""

# the victim: a kernel printing its secret for a while
LEAKY_KERNEL = """
import time
for _ in range({rounds}):
    print({secret!r}, flush=True)
    time.sleep(0.2)
"""


def account_uid(project_id):
    return pwd.getpwnam(unix_name(project_id)).pw_uid


async def attack_while_victim_prints(victim, victim_pid, attackers, seconds=8, victim_uid=None):
    """Run the subscription attack from each (person, project) while the victim's kernel
    prints a secret; returns each attacker's report. The victim's account is the
    project's own on the local node; give `victim_uid` where it differs (containers)."""
    secret = "secret-" + secrets.token_hex(8)
    rounds = int((seconds + 6) / 0.2)
    printing = asyncio.ensure_future(
        victim.execute(victim_pid, LEAKY_KERNEL.format(secret=secret, rounds=rounds))
    )
    # the victim's kernel is up and printing before anyone subscribes
    await asyncio.sleep(3)
    code = SUBSCRIBE_ATTACK.format(
        uid=account_uid(victim_pid) if victim_uid is None else victim_uid,
        reversed_secret=secret[::-1],
        seconds=seconds,
    )
    try:
        reports = await asyncio.gather(
            *(person.execute(pid, code, timeout=seconds + 60) for person, pid in attackers)
        )
    finally:
        output = await printing
    assert secret in output, "the victim's kernel did not print its secret"
    return [report.split() for report in reports]


@needs_root
async def test_a_kernel_cannot_read_another_projects_kernel(hub):
    alice, mallory = await hub.person(), await hub.person()
    victim = (await alice.create_project("Alice's secrets"))["id"]
    spare = (await alice.create_project("Alice's other work"))["id"]
    attacker = (await mallory.create_project("Mallory's probe"))["id"]
    for person, pid in ((alice, victim), (alice, spare), (mallory, attacker)):
        await person.start_project(pid)
    try:
        # kernels listen on Unix sockets in the project's own private folder
        out = await alice.execute(
            victim,
            "import json, os, ipykernel\n"
            "path = ipykernel.get_connection_file()\n"
            "print(json.load(open(path))['transport'], os.path.dirname(path))",
        )
        transport, folder = out.split()
        assert transport == "ipc"
        assert os.path.dirname(folder) == hub.app.backend_for("local").kernel_sockets_root
        st = os.stat(folder)
        assert (st.st_uid, st.st_mode & 0o777) == (account_uid(victim), 0o700)

        by_mallory, by_alice = await attack_while_victim_prints(
            alice, victim, [(mallory, attacker), (alice, spare)]
        )
        assert by_mallory[-1] == "False", f"another project read the kernel: {by_mallory}"
        # the attack does find and read the victim's kernel from its own account (a
        # second kernel of the same project), so its failure above is not a broken probe
        same_account = await attack_while_victim_prints(alice, victim, [(alice, victim)])
        assert same_account[0][-1] == "True", same_account
        # a different project of the same person is another account: refused too
        assert by_alice[-1] == "False", by_alice
    finally:
        for person, pid in ((alice, victim), (alice, spare), (mallory, attacker)):
            await person.stop_project(pid)


READ_HUB_FILE = """
try:
    open({path!r}, "rb").read(16)
    print("read")
except PermissionError:
    print("PermissionError")
"""


@needs_root
async def test_a_project_cannot_read_the_hubs_database_or_secrets(hub):
    config = hub.config.JupyterHub
    paths = [config.cookie_secret_file]
    if config.db_url.startswith("sqlite:///"):
        paths.append(config.db_url[len("sqlite:///") :])
    paths += [p for p in (path + "-wal" for path in paths[1:]) if os.path.exists(p)]
    mallory = await hub.person()
    pid = (await mallory.create_project("Snooping"))["id"]
    await mallory.start_project(pid)
    try:
        for path in paths:
            assert os.path.exists(path)
            out = await mallory.execute(pid, READ_HUB_FILE.format(path=path))
            assert out.strip() == "PermissionError", f"a project read {path}"
    finally:
        await mallory.stop_project(pid)


# Every process's command line, and every environment the kernel may read, searched for
# secrets (handed over reversed, so the probe's own code holds none of them).
SCAN_PROC = """
import os
wanted = [s[::-1].encode() for s in {reversed_secrets!r}]
found, scanned = set(), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/{{pid}}/{{name}}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        scanned += 1
        found.update(i for i, secret in enumerate(wanted) if secret in data)
print(scanned, sorted(found))
"""


@needs_root
async def test_no_secret_is_on_a_command_line_another_project_can_read(hub):
    alice, mallory = await hub.person(), await hub.person()
    victim = (await alice.create_project("Alice's server"))["id"]
    attacker = (await mallory.create_project("Mallory's probe"))["id"]
    await alice.start_project(victim)
    await mallory.start_project(attacker)
    try:
        # a kernel of the victim's, so its command line is there to read too
        await alice.execute(victim, "print(1)")
        with open(hub.config.JupyterHub.cookie_secret_file) as f:
            cookie_secret = f.read().strip()
        secrets_ = [
            hub.app.users[victim].spawner.api_token,
            hub.config.ConfigurableHTTPProxy.auth_token,
            cookie_secret,
        ]
        out = await mallory.execute(
            attacker, SCAN_PROC.format(reversed_secrets=[s[::-1] for s in secrets_])
        )
        scanned, found = out.strip().split(maxsplit=1)
        assert int(scanned) > 0  # its own processes, at least
        assert found == "[]", f"secrets {found} (api token, proxy token, cookie secret) in /proc"
    finally:
        await alice.stop_project(victim)
        await mallory.stop_project(attacker)


LIST_PROC = """
import os
seen = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        seen[int(pid)] = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        pass
print(sorted(seen.items()))
"""


@needs_root
async def test_a_project_sees_only_its_own_processes(hub):
    alice, mallory = await hub.person(), await hub.person()
    victim = (await alice.create_project("Alice's processes"))["id"]
    attacker = (await mallory.create_project("Mallory's ps"))["id"]
    await alice.start_project(victim)
    await mallory.start_project(attacker)
    try:
        # a kernel of the victim's that stays up while the attacker looks
        r = await alice.client.post(
            hub.project_url(victim, "api/kernels"), json={"name": "python3"}
        )
        assert r.status_code == 201, r.text
        server = psutil.Process(hub.app.users[victim].spawner.handle["pid"])
        victims = {server.pid, *(p.pid for p in server.children(recursive=True))}
        assert len(victims) >= 2

        out = await mallory.execute(attacker, LIST_PROC)
        seen = dict(eval(out))  # [(pid, uid), ...] as the kernel printed it
        # its own kernel at least, and nothing of any other account
        assert os.getpid() not in seen and 1 not in seen
        assert set(seen.values()) == {account_uid(attacker)}, seen
        assert not victims & set(seen), f"{victims & set(seen)} visible to another project"
        # the machine's own /proc is unchanged: the hub still sees every project
        assert all(psutil.pid_exists(pid) for pid in victims)
    finally:
        await alice.stop_project(victim)
        await mallory.stop_project(attacker)
