"""Invite links: joining, expiry, usage limits, revocation."""

from datetime import timedelta

import httpx

from smchub import orm


async def test_invite_adds_whoever_opens_it(hub):
    owner = await hub.person()
    guest = await hub.person()
    pid = (await owner.create_project("Invited"))["id"]
    r = await owner.api("POST", f"projects/{pid}/invites", {})
    assert r.status_code == 201, r.text
    invite = r.json()
    assert invite["url"] == f"/hub/projects/invite/{invite['token']}"
    assert invite["max_uses"] is None
    assert invite["expires_at"] is not None

    # the link's page shows the project; joining is a deliberate click (a POST)
    browser = await guest.browser()
    page = await browser.get(invite["url"])
    assert page.status_code == 200
    assert "Invited" in page.text
    assert (await guest.api("GET", f"projects/{pid}")).status_code == 404

    r = await guest.api("POST", f"invites/{invite['token']}")
    assert r.status_code == 200, r.text
    assert {"name": guest.name, "role": "collaborator"} in r.json()["collaborators"]
    assert (await guest.api("GET", f"projects/{pid}")).status_code == 200
    listed = (await owner.api("GET", f"projects/{pid}/invites")).json()
    assert [i["uses"] for i in listed] == [1]
    # the token itself is never stored or listed
    assert invite["token"] not in str(listed)


async def test_invite_usage_limit(hub):
    owner = await hub.person()
    first, second, third = [await hub.person() for _ in range(3)]
    pid = (await owner.create_project())["id"]
    token = (await owner.api("POST", f"projects/{pid}/invites", {"max_uses": 2})).json()["token"]
    assert (await first.api("POST", f"invites/{token}")).status_code == 200
    # accepting again does not use the link up
    assert (await first.api("POST", f"invites/{token}")).status_code == 200
    assert (await second.api("POST", f"invites/{token}")).status_code == 200
    r = await third.api("POST", f"invites/{token}")
    assert r.status_code == 404
    assert "used up" in r.json()["message"]
    assert (await third.api("GET", f"projects/{pid}")).status_code == 404


async def test_invite_expiry(hub):
    owner = await hub.person()
    guest = await hub.person()
    pid = (await owner.create_project())["id"]
    r = await owner.api("POST", f"projects/{pid}/invites", {"expires_in": 3600})
    token = r.json()["token"]
    invite = orm.Invite.find(hub.db, token)
    # an hour passes
    invite.expires_at = orm.now() - timedelta(seconds=1)
    hub.db.commit()
    r = await guest.api("POST", f"invites/{token}")
    assert r.status_code == 404
    assert "expired" in r.json()["message"]
    browser = await guest.browser()
    page = await browser.get(f"/hub/projects/invite/{token}")
    assert page.status_code == 404
    assert "does not work" in page.text


async def test_invite_bad_input_and_revocation(hub):
    owner = await hub.person()
    guest = await hub.person()
    pid = (await owner.create_project())["id"]
    for body in [{"expires_in": 5}, {"expires_in": "soon"}, {"max_uses": 0}, {"uses": 1}]:
        r = await owner.api("POST", f"projects/{pid}/invites", body)
        assert r.status_code == 400, (body, r.text)
    r = await owner.api("POST", f"projects/{pid}/invites", {"max_uses": 5})
    invite = r.json()
    assert (await owner.api("DELETE", f"projects/{pid}/invites/{invite['id']}")).status_code == 204
    assert (await guest.api("POST", f"invites/{invite['token']}")).status_code == 404
    assert (await guest.api("POST", "invites/made-up-token")).status_code == 404


async def test_an_invite_survives_signing_up_first(hub):
    """Someone without an account opens an invite: sign in -> sign up -> back to the invite."""
    owner = await hub.person()
    pid = (await owner.create_project("Join me"))["id"]
    invite = (await owner.api("POST", f"projects/{pid}/invites", {})).json()
    async with httpx.AsyncClient(base_url=hub.url, follow_redirects=True, timeout=60) as browser:
        r = await browser.get(invite["url"])
        assert r.url.path == "/hub/login"
        signup = r.text.split('id="signup-link"')[1].split('href="')[1].split('"')[0]
        assert "next=" in signup
        page = await browser.get(signup.replace("&amp;", "&"))
        r = await browser.post(
            "/hub/signup",
            data={
                "username": "newcomer",
                "email": "newcomer@example.org",
                "password": "a long enough password",
                "password_confirm": "a long enough password",
                "next": page.text.split('name="next" value="')[1].split('"')[0],
                "_xsrf": browser.cookies.get("_xsrf"),
            },
        )
        assert r.status_code == 200
        assert r.url.path == invite["url"]
        assert "Join me" in r.text
