"""Being added to a project by name is an invitation, answered on the projects page."""

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(120)


async def test_invite_by_name_accept_and_decline(people):
    gil = await people("gil", account=True)
    hal = await people("hal", account=True)
    first = await gil.create_project("Asked first")
    second = await gil.create_project("Asked second")

    # Gil invites Hal from each project's page; Hal is listed as waiting, not as a member
    for pid in (first, second):
        await gil.page.goto(gil.url(f"/hub/projects/{pid}"))
        await gil.page.locator("#collaborator-name").fill(hal.name)
        await gil.page.locator("#add-collaborator [type='submit']").click()
        await expect(gil.page.locator(f"#invited [data-name='{hal.name}']")).to_be_visible()
        await expect(gil.page.locator(f"#collaborators [data-name='{hal.name}']")).to_have_count(0)

    # Hal sees both invitations, and neither project yet
    await hal.page.goto(hal.url("/hub/projects"))
    invitations = hal.page.locator("#invitations .invitation")
    await expect(invitations).to_have_count(2)
    await expect(invitations.first).to_contain_text(gil.name)
    await expect(hal.project_row("Asked")).to_have_count(0)

    # he accepts one and declines the other
    await invitations.filter(has_text="Asked first").get_by_role("button", name="Accept").click()
    await expect(hal.project_row("Asked first")).to_have_count(1)
    await invitations.filter(has_text="Asked second").get_by_role("button", name="Decline").click()
    await expect(hal.page.locator("#invitations-section")).to_be_hidden()
    await expect(hal.project_row("Asked second")).to_have_count(0)

    # Gil's pages agree: a collaborator on one, nothing waiting on either
    await gil.page.goto(gil.url(f"/hub/projects/{first}"))
    await expect(gil.page.locator(f"#collaborators [data-name='{hal.name}']")).to_be_visible()
    await expect(gil.page.locator("#invited-section")).to_be_hidden()
    await gil.page.goto(gil.url(f"/hub/projects/{second}"))
    await expect(gil.page.locator("#invited-section")).to_be_hidden()
    assert not gil.js_errors and not hal.js_errors, (gil.js_errors, hal.js_errors)


async def test_an_invite_link_is_emailed_from_the_project_page(hub, people):
    """With a mail server, the project page emails a one-person invite link."""
    import asyncio
    import email
    from email import policy

    from aiosmtpd.controller import Controller

    from ..ports import unused_port

    received = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 Message accepted"

    controller = Controller(Inbox(), hostname="127.0.0.1", port=unused_port())
    controller.start()
    mailer = hub.app.mailer
    before = (mailer.host, mailer.port, mailer.security)
    mailer.host, mailer.port, mailer.security = "127.0.0.1", controller.port, "none"
    hub.app.template_vars["mail_enabled"] = True
    try:
        ivy = await people("ivy", account=True)
        project = await ivy.create_project("Mailed invite")
        page = ivy.page
        await page.goto(ivy.url(f"/hub/projects/{project}"))
        await page.locator("#invite-email").fill("friend@example.org")
        await page.locator("#make-invite [type='submit']").click()
        await expect(page.locator("#invite-sent")).to_have_text("Sent to friend@example.org.")
        link = await page.locator("#invite-link").input_value()
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.1)
        (message,) = received
        assert message["To"] == "friend@example.org"
        assert link in message.get_content()
    finally:
        mailer.host, mailer.port, mailer.security = before
        hub.app.template_vars["mail_enabled"] = False
        controller.stop()
