"""Two collaborators edit one notebook together in JupyterLab (jupyter-collaboration)."""

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(300)

# what a person would call real time, with room for a loaded 2-core machine
SYNC_TIMEOUT_MS = 30_000

NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "first", "metadata": {},
               "outputs": [], "source": ""}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


async def test_two_people_edit_one_notebook(people):
    carol = await people("carol", account=True)
    dan = await people("dan", account=True)
    # set up through the API: the journey test covers doing it through the pages
    pid = (await carol.api.create_project("Joint paper"))["id"]
    await dan.api.join(carol.api, pid)
    await carol.api.start_project(pid)
    try:
        r = await carol.api.client.put(
            carol.hub.project_url(pid, "api/contents/together.ipynb"),
            json={"type": "notebook", "format": "json", "content": NOTEBOOK},
        )
        assert r.status_code in (200, 201), r.text

        carol_notebook = await carol.open_notebook(pid, "together.ipynb")
        dan_notebook = await dan.open_notebook(pid, "together.ipynb")
        carol_cell = carol_notebook.locator(".jp-Cell").first.locator(".cm-content")
        dan_cell = dan_notebook.locator(".jp-Cell").first.locator(".cm-content")

        await carol.type_in_cell(carol_notebook, "greeting = 'from carol'")
        await expect(dan_cell).to_contain_text("from carol", timeout=SYNC_TIMEOUT_MS)

        await dan_cell.click()
        await dan.page.keyboard.press("Control+End")
        await dan.page.keyboard.type("  # and dan")
        await expect(carol_cell).to_have_text(
            "greeting = 'from carol'  # and dan", timeout=SYNC_TIMEOUT_MS
        )
        await expect(dan_cell).to_have_text("greeting = 'from carol'  # and dan")
    finally:
        await carol.api.api("POST", f"projects/{pid}/stop")
        await carol.api.wait_for_state(pid, "stopped")
