"""Real project servers on the local node: access, files, isolation, state."""

import asyncio
import json
import os
import pwd
import stat

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from smchub.names import unix_name

pytestmark = pytest.mark.timeout(300)


async def start_project(hub, person, project_id):
    r = await person.api("POST", f"projects/{project_id}/start")
    assert r.status_code == 202, r.text
    assert r.json()["state"] in ("starting", "running")
    return await hub.wait_for_state(person, project_id, "running")


async def stop_project(hub, person, project_id):
    r = await person.api("POST", f"projects/{project_id}/stop")
    assert r.status_code == 202, r.text
    assert r.json()["state"] in ("stopping", "stopped")
    return await hub.wait_for_state(person, project_id, "stopped")


@pytest.fixture
async def shared_project(hub):
    """A running project owned by one person with one collaborator."""
    owner = await hub.person()
    collaborator = await hub.person()
    project = await owner.create_project("Shared")
    pid = project["id"]
    await collaborator.join(owner, pid)
    await start_project(hub, owner, pid)
    yield owner, collaborator, pid
    await owner.api("POST", f"projects/{pid}/stop")
    await hub.wait_for_state(owner, pid, "stopped")


async def test_collaborators_share_files_strangers_are_refused(hub, shared_project):
    owner, collaborator, pid = shared_project
    stranger = await hub.person()

    # the owner opens JupyterLab through the proxy, as a browser does (OAuth via the hub)
    r = await owner.open_project(pid, "lab")
    assert r.status_code == 200, r.text
    assert "JupyterLab" in r.text
    r = await owner.server_api(
        pid,
        "PUT",
        "api/contents/notes.txt",
        json={"type": "file", "format": "text", "content": "written by the owner"},
    )
    assert r.status_code in (200, 201), r.text

    # the collaborator reads it, with their own browser session
    await collaborator.open_project(pid, "lab")
    r = await collaborator.server_api(pid, "GET", "api/contents/notes.txt")
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "written by the owner"

    # ... and with their API token, as a script would
    r = await collaborator.client.get(hub.project_url(pid, "api/contents/notes.txt"))
    assert r.status_code == 200
    assert r.json()["content"] == "written by the owner"

    # a stranger: refused by the hub's API (404) and by the project server
    assert (await stranger.api("GET", f"projects/{pid}")).status_code == 404
    r = await stranger.client.get(hub.project_url(pid, "api/contents/notes.txt"))
    assert r.status_code == 403
    r = await stranger.open_project(pid, "lab")
    assert r.status_code == 403
    assert "written by the owner" not in r.text
    r = await stranger.server_api(pid, "GET", "api/contents/notes.txt")
    assert r.status_code in (302, 403)
    assert "written by the owner" not in r.text

    # anonymous visitors are sent to sign in, never shown the files
    anonymous = hub.anonymous()
    r = await anonymous.client.get(hub.project_url(pid, "api/contents/notes.txt"))
    assert r.status_code in (302, 403)
    await anonymous.close()


async def _kernel_websocket(hub, person, pid, kernel_id, use_token):
    url = hub.project_url(pid, f"api/kernels/{kernel_id}/channels", scheme="ws")
    headers = {}
    if use_token:
        headers["Authorization"] = f"token {person.token}"
    return await websocket_connect(HTTPRequest(url, headers=headers))


async def test_websockets_need_access(hub, shared_project):
    owner, collaborator, pid = shared_project
    stranger = await hub.person()
    r = await collaborator.client.post(
        hub.project_url(pid, "api/kernels"), json={"name": "python3"}
    )
    assert r.status_code == 201, r.text
    kernel_id = r.json()["id"]
    try:
        ws = await _kernel_websocket(hub, collaborator, pid, kernel_id, use_token=True)
        msg_id = "t1"
        ws.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": collaborator.name,
                        "session": "s1",
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": "print(6*7)", "silent": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        output = None
        for _ in range(100):
            message = json.loads(await asyncio.wait_for(ws.read_message(), 60))
            if (
                message.get("msg_type") == "stream"
                and message["parent_header"].get("msg_id") == msg_id
            ):
                output = message["content"]["text"]
                break
        ws.close()
        assert output == "42\n"

        with pytest.raises(HTTPClientError) as error:
            await _kernel_websocket(hub, stranger, pid, kernel_id, use_token=True)
        assert error.value.code == 403
        with pytest.raises(HTTPClientError) as error:
            await _kernel_websocket(hub, stranger, pid, kernel_id, use_token=False)
        assert error.value.code in (302, 403)
    finally:
        await collaborator.client.delete(hub.project_url(pid, f"api/kernels/{kernel_id}"))


async def test_files_survive_stop_and_start(hub):
    alice = await hub.person()
    pid = (await alice.create_project("Persistent"))["id"]
    await start_project(hub, alice, pid)
    r = await alice.client.put(
        hub.project_url(pid, "api/contents/keep.txt"),
        json={"type": "file", "format": "text", "content": "still here"},
    )
    assert r.status_code in (200, 201), r.text
    stopped = await stop_project(hub, alice, pid)
    assert stopped["state"] == "stopped"
    r = await alice.client.get(hub.project_url(pid, "api/contents/keep.txt"))
    assert r.status_code in (302, 424, 503), r.status_code  # no server behind the proxy now
    await start_project(hub, alice, pid)
    r = await alice.client.get(hub.project_url(pid, "api/contents/keep.txt"))
    assert r.status_code == 200
    assert r.json()["content"] == "still here"
    await stop_project(hub, alice, pid)


async def test_start_and_stop_are_idempotent_and_truthful(hub):
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    first = await alice.api("POST", f"projects/{pid}/start")
    second = await alice.api("POST", f"projects/{pid}/start")
    assert first.status_code == second.status_code == 202
    assert second.json()["state"] in ("starting", "running")
    running = await hub.wait_for_state(alice, pid, "running")
    assert running["node"] == "local"
    # the url reported for a running project answers
    r = await alice.client.get(running["url"] + "api/status")
    assert r.status_code == 200
    await stop_project(hub, alice, pid)
    r = await alice.api("POST", f"projects/{pid}/stop")
    assert r.status_code == 202
    assert r.json()["state"] == "stopped"


@pytest.mark.skipif(os.geteuid() != 0, reason="per-project accounts need root")
async def test_each_project_runs_as_its_own_account(hub):
    alice = await hub.person()
    first = (await alice.create_project("One"))["id"]
    second = (await alice.create_project("Two"))["id"]
    await start_project(hub, alice, first)
    await start_project(hub, alice, second)
    try:
        home = os.path.join(hub.app.projects_root, first)
        account = pwd.getpwnam(unix_name(first))
        st = os.stat(home)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (account.pw_uid, 0o700)

        # a terminal-like command in the first project: who am I, where am I
        r = await alice.client.post(hub.project_url(first, "api/kernels"), json={"name": "python3"})
        assert r.status_code == 201
        await alice.client.delete(hub.project_url(first, f"api/kernels/{r.json()['id']}"))

        # the second project's account cannot read the first one's home
        other_home = os.path.join(hub.app.projects_root, second)
        r = await alice.client.put(
            hub.project_url(first, "api/contents/secret.txt"),
            json={"type": "file", "format": "text", "content": "mine"},
        )
        assert r.status_code in (200, 201)
        assert os.stat(os.path.join(home, "secret.txt")).st_uid == account.pw_uid
        second_uid = pwd.getpwnam(unix_name(second)).pw_uid
        pid = os.fork()
        if pid == 0:  # child: become the second project's account and try
            try:
                os.setgid(second_uid)
                os.setuid(second_uid)
                open(os.path.join(home, "secret.txt")).read()
                os._exit(0)
            except PermissionError:
                os._exit(13)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 13
        assert os.path.isdir(other_home)
    finally:
        await stop_project(hub, alice, first)
        await stop_project(hub, alice, second)


async def test_people_have_no_servers_of_their_own(hub):
    alice = await hub.person()
    r = await alice.api("POST", f"users/{alice.name}/server")
    assert r.status_code in (400, 403), r.text
    browser = await alice.browser()
    r = await browser.get("/hub/spawn")
    assert r.url.path == "/hub/projects"
    r = await browser.get("/hub/home")
    assert r.url.path == "/hub/projects"
