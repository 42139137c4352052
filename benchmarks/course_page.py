"""(g) The course page of a real class, on smchub only (stock JupyterHub has no courses).

On a hub of its own: 300 students (JupyterHub users made with the admin API, added to a
course by username; each place makes a project, no server is started) and 20
assignments. Their statuses (assigned, collected, graded with a grade, returned, late,
failed, extended) are written into the hub's database while it is stopped: assigning and
collecting 300 real projects would take the bench many minutes and is tested elsewhere.

- data load: `GET /hub/api/courses/<id>` (the whole grid's data) as the admin, straight
  to the hub; one untimed, then the median of 7;
- browser render: the course page opened in Debian's chromium by an instructor signed
  in through the sign-up form; in the page, `performance.now()` (0 at navigation) when
  the grid's 300th row is present, and after the next frame (painted), and the moment
  the page had the API's answer; one untimed load, then the median of 5.
"""

import os
import secrets
import sqlite3
import statistics
import time
from datetime import datetime, timedelta, timezone

import httpx
from playwright.async_api import async_playwright

from smchub.origins import EMBEDDED_HUB_HOST
from tests.browser.conftest import CHROMIUM_ARGS, find_chromium

from .hubs import SMCHubUnderTest

STUDENTS = 300
ASSIGNMENTS = 20
API_RUNS = 7
PAGE_RUNS = 5
TEACHER = "teacher"

# in the page before its own scripts: when the grid holds every row, and a frame later
GRID_WATCH = """
(() => {
  const want = %d;
  const seen = new MutationObserver(() => {
    const body = document.getElementById("students-body");
    if (!body || body.children.length < want) return;
    seen.disconnect();
    window.__gridRows = performance.now();
    requestAnimationFrame(() => setTimeout(() => { window.__gridPainted = performance.now(); }));
  });
  seen.observe(document, { childList: true, subtree: true });
})();
"""


class CourseHub(SMCHubUnderTest):
    """smchub as in the other parts, with sign-up open for the instructor's browser."""

    kind = "smchub-course"

    def settings(self):
        settings = super().settings()
        settings["c.SMCAuthenticator.signup_mode"] = "open"
        return settings


async def _ok(response, expected=(200, 201)):
    if response.status_code not in expected:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")  # fmt: skip
    return response.json() if response.content else None


def _statuses(db_file, course_id):
    """Every student's place in every assignment, varied as in a class mid-term."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    # extensions end after the bench: one past would make the hub collect at start
    later = now + timedelta(days=3)

    def when(t):
        return t.isoformat(" ") if t is not None else None

    with sqlite3.connect(db_file) as db:
        query = "SELECT id FROM {} WHERE course_id = ? ORDER BY id"
        students = [r[0] for r in db.execute(query.format("smc_course_students"), (course_id,))]
        assignments = [r[0] for r in db.execute(query.format("smc_assignments"), (course_id,))]
        rows = []
        for i, student in enumerate(students):
            for j, assignment in enumerate(assignments):
                # the first assignments are returned, the middle ones collected, the
                # last ones only assigned; some students late, failed or extended
                step = 3 if j < 8 else 2 if j < 12 else 1 if j < 16 else 0
                step = max(step - (i % 7 == 0), 0)
                if step == 0 and j >= 18:
                    continue
                t = now - timedelta(days=ASSIGNMENTS - j)
                graded = step >= 2 and (i + j) % 5 != 0
                rows.append(tuple(when(v) if isinstance(v, datetime) else v for v in (
                    student, assignment, t, t if step >= 1 else None, t if graded else None,
                    t if step >= 3 and graded else None, f"{(i * 7 + j) % 11}" if graded else None,
                    "Good work" if graded else "",
                    "the project's disk is full" if (i + j) % 97 == 0 else None,
                    later if i % 31 == 0 else None,
                    t if step >= 1 else None, t if step >= 1 and i % 13 == 0 else None,
                )))  # fmt: skip
        db.executemany(
            "INSERT INTO smc_student_assignments (student_id, assignment_id, assigned,"
            " collected, graded, returned, grade, comments, error, due, due_collected,"
            " late_collected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


async def _class(hub, client, page):
    """A course of STUDENTS students and ASSIGNMENTS assignments, taught by the person
    signed in on `page` (from their projects page, as they would); its id."""
    names = [f"student{i:03d}" for i in range(STUDENTS)]
    await _ok(await client.post("/hub/api/users", json={"usernames": names}))
    course = await page.evaluate(
        """async () => {
          const project = await window.smchub.api("POST", "projects", { title: "A class" });
          return window.smchub.api("POST", "courses", { project: project.id, title: "A class" });
        }"""
    )
    hub.servers.append(course["project"])
    tic = time.perf_counter()
    answer = await _ok(
        await client.post(f"/hub/api/courses/{course['id']}/students", json={"students": names})
    )
    enrol_seconds = time.perf_counter() - tic
    hub.servers += [s["project"] for s in answer["course"]["students"] if s["project"]]
    for j in range(ASSIGNMENTS):
        path = f"/hub/api/courses/{course['id']}/assignments"
        await _ok(await client.post(path, json={"path": f"hw{j:02d}"}))
    return course["id"], enrol_seconds


async def _sign_up(page, url, password):
    await page.goto(f"{url}/hub/signup")
    form = page.locator("form:has(input[name='password'])")
    await form.locator("input[name='username']").fill(TEACHER)
    email = form.locator("input[name='email']")
    if await email.count():
        await email.fill(f"{TEACHER}@example.org")
    await form.locator("input[name='password']").fill(password)
    confirm = form.locator("input[name='password_confirm']")
    if await confirm.count():
        await confirm.fill(password)
    async with page.expect_navigation():
        await form.locator("[type='submit']").click()
    if not page.url.endswith("/hub/projects"):
        raise RuntimeError(f"the instructor's sign-up led to {page.url}")


async def _page_loads(page, url, course_id, runs):
    """[(rows present, painted, API answer in) ms from navigation] per load, untimed first."""
    await page.add_init_script(GRID_WATCH % STUDENTS)
    out = []
    for _ in range(runs + 1):
        await page.goto(f"{url}/hub/courses/{course_id}")
        await page.wait_for_function("window.__gridPainted !== undefined", timeout=60_000)
        rows, painted, fetched = await page.evaluate(
            """(id) => [window.__gridRows, window.__gridPainted,
              performance.getEntriesByType("resource")
                .filter((e) => e.name.endsWith("/hub/api/courses/" + id))
                .map((e) => e.responseEnd)[0]]""",
            course_id,
        )
        out.append((rows, painted, fetched))
    return out[1:]


async def course_page_benchmark(root, api_runs=API_RUNS, page_runs=PAGE_RUNS):
    hub = CourseHub(os.path.join(root, "course"))
    results = {"students": STUDENTS, "assignments": ASSIGNMENTS}
    password = secrets.token_urlsafe(16)
    url = f"http://{EMBEDDED_HUB_HOST}:{hub.port}"
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        executable_path=find_chromium(), args=CHROMIUM_ARGS, timeout=60_000
    )
    try:
        await hub.start()
        page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        await _sign_up(page, url, password)
        async with hub.client() as client:
            course_id, results["enrol_seconds"] = await _class(hub, client, page)
        # statuses go in while the hub is stopped: it reads them afresh when it is back
        await hub.stop()
        results["work_rows"] = _statuses(hub.db_file, course_id)
        await hub.start()
        async with httpx.AsyncClient(
            base_url=hub.hub_url, headers={"Authorization": f"token {hub.admin_token}"}, timeout=60
        ) as straight:
            times = []
            for _ in range(api_runs + 1):
                tic = time.perf_counter()
                r = await straight.get(f"/hub/api/courses/{course_id}")
                times.append(time.perf_counter() - tic)
                r.raise_for_status()
            results["api_get_ms"] = [round(1000 * t, 1) for t in times[1:]]
            results["api_get_median_ms"] = round(1000 * statistics.median(times[1:]), 1)
            results["api_bytes"] = len(r.content)
        loads = await _page_loads(page, url, course_id, page_runs)
        results["page_loads_ms"] = [[round(x, 1) for x in load] for load in loads]
        results["rows_present_median_ms"] = round(statistics.median(x[0] for x in loads), 1)
        results["painted_median_ms"] = round(statistics.median(x[1] for x in loads), 1)
        # what the page spent after the data was in: parsing it and building the grid
        results["render_median_ms"] = round(statistics.median(x[1] - x[2] for x in loads), 1)
    finally:
        await browser.close()
        await playwright.stop()
        await hub.stop()
        hub.remove_accounts()
    return results
