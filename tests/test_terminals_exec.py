"""Inside a project: terminals, exec and raw files, through the proxy, for collaborators only."""

import asyncio
import json
import os
import pwd

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from smchub.names import unix_name

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def project(hub):
    owner = await hub.person()
    collaborator = await hub.person()
    stranger = await hub.person()
    pid = (await owner.create_project("Inside"))["id"]
    await collaborator.join(owner, pid)
    await owner.start_project(pid)
    yield owner, collaborator, stranger, pid
    await owner.stop_project(pid)


async def terminal_output(hub, person, pid, command):
    r = await person.client.post(hub.project_url(pid, "api/terminals"))
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    url = hub.project_url(pid, f"terminals/websocket/{name}", scheme="ws")
    ws = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {person.token}"})
    )
    # the marker is computed by the shell, so that the echo of the command line (once or,
    # when typed before bash is ready, twice) never contains it
    ws.write_message(json.dumps(["stdin", f"{command}; echo END-OF-$((40 + 2))\r"]))
    text = ""
    try:
        while "END-OF-42" not in text:
            message = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            if message[0] == "stdout":
                text += message[1]
    finally:
        ws.close()
        await person.client.delete(hub.project_url(pid, f"api/terminals/{name}"))
    return text


async def test_a_terminal_is_a_shell_as_the_project_in_its_home(hub, project):
    owner, collaborator, stranger, pid = project
    text = await terminal_output(hub, collaborator, pid, "echo USER=$(id -un) HOME=$(pwd)")
    home = os.path.join(hub.app.projects_root, pid)
    expected_user = unix_name(pid) if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    assert f"USER={expected_user} HOME={home}" in text
    # strangers cannot open a terminal, nor connect to one
    r = await stranger.client.post(hub.project_url(pid, "api/terminals"))
    assert r.status_code == 403
    url = hub.project_url(pid, "terminals/websocket/1", scheme="ws")
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(
            HTTPRequest(url, headers={"Authorization": f"token {stranger.token}"})
        )
    assert refused.value.code == 403


async def test_exec_and_raw_files_for_collaborators_only(hub, project):
    owner, collaborator, stranger, pid = project
    r = await collaborator.client.post(
        hub.project_url(pid, "smc/api/exec"),
        json={"command": "echo hello > greeting.txt && id -u && pwd", "bash": True},
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["exit_code"] == 0 and not result["timed_out"]
    uid, cwd = result["stdout"].split()
    assert cwd == os.path.join(hub.app.projects_root, pid)
    if os.geteuid() == 0:
        assert int(uid) == pwd.getpwnam(unix_name(pid)).pw_uid
    r = await owner.client.get(hub.project_url(pid, "smc/raw/greeting.txt"))
    assert r.status_code == 200 and r.content == b"hello\n"
    r = await owner.client.get(hub.project_url(pid, "smc/api/info"))
    assert r.status_code == 200
    info = r.json()
    assert info["processes"] and info["processes"][0]["rss"] > 0
    assert info["limits"]["memory_mb"] == hub.app.default_quotas["memory_mb"]
    # the hub relays the same info for the project page
    r = await owner.api("GET", f"projects/{pid}/info")
    assert r.status_code == 200 and r.json()["processes"]

    r = await stranger.client.post(hub.project_url(pid, "smc/api/exec"), json={"command": "id"})
    assert r.status_code == 403
    r = await stranger.client.get(hub.project_url(pid, "smc/raw/greeting.txt"))
    assert r.status_code == 403
    assert (await stranger.api("GET", f"projects/{pid}/info")).status_code == 404
    # path escapes are refused whoever asks
    r = await owner.client.get(hub.project_url(pid, "smc/raw/..%2F..%2Fetc%2Fpasswd"))
    assert r.status_code in (400, 404)
    r = await owner.client.post(
        hub.project_url(pid, "smc/api/exec"), json={"command": "ls", "cwd": "../.."}
    )
    assert r.status_code == 400
