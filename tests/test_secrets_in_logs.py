"""Secrets in link paths (invites, password resets) stay out of the hub's log.

Whoever reads the log (an operator, a log service) must not be able to join projects
or take over accounts with what it shows.
"""

import logging
import re

import httpx

NEW_PASSWORD = "a brand new passphrase"


def form_xsrf(page):
    found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert found, (page.status_code, page.text[-1000:])
    return found.group(1)


# the tests' own HTTP client logs the URLs it opens; that is not the hub's log
CLIENT_LOGGERS = ("httpx", "httpcore")


def assert_kept_out(caplog, secret):
    """`secret` is nowhere in the hub's log, but its requests are (by a short prefix)."""
    hub_log = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(CLIENT_LOGGERS)
    )
    assert secret not in hub_log
    assert secret[:6] in hub_log


async def test_invite_tokens_are_scrubbed_from_the_log(hub, caplog):
    caplog.set_level(logging.INFO)
    owner, guest = await hub.person(), await hub.person()
    pid = (await owner.create_project("Invited"))["id"]
    token = (await owner.api("POST", f"projects/{pid}/invites", {})).json()["token"]

    # someone signed out opens the link: a redirect to sign in, with the link in `next`
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as anonymous:
        r = await anonymous.get(f"/hub/projects/invite/{token}")
        assert r.status_code == 302
    # the guest opens the page, then joins through the API
    browser = await guest.browser()
    assert (await browser.get(f"/hub/projects/invite/{token}")).status_code == 200
    assert (await guest.api("POST", f"invites/{token}")).status_code == 200
    # a made-up link is refused, and that is logged as a warning
    unknown = "Zq" + token[2:]
    assert (await guest.api("POST", f"invites/{unknown}")).status_code == 404

    assert_kept_out(caplog, token)
    assert_kept_out(caplog, unknown)


async def test_reset_tokens_are_scrubbed_from_the_log(hub, caplog):
    caplog.set_level(logging.INFO)
    person = await hub.person()
    r = await hub.admin.api("POST", f"accounts/{person.name}/reset-link", {})
    assert r.status_code == 201, r.text
    path = r.json()["url"]
    token = path.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as browser:
        page = await browser.get(path)
        assert page.status_code == 200
        form = {"password": NEW_PASSWORD, "password_confirm": "typo", "_xsrf": form_xsrf(page)}
        assert (await browser.post(path, data=form)).status_code == 400
        form["password_confirm"] = NEW_PASSWORD
        assert (await browser.post(path, data=form)).status_code == 200
        # the spent link: refused
        assert (await browser.get(path)).status_code == 404
    assert_kept_out(caplog, token)
