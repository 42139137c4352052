"""Accounts: sign-up, sign-in by username or email, lockout, sign-up codes, approval,
changing and resetting passwords. Everything goes through the pages and the API, as a
person or an admin would use them."""

import asyncio
import contextlib
import html
import itertools
import os
import re
import secrets
from datetime import timedelta

import httpx
import pytest
from jupyterhub import orm as hub_orm
from traitlets import TraitError
from traitlets.config import Config

from smchub.authenticators import SMCAuthenticator, lockout
from smchub.authenticators.orm import Account, LoginFailures, PasswordReset, SignupToken
from smchub.orm import now

from .hubfixture import PASSWORD
from .hubprocess import HubProcess

NEW_PASSWORD = "a brand new passphrase"
PROJECT_ID = "0b0c3a55-8d2e-4f5e-9a61-2f4d1c7b9e10"

# client addresses from the documentation ranges (RFC 5737); nothing is ever sent to them.
# The proxy appends the address it sees to X-Forwarded-For; to come "from" another
# address, tests talk to the hub's own port and send the header the proxy would add.
_addresses = (f"198.51.100.{i}" for i in itertools.count(1))


def new_name():
    return "a" + secrets.token_hex(4)


@contextlib.contextmanager
def configured(hub, **traits):
    """Set SMCAuthenticator settings on the running hub for one test."""
    authenticator = hub.app.authenticator
    before = {name: getattr(authenticator, name) for name in traits}
    for name, value in traits.items():
        setattr(authenticator, name, value)
    try:
        yield authenticator
    finally:
        for name, value in before.items():
            setattr(authenticator, name, value)


@contextlib.asynccontextmanager
async def browser(hub, address=None):
    """A fresh browser (cookies, redirects) coming from its own client address."""
    headers = {"X-Forwarded-For": address or next(_addresses)}
    hub_port = hub.app.hub.port if hasattr(hub, "app") else hub.hub_port
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{hub_port}",
        timeout=60,
        follow_redirects=True,
        headers=headers,
    ) as client:
        yield client


def form_xsrf(page):
    """The XSRF token in a page's form."""
    found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert found, (page.status_code, page.text[-1000:])
    return found.group(1)


async def submit(client, path, **fields):
    """Open the page at `path` and send its form with `fields`, as a browser would."""
    page = await client.get(path)
    return await client.post(path, data={**fields, "_xsrf": form_xsrf(page)})


async def sign_up(client, username, password=PASSWORD, email="", **fields):
    if email == "":
        email = f"{username}@example.org"
    form = {"username": username, "password": password, "password_confirm": password, **fields}
    if email is not None:
        form["email"] = email
    return await submit(client, "/hub/signup", **form)


async def sign_in(hub, login, password=PASSWORD, address=None):
    async with browser(hub, address) as client:
        return await submit(client, "/hub/login", username=login, password=password)


def text(response):
    """The page as a person reads it (entities decoded)."""
    return html.unescape(response.text)


def signed_in(response):
    return response.status_code == 200 and response.url.path == "/hub/projects"


def account(hub, username):
    return hub.db.query(Account).filter_by(username=username).one_or_none()


# --- sign-up --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def existing(hub):
    """Someone who signed up already: (username, email)."""
    name = new_name()
    async with browser(hub) as client:
        assert signed_in(await sign_up(client, name))
    return name, f"{name}@example.org"


@pytest.mark.parametrize(
    "case, fields, reason",
    [
        ("weak password", {"password": "short"}, "at least 8 characters"),
        ("few characters", {"password": "abababab"}, "at least 4 different characters"),
        ("bad email", {"email": "not-an-email"}, "email address does not look right"),
        ("long email", {"email": "x" * 300 + "@example.org"}, "does not look right"),
        ("no email", {"email": None}, "An email address is required"),
        ("taken username", {"username": "EXISTING"}, "That username is taken"),
        ("taken email", {"email": "EXISTING-EMAIL"}, "account with that email address already"),
        ("project id", {"username": PROJECT_ID}, "reserved for projects"),
        ("bad username", {"username": "Ada Lovelace!"}, "Usernames are 1 to 63 characters"),
        ("passwords differ", {"password_confirm": "something else"}, "The two passwords differ"),
    ],
)
async def test_sign_up_refusals(hub, existing, case, fields, reason):
    taken_name, taken_email = existing
    name = new_name()
    form = {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
    form["password_confirm"] = fields.get("password", PASSWORD)
    form.update(fields)
    if form["username"] == "EXISTING":
        form["username"] = taken_name.upper()
    if form["email"] == "EXISTING-EMAIL":
        form["email"] = taken_email.upper()
    accounts_before = hub.db.query(Account).count()
    async with browser(hub) as client:
        r = await sign_up(client, **form)
        assert r.status_code == 400
        assert reason in text(r)
        assert r.url.path == "/hub/signup"
        # what the person typed is kept, the passwords are not
        if case == "weak password":
            assert f'value="{name}"' in text(r)
            assert 'value="short"' not in text(r)
        assert (await client.get("/hub/api/user")).status_code == 403
    assert hub.db.query(Account).count() == accounts_before
    assert hub_orm.User.find(hub.db, name) is None


async def test_sign_up_cannot_take_a_name_jupyterhub_knows(hub):
    # an admin added this person in JupyterHub's admin page: no password yet
    name = new_name()
    r = await hub.admin.client.post(f"/hub/api/users/{name}")
    assert r.status_code == 201, r.text
    async with browser(hub) as client:
        r = await sign_up(client, name)
    assert r.status_code == 400
    assert "That username is taken" in text(r)
    assert account(hub, name) is None


async def test_sign_up_signs_in_and_login_page_offers_it(hub):
    async with browser(hub) as client:
        page = await client.get("/hub/login")
        assert "Username or email" in text(page)
        assert 'href="/hub/signup"' in text(page)
        name = new_name()
        r = await sign_up(client, name)
        assert signed_in(r)
        assert (await client.get("/hub/api/user")).json()["name"] == name
    assert account(hub, name).email == f"{name}@example.org"


async def test_email_is_optional_when_configured(hub):
    with configured(hub, require_email=False):
        async with browser(hub) as client:
            page = await client.get("/hub/signup")
            assert "Email (optional)" in text(page)
            name = new_name()
            assert signed_in(await sign_up(client, name, email=None))
    assert account(hub, name).email is None


async def test_closed_sign_up(hub):
    with configured(hub, signup_mode="closed"):
        async with browser(hub) as client:
            assert "/hub/signup" not in (await client.get("/hub/login")).text
            assert "Sign-up is closed" in (await client.get("/hub/signup")).text
            name = new_name()
            r = await sign_up(client, name)
        assert r.status_code == 403
        assert "Sign-up is closed on this hub; ask an admin for an account." in text(r)
        assert account(hub, name) is None


def test_sign_up_settings():
    c = Config()
    assert SMCAuthenticator(config=c).signup_mode == "open"
    # the first version's setting still works
    c.SMCAuthenticator.open_signup = False
    assert SMCAuthenticator(config=c).signup_mode == "closed"
    c.SMCAuthenticator.signup_mode = "Approval"
    assert SMCAuthenticator(config=c).signup_mode == "approval"
    c.SMCAuthenticator.signup_mode = "invite-only"
    with pytest.raises(TraitError, match="'open', 'token', 'approval', 'closed'"):
        SMCAuthenticator(config=c)


# --- sign-in --------------------------------------------------------------------------


async def test_sign_in_by_username_or_email(hub):
    name = new_name()
    async with browser(hub) as client:
        assert signed_in(await sign_up(client, name))
    assert signed_in(await sign_in(hub, name))
    assert signed_in(await sign_in(hub, f"  {name.upper()}@Example.ORG "))

    for login in (name, f"{name}@example.org", new_name(), "nobody@example.org", "x" * 5000):
        r = await sign_in(hub, login, "not the password")
        assert r.status_code == 403
        assert "Invalid username or password" in text(r)
        assert r.url.path == "/hub/login"


async def test_deleted_person_loses_the_account(hub):
    name = new_name()
    async with browser(hub) as client:
        assert signed_in(await sign_up(client, name))
    r = await hub.admin.client.delete(f"/hub/api/users/{name}")
    assert r.status_code == 204
    r = await sign_in(hub, name)
    assert r.status_code == 403
    assert "Invalid username or password" in text(r)
    # the name and the email are free again
    async with browser(hub) as client:
        assert signed_in(await sign_up(client, name))


# --- lockout --------------------------------------------------------------------------


async def test_account_lockout(hub):
    name = new_name()
    async with browser(hub) as client:
        assert signed_in(await sign_up(client, name))
    with configured(hub, lockout_attempts=3, lockout_seconds=5):
        # each guess from another address, by username or email: the account is what locks
        for login in (name, f"{name}@example.org"):
            r = await sign_in(hub, login, "wrong password")
            assert r.status_code == 403
        r = await sign_in(hub, name, "wrong password")
        assert r.status_code == 429
        # (the lock began when the guess came in; checking it took a moment)
        assert re.search(r"Too many failed sign-ins; try again in [1-5] seconds?\.", text(r))
        assert 1 <= int(r.headers["Retry-After"]) <= 5
        # even the right password, by username or email, until the lock ends
        for login in (f"{name}@example.org", name):
            r = await sign_in(hub, login)
            assert r.status_code == 429
            assert "Too many failed sign-ins" in text(r)
            assert not signed_in(r)
        wait = int(r.headers["Retry-After"])

        # names without an account lock the same way (lockout reveals nothing)
        nobody = new_name()
        for expected in (403, 403, 429):
            assert (await sign_in(hub, nobody, "guess")).status_code == expected

        await asyncio.sleep(wait + 0.2)
        assert signed_in(await sign_in(hub, name))
        # ... and a successful sign-in starts the count again
        for _ in range(2):
            assert (await sign_in(hub, name, "wrong password")).status_code == 403
        assert signed_in(await sign_in(hub, name))
        for _ in range(2):
            assert (await sign_in(hub, name, "wrong password")).status_code == 403
        assert signed_in(await sign_in(hub, name))


async def test_address_lockout_across_usernames(hub):
    person = await hub.person()
    guesser = next(_addresses)
    with configured(hub, address_lockout_attempts=4, address_lockout_seconds=60):
        for expected in (403, 403, 403, 429):
            r = await sign_in(hub, new_name(), "guess", address=guesser)
            assert r.status_code == expected
        assert re.search(r"Too many failed sign-ins; try again in (60|59|58) seconds\.", text(r))
        r = await sign_in(hub, person.name, address=guesser)
        assert r.status_code == 429
        # others are not locked out, and neither is the account
        assert signed_in(await sign_in(hub, person.name))


async def test_right_passwords_do_not_count_against_the_address(hub):
    person = await hub.person()
    address = next(_addresses)
    with configured(hub, address_lockout_attempts=3):
        for _ in range(4):
            assert signed_in(await sign_in(hub, person.name, address=address))
        assert (await sign_in(hub, person.name, "wrong", address=address)).status_code == 403


# --- lockout behind a reverse proxy ----------------------------------------------------


@pytest.mark.parametrize(
    "peer, forwarded_for, trusted, client",
    [
        # the hub's own proxy, on this machine, appends the address it saw
        ("127.0.0.1", "203.0.113.9", [], "203.0.113.9"),
        ("127.0.0.1", "203.0.113.9, ::ffff:192.0.2.7", [], "192.0.2.7"),
        ("::1", "", [], "::1"),
        (None, "203.0.113.9", [], "203.0.113.9"),  # a Unix socket
        # a peer elsewhere is believed only when trusted
        ("192.0.2.7", "203.0.113.9", [], "192.0.2.7"),
        ("192.0.2.7", "203.0.113.9", ["192.0.2.7"], "203.0.113.9"),
        # the admin's reverse proxy in front of configurable-http-proxy
        ("127.0.0.1", "203.0.113.9, 192.0.2.7", ["192.0.2.7"], "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.9, 192.0.2.7", ["192.0.2.0/24"], "203.0.113.9"),
        # what a client wrote is never believed
        ("127.0.0.1", "198.51.100.1, 203.0.113.9, 192.0.2.7", ["192.0.2.7"], "203.0.113.9"),
        ("127.0.0.1", "not-an-address, 192.0.2.7", ["192.0.2.7"], "192.0.2.7"),
    ],
)
def test_client_address(peer, forwarded_for, trusted, client):
    assert lockout.client_address(peer, forwarded_for, trusted) == client


@contextlib.contextmanager
def trusting(hub, *addresses):
    """c.JupyterHub.trusted_downstream_ips on the running hub, for one test."""
    before = hub.app.trusted_downstream_ips
    hub.app.trusted_downstream_ips = list(addresses)
    try:
        yield
    finally:
        hub.app.trusted_downstream_ips = before


async def sign_in_via_proxy(hub, login, forwarded_for, password=PASSWORD):
    """Sign in through the hub's real proxy, from a reverse proxy on this machine that
    says the client is `forwarded_for`."""
    async with httpx.AsyncClient(
        base_url=hub.url,
        timeout=60,
        follow_redirects=True,
        headers={"X-Forwarded-For": forwarded_for},
    ) as client:
        return await submit(client, "/hub/login", username=login, password=password)


def forget_local_failures(hub):
    """Unlock this machine's address (every test's browser signs in from it)."""
    hub.db.query(LoginFailures).filter(
        LoginFailures.kind == "address",
        LoginFailures.key.in_(["127.0.0.1", "::ffff:127.0.0.1", "::1"]),
    ).delete()
    hub.db.commit()


async def test_address_lockout_counts_each_client_behind_a_trusted_proxy(hub):
    person = await hub.person()
    guesser, classmate = next(_addresses), next(_addresses)
    with (
        configured(hub, address_lockout_attempts=3, address_lockout_seconds=60),
        trusting(hub, "127.0.0.1", "::1"),  # the "reverse proxy" is this test, on loopback
    ):
        try:
            for expected in (403, 403, 429):
                r = await sign_in_via_proxy(hub, new_name(), guesser, password="guess")
                assert r.status_code == expected
            # someone else behind the same reverse proxy is not locked out...
            assert signed_in(await sign_in_via_proxy(hub, person.name, classmate))
            # ... while the guesser is, whatever the account
            r = await sign_in_via_proxy(hub, person.name, guesser)
            assert r.status_code == 429
        finally:
            forget_local_failures(hub)


async def test_forwarded_for_from_an_untrusted_proxy_is_ignored(hub):
    person = await hub.person()
    with (
        configured(hub, address_lockout_attempts=3, address_lockout_seconds=60),
        trusting(hub, "192.0.2.1"),
    ):
        try:
            # a new made-up client address with every guess escapes nothing: the
            # address counted is the one the hub's proxy saw
            for expected in (403, 403, 429):
                r = await sign_in_via_proxy(hub, new_name(), next(_addresses), password="guess")
                assert r.status_code == expected
            r = await sign_in_via_proxy(hub, person.name, next(_addresses))
            assert r.status_code == 429
        finally:
            forget_local_failures(hub)


FORGED_SIGN_INS = """
import http.cookiejar, re, urllib.error, urllib.parse, urllib.request
base = "http://127.0.0.1:%d"
codes = []
for i in range(4):
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    # a new made-up client address for every guess
    opener.addheaders = [("X-Forwarded-For", "198.51.100.%%d" %% (i + 1))]
    page = opener.open(base + "/hub/login").read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    form = {"username": "nobody%%d" %% i, "password": "guess", "_xsrf": xsrf}
    request = urllib.request.Request(
        base + "/hub/login", data=urllib.parse.urlencode(form).encode())
    try:
        codes.append(opener.open(request).status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
print(codes)
"""


async def test_a_local_project_cannot_forge_its_address_at_the_hubs_port(hub):
    """A project's kernel reaches the hub's port on loopback, as the hub's proxy does, and
    writes a new X-Forwarded-For with every guess: it is counted as itself all the same."""
    person = await hub.person()
    pid = (await person.create_project("Guesser"))["id"]
    await person.start_project(pid)
    with configured(hub, address_lockout_attempts=3, address_lockout_seconds=60):
        try:
            codes = await person.execute(pid, FORGED_SIGN_INS % hub.app.hub.port)
            assert codes.strip() == "[403, 403, 429, 429]"
        finally:
            forget_local_failures(hub)
    await person.stop_project(pid)


@pytest.fixture(scope="module")
async def process_hub(hub_root):
    """A hub in its own process, which tests stop and start again."""
    root = os.path.join(hub_root, "accounts")
    # its own database, whatever the session's hub uses: both have an "admin"
    hub = HubProcess(
        root,
        f"""
        c.JupyterHub.db_url = "sqlite:///{root}/accounts.sqlite"
        c.SMCAuthenticator.lockout_attempts = 2
        c.SMCAuthenticator.lockout_seconds = 600
        """,
    )
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.mark.timeout(180)
async def test_lockout_survives_a_restart(process_hub):
    hub = process_hub
    ada = await hub.person("ada")
    for expected in (403, 429):
        r = await sign_in(hub, "ada", "wrong password")
        assert r.status_code == expected
    await hub.stop()
    await hub.start()
    r = await sign_in(hub, "ada@example.org")
    assert r.status_code == 429
    assert "Too many failed sign-ins; try again in 10 minutes." in text(r)
    # someone else signs in as usual
    await hub.person("grace")
    assert signed_in(await sign_in(hub, "grace"))
    assert ada.name == "ada"


@pytest.mark.timeout(180)
async def test_an_admin_from_config_gets_a_set_password_link(process_hub):
    hub = process_hub
    # c.Authenticator.admin_users = {"admin"}: nobody can take the name by signing up
    async with browser(hub) as client:
        r = await sign_up(client, "admin")
    assert r.status_code == 400
    assert "That username is taken" in text(r)
    links = re.findall(r"Admin admin has no password yet: open (\S+) to set one", hub.log())
    assert links and links[-1].startswith(hub.url + "/hub/reset/")
    async with browser(hub) as client:
        r = await submit(client, links[-1], password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
    assert "Your password is set" in text(r)
    async with browser(hub) as client:
        r = await submit(client, "/hub/login", username="admin", password=NEW_PASSWORD)
        assert signed_in(r)
        assert (await client.get("/hub/api/signup-tokens")).status_code == 200


# --- sign-up codes --------------------------------------------------------------------


async def test_sign_up_codes_are_for_admins(hub):
    person = await hub.person()
    for method, path, body in [
        ("GET", "signup-tokens", None),
        ("POST", "signup-tokens", {"note": "mine"}),
        ("DELETE", "signup-tokens/1", None),
        ("GET", "accounts", None),
        ("GET", f"accounts/{person.name}", None),
        ("POST", f"accounts/{person.name}/approve", None),
        ("POST", f"accounts/{person.name}/reset-link", {}),
    ]:
        r = await person.api(method, path, body)
        assert r.status_code == 403, (method, path)
        assert r.json() == {
            "status": 403,
            "message": "Only admins can manage accounts and sign-up codes.",
        }
        async with browser(hub) as anonymous:
            r = await anonymous.request(method, "/hub/api/" + path, json=body)
        assert r.status_code == 403
    browser_ = await person.browser()
    r = await browser_.get("/hub/accounts")
    assert r.status_code == 403
    assert "Only admins can manage accounts." in text(r)


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"max_uses": 0}, "max_uses must be between 1 and 100000"),
        ({"expires_in": "soon"}, "expires_in must be a whole number"),
        ({"note": "x" * 300}, "note must be text of at most 255 characters"),
        ({"uses": 3}, "Unknown field(s) uses"),
    ],
)
async def test_sign_up_code_bad_input(hub, body, reason):
    before = hub.db.query(SignupToken).count()
    r = await hub.admin.api("POST", "signup-tokens", body)
    assert r.status_code == 400
    assert reason in r.json()["message"]
    assert hub.db.query(SignupToken).count() == before


async def test_sign_up_codes(hub):
    admin = hub.admin
    r = await admin.api("POST", "signup-tokens", {"note": "Math 101", "max_uses": 2})
    assert r.status_code == 201, r.text
    made = r.json()
    code = made["token"]
    assert made["url"] == f"/hub/signup?token={code}"
    assert made["expires_at"] is not None  # a week, by default
    assert (made["uses"], made["max_uses"], made["note"]) == (0, 2, "Math 101")

    with configured(hub, signup_mode="token"):
        async with browser(hub) as client:
            page = await client.get("/hub/signup")
            assert "Sign-up code" in text(page)
            name = new_name()
            r = await sign_up(client, name)
            assert r.status_code == 400
            assert "A sign-up code is required to make an account here" in text(r)
            r = await sign_up(client, name, token="not-a-code")
            assert r.status_code == 400
            assert "That sign-up code is not valid" in text(r)
            assert account(hub, name) is None

        # the link fills the code in
        students = [new_name() for _ in range(3)]
        for student in students[:2]:
            async with browser(hub) as client:
                page = await client.get(made["url"])
                assert f'value="{code}"' in text(page)
                assert signed_in(await sign_up(client, student, token=code))
        async with browser(hub) as client:
            r = await sign_up(client, students[2], token=code)
        assert r.status_code == 400
        assert "That sign-up code has been used up" in text(r)
        assert account(hub, students[2]) is None

    listed = (await admin.api("GET", "signup-tokens")).json()
    mine = next(t for t in listed if t["id"] == made["id"])
    assert (mine["uses"], mine["usable"]) == (2, False)
    assert code not in str(listed)
    r = await admin.api("GET", f"accounts/{students[0]}")
    assert r.json()["signup_token"] == {"id": made["id"], "note": "Math 101"}

    # a code that has expired
    r = await admin.api("POST", "signup-tokens", {"expires_in": 3600})
    later = r.json()
    row = SignupToken.find(hub.db, later["token"])
    row.expires_at = now() - timedelta(seconds=1)  # an hour passes
    hub.db.commit()
    with configured(hub, signup_mode="token"):
        async with browser(hub) as client:
            r = await sign_up(client, students[2], token=later["token"])
        assert r.status_code == 400
        assert "That sign-up code has expired" in text(r)

        # a deleted code stops working
        r = await admin.api("POST", "signup-tokens", {"expires_in": None})
        deleted = r.json()
        assert deleted["expires_at"] is None
        assert (await admin.api("DELETE", f"signup-tokens/{deleted['id']}")).status_code == 204
        r = await admin.api("DELETE", f"signup-tokens/{deleted['id']}")
        assert r.status_code == 404
        assert r.json()["message"] == f"No such sign-up code: {deleted['id']}"
        async with browser(hub) as client:
            r = await sign_up(client, students[2], token=deleted["token"])
        assert r.status_code == 400
        assert "That sign-up code is not valid" in text(r)
    # the accounts made with a deleted code stay
    assert (await admin.api("DELETE", f"signup-tokens/{made['id']}")).status_code == 204
    assert signed_in(await sign_in(hub, students[0]))


# --- approval -------------------------------------------------------------------------


async def test_approval(hub):
    admin = hub.admin
    waiting, refused = new_name(), new_name()
    with configured(hub, signup_mode="approval"):
        for name in (waiting, refused):
            async with browser(hub) as client:
                r = await sign_up(client, name)
            assert r.status_code == 200
            assert "Your account is waiting for an admin's approval" in text(r)
            assert not signed_in(r)
            r = await sign_in(hub, name)
            assert r.status_code == 403
            assert "Your account is waiting for an admin's approval" in text(r)

        r = await admin.api("GET", "accounts?state=pending")
        pending = [a["username"] for a in r.json()]
        assert waiting in pending and refused in pending
        browser_ = await admin.browser()
        page = await browser_.get("/hub/accounts")
        assert page.status_code == 200
        assert "Waiting for approval" in text(page)

        r = await admin.api("POST", f"accounts/{waiting}/approve")
        assert r.status_code == 200
        assert r.json()["state"] == "active"
        assert signed_in(await sign_in(hub, waiting))

        r = await admin.api("POST", f"accounts/{refused}/reject")
        assert r.json()["state"] == "rejected"
        r = await sign_in(hub, refused)
        assert r.status_code == 403
        assert "An admin declined this account's sign-up." in text(r)

        r = await admin.api("POST", f"accounts/{waiting}/reject")
        assert r.status_code == 409
        assert "already active" in r.json()["message"]
        r = await admin.api("GET", "accounts?state=lost")
        assert r.status_code == 400
        r = await admin.api("POST", "accounts/nobody-at-all/approve")
        assert r.json() == {"status": 404, "message": "No such account: nobody-at-all"}

        # a sign-up code skips the wait
        code = (await admin.api("POST", "signup-tokens", {"max_uses": 1})).json()["token"]
        async with browser(hub) as client:
            assert signed_in(await sign_up(client, new_name(), token=code))

    # a rejected account keeps its name until an admin deletes it
    assert (await admin.api("DELETE", f"accounts/{refused}")).status_code == 204
    async with browser(hub) as client:
        assert signed_in(await sign_up(client, refused))


# --- passwords ------------------------------------------------------------------------


async def test_change_password(hub):
    person = await hub.person()
    async with browser(hub) as other:
        assert signed_in(await submit(other, "/hub/login", username=person.name, password=PASSWORD))
        client = await person.browser()
        page = await client.get("/hub/account")
        assert page.status_code == 200
        assert person.name in text(page)

        def change(current, new, confirm=None):
            return submit(
                client,
                "/hub/account",
                current_password=current,
                password=new,
                password_confirm=new if confirm is None else confirm,
            )

        for args, reason in [
            (("not my password", NEW_PASSWORD), "Your current password is wrong."),
            ((PASSWORD, "short"), "at least 8 characters"),
            ((PASSWORD, NEW_PASSWORD, "typo"), "The two passwords differ."),
        ]:
            r = await change(*args)
            assert r.status_code == 400
            assert reason in text(r)
        assert signed_in(await sign_in(hub, person.name))

        r = await change(PASSWORD, NEW_PASSWORD)
        assert r.status_code == 200
        assert "Your password is changed" in text(r)
        # this browser stays signed in; the others are signed out
        assert (await client.get("/hub/projects")).url.path == "/hub/projects"
        assert (await other.get("/hub/projects")).url.path == "/hub/login"

    r = await sign_in(hub, person.name, PASSWORD)
    assert r.status_code == 403
    assert signed_in(await sign_in(hub, person.name, NEW_PASSWORD))


async def test_reset_link(hub):
    admin = hub.admin
    person = await hub.person()
    r = await person.api("POST", f"accounts/{person.name}/reset-link", {})
    assert r.status_code == 403
    for nobody in ("nobody-at-all", PROJECT_ID):
        r = await admin.api("POST", f"accounts/{nobody}/reset-link", {})
        assert r.status_code == 404
        assert r.json()["message"] == f"No such person: {nobody}"

    r = await admin.api("POST", f"accounts/{person.name}/reset-link", {})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"].startswith("/hub/reset/")
    assert link["username"] == person.name
    async with browser(hub) as other:
        assert signed_in(await submit(other, "/hub/login", username=person.name, password=PASSWORD))
        async with browser(hub) as client:
            page = await client.get(link["url"])
            assert page.status_code == 200
            assert "Set a new password" in text(page) and person.name in text(page)
            r = await submit(client, link["url"], password="short", password_confirm="short")
            assert r.status_code == 400
            assert "at least 8 characters" in text(r)
            r = await submit(
                client, link["url"], password=NEW_PASSWORD, password_confirm=NEW_PASSWORD
            )
            assert r.status_code == 200
            assert "Your password is set" in text(r)
            # once only
            r = await client.get(link["url"])
            assert r.status_code == 404
            assert "This link does not work" in text(r)
        # browsers signed in before the reset are signed out
        assert (await other.get("/hub/projects")).url.path == "/hub/login"
    assert (await sign_in(hub, person.name, PASSWORD)).status_code == 403
    assert signed_in(await sign_in(hub, person.name, NEW_PASSWORD))


async def test_reset_revokes_api_tokens_and_sessions(hub):
    # a reset is how someone whose password leaked gets their account back: whatever
    # the intruder signed in or made tokens with must stop working
    person = await hub.person()
    r = await person.api("POST", f"users/{person.name}/tokens", {"note": "a script"})
    assert r.status_code == 201, r.text
    script_token = {"Authorization": f"token {r.json()['token']}"}
    session = await person.browser()
    assert (await session.get("/hub/projects")).url.path == "/hub/projects"
    assert (await person.api("GET", "projects", headers=script_token)).status_code == 200

    link = (await hub.admin.api("POST", f"accounts/{person.name}/reset-link", {})).json()["url"]
    async with browser(hub) as client:
        r = await submit(client, link, password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
        assert "Your password is set" in text(r)

    for headers in ({}, script_token):
        r = await person.api("GET", "projects", headers=headers)
        assert r.status_code == 403, r.text
    assert (await session.get("/hub/projects")).url.path == "/hub/login"
    # the person signs in again with the new password
    assert signed_in(await sign_in(hub, person.name, NEW_PASSWORD))


async def test_reset_links_expire_and_replace_each_other(hub):
    admin = hub.admin
    person = await hub.person()
    first = (await admin.api("POST", f"accounts/{person.name}/reset-link", {})).json()
    second = (await admin.api("POST", f"accounts/{person.name}/reset-link", {})).json()
    async with browser(hub) as client:
        assert (await client.get(first["url"])).status_code == 404
        assert (await client.get(second["url"])).status_code == 200
        r = await admin.api("POST", f"accounts/{person.name}/reset-link", {"expires_in": 3600})
        third = r.json()
        page = await client.get(third["url"])
        reset = PasswordReset.find_usable(hub.db, third["url"].rsplit("/", 1)[1])
        reset.expires_at = now() - timedelta(seconds=1)  # an hour passes
        hub.db.commit()
        r = await client.post(
            third["url"],
            data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
                  "_xsrf": form_xsrf(page)},
        )  # fmt: skip
        assert r.status_code == 404
        assert "This link does not work" in text(r)
        assert (await client.get(third["url"])).status_code == 404
    assert signed_in(await sign_in(hub, person.name, PASSWORD))


async def test_reset_link_unlocks_and_gives_added_people_a_password(hub):
    admin = hub.admin
    person = await hub.person()
    with configured(hub, lockout_attempts=2, lockout_seconds=600):
        for expected in (403, 429):
            assert (await sign_in(hub, person.name, "wrong")).status_code == expected
        r = await admin.api("GET", f"accounts/{person.name}")
        assert r.json()["locked_until"] is not None
        link = (await admin.api("POST", f"accounts/{person.name}/reset-link", {})).json()
        async with browser(hub) as client:
            await submit(client, link["url"], password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
        assert signed_in(await sign_in(hub, person.name, NEW_PASSWORD))

        # an admin can also just unlock
        for expected in (403, 429):
            assert (await sign_in(hub, person.name, "wrong")).status_code == expected
        r = await admin.api("POST", f"accounts/{person.name}/unlock")
        assert r.status_code == 200 and r.json()["locked_until"] is None
        assert signed_in(await sign_in(hub, person.name, NEW_PASSWORD))

    # someone an admin added in JupyterHub's admin page has no password until a link
    name = new_name()
    assert (await admin.client.post(f"/hub/api/users/{name}")).status_code == 201
    assert (await sign_in(hub, name, "")).status_code == 403
    link = (await admin.api("POST", f"accounts/{name}/reset-link", {})).json()
    async with browser(hub) as client:
        r = await submit(client, link["url"], password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
        assert "Your password is set" in text(r)
    assert signed_in(await sign_in(hub, name, NEW_PASSWORD))


async def test_nul_characters_in_forms_are_just_wrong(hub):
    async with browser(hub) as client:
        r = await submit(client, "/hub/login", username="ad\0min", password="x\0y")
        assert r.status_code == 403
        r = await sign_up(client, "nul\0name")
        assert r.status_code == 400
