"""The viewer role (issue 18, item 4): a viewer reads a project and changes nothing.

Through the real hub, proxy and a project server: a viewer reads files and opens
JupyterLab, follows a notebook live, and is refused at every route that writes or runs
something (contents, kernels, terminals and their websockets, localhub's exec and
archive upload, changes sent into a document's collaboration room) and at the hub's
routes that bring people in. Role changes reach a running server within the revocation
delay, in both directions.
"""

import asyncio
import json
import time

import pytest
from tornado.httpclient import HTTPClientError

from .test_edit_history import (
    NAME,
    NOTEBOOK,
    open_notebook,
    source_on_disk,
    type_source,
    wait_for_source_on_disk,
)
from .test_revocation import (
    CHECK_INTERVAL,
    MARGIN,
    REVOCATION_DELAY,
    closed_after,
    connect,
    open_kernel,
    open_terminal,
    read_until,
    start_trusting_briefly,
)

pytestmark = pytest.mark.timeout(300)

NOTE = {"type": "file", "format": "text", "content": "changed"}
# jupyter-collaboration saves a document a second after a change; room for a busy machine
SAVE_DELAY = 5


async def make_role(owner, pid, person, role):
    r = await owner.api("PATCH", f"projects/{pid}/collaborators/{person.name}", {"role": role})
    assert r.status_code == 200, r.text
    assert {"name": person.name, "role": role} in r.json()["collaborators"]


async def refused_websocket(hub, person, pid, path):
    with pytest.raises(HTTPClientError) as refused:
        ws = await connect(hub, person, pid, path)
        ws.close()
    return refused.value.code


async def eventually(check, timeout):
    """Wait until `check()` (async) is true; how long it took, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await check():
            return time.monotonic() - start
        await asyncio.sleep(1)
    return None


async def test_a_viewer_reads_and_changes_nothing(hub):
    owner = await hub.person()
    collaborator = await hub.person()
    viewer = await hub.person()
    extra = await hub.person()
    pid = (await owner.create_project("Viewed"))["id"]
    for person in (collaborator, viewer):
        await person.join(owner, pid)
    # an invitation the viewer sent while still a collaborator lets nobody in any more
    r = await viewer.api("PUT", f"projects/{pid}/collaborators/{extra.name}")
    assert r.status_code == 202, r.text
    (sent,) = [i for i in r.json()["invited"] if i["name"] == extra.name]
    await make_role(owner, pid, viewer, "viewer")
    r = await extra.api("POST", f"invitations/{sent['id']}/accept")
    assert r.status_code == 403 and "only views" in r.json()["message"], r.text

    # only the owner (or an admin) changes roles, never the owner's, only to known ones
    path = f"projects/{pid}/collaborators"
    assert (await owner.api("PATCH", f"{path}/{viewer.name}", {"role": "boss"})).status_code == 400
    r = await collaborator.api("PATCH", f"{path}/{viewer.name}", {"role": "collaborator"})
    assert r.status_code == 403, r.text
    r = await viewer.api("PATCH", f"{path}/{viewer.name}", {"role": "collaborator"})
    assert r.status_code == 403, r.text
    r = await owner.api("PATCH", f"{path}/{owner.name}", {"role": "viewer"})
    assert r.status_code == 409, r.text
    r = await owner.api("PATCH", f"{path}/{extra.name}", {"role": "viewer"})
    assert r.status_code == 404, r.text
    r = await hub.admin.api("PATCH", f"{path}/{collaborator.name}", {"role": "collaborator"})
    assert r.status_code == 200, r.text

    # a viewer brings nobody in and changes nothing of the project
    assert (await viewer.api("PUT", f"{path}/{extra.name}")).status_code == 403
    assert (await viewer.api("POST", f"projects/{pid}/invites", {})).status_code == 403
    assert (await viewer.api("PATCH", f"projects/{pid}", {"title": "Mine"})).status_code == 403
    assert (await viewer.api("GET", f"projects/{pid}")).status_code == 200

    await owner.start_project(pid)
    try:
        r = await owner.client.put(hub.project_url(pid, "api/contents/notes.txt"), json=NOTE)
        assert r.status_code == 201, r.text
        # what the collaborator runs, which the viewer must not reach
        kernel, kernel_path = await open_kernel(hub, collaborator, pid)
        terminal = await open_terminal(hub, collaborator, pid)
        terminals = (await collaborator.client.get(hub.project_url(pid, "api/terminals"))).json()

        # reading works, with a token and in the browser (JupyterHub's OAuth)
        for path in ("api/contents/notes.txt", "smc/raw/notes.txt", "api/kernels"):
            r = await viewer.client.get(hub.project_url(pid, path))
            assert r.status_code == 200, (path, r.status_code)
        assert (await viewer.open_project(pid, "lab")).status_code == 200
        r = await viewer.server_api(pid, "GET", "api/contents/notes.txt")
        assert r.status_code == 200 and r.json()["content"] == "changed"

        # writing and running are refused, over HTTP and websockets
        url = hub.project_url
        refusals = {
            "contents PUT": await viewer.client.put(url(pid, "api/contents/new.txt"), json=NOTE),
            "contents PUT (browser)": await viewer.server_api(
                pid, "PUT", "api/contents/new.txt", json=NOTE
            ),
            "contents DELETE": await viewer.client.delete(url(pid, "api/contents/notes.txt")),
            "kernels POST": await viewer.client.post(url(pid, "api/kernels"), json={}),
            "sessions POST": await viewer.client.post(
                url(pid, "api/sessions"),
                json={"path": "a.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
            ),
            "terminals POST": await viewer.client.post(url(pid, "api/terminals")),
            "exec": await viewer.client.post(url(pid, "smc/api/exec"), json={"command": "true"}),
            "archive PUT": await viewer.client.put(
                url(pid, "smc/api/archive?path=up"), content=b"not even a tar"
            ),
        }
        assert {k: r.status_code for k, r in refusals.items()} == dict.fromkeys(refusals, 403)
        sockets = {
            "kernel": await refused_websocket(hub, viewer, pid, kernel_path),
            "terminal": await refused_websocket(
                hub, viewer, pid, f"terminals/websocket/{terminals[0]['name']}"
            ),
        }
        assert sockets == {"kernel": 403, "terminal": 403}
        # nothing changed in the project
        r = await owner.client.get(hub.project_url(pid, "api/contents/new.txt"))
        assert r.status_code == 404
        r = await owner.client.get(hub.project_url(pid, "api/contents/notes.txt"))
        assert r.json()["content"] == "changed"
        # the collaborator's kernel and terminal are untouched
        terminal.write_message(json.dumps(["stdin", "echo STILL-$((40 + 2))\r"]))
        await read_until(terminal, lambda m: "STILL-42" in m)
        kernel.close()
        terminal.close()
    finally:
        await owner.stop_project(pid)


async def test_role_changes_reach_a_running_server(hub):
    owner = await hub.person()
    demoted = await hub.person()
    promoted = await hub.person()
    pid = (await owner.create_project("Roles"))["id"]
    for person in (demoted, promoted):
        await person.join(owner, pid)
    await make_role(owner, pid, promoted, "viewer")
    await start_trusting_briefly(hub, owner, pid)
    try:
        kernel, kernel_path = await open_kernel(hub, demoted, pid)
        terminal = await open_terminal(hub, demoted, pid)
        # the server has the promoted person's answer from the hub in its cache
        r = await promoted.client.put(hub.project_url(pid, "api/contents/p.txt"), json=NOTE)
        assert r.status_code == 403

        await make_role(owner, pid, demoted, "viewer")
        await make_role(owner, pid, promoted, "collaborator")
        changed_at = time.monotonic()
        limit = REVOCATION_DELAY + CHECK_INTERVAL + MARGIN

        # the demoted person's kernel and terminal websockets close; they still read
        closed = await asyncio.gather(
            closed_after(kernel, changed_at, limit), closed_after(terminal, changed_at, limit)
        )
        assert all(after is not None for after in closed), closed
        assert kernel.close_reason and "role" in kernel.close_reason
        assert await refused_websocket(hub, demoted, pid, kernel_path) == 403
        r = await demoted.client.put(hub.project_url(pid, "api/contents/d.txt"), json=NOTE)
        assert r.status_code == 403
        r = await demoted.client.get(hub.project_url(pid, "api/contents"))
        assert r.status_code == 200

        # the promoted person writes, without signing in again
        async def promoted_writes():
            r = await promoted.client.put(hub.project_url(pid, "api/contents/p.txt"), json=NOTE)
            return r.status_code == 201

        assert await eventually(promoted_writes, REVOCATION_DELAY + MARGIN) is not None
        terminal = await open_terminal(hub, promoted, pid)
        terminal.close()
    finally:
        await owner.stop_project(pid)


async def test_a_viewer_follows_a_notebook_without_changing_it(hub):
    """In JupyterLab a viewer opens a shared notebook (its collaboration room) and sees
    it live; what they type stays in their tab and never reaches the file."""
    owner = await hub.person()
    viewer = await hub.person()
    pid = (await owner.create_project("Followed"))["id"]
    await viewer.join(owner, pid)
    await make_role(owner, pid, viewer, "viewer")
    await owner.start_project(pid)
    try:
        r = await owner.client.put(
            hub.project_url(pid, f"api/contents/{NAME}"),
            json={"type": "notebook", "format": "json", "content": NOTEBOOK},
        )
        assert r.status_code == 201, r.text
        async with open_notebook(viewer, pid) as (_room, seen):
            type_source(seen, "the viewer was here")
            # jupyter-collaboration saves a second after a change it takes
            await asyncio.sleep(SAVE_DELAY)
            assert await source_on_disk(owner, pid) == ""
            async with open_notebook(owner, pid) as (_room, notebook):
                assert notebook.get()["cells"][0]["source"] == ""
                type_source(notebook, "the owner wrote this")
                await wait_for_source_on_disk(owner, pid, "the owner wrote this")
                # the viewer's tab follows the owner's change
                await eventually_contains(seen, "the owner wrote this")
        assert await source_on_disk(owner, pid) == "the owner wrote this"
    finally:
        await owner.stop_project(pid)


async def eventually_contains(notebook, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in notebook.get()["cells"][0]["source"]:
        assert time.monotonic() < deadline, notebook.get()["cells"][0]["source"]
        await asyncio.sleep(0.2)


async def test_jupyterlab_shows_a_viewer_read_only_files(hub):
    """The contents API tells a viewer's JupyterLab that files and folders are not
    writable (it then opens them read-only); a collaborator's, that they are."""
    owner = await hub.person()
    collaborator = await hub.person()
    viewer = await hub.person()
    pid = (await owner.create_project("Read-only"))["id"]
    for person in (collaborator, viewer):
        await person.join(owner, pid)
    await make_role(owner, pid, viewer, "viewer")
    await owner.start_project(pid)
    try:
        r = await owner.client.put(hub.project_url(pid, "api/contents/notes.txt"), json=NOTE)
        assert r.status_code == 201, r.text

        async def writable(person, path):
            """What the model says, and what the folder's entries say (a set)."""
            r = await person.server_api(pid, "GET", f"api/contents/{path}")
            assert r.status_code == 200, r.text
            model = r.json()
            entries = model["content"] if model["type"] == "directory" else []
            return model["writable"], {entry["writable"] for entry in entries}

        # as JupyterLab asks, with the browser's cookies: a file, then the folder
        for person in (owner, collaborator, viewer):
            assert (await person.open_project(pid, "lab")).status_code == 200
        assert await writable(viewer, "notes.txt") == (False, set())
        assert await writable(viewer, "") == (False, {False})
        for person in (owner, collaborator):
            assert await writable(person, "notes.txt") == (True, set())
            assert await writable(person, "") == (True, {True})
    finally:
        await owner.stop_project(pid)
