"""Every route smchub adds or serves, walked as owner, collaborator, removed collaborator,
stranger, admin and anonymous; path escapes on every endpoint that takes a path; XSRF on
every state-changing form."""

import io
import json
import os
import re
import tarfile

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.timeout(600)

ACTORS = ["owner", "collaborator", "removed", "stranger", "admin", "anonymous"]
ALLOWED = {"owner", "collaborator", "admin"}


def tar_bytes(name="up.txt", data=b"uploaded"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
async def walk(hub):
    owner = await hub.person()
    collaborator = await hub.person()
    removed = await hub.person()
    stranger = await hub.person()
    pid = (await owner.create_project("Walked"))["id"]
    for person in (collaborator, removed):
        await person.join(owner, pid)
    await owner.api("DELETE", f"projects/{pid}/collaborators/{removed.name}")
    await owner.start_project(pid)
    await owner.client.put(
        hub.project_url(pid, "api/contents/file.txt"),
        json={"type": "file", "format": "text", "content": "walked"},
    )
    r = await owner.client.post(hub.project_url(pid, "api/kernels"), json={"name": "python3"})
    kernel = r.json()["id"]
    terminal = (await owner.client.post(hub.project_url(pid, "api/terminals"))).json()["name"]
    actors = {
        "owner": owner,
        "collaborator": collaborator,
        "removed": removed,
        "stranger": stranger,
        "admin": hub.admin,
        "anonymous": hub.anonymous(),
    }
    yield actors, pid, kernel, terminal
    await owner.client.delete(hub.project_url(pid, f"api/kernels/{kernel}"))
    await owner.stop_project(pid)


def server_routes(hub, pid, kernel, terminal):
    base = hub.project_url(pid)
    return [
        ("GET", base + "lab", None),
        ("GET", base + "api/contents", None),
        ("GET", base + "api/contents/file.txt", None),
        ("PUT", base + "api/contents/new.txt", {"type": "file", "format": "text", "content": "x"}),
        ("GET", base + "api/kernels", None),
        ("GET", base + f"api/kernels/{kernel}", None),
        ("GET", base + "api/terminals", None),
        ("GET", base + "smc/api/info", None),
        ("GET", base + "smc/api/visits", None),
        ("POST", base + "smc/api/exec", {"command": "true"}),
        ("GET", base + "smc/raw/file.txt", None),
        ("GET", base + "smc/api/archive?path=file.txt", None),
        ("PUT", base + "smc/api/archive?path=uploads", tar_bytes()),
    ]


async def test_project_server_routes(walk):
    actors, pid, kernel, terminal = walk
    for name, person in actors.items():
        for method, path, body in server_routes(person.hub, pid, kernel, terminal):
            kwargs = {}
            if isinstance(body, bytes):
                kwargs["content"] = body
            elif body is not None:
                kwargs["json"] = body
            r = await person.client.request(method, path, **kwargs)
            if name in ALLOWED:
                assert r.status_code in (200, 201), (name, method, path, r.status_code)
            elif name == "anonymous":
                # sent to sign in (or refused), never served
                assert r.status_code in (302, 403), (name, method, path, r.status_code)
                if r.status_code == 302:
                    assert "/hub/" in r.headers["location"]
            else:
                assert r.status_code == 403, (name, method, path, r.status_code)
            if r.status_code not in (200, 201):
                assert "walked" not in r.text


async def websocket(url, person):
    headers = {"Authorization": f"token {person.token}"} if person.token else {}
    return await websocket_connect(HTTPRequest(url, headers=headers))


async def test_kernel_and_terminal_websockets(hub, walk):
    actors, pid, kernel, terminal = walk
    ws_base = hub.project_url(pid, scheme="ws")
    for name, person in actors.items():
        for url in (ws_base + f"api/kernels/{kernel}/channels",
                    ws_base + f"terminals/websocket/{terminal}"):  # fmt: skip
            if name in ALLOWED:
                ws = await websocket(url, person)
                ws.close()
            else:
                with pytest.raises(HTTPClientError) as refused:
                    await websocket(url, person)
                assert refused.value.code in (302, 403), (name, url)


async def test_hub_routes(walk):
    actors, pid, kernel, terminal = walk
    routes = [
        # (method, path, body, allowed statuses for ALLOWED, for other signed-in people)
        ("GET", f"/hub/api/projects/{pid}", None, (200,), (404,)),
        ("GET", f"/hub/api/projects/{pid}/info", None, (200,), (404,)),
        ("GET", f"/hub/api/projects/{pid}/invites", None, (200,), (404,)),
        ("POST", f"/hub/api/projects/{pid}/copy", {"path": "file.txt", "target_project": pid,
                                                   "target_path": "copies"}, (200,), (404,)),
        ("GET", f"/hub/projects/{pid}", None, (200,), (404,)),
        ("GET", "/hub/projects", None, (200,), (200,)),
        ("GET", "/hub/api/projects", None, (200,), (200,)),
    ]  # fmt: skip
    for name, person in actors.items():
        for method, path, body, allowed, others in routes:
            if path.startswith("/hub/api/"):
                r = await person.client.request(method, path, json=body)
            elif name == "anonymous":
                r = await person.client.request(method, path)
                assert r.status_code == 302 and "/hub/login" in r.headers["location"], path
                continue
            else:
                r = await (await person.browser()).request(method, path)
            expected = allowed if name in ALLOWED else (403,) if name == "anonymous" else others
            assert r.status_code in expected, (name, method, path, r.status_code, r.text[:200])
    # admin-only pages and APIs
    for name, person in actors.items():
        for path in ("/hub/api/nodes", "/hub/api/accounts", "/hub/api/signup-tokens"):
            r = await person.client.get(path)
            assert r.status_code == (200 if name == "admin" else 403), (name, path)
        if name != "anonymous":
            r = await (await person.browser()).get("/hub/nodes")
            assert r.status_code == (200 if name == "admin" else 403), name


async def test_path_escapes_on_every_endpoint_that_takes_a_path(hub, walk):
    actors, pid, kernel, terminal = walk
    owner = actors["owner"]
    base = hub.project_url(pid)
    escapes = ["../../etc/passwd", "/etc/passwd", "a/../../.."]
    # a symlink in the home pointing out of it
    r = await owner.client.post(base + "smc/api/exec", json={"command": "ln -sf /etc outside",
                                                               "bash": True})  # fmt: skip
    assert r.json()["exit_code"] == 0
    for escape in escapes + ["outside/passwd"]:
        # in URL paths, slashes are sent encoded: a client would otherwise resolve '..'
        # itself and never send the escape
        quoted = escape.replace("/", "%2F")
        checks = [
            await owner.client.get(base + "smc/raw/" + quoted),
            await owner.client.get(base + "smc/api/archive", params={"path": escape}),
            await owner.client.put(base + "smc/api/archive", params={"path": escape},
                                   content=tar_bytes()),
            await owner.client.post(base + "smc/api/exec", json={"command": "true", "cwd": escape}),
            # jupyter-server's own contents API follows symlinks by design: what keeps a
            # project out of others' files there is its Unix account (tested below)
            *(
                [await owner.client.get(base + "api/contents/" + quoted)]
                if not escape.startswith("outside")
                else []
            ),
            await owner.api("POST", f"projects/{pid}/copy",
                            {"path": escape, "target_project": pid, "target_path": "x"}),
            await owner.api("POST", f"projects/{pid}/copy",
                            {"path": "file.txt", "target_project": pid, "target_path": escape}),
        ]  # fmt: skip
        for r in checks:
            assert r.status_code in (400, 403, 404), (escape, r.request.url, r.status_code)
            assert "root:" not in r.text
    # a symlink to another project's home leads nowhere: its account cannot read there
    other = (await actors["stranger"].create_project("Neighbour"))["id"]
    await actors["stranger"].start_project(other)
    try:
        await actors["stranger"].client.put(
            hub.project_url(other, "api/contents/secret.txt"),
            json={"type": "file", "format": "text", "content": "neighbour's secret"},
        )
        home = os.path.join(hub.app.projects_root, other)
        r = await owner.client.post(
            base + "smc/api/exec", json={"command": f"ln -sf {home} neighbour", "bash": True}
        )
        assert r.json()["exit_code"] == 0
        r = await owner.client.get(base + "api/contents/neighbour/secret.txt")
        if os.geteuid() == 0:
            assert r.status_code in (403, 404, 500), r.status_code
        assert "neighbour's secret" not in r.text
        r = await owner.client.post(
            base + "smc/api/exec", json={"command": "cat neighbour/secret.txt", "bash": True}
        )
        if os.geteuid() == 0:
            assert r.json()["exit_code"] != 0 and "secret" not in r.json()["stdout"]
    finally:
        await actors["stranger"].stop_project(other)
    # tar members that would escape are refused, nothing written
    for member in ("../escaped.txt", "/tmp/escaped.txt"):
        r = await owner.client.put(
            base + "smc/api/archive", params={"path": "in"}, content=tar_bytes(member)
        )
        assert r.status_code == 400, member


async def test_xsrf_on_every_state_changing_form(hub, walk):
    actors, pid, kernel, terminal = walk
    owner = actors["owner"]
    browser = await owner.browser()
    for path, data in [
        ("/hub/login", {"username": owner.name, "password": "x"}),
        ("/hub/signup", {"username": "xsrfvictim", "password": "p" * 12}),
        ("/hub/account", {"password": "x", "new_password": "y" * 12}),
        ("/hub/reset/some-token", {"password": "y" * 12, "password_confirm": "y" * 12}),
    ]:
        r = await browser.post(path, data=data)
        assert r.status_code == 403, (path, r.status_code)
    # the API with the browser's cookie but no XSRF header: refused, nothing made
    before = len((await owner.api("GET", "projects")).json())
    for method, path, body in [
        ("POST", "/hub/api/projects", {"title": "forged"}),
        ("PATCH", f"/hub/api/projects/{pid}", {"title": "forged"}),
        ("POST", f"/hub/api/projects/{pid}/stop", None),
        ("POST", f"/hub/api/projects/{pid}/invites", {}),
        ("DELETE", f"/hub/api/projects/{pid}", None),
    ]:
        r = await browser.request(
            method, path, json=body, headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 403, (method, path, r.status_code)
    assert len((await owner.api("GET", "projects")).json()) == before
    project = (await owner.api("GET", f"projects/{pid}")).json()
    assert project["title"] == "Walked" and project["state"] == "running"
    # the project server's own forms and API, with its cookie but without its XSRF token
    await owner.open_project(pid)
    r = await browser.post(hub.project_url(pid, "api/contents"), json={"type": "file"})
    assert r.status_code == 403
    r = await browser.post(hub.project_url(pid, "smc/api/exec"), json={"command": "touch forged"})
    assert r.status_code == 403
    assert re.search(r"forged", json.dumps((await owner.client.get(
        hub.project_url(pid, "api/contents"))).json())) is None  # fmt: skip


async def test_navigation_shows_what_each_person_may_open(hub, walk):
    actors, pid, kernel, terminal = walk
    for name in ("owner", "admin"):
        page = await (await actors[name].browser()).get("/hub/projects")
        for link in ("/hub/projects", "/hub/courses", "/hub/account", "/hub/token"):
            assert f'href="{link}"' in page.text, (name, link)
        for link in ("/hub/nodes", "/hub/accounts"):
            assert (f'href="{link}"' in page.text) == (name == "admin"), (name, link)
    # JupyterHub's own pages carry the same navigation
    page = await (await actors["owner"].browser()).get("/hub/token")
    assert 'href="/hub/courses"' in page.text and 'href="/hub/home"' not in page.text
