"""What a person does in the browser: smchub's pages, JupyterHub's spawn pages, JupyterLab.

Selectors are the pages' ids and JupyterLab's own classes and data attributes, so the
steps read like what the person does and survive cosmetic changes.
"""

import re

from playwright.async_api import expect

from ..hubfixture import PASSWORD

# JupyterLab's first load (a few MB of JavaScript, a kernel) is the slowest step
LAB_TIMEOUT_MS = 120_000

# the spawn-pending page's progress log, reported to the test as events arrive: the page
# reloads itself as soon as the server is ready, often before a test could look at it
_WATCH_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("progress-log");
  const bar = document.getElementById("progress-bar");
  if (!log || !bar) return;
  const report = () =>
    window.smchubTestProgress({
      shown: true,
      messages: [...log.children].map((e) => e.textContent),
      percent: bar.getAttribute("aria-valuenow"),
    });
  report();
  new MutationObserver(report).observe(log, { childList: true });
});
"""


class BrowserPerson:
    """Someone at their own browser (a Playwright context with its own cookies)."""

    def __init__(self, hub, context, name):
        self.hub = hub
        self.context = context
        self.name = name
        self.api = None  # the hub fixture's Person (API token), for setting up through the API
        self.page = None
        self.js_errors = []  # (page URL, message) of uncaught errors
        self.progress = {"shown": False, "messages": [], "percent": None}
        self.visited = []  # URLs the person's page went to

    async def watch(self):
        """Listen for what tests assert later: JS errors, spawn progress, pages visited."""

        def record_progress(source, event):
            self.progress = event

        await self.context.expose_binding("smchubTestProgress", record_progress)
        await self.context.add_init_script(_WATCH_PROGRESS)
        self.page = await self.context.new_page()
        self.watch_page(self.page)

    def watch_page(self, page):
        page.on("pageerror", lambda error: self.js_errors.append((page.url, str(error))))
        # every page asked for, redirects included
        page.on(
            "request",
            lambda request: (
                self.visited.append(request.url)
                if request.is_navigation_request() and request.frame == page.main_frame
                else None
            ),
        )

    def url(self, path):
        """A hub page, or a project's page given by its full URL."""
        return path if "://" in path else self.hub.url + path

    # --- smchub's pages ------------------------------------------------------------------

    async def sign_up(self, password=PASSWORD):
        """Make an account through the sign-up form; lands on the projects page."""
        page = self.page
        await page.goto(self.url("/hub/signup"))
        form = page.locator("form:has(input[name='password'])")
        await form.locator("input[name='username']").fill(self.name)
        # fill whatever else the form asks for
        email = form.locator("input[name='email']")
        if await email.count():
            await email.fill(f"{self.name}@example.org")
        await form.locator("input[name='password']").fill(password)
        confirm = form.locator("input[name='password_confirm']")
        if await confirm.count():
            await confirm.fill(password)
        await self._submit_to_projects(form.locator("[type='submit']"), "sign-up")

    async def log_in(self, password=PASSWORD):
        page = self.page
        await page.goto(self.url("/hub/login"))
        await page.locator("input[name='username']").fill(self.name)
        await page.locator("input[name='password']").fill(password)
        await self._submit_to_projects(page.locator("form [type='submit']"), "sign-in")

    async def _submit_to_projects(self, button, what):
        # a refusal is a page with an alert, not a timeout: say what it said
        async with self.page.expect_navigation():
            await button.click()
        if not self.page.url.endswith("/hub/projects"):
            said = await self.page.locator(".alert").all_inner_texts()
            raise AssertionError(f"{what} of {self.name} led to {self.page.url}: {said}")

    def project_row(self, title):
        return self.page.locator("#projects-body tr.project-row", has_text=title)

    async def create_project(self, title, description=""):
        """Create a project with the form on the projects page; returns its id."""
        page = self.page
        if not page.url.endswith("/hub/projects"):
            await page.goto(self.url("/hub/projects"))
        await page.locator("#new-title").fill(title)
        await page.locator("#new-description").fill(description)
        await page.locator("#create-button").click()
        row = self.project_row(title)
        await expect(row).to_have_count(1)
        await expect(page.locator("#new-title")).to_have_value("")
        return await row.get_attribute("data-project-id")

    async def make_invite_link(self, project_id):
        """On the project's page, make an invite link and read it from the page."""
        page = self.page
        await page.goto(self.url(f"/hub/projects/{project_id}"))
        await page.locator("#make-invite [type='submit']").click()
        link = page.locator("#invite-link")
        await expect(link).to_be_visible()
        await expect(link).to_have_value(re.compile(r"/hub/projects/invite/"))
        return await link.input_value()

    # --- JupyterLab ----------------------------------------------------------------------

    async def wait_for_lab(self, project_id):
        page = self.page
        # on the project's own origin, never the hub's
        await page.wait_for_url(
            self.hub.project_url(project_id, "lab") + "**", timeout=LAB_TIMEOUT_MS
        )
        # the shell is built once JupyterLab's plugins have loaded
        await expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=LAB_TIMEOUT_MS)

    async def new_notebook(self):
        """A new notebook from JupyterLab's launcher, with the default (Python) kernel."""
        page = self.page
        card = page.locator(".jp-Launcher [data-category='Notebook']").first
        await card.click(timeout=LAB_TIMEOUT_MS)
        await self.accept_kernel_dialog()
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        await expect(notebook).to_be_visible()
        return notebook

    async def open_notebook(self, project_id, path):
        """Open a notebook by its URL in the project's JupyterLab."""
        page = self.page
        await page.goto(self.hub.project_url(project_id, f"lab/tree/{path}"))
        await self.wait_for_lab(project_id)
        await self.accept_kernel_dialog()
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        await expect(notebook.locator(".jp-Cell").first).to_be_visible(timeout=LAB_TIMEOUT_MS)
        return notebook

    async def accept_kernel_dialog(self):
        """Take the proposed kernel if JupyterLab asks which one to use."""
        dialog = self.page.locator(".jp-Dialog")
        try:
            await dialog.wait_for(state="visible", timeout=3_000)
        except Exception:
            return
        await dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        await expect(dialog).to_have_count(0)

    async def type_in_cell(self, notebook, text, index=0):
        editor = notebook.locator(".jp-Cell").nth(index).locator(".jp-InputArea-editor .cm-content")
        await editor.click()
        await self.page.keyboard.type(text)
        return editor

    async def open_lab_folder(self, project_id, folder=""):
        """JupyterLab with its file browser showing `folder` of the project."""
        await self.page.goto(self.hub.project_url(project_id, f"lab/tree/{folder}"))
        await self.wait_for_lab(project_id)

    def lab_file(self, name):
        """An item, by its exact name, of the folder JupyterLab's file browser shows."""
        exact = re.compile(f"^{re.escape(name)}$")
        return self.page.locator(".jp-DirListing-item").filter(
            has=self.page.locator(".jp-DirListing-itemText", has_text=exact)
        )

    async def delete_in_lab(self, name):
        """Delete a file with the file browser's context menu, as a person would."""
        item = self.lab_file(name)
        await item.click(button="right", timeout=LAB_TIMEOUT_MS)
        await self.page.locator(".lm-Menu-item[data-command='filebrowser:delete']").click()
        dialog = self.page.locator(".jp-Dialog")
        await dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        await expect(dialog).to_have_count(0)
        await expect(item).to_have_count(0)

    # --- a project's server, from the person's browser ---------------------------------

    async def fetch_in_project(self, project_id, method, path):
        """Call the project server's REST API from the person's browser, as JupyterLab
        does (their cookies, the server's XSRF token): returns (status, body text).

        The page goes to the project's JupyterLab first (the API answers a stranger 403;
        a page signs them in through JupyterHub's OAuth and sets the XSRF cookie), without
        waiting for JupyterLab to start.
        """
        page = self.page
        if not page.url.startswith(self.hub.project_url(project_id)):
            await page.goto(self.hub.project_url(project_id, "lab"), wait_until="commit")
        return await page.evaluate(
            """async ([method, url]) => {
              const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1];
              const headers = xsrf ? { "X-XSRFToken": decodeURIComponent(xsrf) } : {};
              const response = await fetch(url, { method, headers, credentials: "same-origin" });
              return [response.status, await response.text()];
            }""",
            [method, self.hub.project_url(project_id, path)],
        )
