"""Choosing a software environment on the pages: the create form and the project's
settings offer the hub's environments when there is more than one."""

import os

import pytest
from playwright.async_api import expect

from smchub import orm

from ..hubfixture import running_hub

pytestmark = pytest.mark.timeout(300)

ENVIRONMENTS = [
    {"name": "python", "display_name": "Python", "kernels": ["python3"], "default": True},
    {"name": "stats", "display_name": "Statistics", "description": "R and Python"},
]


@pytest.fixture(scope="module")
async def hub(hub_root):
    # this module's people use a hub with two environments (the `people` fixture's hub)
    async with running_hub(
        os.path.join(hub_root, "environments-page"), SMCHub__environments=ENVIRONMENTS
    ) as running:
        yield running


def environment_of(hub, project_id):
    hub.db.expire_all()
    return hub.db.get(orm.Project, project_id).environment


async def test_the_create_form_and_the_settings_offer_the_environments(hub, people):
    ada = await people("envada")
    await ada.sign_up()
    page = ada.page
    select = page.locator("#new-environment")
    await expect(select).to_be_visible()
    await expect(select.locator("option")).to_have_text(["Python", "Statistics"])
    await expect(select).to_have_value("python")
    await page.locator("#new-title").fill("Regression")
    await select.select_option("stats")
    await page.locator("#create-button").click()
    row = ada.project_row("Regression")
    await expect(row).to_have_count(1)
    project_id = await row.get_attribute("data-project-id")
    assert environment_of(hub, project_id) == "stats"

    # the project's settings show it, and change it for the next start
    await page.goto(ada.url(f"/hub/projects/{project_id}"))
    setting = page.locator("#environment")
    await expect(setting).to_have_value("stats")
    await expect(page.locator("#environment-note")).to_contain_text("next start")
    await setting.select_option("python")
    await page.locator("#save-settings").click()
    await expect(page.locator("#settings-saved")).to_be_visible()
    assert environment_of(hub, project_id) == "python"
