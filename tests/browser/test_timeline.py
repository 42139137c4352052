"""Two collaborators edit a notebook; one slides back through its timeline and restores."""

import asyncio

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(300)

# what a person would call real time, with room for a loaded 2-core machine
SYNC_TIMEOUT_MS = 30_000
# jupyter-collaboration saves a document 1 s after its last change
SAVE_TIMEOUT_S = 30

NAME = "history.ipynb"
NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "only", "metadata": {},
               "outputs": [], "source": ""}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


async def source_on_disk(person, project_id):
    """The cell's source as saved, or None while a save is under way: jupyter-server's
    "atomic" writing rewrites the file in place (after a backup copy), so a read at that
    moment finds it empty or cut short and answers 400."""
    r = await person.api.client.get(person.hub.project_url(project_id, f"api/contents/{NAME}"))
    if r.status_code == 400 and "Unreadable Notebook" in r.text:
        return None
    assert r.status_code == 200, r.text
    return r.json()["content"]["cells"][0]["source"]


async def wait_for_source_on_disk(person, project_id, text):
    deadline = asyncio.get_running_loop().time() + SAVE_TIMEOUT_S
    while (found := await source_on_disk(person, project_id)) != text:
        assert asyncio.get_running_loop().time() < deadline, f"the file says {found!r}"
        await asyncio.sleep(0.3)


async def text_other_than(locator, text):
    """The locator's text once it differs from `text`, spaces included (which
    Playwright's text assertions would normalise away)."""
    deadline = asyncio.get_running_loop().time() + SYNC_TIMEOUT_MS / 1000
    while (found := await locator.inner_text()) == text:
        assert asyncio.get_running_loop().time() < deadline, f"still {text!r}"
        await asyncio.sleep(0.1)
    return found


async def test_slide_back_and_restore_an_earlier_version(people):
    rosa = await people("timeline-owner-rosa", account=True)
    sam = await people("timeline-collaborator-sam", account=True)
    pid = (await rosa.api.create_project("Drafts"))["id"]
    await sam.api.join(rosa.api, pid)
    await rosa.api.start_project(pid)
    try:
        r = await rosa.api.client.put(
            rosa.hub.project_url(pid, f"api/contents/{NAME}"),
            json={"type": "notebook", "format": "json", "content": NOTEBOOK},
        )
        assert r.status_code in (200, 201), r.text

        rosa_notebook = await rosa.open_notebook(pid, NAME)
        sam_notebook = await sam.open_notebook(pid, NAME)
        rosa_cell = rosa_notebook.locator(".jp-Cell").first.locator(".cm-content")
        sam_cell = sam_notebook.locator(".jp-Cell").first.locator(".cm-content")

        # two versions: Rosa's, then Sam's addition to it
        await rosa.type_in_cell(rosa_notebook, "first = 1")
        await wait_for_source_on_disk(rosa, pid, "first = 1")
        await expect(sam_cell).to_have_text("first = 1", timeout=SYNC_TIMEOUT_MS)
        await sam_cell.click()
        await sam.page.keyboard.press("Control+End")
        await sam.page.keyboard.type("; second = 2")
        await wait_for_source_on_disk(rosa, pid, "first = 1; second = 2")
        await expect(rosa_cell).to_have_text("first = 1; second = 2", timeout=SYNC_TIMEOUT_MS)

        # Rosa opens the notebook's timeline from the status bar
        page = rosa.page
        await page.locator("#jp-slider-status-bar [title='Document Timeline']").click()
        slider = page.locator("#jp-slider-status-bar input.jp-Slider")
        await expect(slider).to_be_visible()
        # and slides back, a version at a time, until her view shows her own version
        await slider.focus()
        shown = "first = 1; second = 2"
        while shown != "first = 1":
            assert shown.startswith("first = 1"), f"slid past Rosa's version to {shown!r}"
            async with page.expect_response(lambda r: "/api/collaboration/undo_redo/" in r.url):
                await page.keyboard.press("ArrowLeft")
            # each step back undoes one of Sam's keystrokes
            shown = await text_other_than(rosa_cell, shown)
        # looking back changes nothing for the others
        assert await source_on_disk(rosa, pid) == "first = 1; second = 2"
        await expect(sam_cell).to_have_text("first = 1; second = 2")

        restore = page.locator("#jp-slider-status-bar button.jp-restoreBtn")
        await expect(restore).to_contain_text("Restore version")
        await restore.click()

        # the earlier version is the notebook again: in the file, and for Sam
        await wait_for_source_on_disk(rosa, pid, "first = 1")
        await expect(sam_cell).to_have_text("first = 1", timeout=SYNC_TIMEOUT_MS)
        await expect(rosa_cell).to_have_text("first = 1")
        # and both go on editing it together
        await sam_cell.click()
        await sam.page.keyboard.press("Control+End")
        await sam.page.keyboard.type("  # kept")
        await expect(rosa_cell).to_have_text("first = 1  # kept", timeout=SYNC_TIMEOUT_MS)
    finally:
        await rosa.api.api("POST", f"projects/{pid}/stop")
        await rosa.api.wait_for_state(pid, "stopped")
