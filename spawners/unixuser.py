"""Per-project Unix accounts on a local node.

As on SageMathCloud's compute nodes, each project runs as its own Linux user named after
the project id, so projects cannot read each other's files or signal each other's
processes. Only possible when the hub runs as root.
"""

import asyncio
import grp
import os
import pwd
import subprocess

# useradd takes a lock on /etc/passwd; two at once fail, so they go one at a time
_useradd_lock = asyncio.Lock()


class UnixAccount:
    def __init__(self, name, uid, gid, home):
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home

    def __repr__(self):
        return f"<UnixAccount {self.name} uid={self.uid}>"


def running_as_root():
    return os.geteuid() == 0


def lookup(name):
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    return UnixAccount(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir)


async def ensure_account(name, home):
    """The account `name` with home `home`, created if missing (as a normal user
    with its own group and no password, so it can only be entered by the hub)."""
    account = lookup(name)
    if account is not None:
        return account
    async with _useradd_lock:
        account = lookup(name)
        if account is not None:
            return account
        cmd = [
            "useradd",
            # project names are hex uuids, which may begin with a digit
            "--badname",
            "--no-create-home",
            "--home-dir", home,
            "--shell", "/bin/bash",
            "--user-group",
            "--no-log-init",
            name,
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(
                f"could not create the Unix account {name}: {out.decode(errors='replace').strip()}"
            )
    return lookup(name)


def ensure_home(path, uid, gid, mode=0o700):
    """Make the project's home, owned by its account and closed to everyone else."""
    os.makedirs(path, mode=mode, exist_ok=True)
    st = os.lstat(path)
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid)
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def preexec_for(account):
    """A preexec_fn that becomes `account` (groups, gid, uid) in the child."""
    groups = os.getgrouplist(account.name, account.gid)

    def become():
        os.setgroups(groups)
        os.setgid(account.gid)
        os.setuid(account.uid)

    return become


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
