"""The admin's pages in the browser: every project (searched, filtered, started, stopped
and moved from its row, the API's refusals shown), the nodes with their load, every
course with its size and its failed steps; people without the scopes are refused."""

import asyncio
import re
import secrets

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(300)

# starting a project server on a loaded 2-core machine
SERVER_TIMEOUT_MS = 90_000


async def follow_job(person, course_id, job, timeout=120):
    deadline = asyncio.get_running_loop().time() + timeout
    while not job["finished"]:
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.5)
        r = await person.api("GET", f"courses/{course_id}/jobs/{job['id']}")
        assert r.status_code == 200, r.text
        job = r.json()
    return job


async def test_admin_manages_every_project_from_the_page(hub, people):
    word = "Zebra" + secrets.token_hex(3)
    olga = await hub.person("olga-" + secrets.token_hex(3))
    one = (await olga.create_project(f"{word} one"))["id"]
    two = (await olga.create_project(f"{word} two"))["id"]
    admin = await people("admin", account=True)
    page = admin.page
    await page.goto(admin.url("/hub/projects"))
    await page.get_by_role("link", name="All projects").click()
    await expect(page).to_have_url(re.compile(r"/hub/admin/projects$"))
    rows = page.locator("#admin-projects-body tr.admin-project-row")

    def row(pid):
        return page.locator(f'#admin-projects-body tr[data-project-id="{pid}"]')

    # a search by title; the newest first
    await page.fill("#filter-q", word.lower())
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-project-id", two)
    await expect(page.locator("#projects-count")).to_have_text("1–2 of 2 projects")
    await expect(row(one).locator(".project-owner")).to_have_text(olga.name)
    await expect(row(one).locator(".project-people")).to_have_text("1")

    # start one from its row; filtered by state, only it is running
    await row(one).locator("button.project-start").click()
    await expect(row(one).locator(".project-state")).to_have_text(
        "running", timeout=SERVER_TIMEOUT_MS
    )
    await expect(row(one).locator(".project-node")).to_have_text("local")
    await page.select_option("#filter-state", "running")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-project-id", one)
    # or by when they were used: only it, never the one not started
    await page.select_option("#filter-state", "")
    await expect(rows).to_have_count(2)
    await page.select_option("#filter-activity", "active_days=1")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-project-id", one)
    await page.select_option("#filter-activity", "idle_days=30")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-project-id", two)
    await page.select_option("#filter-activity", "")
    await page.select_option("#filter-state", "running")
    await expect(rows).to_have_count(1)
    # the filters are in the page's address, for a link or a reload
    await expect(page).to_have_url(re.compile(rf"q={word.lower()}.*state=running"))
    await page.reload()
    await expect(rows).to_have_count(1)
    await expect(page.locator("#filter-state")).to_have_value("running")

    # by owner: every project of olga's, whatever their titles
    await page.fill("#filter-q", "")
    await page.select_option("#filter-state", "")
    await page.fill("#filter-owner", olga.name)
    await expect(rows).to_have_count(2)
    # or part of her name in the search box
    await page.fill("#filter-owner", "")
    await page.fill("#filter-q", olga.name[-6:].upper())
    await expect(rows).to_have_count(2)

    # the nodes page shows the local node's load, and links to what runs there
    await page.goto(admin.url("/hub/projects"))
    await page.get_by_role("link", name="Nodes").click()
    local = page.locator('#nodes-table tr[data-node="local"]')
    running = int(await local.locator(".node-running").inner_text())
    assert running >= 1
    await expect(local.locator(".node-memory")).to_contain_text(re.compile(r"^\s*\d+ / \d+"))
    await expect(local.locator(".node-cpu .progress")).to_have_count(1)
    await local.locator(".node-running a").click()
    await expect(page.locator("#filter-node")).to_have_value("local")
    await expect(page.locator("#filter-state")).to_have_value("running")
    await expect(row(one)).to_have_count(1)

    # a move the API refuses says why on the page
    await page.goto(admin.url(f"/hub/admin/projects?q={word}"))
    await expect(rows).to_have_count(2)
    await row(one).locator("select.move-node").select_option("local")
    await row(one).locator("button.project-move").click()
    error = page.locator("#admin-projects-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_text(
        f"Could not move to local “{word} one”: The project is already on node local."
    )
    # the never started one has no node yet: moving it there places it
    await expect(row(two).locator(".project-node")).to_have_text("—")
    await row(two).locator("select.move-node").select_option("local")
    await row(two).locator("button.project-move").click()
    await expect(page.locator("#admin-projects-done")).to_have_text(
        f"Moved “{word} two” from nowhere to local: 0 files."
    )
    await expect(error).to_be_hidden()
    await expect(row(two).locator(".project-node")).to_have_text("local")

    # stop the running one from its row: it is seen stopped, and the API agrees
    await row(one).locator("button.project-stop").click()
    await expect(row(one).locator(".project-state")).to_have_text(
        "stopped", timeout=SERVER_TIMEOUT_MS
    )
    await expect(row(one).locator("button.project-start")).to_be_visible()
    assert (await olga.api("GET", f"projects/{one}")).json()["state"] == "stopped"
    await page.select_option("#filter-state", "running")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#admin-projects-empty")).to_be_visible()


async def test_admin_pages_through_many_projects(hub, people):
    word = "Yak" + secrets.token_hex(3)
    owner = await hub.person("pat-" + secrets.token_hex(3))
    made = [(await owner.create_project(f"{word} {i:02d}"))["id"] for i in range(55)]
    admin = await people("admin", account=True)
    page = admin.page
    await page.goto(admin.url(f"/hub/admin/projects?q={word}"))
    rows = page.locator("#admin-projects-body tr.admin-project-row")
    count = page.locator("#projects-count")
    await expect(count).to_have_text("1–50 of 55 projects")
    await expect(rows).to_have_count(50)
    await expect(rows.first).to_have_attribute("data-project-id", made[-1])
    await expect(page.locator("#page-previous")).to_be_disabled()
    await page.locator("#page-next").click()
    await expect(count).to_have_text("51–55 of 55 projects")
    await expect(rows).to_have_count(5)
    await expect(rows.last).to_have_attribute("data-project-id", made[0])
    await expect(page.locator("#page-next")).to_be_disabled()
    # the page is in the address too
    await page.reload()
    await expect(count).to_have_text("51–55 of 55 projects")
    await page.locator("#page-previous").click()
    await expect(count).to_have_text("1–50 of 55 projects")
    # a narrower search starts again from the first page
    await page.locator("#page-next").click()
    await expect(count).to_have_text("51–55 of 55 projects")
    await page.fill("#filter-q", f"{word} 1")
    await expect(count).to_have_text("1–10 of 10 projects")


async def test_admin_sees_courses_with_their_size_and_failures(hub, people):
    teacher = await hub.person("teacher-" + secrets.token_hex(3))
    students = [await hub.person() for _ in range(2)]
    project = (await teacher.create_project("Admin-watched (course)"))["id"]
    title = "Watched " + secrets.token_hex(3)
    r = await teacher.api("POST", "courses", {"project": project, "title": title})
    course_id = r.json()["id"]
    r = await teacher.api(
        "POST", f"courses/{course_id}/students", {"students": [s.name for s in students]}
    )
    assert r.status_code == 200, r.text
    r = await teacher.api("POST", f"courses/{course_id}/assignments", {"path": "hw1"})
    assert r.status_code == 201, r.text
    # a command that fails for one student only: a real job, with its reason
    first = r.json()["students"][0]
    r = await teacher.api(
        "POST",
        f"courses/{course_id}/actions/exec",
        {"command": "exit 3", "students": [first["id"]]},
    )
    assert r.status_code == 202, r.text
    job = await follow_job(teacher, course_id, r.json())
    assert [f["error"] for f in job["failed"]] == ["exit code 3"], job

    admin = await people("admin", account=True)
    page = admin.page
    await page.get_by_role("link", name="All courses").click()
    await expect(page).to_have_url(re.compile(r"/hub/admin/courses$"))
    await page.fill("#course-search", title.upper())
    rows = page.locator("#admin-courses-body tr.admin-course-row:visible")
    await expect(rows).to_have_count(1)
    row = page.locator(f'#admin-courses-body tr[data-course-id="{course_id}"]')
    await expect(row.locator(".course-students")).to_have_text("2")
    await expect(row.locator(".course-assignments")).to_have_text("1")
    await expect(row.locator(".course-instructors")).to_have_text(teacher.name)
    await expect(row.locator(".course-failures")).to_have_text("1")
    await expect(row.locator(".course-last-failure")).to_contain_text(
        f"exec for {first['name']}: exit code 3"
    )
    # the course's own page is one click away
    await row.locator("a.course-title").click()
    await expect(page).to_have_url(re.compile(rf"/hub/courses/{course_id}$"))


async def test_people_without_the_scopes_are_refused_the_admin_pages(hub, people):
    person = await people("plain-" + secrets.token_hex(3), account=True)
    page = person.page
    for link in ("All projects", "All courses", "Nodes"):
        await expect(page.get_by_role("link", name=link, exact=True)).to_have_count(0)
    for path in ("/hub/admin/projects", "/hub/admin/courses", "/hub/nodes"):
        response = await page.goto(person.url(path))
        assert response.status == 403, path
        await expect(page.locator("body")).to_contain_text("Only admins can see")


async def test_jupyterhubs_admin_page_names_projects(hub, people):
    """JupyterHub's own admin page lists a project's server user by the project's id;
    smchub puts the project's title beside it."""
    owner = await hub.person("ola-" + secrets.token_hex(3))
    title = "Kelp forest survey " + secrets.token_hex(3)
    project = (await owner.create_project(title))["id"]
    admin = await people("admin", account=True)
    page = admin.page
    await page.goto(admin.url("/hub/admin"))
    # the hub may have more people than a page holds: find the project's user by its id
    await page.get_by_placeholder("Search Users").fill(project)
    row = page.get_by_test_id(f"user-row-{project}")
    await expect(row.get_by_text(f"project: {title}")).to_be_visible(timeout=30_000)
    # once: React's redraws do not add it again
    await page.wait_for_timeout(500)
    await expect(page.get_by_text(f"project: {title}")).to_have_count(1)
