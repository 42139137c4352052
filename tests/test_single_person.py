"""A hub that is not root cannot keep projects apart, so it serves one person.

Without root, every local project runs as the hub's own account and could read the
other projects, the hub's database and its cookie secret. Such a hub lets its first
person in and refuses everyone else, unless the admin acknowledges with
c.SMCHub.allow_unisolated_projects that everyone there trusts each other.
"""

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

import httpx
import pytest

from .hubfixture import PASSWORD
from .hubprocess import HubProcess

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make an account")


@pytest.fixture
def hub_account():
    """An unprivileged Unix account to run a hub as."""
    name = "smchubhub" + secrets.token_hex(3)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
    )
    account = pwd.getpwnam(name)
    try:
        yield account
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        # the folder its hub kept kernel sockets in (kernel_sockets.default_root)
        shutil.rmtree(
            os.path.join(tempfile.gettempdir(), f"smchub-{account.pw_uid}-kernels"),
            ignore_errors=True,
        )


async def sign_up(hub, name):
    """The sign-up form, as a newcomer fills it; returns the page they land on."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=30, follow_redirects=True) as c:
        return await hub.sign_up(c, name)


async def start_unprivileged(root, account, extra_config=""):
    config = "c.Authenticator.admin_users = set()\n" + extra_config
    hub = HubProcess(root, extra_config=config, account=account)
    await hub.start()
    return hub


async def test_a_hub_without_root_serves_its_first_person_only(hub_root, hub_account):
    hub = await start_unprivileged(os.path.join(hub_root, "solo-hub"), hub_account)
    try:
        assert "not isolated" in hub.log()
        solo = await hub.person("solo")
        pid = (await solo.create_project("Mine"))["id"]
        await solo.start_project(pid)
        out = await solo.execute(pid, "import os; print(os.getuid())")
        assert out.strip() == str(hub_account.pw_uid)  # the hub's own account

        r = await sign_up(hub, "stranger")
        assert r.status_code == 403
        assert "serves one person only" in r.text
        assert "allow_unisolated_projects" in r.text
        # nothing was made for the stranger: they cannot sign in
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as c:
            await c.get("/hub/login")
            r = await c.post(
                "/hub/login",
                data={
                    "username": "stranger",
                    "password": PASSWORD,
                    "_xsrf": c.cookies.get("_xsrf"),
                },
            )
            assert r.status_code != 302 or "/hub/projects" not in r.headers.get("location", "")
        await solo.stop_project(pid)
    finally:
        await hub.stop()


async def test_the_admin_can_let_trusted_people_share_it(hub_root, hub_account):
    hub = await start_unprivileged(
        os.path.join(hub_root, "shared-hub"),
        hub_account,
        "c.SMCHub.allow_unisolated_projects = True\n",
    )
    try:
        await hub.person("first")
        second = await hub.person("second")
        assert (await second.create_project("Also mine"))["owner"] == "second"
    finally:
        await hub.stop()
