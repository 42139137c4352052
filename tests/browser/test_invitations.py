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
