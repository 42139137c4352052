"""The project page shows what runs inside the project: processes, memory, disk."""

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(300)


async def test_project_page_shows_processes_memory_and_disk(hub, people):
    owner = await people("info-owner-hedy", account=True)
    pid = (await owner.api.create_project("Busy"))["id"]
    await owner.api.start_project(pid)
    await owner.api.execute(pid, "open('data.bin', 'wb').write(b'x' * 3 * 2**20)")
    page = owner.page
    await page.goto(owner.url(f"/hub/projects/{pid}"))
    info = page.locator("#project-info")
    await expect(info).to_be_visible()
    await expect(page.locator("#info-memory")).to_contain_text("used of")
    await expect(page.locator("#info-disk")).to_contain_text("MB used")
    rows = page.locator("#info-processes tbody tr")
    await expect(rows.first).to_contain_text("jupyterhub")
    await expect(page.locator("#info-limits")).to_contain_text("MB of memory")
    await page.click("#stop")
    await expect(info).to_be_hidden(timeout=60_000)
