"""The origin checks: a project's server only on its origin, the hub only on its own."""

from urllib.parse import urlsplit


def origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def test_a_project_is_served_only_on_its_own_origin(hub):
    owner = await hub.person()
    pid = (await owner.create_project("Origins"))["id"]
    await owner.start_project(pid)
    try:
        project_origin = origin(hub.project_url(pid))
        assert project_origin != hub.url
        r = await owner.client.get(hub.project_url(pid, "api/status"))
        assert r.status_code == 200, r.text

        # the same path on the hub's origin never reaches the server: the hub sends the
        # request on to the project's origin
        r = await owner.client.get(f"/user/{pid}/api/status")
        assert r.status_code == 302, r.text
        r = await owner.client.get(f"/user/{pid}/api/status", follow_redirects=True)
        # (the token is not sent on to another origin, so the server asks for one there)
        assert origin(str(r.url)) == project_origin
        assert [origin(str(step.url)) for step in r.history] == [hub.url] * len(r.history)
    finally:
        await owner.stop_project(pid)


async def test_the_hub_is_never_served_on_a_project_origin(hub):
    person = await hub.person()
    pid = (await person.create_project("Not the hub"))["id"]
    project_origin = origin(hub.project_url(pid))
    # pages: sent to the hub's own origin, where its cookies live
    for path in ("/hub/login", "/hub/token", "/hub/projects"):
        r = await person.client.get(project_origin + path)
        assert r.status_code == 302, (path, r.status_code)
        assert r.headers["location"] == hub.url + path
    # the API answers nothing there, even with a valid token
    r = await person.client.get(project_origin + "/hub/api/user")
    assert r.status_code == 302
    r = await person.client.post(project_origin + "/hub/api/projects", json={"title": "x"})
    assert r.status_code == 404
    assert "belongs to a project" in r.text
    r = await person.api("GET", "projects")
    assert [p["title"] for p in r.json()] == ["Not the hub"]
