"""Edit history (JupyterLab's document timeline) kept by real project servers.

A notebook is edited live over the collaboration websocket, as JupyterLab does; its
history is then read, walked back and restored through the endpoints the timeline in the
status bar uses (api/collaboration/timeline and undo_redo), after the project stops and
starts again, and after it moves from a local node into a container. The browser test
(tests/browser/test_timeline.py) does the same with the slider.
"""

import asyncio
import os
from contextlib import asynccontextmanager

import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Doc, Provider
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .test_docker_nodes import HOSTS, IMAGE
from .test_move import add_node, move, pin, remove_node

pytestmark = pytest.mark.timeout(300)

NAME = "draft.ipynb"
NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "only", "metadata": {},
               "outputs": [], "source": ""}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip
STORE = ".local/share/smchub/edit-history.db"
SESSIONS = ".local/share/smchub/collaboration-sessions.json"
# time for an edit to reach the file (jupyter-collaboration saves 1 s after a change)
SAVE_TIMEOUT = 30


class WebsocketChannel:
    """A collaboration websocket as the channel pycrdt's Provider syncs a document over."""

    def __init__(self, websocket, path):
        self._websocket = websocket
        self._path = path

    @property
    def path(self):
        return self._path

    def __aiter__(self):
        return self

    async def __anext__(self):
        message = await self._websocket.read_message()
        if message is None:
            raise StopAsyncIteration
        return message

    async def recv(self):
        return await self.__anext__()

    async def send(self, message):
        await self._websocket.write_message(message, binary=True)


@asynccontextmanager
async def synced(person, project_id, room, doc):
    """`doc` kept in sync with a collaboration room of the project, as a browser tab is."""
    url = person.hub.project_url(project_id, f"api/collaboration/room/{room}", scheme="ws")
    websocket = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {person.token}"})
    )
    try:
        async with Provider(doc, WebsocketChannel(websocket, room)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 30)
            yield doc
    finally:
        websocket.close()


async def server(person, project_id, method, path, **kwargs):
    r = await person.client.request(method, person.hub.project_url(project_id, path), **kwargs)
    assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


@asynccontextmanager
async def open_notebook(person, project_id):
    """The shared notebook, open as in JupyterLab; yields (its room, the notebook)."""
    session = await server(
        person, project_id, "PUT", f"api/collaboration/session/{NAME}",
        json={"format": "json", "type": "notebook"},
    )  # fmt: skip
    room = f"json:notebook:{session['fileId']}"
    async with synced(person, project_id, f"{room}?sessionId={session['sessionId']}", Doc()) as doc:
        yield room, YNotebook(doc)


def type_source(notebook, text):
    """Replace the cell's source in one change: one more version in the timeline."""
    source = notebook.ycells[0]["source"]
    with notebook.ydoc.transaction():
        source.clear()
        source += text


async def source_on_disk(person, project_id):
    """The cell's source as saved; None while a save is writing the file: jupyter-server's
    atomic_writing writes the file in place (keeping a copy aside), so a read in the
    middle of a save finds it empty."""
    path = f"api/contents/{NAME}"
    r = await person.client.get(person.hub.project_url(project_id, path))
    if r.status_code == 400 and "Unreadable Notebook" in r.text:
        return None
    assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
    return r.json()["content"]["cells"][0]["source"]


async def eventually(read, expected, timeout=SAVE_TIMEOUT):
    """Wait until `await read()` gives `expected` (a change travels, a save happens)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"{found!r}, not {expected!r}"
        await asyncio.sleep(0.2)


async def wait_for_source_on_disk(person, project_id, text):
    await eventually(lambda: source_on_disk(person, project_id), text)


def cell_source(notebook):
    async def read():
        return notebook.get()["cells"][0]["source"]

    return read


async def timeline(person, project_id):
    return await server(
        person, project_id, "GET", f"api/collaboration/timeline/{NAME}",
        params={"format": "json", "type": "notebook"},
    )  # fmt: skip


async def exec_in_project(person, project_id, script):
    return await server(
        person, project_id, "POST", "smc/api/exec", json={"command": script, "bash": True}
    )


async def edit_three_versions(person, project_id):
    """A new notebook edited live three times; its timeline (one entry per version)."""
    await server(
        person, project_id, "PUT", f"api/contents/{NAME}",
        json={"type": "notebook", "format": "json", "content": NOTEBOOK},
    )  # fmt: skip
    async with open_notebook(person, project_id) as (_room, notebook):
        for text in ("x = 1", "x = 2", "x = 3"):
            type_source(notebook, text)
            await wait_for_source_on_disk(person, project_id, text)
        timestamps = (await timeline(person, project_id))["timestamps"]
    # the version as loaded, then one per edit
    assert len(timestamps) == 4, timestamps
    return timestamps


async def assert_store_is_hidden(person, project_id):
    """The store is in the home's hidden data folder, not among the person's files."""
    listing = await server(person, project_id, "GET", "api/contents/")
    assert [item["name"] for item in listing["content"]] == [NAME]
    found = await exec_in_project(
        person, project_id,
        f"test -s ~/{STORE} && test -s ~/{SESSIONS} && echo stored; "
        "ls -A ~ ~/.jupyter 2>/dev/null | grep -i -e ystore -e collaboration || true",
    )  # fmt: skip
    assert found["stdout"] == "stored\n", found


async def slide_back_and_restore(person, project_id, before):
    """The earlier versions are still there: walk back to the first edit and restore it,
    through the endpoints the timeline's slider and its restore button use."""
    async with open_notebook(person, project_id) as (room, notebook):
        assert notebook.get()["cells"][0]["source"] == "x = 3"
        after = await timeline(person, project_id)
        assert after["timestamps"][: len(before)] == before
        # the timeline is a fork of the document, where the slider undoes and redoes
        fork = after["forkRoom"]
        async with synced(person, project_id, fork, Doc()) as fork_doc:
            steps = len(after["timestamps"]) - 2
            await server(
                person, project_id, "PUT", f"api/collaboration/undo_redo/{room}",
                params={"action": "undo", "steps": steps, "forkRoom": fork},
            )  # fmt: skip
            await eventually(cell_source(YNotebook(fork_doc)), "x = 1")
            # restoring drops the fork; the version it shows, synced back into the
            # document, becomes the notebook everyone has
            await server(
                person, project_id, "PUT", f"api/collaboration/undo_redo/{room}",
                params={"action": "restore", "steps": 0, "forkRoom": fork},
            )  # fmt: skip
        session = await server(
            person, project_id, "PUT", f"api/collaboration/session/{NAME}",
            json={"format": "json", "type": "notebook"},
        )  # fmt: skip
        async with synced(person, project_id, f"{room}?sessionId={session['sessionId']}", fork_doc):
            await wait_for_source_on_disk(person, project_id, "x = 1")
        # and whoever else has the notebook open sees it
        await eventually(cell_source(notebook), "x = 1")


async def test_history_is_hidden_in_the_home_and_outlives_a_restart(hub):
    owner = await hub.person()
    pid = (await owner.create_project("History"))["id"]
    await owner.start_project(pid)
    try:
        before = await edit_three_versions(owner, pid)
        await assert_store_is_hidden(owner, pid)
        await owner.stop_project(pid)
        await owner.start_project(pid)
        await slide_back_and_restore(owner, pid, before)
    finally:
        await owner.api("POST", f"projects/{pid}/stop")
        await owner.wait_for_state(pid, "stopped")


# a home as smchub left it before the history moved out of sight: the store at the top
# level (jupyter-collaboration's default) and file ids recorded under the absolute path
AS_BEFORE = f"""
mv ~/{STORE} ~/.jupyter_ystore.db
python3 - <<'END'
import os, sqlite3
ids = sqlite3.connect(os.path.expanduser("~/.local/share/jupyter/file_id_manager.db"))
ids.execute("UPDATE Files SET path = ? || path", (os.environ["HOME"] + "/",))
ids.commit()
END
"""


async def test_history_kept_before_is_taken_along(hub):
    owner = await hub.person()
    pid = (await owner.create_project("History from before"))["id"]
    await owner.start_project(pid)
    try:
        before = await edit_three_versions(owner, pid)
        # the notebook is closed; stop so that nothing holds the store open
        await owner.stop_project(pid)
        await owner.start_project(pid)
        done = await exec_in_project(owner, pid, AS_BEFORE)
        assert done["exit_code"] == 0, done
        await owner.stop_project(pid)

        await owner.start_project(pid)
        await slide_back_and_restore(owner, pid, before)
        await assert_store_is_hidden(owner, pid)
    finally:
        await owner.api("POST", f"projects/{pid}/stop")
        await owner.wait_for_state(pid, "stopped")


@pytest.mark.skipif(len(HOSTS) < 2 and not os.environ.get("CI"), reason="needs test engines")
async def test_history_moves_with_the_project_into_a_container(hub):
    spec = {"name": "dock-history", "backend": "docker", "url": HOSTS[0], "cpu": 4}
    node = await add_node(hub, {**spec, "memory_mb": 8000, "options": {"image": IMAGE}})
    owner = await hub.person()
    pid = (await owner.create_project("History on the move"))["id"]
    try:
        pin(hub, pid, "local")
        await owner.start_project(pid)
        before = await edit_three_versions(owner, pid)
        await owner.stop_project(pid)

        assert (await move(hub, pid, node))["node"] == node
        assert (await owner.start_project(pid))["node"] == node
        # the same place in the home, whatever the node calls the home
        await assert_store_is_hidden(owner, pid)
        await slide_back_and_restore(owner, pid, before)
    finally:
        await owner.api("POST", f"projects/{pid}/stop")
        await owner.wait_for_state(pid, "stopped")
        await remove_node(hub, node)
