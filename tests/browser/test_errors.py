"""Errors from the API reach the person in words, next to what they did."""

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(120)


async def test_forms_show_the_apis_words(people):
    fay = await people("fay", account=True)
    page = fay.page

    # a title of spaces passes the browser's `required`, not the API
    await page.locator("#new-title").fill("   ")
    await page.locator("#create-button").click()
    error = page.locator("#create-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_text("title must not be empty")
    await expect(page.locator("#create-button")).to_be_enabled()

    # the next try clears it
    pid = await fay.create_project("Errors")
    await expect(error).to_be_hidden()

    # an unknown collaborator, told next to the form, and still there after the
    # page has refreshed the project in the background (every 5 s)
    await page.goto(fay.url(f"/hub/projects/{pid}"))
    await page.locator("#collaborator-name").fill("nobody-by-that-name")
    await page.locator("#add-collaborator [type='submit']").click()
    error = page.locator("#collaborator-error")
    await expect(error).to_have_text("No such user: nobody-by-that-name")
    await page.wait_for_timeout(6_000)
    await expect(error).to_be_visible()

    # settings: saved is said, a refusal is said
    await page.locator("#title").fill("Errors, renamed")
    await page.locator("#settings [type='submit']").click()
    await expect(page.locator("#settings-saved")).to_be_visible()
    await expect(page.locator("#project-title")).to_have_text("Errors, renamed")
    await page.locator("#title").fill("  ")
    await page.locator("#settings [type='submit']").click()
    await expect(page.locator("#settings-error")).to_have_text("title must not be empty")
    await expect(page.locator("#settings-saved")).to_be_hidden()

    # an invite link revoked after the invitee opened it
    link = await fay.make_invite_link(pid)
    gus = await people("gus")
    await gus.sign_up()
    await gus.page.goto(link)
    await page.locator("#invites button", has_text="Revoke").click()
    await expect(page.locator("#invites li")).to_have_count(0)
    await gus.page.locator("#accept").click()
    await expect(gus.page.locator("#invite-error")).to_have_text(
        "This invite link is unknown, has expired or has been used up."
    )
    await gus.page.goto(link)
    await expect(gus.page.locator("h1")).to_have_text("This invite link does not work")


async def test_when_the_hub_cannot_be_reached(people):
    hal = await people("hal", account=True)
    page = hal.page

    # the connection fails
    await page.route("**/hub/api/projects", lambda route: route.abort())
    await page.locator("#new-title").fill("Offline")
    await page.locator("#create-button").click()
    await expect(page.locator("#create-error")).to_have_text(
        "Could not reach the hub; check your connection and try again."
    )
    await page.unroute("**/hub/api/projects")

    # something between the browser and the hub answers with a page, not JSON
    await page.route(
        "**/hub/api/projects",
        lambda route: route.fulfill(status=502, content_type="text/html", body="<h1>Bad</h1>"),
    )
    await page.locator("#create-button").click()
    await expect(page.locator("#create-error")).to_have_text(
        "The hub answered 502 Bad Gateway; try again in a moment."
    )
    # and the list, polled in the background, says it could not load
    await expect(page.locator("#projects-error")).to_contain_text(
        "Could not load your projects", timeout=10_000
    )
    await page.unroute("**/hub/api/projects")
    await expect(page.locator("#projects-error")).to_be_hidden(timeout=10_000)
