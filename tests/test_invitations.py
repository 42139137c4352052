"""Nobody lands in a project they did not choose: being added is an invitation to answer.

A project's files run in the browser of whoever opens it, so a person who could be added
silently could be lured into a project with planted JavaScript (issue 14, finding 1).
"""


async def invite(inviter, project_id, name):
    r = await inviter.api("PUT", f"projects/{project_id}/collaborators/{name}")
    assert r.status_code == 202, r.text
    return r.json()


async def test_adding_someone_invites_them_and_they_choose(hub):
    student = await hub.person()
    instructor = await hub.person()
    project = await student.create_project("Homework help", description="private notes")
    pid = project["id"]

    r = await student.api("PUT", f"projects/{pid}/collaborators/{instructor.name}")
    assert r.status_code == 202, r.text
    model = r.json()
    assert [c["name"] for c in model["collaborators"]] == [student.name]
    [invited] = model["invited"]
    assert (invited["name"], invited["invited_by"]) == (instructor.name, student.name)
    assert invited["created"]
    # asking twice makes no second invitation
    again = await invite(student, pid, instructor.name)
    assert again["invited"] == model["invited"]

    # invited is not joined: no project, no server
    assert (await instructor.api("GET", f"projects/{pid}")).status_code == 404
    assert pid not in [p["id"] for p in (await instructor.api("GET", "projects")).json()]
    await student.start_project(pid)
    try:
        # (through the browser: a server remembers a token's answer for revocation_delay)
        assert (await instructor.open_project(pid, "lab")).status_code == 403

        # what the invited person sees: enough to decide, nothing more of the project
        r = await instructor.api("GET", "invitations")
        assert r.status_code == 200
        [waiting] = r.json()
        assert waiting == {
            "id": invited["id"],
            "project_id": pid,
            "title": "Homework help",
            "invited_by": student.name,
            "created": invited["created"],
        }

        r = await instructor.api("POST", f"invitations/{invited['id']}/accept")
        assert r.status_code == 200, r.text
        joined = r.json()
        assert {"name": instructor.name, "role": "collaborator"} in joined["collaborators"]
        assert joined["invited"] == []
        assert (await instructor.api("GET", "invitations")).json() == []
        r = await instructor.client.get(hub.project_url(pid, "api/contents"))
        assert r.status_code == 200
        # once in, adding them again changes nothing
        r = await student.api("PUT", f"projects/{pid}/collaborators/{instructor.name}")
        assert r.status_code == 200
        assert r.json()["invited"] == []
    finally:
        await student.stop_project(pid)


async def test_declining_and_withdrawing(hub):
    owner = await hub.person()
    helper = await hub.person()
    guest = await hub.person()
    other = await hub.person()
    pid = (await owner.create_project("Declined"))["id"]
    await helper.join(owner, pid)

    invitation = (await invite(helper, pid, guest.name))["invited"][0]
    # nobody else may answer or withdraw it
    r = await other.api("POST", f"invitations/{invitation['id']}/accept")
    assert r.status_code == 404
    assert "No such invitation" in r.json()["message"]
    assert (await other.api("DELETE", f"invitations/{invitation['id']}")).status_code == 404
    # a collaborator may withdraw, but only the invited person may accept
    assert (await owner.api("POST", f"invitations/{invitation['id']}/accept")).status_code == 404
    # the invited person declines
    assert (await guest.api("DELETE", f"invitations/{invitation['id']}")).status_code == 204
    assert (await guest.api("GET", "invitations")).json() == []
    assert (await owner.api("GET", f"projects/{pid}")).json()["invited"] == []
    r = await guest.api("POST", f"invitations/{invitation['id']}/accept")
    assert r.status_code == 404
    assert (await guest.api("GET", f"projects/{pid}")).status_code == 404

    # asked again, then withdrawn by a collaborator
    invitation = (await invite(owner, pid, guest.name))["invited"][0]
    assert (await helper.api("DELETE", f"invitations/{invitation['id']}")).status_code == 204
    assert (await guest.api("GET", "invitations")).json() == []
    assert (await guest.api("POST", f"invitations/{invitation['id']}/accept")).status_code == 404

    for bad in ("999999999", "9" * 5000, "abc"):
        r = await guest.api("POST", f"invitations/{bad}/accept")
        assert r.status_code == 404, (bad, r.text)


async def test_unknown_people_and_strangers(hub):
    owner = await hub.person()
    stranger = await hub.person()
    pid = (await owner.create_project())["id"]
    r = await owner.api("PUT", f"projects/{pid}/collaborators/nobody-here")
    assert r.status_code == 404
    assert "No such user" in r.json()["message"]
    r = await stranger.api("PUT", f"projects/{pid}/collaborators/{stranger.name}")
    assert r.status_code == 404
    assert (await hub.anonymous().api("GET", "invitations")).status_code == 403


async def test_an_invite_link_answers_the_invitation(hub):
    owner = await hub.person()
    guest = await hub.person()
    pid = (await owner.create_project())["id"]
    await invite(owner, pid, guest.name)
    token = (await owner.api("POST", f"projects/{pid}/invites", {})).json()["token"]
    # opening a link oneself is consent: it joins at once
    r = await guest.api("POST", f"invites/{token}")
    assert r.status_code == 200
    assert guest.name in [c["name"] for c in r.json()["collaborators"]]
    assert r.json()["invited"] == []
    assert (await guest.api("GET", "invitations")).json() == []


async def test_deleting_a_project_drops_its_invitations(hub):
    owner = await hub.person()
    guest = await hub.person()
    pid = (await owner.create_project("Going away"))["id"]
    invitation = (await invite(owner, pid, guest.name))["invited"][0]
    assert (await owner.api("DELETE", f"projects/{pid}")).status_code == 204
    assert (await guest.api("GET", "invitations")).json() == []
    assert (await guest.api("POST", f"invitations/{invitation['id']}/accept")).status_code == 404


async def test_projects_page_shows_invitations(hub):
    owner = await hub.person()
    guest = await hub.person()
    pid = (await owner.create_project("Seen on the page"))["id"]
    await invite(owner, pid, guest.name)
    browser = await guest.browser()
    page = await browser.get("/hub/projects")
    assert page.status_code == 200
    # the list is filled in by the page's script from api/invitations
    assert 'id="invitations"' in page.text
    script = await browser.get("/hub/smchub-static/js/projects.js")
    assert "invitations" in script.text
