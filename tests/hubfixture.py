"""A real SMCHub started in-process for tests, and people who use it over HTTP."""

import asyncio
import contextlib
import json
import os
import pwd
import secrets
import ssl
import subprocess

import httpx
import psutil
from jupyterhub import orm as hub_orm
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect
from traitlets.config import Config

from smchub import orm
from smchub.app import SMCHub
from smchub.names import unix_name

from .openapi_contract import check_response
from .ports import unused_port

PASSWORD = "correct horse battery staple"
# one TLS context for every test client: httpx otherwise makes one per client, reading
# the CA bundle each time (a twentieth of a second per person)
TLS = ssl.create_default_context()


class HubUnderTest(SMCHub):
    """SMCHub without process-wide side effects (signals, stopping the loop)."""

    def init_signal(self):
        pass

    def _stop_event_loop(self):
        pass

    def load_config_file(self, *args, **kwargs):
        # tests configure the hub entirely through Config objects
        pass


def new_database_url(root):
    """A fresh, empty database for one hub: SQLite in `root`, or a new database on the
    test PostgreSQL server when SMCHUB_TEST_PG_URL names one (make test does both)."""
    server = os.environ.get("SMCHUB_TEST_PG_URL")
    if not server:
        return "sqlite:///" + os.path.join(root, "hub.sqlite")
    import psycopg

    name = "smchub_" + secrets.token_hex(6)
    conn = psycopg.connect(server + "postgres", autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    conn.close()
    return server + name


def proxy_under_test():
    """The proxy test hubs run behind: configurable-http-proxy ("chp", JupyterHub's
    default), or HAProxy when SMCHUB_TEST_PROXY=haproxy (make test runs the files that
    exercise the proxy most once more that way)."""
    proxy = os.environ.get("SMCHUB_TEST_PROXY", "chp").lower() or "chp"
    if proxy not in ("chp", "haproxy"):
        raise ValueError(f"SMCHUB_TEST_PROXY={proxy!r}: 'chp' or 'haproxy'")
    return proxy


def hub_config(root, **overrides):
    c = Config()
    c.SMCHub.data_dir = os.path.join(root, "data")
    c.JupyterHub.db_url = new_database_url(root)
    c.JupyterHub.cookie_secret_file = os.path.join(root, "cookie_secret")
    c.JupyterHub.pid_file = os.path.join(root, "hub.pid")
    c.JupyterHub.port = unused_port()
    c.JupyterHub.hub_port = unused_port()
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{unused_port()}"
    c.ConfigurableHTTPProxy.pid_file = os.path.join(root, "proxy.pid")
    c.ConfigurableHTTPProxy.auth_token = secrets.token_hex(16)
    if proxy_under_test() == "haproxy":
        c.JupyterHub.proxy_class = "haproxy"
        c.HAProxyProxy.state_dir = os.path.join(root, "haproxy")
        c.HAProxyProxy.check_running_interval = 1
    c.Authenticator.admin_users = {"admin"}
    c.JupyterHub.log_level = "INFO"
    c.SMCHub.idle_check_interval = 1
    # act on deadlines within a second of them
    c.SMCHub.deadline_interval = 1
    # notice dead servers quickly (JupyterHub's default is every 30 s)
    c.Spawner.poll_interval = 5
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        setattr(getattr(c, section), name, value)
    return c


class RunningHub:
    """Starts and stops an in-process hub; makes people and projects for tests."""

    def __init__(self, root, **config):
        self.root = root
        os.makedirs(root, mode=0o711, exist_ok=True)
        os.chmod(root, 0o711)
        self.config = hub_config(root, **config)
        self.app = None
        self._people = {}
        # the first person's hash of PASSWORD, which the people made after share
        self._password_hash = None

    async def start(self):
        HubUnderTest.clear_instance()
        self.app = HubUnderTest.instance(config=self.config)
        try:
            await self.app.initialize([])
            await self.app.start()
        except BaseException:
            # the proxy may already run: leave nothing behind
            await self.app.cleanup()
            raise
        # the hub's public name: projects are on its subdomains (SMCHub.subdomain_host)
        self.url = f"http://hub.localhost:{self.config.JupyterHub.port}"
        self.admin = await self.person("admin")

    async def stop(self, leave_servers=False):
        app = self.app
        if leave_servers:
            app.cleanup_servers = False
        app.http_server.stop()
        await app.cleanup()
        for pc in app._periodic_callbacks.values():
            pc.stop()
        for person in self._people.values():
            await person.close()
        self._people = {}
        app.db.close()

    @property
    def db(self):
        return self.app.db

    def project_url(self, project_id, path="", scheme="http"):
        """The full URL of `path` on a project's server, on the project's own origin."""
        url = self.app.project_url(project_id) + path
        return url.replace("http", scheme, 1)

    def project_ids(self):
        try:
            return [p.id for p in self.app.db.query(orm.Project)]
        except Exception:
            return []

    async def person(self, name=None, admin=False, email=None):
        """A signed-up person with an API token, talking to the hub through the proxy."""
        if name is None:
            name = "p" + secrets.token_hex(4)
        if name in self._people:
            return self._people[name]
        app = self.app
        db = app.db
        from smchub.authenticators.orm import Account

        if not db.query(Account).filter_by(username=name).first():
            # argon2 takes a quarter of a second of CPU per hash, by design: people
            # share the first one's hash of PASSWORD (each still signs in with it),
            # or the 200 of a class would be a minute of hashing
            account = app.authenticator.signup(
                db, name, PASSWORD, email, password_hash=self._password_hash
            )
            self._password_hash = account.password_hash
        orm_user = hub_orm.User.find(db, name)
        if orm_user is None:
            orm_user = hub_orm.User(name=name, admin=admin or name == "admin")
            # what the authenticator reports at sign-in
            orm_user.user_info = {"email": email} if email else None
            db.add(orm_user)
            db.commit()
            from jupyterhub import roles

            roles.assign_default_roles(db, entity=orm_user)
            db.commit()
        user = app.users[orm_user]
        token = user.new_api_token(note="tests")
        person = Person(self, name, token)
        self._people[name] = person
        if email:
            # as the projects page does where sign-up and sign-in land: course places
            # reserved for the address are claimed
            r = await person.api("POST", "courses/claim")
            assert r.status_code == 200, r.text
        return person

    def anonymous(self):
        return Person(self, None, None)

    async def wait_for_state(self, person, project_id, state, timeout=60):
        return await person.wait_for_state(project_id, state, timeout)


class Person:
    """Someone using the hub: API calls with their token, pages with their cookies."""

    def __init__(self, hub, name, token):
        self.hub = hub
        self.name = name
        self.token = token
        headers = {"Authorization": f"token {token}"} if token else {}
        self.client = httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=60, verify=TLS)
        self._browser = None

    async def close(self):
        await self.client.aclose()
        if self._browser is not None:
            await self._browser.aclose()

    async def api(self, method, path, json_body=None, content=None, **kwargs):
        if json_body is not None:
            kwargs["json"] = json_body
        if content is not None:
            kwargs["content"] = content
        response = await self.client.request(method, "/hub/api/" + path, **kwargs)
        # every answer of smchub's own routes must be one its OpenAPI document allows
        check_response(response)
        return response

    async def wait_for_state(self, project_id, state, timeout=60):
        """The project once it is in `state` (polling the API as the projects page does)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await self.api("GET", f"projects/{project_id}")
            assert r.status_code == 200, r.text
            if r.json()["state"] == state:
                return r.json()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"project {project_id} is {r.json()['state']}, not {state}")
            await asyncio.sleep(0.2)

    async def start_project(self, project_id):
        r = await self.api("POST", f"projects/{project_id}/start")
        assert r.status_code == 202, r.text
        return await self.wait_for_state(project_id, "running")

    async def stop_project(self, project_id):
        r = await self.api("POST", f"projects/{project_id}/stop")
        assert r.status_code == 202, r.text
        return await self.wait_for_state(project_id, "stopped")

    async def execute(self, project_id, code, timeout=60):
        """Run `code` in a new kernel of the project; returns what it printed."""
        return await run_in_kernel(self, project_id, code, timeout)

    async def create_project(self, title="A project", **fields):
        r = await self.api("POST", "projects", {"title": title, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    async def browser(self):
        """An httpx client signed in through the login form, holding cookies like a browser."""
        if self._browser is not None:
            return self._browser
        client = httpx.AsyncClient(
            base_url=self.hub.url, timeout=60, follow_redirects=True, verify=TLS
        )
        r = await client.get("/hub/login")
        assert r.status_code == 200
        xsrf = client.cookies.get("_xsrf")
        r = await client.post(
            "/hub/login",
            data={"username": self.name, "password": PASSWORD, "_xsrf": xsrf},
        )
        assert r.status_code == 200 and r.url.path.endswith("/hub/projects"), (r.status_code, r.url)
        self._browser = client
        return client

    async def open_project(self, project_id, path="lab"):
        """Open a project server page as a browser would, through JupyterHub's OAuth."""
        client = await self.browser()
        return await client.get(self.hub.project_url(project_id, path))

    def server_xsrf(self, project_id):
        """The project server's XSRF token from the browser's cookies."""
        for cookie in self._browser.cookies.jar:
            if cookie.name == "_xsrf" and cookie.domain.startswith(project_id):
                return cookie.value
        return None

    async def server_api(self, project_id, method, path, **kwargs):
        """A call to the project server's REST API with the browser's cookies."""
        client = await self.browser()
        headers = kwargs.pop("headers", {})
        xsrf = self.server_xsrf(project_id)
        if xsrf:
            headers["X-XSRFToken"] = xsrf
        return await client.request(
            method,
            self.hub.project_url(project_id, path),
            headers=headers,
            follow_redirects=False,
            **kwargs,
        )

    async def join(self, inviter, project_id):
        """Become a collaborator: `inviter` invites this person, who accepts."""
        r = await inviter.api("PUT", f"projects/{project_id}/collaborators/{self.name}")
        assert r.status_code in (200, 202), r.text
        if r.status_code == 200:  # already a collaborator
            return r.json()
        invitation = next(i for i in r.json()["invited"] if i["name"] == self.name)
        r = await self.api("POST", f"invitations/{invitation['id']}/accept")
        assert r.status_code == 200, r.text
        return r.json()


@contextlib.asynccontextmanager
async def running_hub(root, **config):
    """A hub in `root` for as long as the block runs; its projects' accounts go after."""
    running = RunningHub(root, **config)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        remove_project_accounts(running.project_ids())
        HubUnderTest.clear_instance()


async def run_in_kernel(person, project_id, code, timeout=60, kernel="python3", results=False):
    """Start a kernel in the project with the person's token, run code, return stdout
    (and with `results`, the text/plain of its results, as a notebook cell shows them)."""
    hub = person.hub
    r = await person.client.post(hub.project_url(project_id, "api/kernels"), json={"name": kernel})
    assert r.status_code == 201, r.text
    kernel_id = r.json()["id"]
    url = hub.project_url(project_id, f"api/kernels/{kernel_id}/channels", scheme="ws")
    ws = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {person.token}"}, ssl_options=TLS)
    )
    msg_id = secrets.token_hex(8)
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": person.name,
              "session": secrets.token_hex(8), "version": "5.3", "date": ""}  # fmt: skip
    ws.write_message(json.dumps({
        "header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False}, "buffers": [],
    }))  # fmt: skip
    out = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if raw is None:
                raise AssertionError(f"the {kernel} kernel's websocket closed")
            message = json.loads(raw)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream":
                out.append(message["content"]["text"])
            elif results and kind in ("execute_result", "display_data"):
                out.append(message["content"]["data"].get("text/plain", ""))
            elif kind == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()
        await person.client.delete(hub.project_url(project_id, f"api/kernels/{kernel_id}"))


def remove_accounts_under(folder):
    """Delete the Unix accounts whose homes are under `folder`: also those of projects a
    killed hub made the account for but not yet the home."""
    if os.geteuid() != 0:
        return
    folder = os.path.join(os.path.abspath(folder), "")
    accounts = [a for a in pwd.getpwall() if a.pw_dir.startswith(folder)]
    # a server a failed test left running (hubs that leave servers at exit, a hub
    # killed mid-start) would keep its account: userdel refuses a user in use
    uids = {a.pw_uid for a in accounts} - {0, os.getuid()}
    killed = []
    for process in psutil.process_iter(["uids"]):
        try:
            if process.info["uids"] and process.info["uids"].real in uids:
                process.kill()
                killed.append(process)
        except psutil.Error:
            pass
    psutil.wait_procs(killed, timeout=5)
    for account in accounts:
        subprocess.run(["userdel", account.pw_name], capture_output=True)


def remove_project_accounts(project_ids):
    """Delete the Unix accounts tests made for projects (their homes go with the test dir)."""
    if os.geteuid() != 0:
        return
    for project_id in project_ids:
        name = unix_name(project_id)
        subprocess.run(["userdel", name], capture_output=True)
