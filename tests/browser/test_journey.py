"""The whole journey through the browser: sign up, create, open, compute, invite, join."""

from pathlib import Path

import pytest
from playwright.async_api import expect

from .steps import LAB_TIMEOUT_MS

pytestmark = pytest.mark.timeout(300)

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "projects-page.png"


async def test_journey(people):
    ada, bob, eve = await people("ada"), await people("bob"), await people("eve")
    for person in (ada, bob, eve):
        await person.sign_up()

    # Ada creates two projects with the form; they are listed, stopped
    await ada.create_project("Course notes", "Lecture notes and exercises")
    pid = await ada.create_project("Thesis", "Simulations for chapter 3")
    page = ada.page
    await expect(ada.project_row("Thesis").locator(".project-state")).to_have_text("stopped")

    # "Open": JupyterHub's spawn page, the progress page fed by the spawner, JupyterLab
    await ada.project_row("Thesis").get_by_role("link", name="Open").click()
    await ada.wait_for_lab(pid)
    assert any(f"/hub/spawn/{pid}" in url for url in ada.visited), ada.visited
    assert any(f"/hub/spawn-pending/{pid}" in url for url in ada.visited), ada.visited
    # JupyterHub shows the progress page only if the server is not up within a second
    # (the local fork server is often faster); when shown, the page gets the spawner's
    # events from the first, or just the last if it connected once the server was ready
    if ada.progress["shown"]:
        messages = ada.progress["messages"]
        assert messages, "the progress page showed no progress"
        if not messages[0].startswith("Server ready"):
            assert "Placed on node local" in messages, messages
            assert int(ada.progress["percent"]) > 0, ada.progress

    # a notebook from the launcher computes 1+1
    notebook = await ada.new_notebook()
    await ada.type_in_cell(notebook, "1+1")
    await page.keyboard.press("Shift+Enter")
    output = notebook.locator(".jp-Cell").first.locator(".jp-OutputArea-output")
    await expect(output).to_have_text("2", timeout=LAB_TIMEOUT_MS)

    # an invite link for Bob, who joins and finds the project in his list
    link = await ada.make_invite_link(pid)
    await bob.page.goto(link)
    await expect(bob.page.locator("h1")).to_contain_text("Thesis")
    await bob.page.locator("#accept").click()
    await bob.page.wait_for_url(f"**/hub/projects/{pid}")
    await expect(bob.page.locator("#project-title")).to_have_text("Thesis")
    await expect(bob.page.locator(f"#collaborators [data-name='{bob.name}']")).to_be_visible()
    await bob.page.goto(bob.url("/hub/projects"))
    await expect(bob.project_row("Thesis")).to_have_count(1)
    await expect(bob.project_row("Thesis")).to_contain_text(ada.name)

    # ... and Bob gets into JupyterLab on the project's server
    await bob.project_row("Thesis").get_by_role("link", name="Open").click()
    await bob.wait_for_lab(pid)

    # Ada's projects page: one running project shared with Bob, one stopped (the README's
    # screenshot)
    await page.goto(ada.url("/hub/projects"))
    await expect(ada.project_row("Thesis")).to_contain_text(f"{ada.name}, {bob.name}")
    await expect(ada.project_row("Thesis").locator(".project-state")).to_have_text("running")
    await expect(ada.project_row("Course notes").locator(".project-state")).to_have_text("stopped")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    table = await page.locator("#projects-table").bounding_box()
    clip = {"x": 0, "y": 0, "width": 1280, "height": table["y"] + table["height"] + 32}
    await page.screenshot(path=str(SCREENSHOT), clip=clip)

    # Eve was not invited: the project is not hers to see, nor its server to use
    await eve.page.goto(eve.url("/hub/projects"))
    await expect(eve.page.locator("#projects-empty")).to_be_visible()
    response = await eve.page.goto(eve.hub.project_url(pid, "lab"))
    assert response.status == 403
    await expect(eve.page.locator("body")).to_contain_text("403")
    await expect(eve.page.locator("#jp-main-dock-panel")).to_have_count(0)
    response = await eve.page.goto(eve.url(f"/hub/projects/{pid}"))
    assert response.status == 404

    # Ada stops the project from her projects page
    await page.goto(ada.url("/hub/projects"))
    await ada.project_row("Thesis").get_by_role("button", name="Stop").click()
    await expect(ada.project_row("Thesis").locator(".project-state")).to_have_text(
        "stopped", timeout=60_000
    )
