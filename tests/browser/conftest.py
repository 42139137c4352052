"""Fixtures for browser tests: Debian's chromium driven by Playwright against the test hub.

Playwright's async API runs on the same (session-wide) event loop as the in-process hub,
so the hub keeps serving while a test waits on the browser. Each person gets a browser
context of their own (their own cookies, as on their own computer). When a test fails,
every page still open is saved as a screenshot under test-artifacts/.
"""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from playwright.async_api import async_playwright

from .steps import BrowserPerson

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# what works for Debian's chromium as root on a machine without internet: no sandbox
# (root), no GPU, and no background connections to Google that the network would refuse
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# a step in JupyterLab can take a while on a loaded 2-core machine, but never forever
STEP_TIMEOUT_MS = 90_000

_reports = pytest.StashKey[dict]()


def find_chromium():
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # keep each phase's report on the test item, for screenshots on failure
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


def _chromium_processes():
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name().lower():
                found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture(scope="package")
async def chromium():
    """A headless Debian chromium, started once for the browser tests, closed after them."""
    executable = find_chromium()
    if executable is None:
        reason = "Debian's chromium is not installed (no /usr/bin/chromium)"
        # skipped on a developer's machine; in CI the browser tests must run
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{reason}, and CI is set: the browser tests may not be skipped")
        pytest.skip(f"{reason}; tests/browser/ensure-chromium.sh installs it")
    playwright = await async_playwright().start()
    browser = None
    try:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
        )
        yield browser
    finally:
        # chromium's processes hang below Playwright's driver; note them before closing,
        # so any that outlive the browser are ended by their id
        started = _chromium_processes()
        if browser is not None:
            await browser.close()
        await playwright.stop()
        for process in started:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(started, timeout=10)


@pytest.fixture
async def people(request, hub, chromium):
    """Make people, each with a browser context of their own: `await people("ada")`.

    The names are used as they are (the hub lives for the whole session: pick names no
    other test signs up with). With `account=True` the person already has an account
    (and an API token, `.api`) and is signed in through the login form; otherwise they
    sign up themselves.
    """
    made = []

    async def make(name, account=False):
        context = await chromium.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        person = BrowserPerson(hub, context, name)
        made.append(person)
        await person.watch()
        if account:
            person.api = await hub.person(name)
            await person.log_in()
        return person

    yield make

    reports = request.node.stash.get(_reports, {})
    failed = any(r.failed for r in reports.values())
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        for person in made:
            for i, page in enumerate(person.context.pages):
                target = ARTIFACTS / f"{test_name}-{person.name}-{i}.png"
                try:
                    await page.screenshot(path=str(target), full_page=True, timeout=15_000)
                except Exception as e:  # a crashed or closed page must not hide the failure
                    print(f"no screenshot of {page.url}: {e}")
                else:
                    print(f"screenshot of {page.url}: {target}")
            for url, message in person.js_errors:
                print(f"JavaScript error seen by {person.name} on {url}: {message}")
    for person in made:
        await person.context.close()
    if not failed:
        # smchub's own pages must not throw; JupyterLab's may (e.g. once a project stops)
        hub_errors = [
            f"{url}: {message}"
            for person in made
            for url, message in person.js_errors
            if urlsplit(url).path.startswith("/hub/")
        ]
        assert not hub_errors, "JavaScript errors on smchub's pages:\n" + "\n".join(hub_errors)
