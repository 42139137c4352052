"""Single sign-on: people sign in through a real OpenID Connect provider.

The provider is node's oidc-provider (a certified implementation, tests/oidc/provider.mjs)
on loopback; the hub is a real smchub process with SMCOAuthenticator pointed at it.
People go through the provider's sign-in and consent pages in the browser, and what the
provider says of them arrives in the hub: the email and whether it is verified (which
decides who gets a course place reserved for an address), and admin from a groups claim.
"""

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from ..hubfixture import Person
from ..hubprocess import HubProcess
from ..ports import unused_port

# a fixture: an unprivileged Unix account to run a hub as
from ..test_single_person import hub_account  # noqa: F401
from .conftest import STEP_TIMEOUT_MS

REPO = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = REPO / "tests" / "oidc" / "provider.mjs"
CLIENT_ID = "smchub-tests"


def _need(found, what):
    if found:
        return
    # skipped on a developer's machine; in CI the test must run
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{what}, and CI is set: the single sign-on tests may not be skipped")
    pytest.skip(what)


async def _wait_for_provider(url, process, timeout=30):
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(timeout * 10):
            if process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited with {process.returncode}")
            try:
                if (await client.get(url + "/.well-known/openid-configuration")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"oidc-provider did not answer at {url} in {timeout}s")


def sso_config(issuer, secret):
    """SMCOAuthenticator pointed at the test provider (c.JupyterHub.port is set above
    these lines, by HubProcess)."""
    return f"""
c.JupyterHub.authenticator_class = "smchub.authenticators.oidc.SMCOAuthenticator"
# admins come from the provider's groups claim only
c.Authenticator.admin_users = set()
c.SMCOAuthenticator.allow_all = True
c.SMCOAuthenticator.login_service = "Example University"
c.SMCOAuthenticator.client_id = {CLIENT_ID!r}
c.SMCOAuthenticator.client_secret = {secret!r}
c.SMCOAuthenticator.oauth_callback_url = (
    f"http://hub.localhost:{{c.JupyterHub.port}}/hub/oauth_callback"
)
c.SMCOAuthenticator.authorize_url = "{issuer}/auth"
c.SMCOAuthenticator.token_url = "{issuer}/token"
c.SMCOAuthenticator.userdata_url = "{issuer}/me"
c.SMCOAuthenticator.scope = ["openid", "profile", "email", "groups"]
c.SMCOAuthenticator.manage_groups = True
c.SMCOAuthenticator.auth_state_groups_key = "oauth_user.groups"
c.SMCOAuthenticator.admin_groups = {{"smchub-admins"}}
"""


@asynccontextmanager
async def sso_hub_process(root, account=None, extra_config=""):
    """A hub process whose people sign in through a provider of its own, both started
    here and stopped at the end (the provider by its pid)."""
    node = shutil.which("node")
    _need(node, "node is not installed")
    _need(
        (REPO / "node_modules" / "oidc-provider").is_dir(),
        "oidc-provider is not in node_modules (make setup installs it)",
    )
    issuer = f"http://127.0.0.1:{unused_port()}"
    secret = secrets.token_hex(16)
    hub = HubProcess(root, sso_config(issuer, secret) + extra_config, account=account)
    log = open(os.path.join(root, "oidc-provider.log"), "ab")
    redirect_uri = f"{hub.url}/hub/oauth_callback"
    provider = subprocess.Popen(
        [node, str(PROVIDER_SCRIPT), issuer.rsplit(":", 1)[1], CLIENT_ID, secret, redirect_uri],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        await _wait_for_provider(issuer, provider)
        await hub.start()
        try:
            yield hub
        finally:
            await hub.stop()
    finally:
        provider.terminate()
        try:
            provider.wait(timeout=10)
        except subprocess.TimeoutExpired:
            provider.kill()
            provider.wait()


@pytest.fixture(scope="module")
async def sso_hub(hub_root, chromium):
    """A hub run as root (projects isolated), for the tests that share it."""
    async with sso_hub_process(os.path.join(hub_root, "sso-hub")) as hub:
        yield hub


async def api_from_page(page, method, path, body=None):
    """Call the hub's API from one of its pages, with the person's session, as smchub's
    pages do; returns (status, body text)."""
    return await page.evaluate(
        """async ([method, url, body]) => {
          const response = await fetch(url, {
            method,
            headers: {
              "X-XSRFToken": window.jhdata.xsrf_token,
              "Content-Type": "application/json",
            },
            body: body === null ? undefined : JSON.stringify(body),
          });
          return [response.status, await response.text()];
        }""",
        [method, "/hub/api/" + path, body],
    )


async def through_provider(chromium, hub, login):
    """`login` signs in through the provider in a browser of their own, and is sent back
    to the hub. Returns (browser context, page, response of the hub's OAuth callback)."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(hub.url + "/hub/login")
    # JupyterHub's login page for OAuth: a link styled (and labelled) as a button
    await page.get_by_role("button", name="Sign in with Example University").click()
    # the provider's own pages; consent is asked the first time a person signs in here
    await page.locator("input[name='login']").fill(login)
    await page.locator("input[name='password']").fill("anything")
    callback = f"{hub.url}/hub/oauth_callback?*"
    async with page.expect_response(callback, timeout=STEP_TIMEOUT_MS) as response:
        await page.get_by_role("button", name="Sign-in").click()
        consent = page.get_by_role("button", name="Continue")
        while not page.url.startswith(hub.url):
            if await consent.count():
                await consent.click()
                break
            await asyncio.sleep(0.1)
    return context, page, await response.value


async def sign_in(chromium, hub, login):
    """`login` signs in through the provider and lands on their projects page.
    Returns (browser context, page, API Person with a token)."""
    context, page, _ = await through_provider(chromium, hub, login)
    await page.wait_for_url(re.compile(re.escape(hub.url) + r"/hub/projects$"))
    # a token for setting things up, made from the page as smchub's pages call the API
    status, body = await api_from_page(page, "POST", f"users/{login}/tokens", {"note": "sso"})
    assert status == 201, body
    person = Person(hub, login, json.loads(body)["token"])
    hub.people[login] = person
    return context, page, person


async def test_a_verified_email_claim_takes_the_course_place_reserved_for_it(sso_hub, chromium):
    hub = sso_hub
    contexts = []
    try:
        context, _, ines = await sign_in(chromium, hub, "ines")
        contexts.append(context)
        project = (await ines.create_project("Chemistry course"))["id"]
        r = await ines.api("POST", "courses", {"project": project, "title": "Chem 1"})
        assert r.status_code == 201, r.text
        course = r.json()["id"]
        r = await ines.api("POST", f"courses/{course}/students", {"students": "sam@example.edu"})
        assert r.status_code == 200, r.text
        assert [e["result"] for e in r.json()["results"]] == ["pending"], r.text

        # the address without the provider's word for it: no place, only a claim
        context, page, mallory = await sign_in(chromium, hub, "mallory")
        contexts.append(context)
        r = await mallory.api("POST", "courses/claim")
        assert r.status_code == 200, r.text
        await expect(page.locator("#projects-body tr.project-row")).to_have_count(0)
        assert (await mallory.api("GET", "projects")).json() == []
        (place,) = (await ines.api("GET", f"courses/{course}")).json()["students"]
        assert place["signed_up"] is False
        assert place["pending_match"] == {"name": "mallory"}

        # the provider verified sam's address: the place is sam's at sign-in
        context, page, sam = await sign_in(chromium, hub, "sam")
        contexts.append(context)
        row = page.locator("#projects-body tr.project-row", has_text="sam – Chem 1")
        await expect(row).to_have_count(1)
        (place,) = (await ines.api("GET", f"courses/{course}")).json()["students"]
        assert place["username"] == "sam"
        assert place["pending_match"] is None
        assert place["project"] == await row.get_attribute("data-project-id")
        assert (await mallory.api("GET", "projects")).json() == []

        # an address added after its owner signed in: the verified one is enrolled
        # at once, whoever else typed it
        project = (await ines.create_project("Physics course"))["id"]
        r = await ines.api("POST", "courses", {"project": project, "title": "Phys 1"})
        course = r.json()["id"]
        r = await ines.api("POST", f"courses/{course}/students", {"students": "SAM@example.edu"})
        assert [e["result"] for e in r.json()["results"]] == ["added"], r.text
        titles = {p["title"] for p in (await sam.api("GET", "projects")).json()}
        assert titles == {"sam – Chem 1", "sam – Phys 1"}
    finally:
        for context in contexts:
            await context.close()


async def test_admins_come_from_the_providers_groups_claim(sso_hub, chromium):
    hub = sso_hub
    contexts = []
    try:
        context, page, dana = await sign_in(chromium, hub, "dana")
        contexts.append(context)
        me = (await dana.api("GET", "user")).json()
        assert me["admin"] is True
        assert "smchub-admins" in me["groups"]
        # with the browser's session, as the admin pages do
        status, body = await api_from_page(page, "GET", "nodes")
        assert status == 200, body
        assert "local" in {node["name"] for node in json.loads(body)}

        context, page, ines = await sign_in(chromium, hub, "ines")
        contexts.append(context)
        assert (await ines.api("GET", "user")).json()["admin"] is False
        status, body = await api_from_page(page, "GET", "nodes")
        assert status == 403, body
    finally:
        for context in contexts:
            await context.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make an account")
async def test_a_hub_serving_one_person_tells_a_newcomer_why(
    hub_root,
    hub_account,  # noqa: F811 (the fixture imported above)
    chromium,
):
    # not root: projects would run as the hub's own account, so only its first person
    # may join (isolation.py); a second person from the provider is told so
    root = os.path.join(hub_root, "sso-solo-hub")
    async with sso_hub_process(root, account=hub_account) as hub:
        context, _, _ = await sign_in(chromium, hub, "ines")
        await context.close()
        context, page, callback = await through_provider(chromium, hub, "sam")
        try:
            assert callback.status == 403
            await expect(page.locator("p", has_text="serves one person only")).to_be_visible()
            r = await hub.people["ines"].api("GET", "users/sam")
            assert r.status_code == 404, r.text
        finally:
            await context.close()
