"""No work is lost: a person gets a deleted notebook back from a snapshot, and a deleted
project back with its files, themselves, from smchub's pages."""

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from .steps import LAB_TIMEOUT_MS

pytestmark = pytest.mark.timeout(420)

# restic at work (a snapshot as the project stops, a folder listed, a restore): on a
# loaded 2-core machine that can take a while
RESTIC_TIMEOUT_MS = 90_000

STORY = "It was a dark and stormy night."

WORK = "answer = 6 * 7  # worked out on Sunday night"

NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "work", "metadata": {},
               "outputs": [], "source": WORK}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


async def put_file(person, project_id, path, model):
    """Write into the running project with Jupyter's contents API."""
    r = await person.api.client.put(
        person.hub.project_url(project_id, f"api/contents/{path}"), json=model
    )
    assert r.status_code in (200, 201), r.text


async def test_student_restores_a_deleted_notebook(people):
    student = await people("backups-student-lin", account=True)
    pid = (await student.api.create_project("Homework"))["id"]
    await student.api.start_project(pid)
    try:
        await put_file(student, pid, "week1", {"type": "directory"})
        await put_file(
            student, pid, "week1/answers.ipynb",
            {"type": "notebook", "format": "json", "content": NOTEBOOK},
        )  # fmt: skip

        # the project stops from its page: that takes a snapshot, listed under Backups
        page = student.page
        await page.goto(student.url(f"/hub/projects/{pid}"))
        await page.locator("#stop").click()
        await expect(page.locator("#project-state")).to_have_text("stopped", timeout=60_000)
        on_stop = page.locator("#snapshots tr.snapshot[data-trigger='stop']")
        await expect(on_stop).to_have_count(1, timeout=RESTIC_TIMEOUT_MS)
        await expect(on_stop).to_contain_text("the project stopped")
        await expect(page.locator("#snapshot-failure")).to_be_hidden()

        # back to work the next day: the notebook is deleted by mistake in JupyterLab
        await page.locator("#open").click()
        await student.wait_for_lab(pid)
        await student.open_lab_folder(pid, "week1")
        await student.delete_in_lab("answers.ipynb")

        # a snapshot taken now has no notebook; it is listed first
        await page.goto(student.url(f"/hub/projects/{pid}"))
        await page.locator("#snapshot-now").click()
        snapshots = page.locator("#snapshots tr.snapshot")
        await expect(snapshots).to_have_count(2, timeout=RESTIC_TIMEOUT_MS)
        await expect(snapshots.first).to_have_attribute("data-trigger", "manual")
        await expect(page.locator("#snapshot-now")).to_be_enabled(timeout=RESTIC_TIMEOUT_MS)

        # the one taken at the stop has it: browse to it, download it, restore it
        await on_stop.get_by_role("button", name="Browse files").click()
        files = page.locator("#snapshot-files")
        await files.locator(".snapshot-folder", has_text="week1/").click(timeout=RESTIC_TIMEOUT_MS)
        await expect(page.locator("#browse-path .active")).to_have_text(
            "week1", timeout=RESTIC_TIMEOUT_MS
        )
        entry = files.locator("tr.snapshot-entry[data-path='week1/answers.ipynb']")
        await expect(entry).to_contain_text("answers.ipynb", timeout=RESTIC_TIMEOUT_MS)
        async with page.expect_download(timeout=RESTIC_TIMEOUT_MS) as download_info:
            await entry.get_by_role("link", name="Download").click()
        download = await download_info.value
        saved = json.loads(Path(await download.path()).read_bytes())
        # on disk, a cell's source may be a list of lines
        assert "".join(saved["cells"][0]["source"]) == WORK

        await entry.get_by_role("button", name="Restore").click()
        await expect(page.locator("#restore-confirm")).to_contain_text("week1/answers.ipynb")
        await expect(page.locator("#restore-target")).to_have_value("week1/answers.ipynb")
        await page.locator("#restore-go").click()
        result = page.locator("#restore-result")
        await expect(result).to_contain_text("Restored 1 file", timeout=RESTIC_TIMEOUT_MS)
        await expect(result).to_contain_text("week1/answers.ipynb")
        await expect(page.locator("#browse-error")).to_be_hidden()
        await expect(result).not_to_contain_text("kept")

        # restored once more over a version changed since: that version is kept as name~
        changed = {**NOTEBOOK, "cells": [{**NOTEBOOK["cells"][0], "source": "answer = None"}]}
        await put_file(
            student, pid, "week1/answers.ipynb",
            {"type": "notebook", "format": "json", "content": changed},
        )  # fmt: skip
        await entry.get_by_role("button", name="Restore").click()
        await page.locator("#restore-go").click()
        await expect(result.locator(".restore-kept")).to_have_text(
            "week1/answers.ipynb~", timeout=RESTIC_TIMEOUT_MS
        )
        r = await student.api.client.get(
            student.hub.project_url(pid, "api/contents/week1/answers.ipynb~"),
            params={"type": "file", "format": "text"},
        )
        assert r.status_code == 200, r.text
        assert "answer = None" in r.json()["content"]

        # JupyterLab: the notebook is back, with the work in it
        await student.open_lab_folder(pid, "week1")
        await expect(student.lab_file("answers.ipynb")).to_have_count(1, timeout=LAB_TIMEOUT_MS)
        notebook = await student.open_notebook(pid, "week1/answers.ipynb")
        await expect(notebook.locator(".jp-Cell").first).to_contain_text(WORK)
    finally:
        await student.api.api("POST", f"projects/{pid}/stop")
        await student.api.wait_for_state(pid, "stopped", timeout=120)


async def test_owner_undeletes_a_project_with_its_files(people):
    owner = await people("backups-owner-ida", account=True)
    pid = (await owner.api.create_project("Old thesis"))["id"]
    await owner.api.start_project(pid)
    await put_file(owner, pid, "chapter1.txt", {"type": "file", "format": "text", "content": STORY})

    # deleted from the projects page, after a question
    page = owner.page
    await page.goto(owner.url("/hub/projects"))
    await expect(page.locator("#deleted-section")).to_be_hidden()
    row = owner.project_row("Old thesis")
    await row.locator("button.delete").click()
    await expect(row.locator(".delete-question")).to_be_visible()
    await row.locator("button.confirm-delete").click()
    await expect(row).to_have_count(0, timeout=RESTIC_TIMEOUT_MS)
    await expect(page.locator("#projects-error")).to_be_hidden()

    # ... and listed under "Recently deleted", with a snapshot, until it is undeleted
    gone = page.locator("#deleted .deleted-project", has_text="Old thesis")
    await expect(gone).to_be_visible()
    await expect(gone).to_contain_text("can be undeleted until")
    # the snapshot taken as it was deleted (taken while the list is polled)
    await expect(gone).to_contain_text(
        re.compile(r", [1-9]\d* snapshots?,"), timeout=RESTIC_TIMEOUT_MS
    )
    await gone.get_by_role("button", name="Undelete").click()
    await expect(row).to_have_count(1, timeout=RESTIC_TIMEOUT_MS)
    await expect(page.locator("#deleted-section")).to_be_hidden()
    await expect(page.locator("#deleted-error")).to_be_hidden()

    # opened, it has its file
    try:
        await row.get_by_role("link", name="Open").click()
        await owner.wait_for_lab(pid)
        await expect(owner.lab_file("chapter1.txt")).to_have_count(1, timeout=LAB_TIMEOUT_MS)
        await page.goto(owner.hub.project_url(pid, "lab/tree/chapter1.txt"))
        await owner.wait_for_lab(pid)
        editor = page.locator(".jp-FileEditor:not(.lm-mod-hidden) .cm-content")
        await expect(editor).to_contain_text(STORY, timeout=LAB_TIMEOUT_MS)
    finally:
        await owner.api.api("POST", f"projects/{pid}/stop")
        await owner.api.wait_for_state(pid, "stopped", timeout=120)
