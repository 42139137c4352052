"""A real smchub started as its own process, for tests that stop and restart the hub."""

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import httpx
from jupyterhub.utils import subdomain_hook_idna

from smchub.origins import project_url

from .hubfixture import PASSWORD, Person, new_database_url, proxy_under_test
from .ports import unused_port

SMCHUB = os.path.join(os.path.dirname(sys.executable), "smchub")


class HubProcess:
    """`smchub -f <root>/jupyterhub_config.py`, with everything under `root`."""

    def __init__(self, root, extra_config="", account=None, db_url=None):
        self.root = root
        # the Unix account the hub runs as (pwd entry), or None for this process's own
        self.account = account
        os.makedirs(root, mode=0o711, exist_ok=True)
        os.chmod(root, 0o711)
        self.port = unused_port()
        # the hub's public name; each project is on its subdomain, as in SMCHub's default
        self.url = f"http://hub.localhost:{self.port}"
        self.hub_port = unused_port()
        self.config_file = os.path.join(root, "jupyterhub_config.py")
        self.log_file = os.path.join(root, "hub.log")
        # a database of its own, or the one of another hub it stands by for
        self.db_url = db_url = db_url or new_database_url(root)
        settings = {
            "c.JupyterHub.port": self.port,
            "c.JupyterHub.hub_port": self.hub_port,
            "c.ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{unused_port()}",
            "c.ConfigurableHTTPProxy.auth_token": secrets.token_hex(16),
            "c.JupyterHub.db_url": db_url,
            "c.JupyterHub.cookie_secret_file": os.path.join(root, "cookie_secret"),
            "c.JupyterHub.pid_file": os.path.join(root, "hub.pid"),
            "c.ConfigurableHTTPProxy.pid_file": os.path.join(root, "proxy.pid"),
            "c.SMCHub.data_dir": os.path.join(root, "data"),
            "c.Authenticator.admin_users": {"admin"},
        }
        if proxy_under_test() == "haproxy":
            settings["c.JupyterHub.proxy_class"] = "haproxy"
            settings["c.HAProxyProxy.state_dir"] = os.path.join(root, "haproxy")
        with open(self.config_file, "w") as f:
            f.write("c = get_config()\n")
            for key, value in settings.items():
                f.write(f"{key} = {value!r}\n")
            f.write(textwrap.dedent(extra_config))
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
            os.chown(self.config_file, account.pw_uid, account.pw_gid)
        self.proc = None
        self.people = {}
        # a network namespace (`ip netns` name) to run the hub in, or None
        self.netns = None

    async def start(self, timeout=60, answer=True):
        """Start the hub; with answer=False, do not wait for it to answer (a standby)."""
        log = open(self.log_file, "ab")
        become = {}
        if self.account is not None:
            become = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        # `ip netns exec` enters the namespace and execs the hub: the pid is the hub's
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            [*inside, SMCHUB, "-f", self.config_file],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **become,
        )
        log.close()
        if not answer:
            return
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            for _ in range(int(timeout * 10)):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"smchub exited:\n{self.log()}")
                try:
                    if (await client.get("/hub/api")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"smchub did not answer in {timeout}s:\n{self.log()}")

    async def stop(self):
        """SIGTERM, as an admin stopping the service would."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for person in self.people.values():
            await person.close()
        self.people = {}

    def project_url(self, project_id, path="", scheme="http"):
        """The full URL of `path` on a project's server, on the project's own origin."""
        url = project_url(project_id, "/", self.url, subdomain_hook_idna) + path
        return url.replace("http", scheme, 1)

    def log(self, tail=20000):
        with open(self.log_file, errors="replace") as f:
            text = f.read()
        return text[-tail:] if tail else text

    async def person(self, name=None):
        """Sign up through the page, then make an API token as the person would."""
        name = name or "p" + secrets.token_hex(4)
        if name in self.people:
            return self.people[name]
        async with httpx.AsyncClient(base_url=self.url, timeout=30, follow_redirects=True) as c:
            if name == "admin":
                await self._set_admin_password(c)
            r = await self.sign_up(c, name)
            if r.url.path != "/hub/projects":
                # already signed up (a restarted hub): sign in instead
                await c.get("/hub/login")
                r = await c.post(
                    "/hub/login",
                    data={"username": name, "password": PASSWORD, "_xsrf": self._xsrf(c)},
                )
            assert r.url.path == "/hub/projects", (r.status_code, r.url, r.text[-500:])
            r = await c.post(
                f"/hub/api/users/{name}/tokens",
                json={"note": "tests"},
                headers={"X-XSRFToken": self._xsrf(c)},
            )
            assert r.status_code == 201, r.text
            token = r.json()["token"]
        person = Person(self, name, token)
        self.people[name] = person
        return person

    async def sign_up(self, client, name):
        """The sign-up form, as a person fills it; returns the page they land on."""
        await client.get("/hub/signup")
        return await client.post(
            "/hub/signup",
            data={
                "username": name,
                "email": f"{name}@example.org",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "_xsrf": self._xsrf(client),
            },
        )

    def _xsrf(self, client):
        """The hub's XSRF cookie (the reset link in the log may name another host)."""
        host = urlsplit(self.url).hostname
        for cookie in client.cookies.jar:
            if cookie.name == "_xsrf" and cookie.path == "/hub/" and cookie.domain == host:
                return cookie.value
        return None

    async def _set_admin_password(self, client):
        """Admins from c.Authenticator.admin_users set their password by the link in the log."""
        links = re.findall(
            r"Admin admin has no password yet: open (\S+) to set one", self.log(tail=None)
        )
        if not links:
            return  # set already, by an earlier start
        page = await client.get(links[-1])
        if page.status_code != 200:
            return  # used already
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        r = await client.post(
            links[-1], data={"password": PASSWORD, "password_confirm": PASSWORD, "_xsrf": xsrf}
        )
        assert r.status_code == 200, r.text[-500:]

    async def wait_for_state(self, person, project_id, state, timeout=60):
        return await person.wait_for_state(project_id, state, timeout)
