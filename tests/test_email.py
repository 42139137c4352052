"""Email over SMTP (issue 19, item 6): address confirmation at sign-up, password resets,
invitations to a project and notes to students, received by a real SMTP server (aiosmtpd)
on loopback, with their links followed as a person would."""

import asyncio
import contextlib
import email
import os
import re
from datetime import timedelta
from email import policy

import httpx
import pytest
from aiosmtpd.controller import Controller
from jupyterhub import orm as hub_orm

from smchub.authenticators.orm import Account, EmailVerification

from .hubfixture import PASSWORD, TLS, Person, running_hub
from .ports import unused_port
from .test_accounts import form_xsrf, sign_up, submit, text


class Inbox:
    """What the SMTP server received (aiosmtpd calls handle_DATA from its own thread)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted"

    async def wait_for(self, to, subject_part, count=1, timeout=20):
        """The messages to `to` whose subject has `subject_part`, once there are `count`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [m for rcpt, m in self.messages if to in rcpt and subject_part in m["Subject"]]
            if len(found) >= count:
                return found
            assert asyncio.get_running_loop().time() < deadline, [
                (r, m["Subject"]) for r, m in self.messages
            ]
            await asyncio.sleep(0.1)

    def to(self, address):
        return [m for rcpt, m in self.messages if address in rcpt]


def link_in(message, hub):
    """The one link of the hub in a message; it points at the hub's public address."""
    body = message.get_content()
    (link,) = re.findall(r"https?://\S+", body)
    assert link.startswith(hub.url + "/hub/"), link
    return link[len(hub.url) :]


@contextlib.asynccontextmanager
async def mail_hub(root, **config):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=unused_port())
    controller.start()
    try:
        async with running_hub(
            os.path.join(root, "mail-hub"),
            SMCHub__smtp_host="127.0.0.1",
            SMCHub__smtp_port=controller.port,
            SMCHub__smtp_security="none",
            SMCHub__smtp_from="Test hub <hub@example.org>",
            **config,
        ) as running:
            yield running, inbox
    finally:
        controller.stop()


@pytest.fixture
async def hub_and_inbox(hub_root):
    async with mail_hub(hub_root) as made:
        yield made


def browser(hub):
    """A browser's cookies and redirects, at the hub's public address (where the session
    cookie's domain is)."""
    return httpx.AsyncClient(base_url=hub.url, timeout=60, follow_redirects=True, verify=TLS)


def api_person(hub, name):
    """An API client for someone who signed up through the pages."""
    user = hub.app.users[hub_orm.User.find(hub.db, name)]
    return Person(hub, name, user.new_api_token(note="test"))


async def test_an_address_claims_a_course_place_only_once_confirmed(hub_and_inbox):
    hub, inbox = hub_and_inbox
    teacher = await hub.person("teacher", email="teacher@example.org")
    project = (await teacher.create_project("Chemistry"))["id"]
    r = await teacher.api("POST", "courses", {"project": project, "title": "Chemistry 1"})
    course = r.json()["id"]
    r = await teacher.api("POST", f"courses/{course}/students", {"students": ["kim@example.org"]})
    assert r.json()["results"][0]["result"] == "pending", r.text
    # the address hears of its place, and how to take it
    (note,) = await inbox.wait_for("kim@example.org", "A place for you")
    assert "Chemistry 1" in note["Subject"] and link_in(note, hub) == "/hub/signup"
    assert note["From"] == "Test hub <hub@example.org>"

    async with browser(hub) as client:
        r = await sign_up(client, "kim", email="kim@example.org")
        assert r.url.path == "/hub/projects", r.url
        (confirm,) = await inbox.wait_for("kim@example.org", "Confirm your email address")
        path = link_in(confirm, hub)
        kim = api_person(hub, "kim")
        try:
            # unconfirmed, the address takes nothing: kim is only noted as its claimant
            r = await kim.api("POST", "courses/claim")
            assert r.json()["projects"] == []
            page = await client.get("/hub/account")
            assert "not confirmed" in text(page)

            # opening the link shows a button; only pressing it confirms
            page = await client.get(path)
            assert page.status_code == 200 and "kim@example.org" in text(page)
            assert not hub.db.query(Account).filter_by(username="kim").one().email_verified
            r = await client.post(path, data={"_xsrf": form_xsrf(page)})
            assert r.status_code == 200 and "Your address is confirmed" in text(r)
            # the link works once
            assert (await client.get(path)).status_code == 404

            r = await kim.api("POST", "courses/claim")
            (got,) = r.json()["projects"]
            assert got["title"].startswith("kim") or "Chemistry 1" in got["title"]
            assert "confirmed" in text(await client.get("/hub/account"))
        finally:
            await kim.close()


async def test_confirmation_links_expire_and_can_be_sent_again(hub_and_inbox):
    hub, inbox = hub_and_inbox
    async with browser(hub) as client:
        await sign_up(client, "lou", email="lou@example.org")
        (first,) = await inbox.wait_for("lou@example.org", "Confirm")
        old = link_in(first, hub)
        # a month after it was sent
        for row in hub.db.query(EmailVerification):
            row.expires_at -= timedelta(days=30)
        hub.db.commit()
        page = await client.get(old)
        assert page.status_code == 404 and "does not work" in text(page)

        account = await client.get("/hub/account")
        r = await client.post("/hub/account/verify-email", data={"_xsrf": form_xsrf(account)})
        assert r.status_code == 200 and "A new link is on its way" in text(r)
        _, second = await inbox.wait_for("lou@example.org", "Confirm", count=2)
        new = link_in(second, hub)
        assert new != old
        page = await client.get(new)
        r = await client.post(new, data={"_xsrf": form_xsrf(page)})
        assert "Your address is confirmed" in text(r)
        assert hub.db.query(Account).filter_by(username="lou").one().email_verified


async def test_a_forgotten_password_is_reset_by_email_once(hub_and_inbox):
    hub, inbox = hub_and_inbox
    await hub.person("lee", email="lee@example.org")
    async with browser(hub) as client:
        login = await client.get("/hub/login")
        assert 'href="/hub/forgot"' in login.text
        r = await submit(client, "/hub/forgot", login="lee@example.org")
        assert "a link to set a new password is on its way" in text(r)
        (message,) = await inbox.wait_for("lee@example.org", "Set a new password")
        path = link_in(message, hub)
        # asking again at once sends nothing more; nor does an address nobody has, and
        # the page says the same either way
        r = await submit(client, "/hub/forgot", login="lee")
        assert "a link to set a new password is on its way" in text(r)
        r = await submit(client, "/hub/forgot", login="nobody@example.org")
        assert "a link to set a new password is on its way" in text(r)
        await asyncio.sleep(1)
        assert len(inbox.to("lee@example.org")) == 1 and not inbox.to("nobody@example.org")

        page = await client.get(path)
        new = "a whole new passphrase"
        r = await client.post(
            path, data={"password": new, "password_confirm": new, "_xsrf": form_xsrf(page)}
        )
        assert "Your password is set" in text(r)
        assert (await client.get(path)).status_code == 404
    async with browser(hub) as client:
        r = await submit(client, "/hub/login", username="lee", password=new)
        assert r.url.path == "/hub/projects"
    async with browser(hub) as client:
        r = await submit(client, "/hub/login", username="lee", password=PASSWORD)
        assert r.url.path != "/hub/projects"


async def test_an_invite_link_goes_by_email(hub_and_inbox):
    hub, inbox = hub_and_inbox
    owner = await hub.person("owner")
    project = (await owner.create_project("Shared by mail"))["id"]
    r = await owner.api("POST", f"projects/{project}/invites", {"email": "friend@example.org"})
    assert r.status_code == 201, r.text
    assert r.json()["emailed_to"] == "friend@example.org" and r.json()["max_uses"] == 1
    (message,) = await inbox.wait_for("friend@example.org", "invites you")
    assert "Shared by mail" in message["Subject"] and "owner" in message["Subject"]
    path = link_in(message, hub)
    token = path.rsplit("/", 1)[1]
    friend = await hub.person("friend")
    r = await friend.api("POST", f"invites/{token}")
    assert r.status_code == 200, r.text
    assert "friend" in [c["name"] for c in r.json()["collaborators"]]
    # the link let one person in
    stranger = await hub.person("stranger")
    assert (await stranger.api("POST", f"invites/{token}")).status_code == 404

    r = await owner.api("POST", f"projects/{project}/invites", {"email": "not an address"})
    assert r.status_code == 400 and "email address" in r.json()["message"]


async def test_students_added_by_name_hear_of_their_course(hub_and_inbox):
    hub, inbox = hub_and_inbox
    teacher = await hub.person("teacher")
    await hub.person("sam", email="sam@example.org")
    project = (await teacher.create_project("Physics"))["id"]
    course = await teacher.api("POST", "courses", {"project": project, "title": "Physics 2"})
    r = await teacher.api("POST", f"courses/{course.json()['id']}/students", {"students": ["sam"]})
    assert r.json()["results"][0]["result"] == "added", r.text
    (note,) = await inbox.wait_for("sam@example.org", "You are in the course")
    assert "Physics 2" in note["Subject"] and link_in(note, hub) == "/hub/home"
    # the teacher's address got nothing
    assert inbox.to("teacher@example.org") == []


async def test_without_a_mail_server_nothing_offers_email(hub):
    async with browser(hub) as client:
        login = await client.get("/hub/login")
        assert "/hub/forgot" not in login.text and "An admin can send you" in text(login)
        r = await client.get("/hub/forgot")
        assert r.status_code == 404 and "sends no email" in text(r)
    owner = await hub.person("owner")
    project = (await owner.create_project("No mail"))["id"]
    r = await owner.api("POST", f"projects/{project}/invites", {"email": "friend@example.org"})
    assert r.status_code == 400 and "sends no email" in r.json()["message"]
