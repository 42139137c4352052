"""Class-wide actions on the course page, and the viewer role on the project page.

An instructor starts every student's project, runs a command in all of them (failing for
one student) and stops them, watching the job and its results on the course page; the
results stay under Recent jobs. An owner makes a collaborator a viewer with the role
selector and back; the collaborator's own browser shows it and the project's server
holds them to it.
"""

import re

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(300)

# a class action starts or stops real project servers on a loaded 2-core machine
JOB_TIMEOUT_MS = 120_000
# what #job-count shows as the page follows a job
_WATCH_COUNT = """() => {
  window.jobCounts = [];
  const count = document.getElementById("job-count");
  new MutationObserver(() => window.jobCounts.push(count.textContent))
    .observe(count, { childList: true, characterData: true, subtree: true });
}"""


async def make_course(instructor, hub, size):
    """A course of `size` students enrolled by username through the API."""
    project = (await instructor.api.create_project("Chemistry (course)"))["id"]
    r = await instructor.api.api("POST", "courses", {"project": project, "title": "Chemistry"})
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    students = [await hub.person() for _ in range(size)]
    r = await instructor.api.api(
        "POST", f"courses/{course_id}/students", {"students": [s.name for s in students]}
    )
    assert r.status_code == 200, r.text
    enrolled = r.json()["course"]["students"]
    assert len(enrolled) == size and all(s["project"] for s in enrolled)
    return course_id, enrolled


async def states(person, students):
    return {(await person.api("GET", f"projects/{s['project']}")).json()["state"] for s in students}


async def run_on_page(page, button, label):
    """Click a class action's button; the job box follows it until `label`: done."""
    await page.evaluate(_WATCH_COUNT)
    await button.click()
    await expect(page.locator("#job")).to_be_visible()
    await expect(page.locator("#job-label")).to_contain_text(
        re.compile(rf"^{re.escape(label)}: done"), timeout=JOB_TIMEOUT_MS
    )
    return await page.evaluate("window.jobCounts")


async def test_instructor_runs_a_command_in_every_students_project(hub, people):
    instructor = await people("instructor-ines", account=True)
    course_id, students = await make_course(instructor, hub, 2)
    fine, failing = students
    page = instructor.page
    await page.goto(instructor.url(f"/hub/courses/{course_id}"))
    await expect(page.locator("#course-title")).to_have_text("Chemistry")
    await expect(page.locator("#jobs li")).to_have_count(0)

    try:
        # before class: every project started
        counts = await run_on_page(page, page.locator("#start-all"), "Start all")
        await expect(page.locator("#job-count")).to_have_text("2 of 2")
        assert counts[0] == "0 of 2", counts
        await expect(page.locator("#job-failures li")).to_have_count(0)
        assert await states(instructor.api, students) == {"running"}

        # a command that fails for one student only, with its own exit code
        command = (
            'echo "hello from $JUPYTERHUB_USER"; '
            f'test "$JUPYTERHUB_USER" != {failing["project"]} || exit 3'
        )
        await page.fill("#run-command", command)
        counts = await run_on_page(
            page, page.locator("#run-in-all [type=submit]"), f"Run in all: {command}"
        )
        # the page showed the job going from none done to both
        assert counts[0] == "0 of 2" and counts[-1] == "2 of 2", counts
        await expect(page.locator("#job-label")).to_have_text(
            f"Run in all: {command}: done, 1 failed"
        )
        await expect(page.locator("#job-bar")).to_have_attribute("style", "width: 100%;")
        await expect(page.locator("#job-failures")).to_have_text(f"{failing['name']}: exit code 3")
        await expect(page.locator("#job-retry")).to_be_visible()

        async def shows_results(job):
            """What Recent jobs shows of the command: who failed, with what, and output."""
            await expect(job).to_contain_text(f"Run in all: {command}")
            await expect(job).to_contain_text("by instructor-ines")
            await expect(job.locator(".job-status")).to_have_text("done: 1 of 2, 1 failed")
            # open by itself, since a student failed
            results = job.locator("details.exec-results")
            await expect(results).to_have_attribute("open", "")
            bad = results.locator(f'tr[data-student="{failing["name"]}"] td')
            await expect(bad).to_have_text(
                [failing["name"], "failed: exit code 3", "3", f"hello from {failing['project']}"]
            )
            good = results.locator(f'tr[data-student="{fine["name"]}"] td')
            await expect(good).to_have_text(
                [fine["name"], "done", "0", f"hello from {fine['project']}"]
            )

        jobs = page.locator("#jobs > li")
        await expect(jobs).to_have_count(2)
        await shows_results(jobs.first)
        # the servers were running: they still are
        assert await states(instructor.api, students) == {"running"}

        # the list is the hub's, not the page's memory: after a reload it is all there,
        # newest first
        await page.reload()
        await expect(jobs).to_have_count(2)
        await shows_results(jobs.first)
        await expect(jobs.nth(1)).to_contain_text("Start all")
        await expect(jobs.nth(1).locator(".job-status")).to_have_text("done: 2 of 2")
        await expect(page.locator("#job")).to_be_hidden()

        # run again for the failed student only, from the list: it fails again, alone
        await jobs.first.locator("button.job-retry").click()
        await expect(jobs).to_have_count(3)
        await expect(page.locator("#job-label")).to_have_text(
            f"Run in all: {command}: done, 1 failed", timeout=JOB_TIMEOUT_MS
        )
        await expect(jobs.first.locator(".job-status")).to_have_text("done: 0 of 1, 1 failed")
        await expect(jobs.first.locator("details.exec-results tbody tr")).to_have_count(1)
        await expect(jobs.first.locator(f'tr[data-student="{failing["name"]}"]')).to_be_visible()

        # after class: every project stopped
        await run_on_page(page, page.locator("#stop-all"), "Stop all")
        await expect(page.locator("#job-label")).to_have_text("Stop all: done")
        assert await states(instructor.api, students) == {"stopped"}
        await expect(jobs).to_have_count(4)
        await expect(jobs.first.locator(".job-status")).to_have_text("done: 2 of 2")
        await expect(page.locator("#course-error")).to_be_hidden()
    finally:
        for s in students:
            user = hub.app.servers.cached_user(s["project"])
            if user is not None and user.spawner.active:
                await hub.app.servers.stop(user, wait=True)


# the project server re-reads its visitors' roles from the hub this often (seconds), so
# a role change reaches it within the test
REVOCATION_DELAY = 3


async def test_owner_makes_a_collaborator_a_viewer_and_back(hub, people):
    owner = await people("owner-olga", account=True)
    vic = await people("collaborator-vic", account=True)
    pid = (await owner.api.create_project("Lab notes"))["id"]
    await vic.api.join(owner.api, pid)
    try:
        # the owner makes Vic a viewer with the selector next to his name
        page = owner.page
        await page.goto(owner.url(f"/hub/projects/{pid}"))
        role = page.locator('#collaborators li[data-name="collaborator-vic"] select')
        await expect(role).to_have_value("collaborator")
        # the owner's own role is no choice
        owner_row = page.locator('#collaborators li[data-name="owner-olga"]')
        await expect(owner_row).to_contain_text("owner")
        await expect(owner_row.locator("select")).to_have_count(0)
        await role.select_option("viewer")
        await expect(role).to_have_value("viewer")
        await expect(page.locator("#collaborator-error")).to_be_hidden()
        await page.reload()
        await expect(role).to_have_value("viewer")
        # started now, its server reads the roles as they are
        hub.app.users[pid].spawner.revocation_delay = REVOCATION_DELAY
        await page.click("#start")
        await expect(page.locator("#project-state")).to_have_text("running", timeout=60_000)

        # Vic's own page says so, and offers him nothing a viewer may not do
        await vic.page.goto(vic.url(f"/hub/projects/{pid}"))
        me = vic.page.locator('#collaborators li[data-name="collaborator-vic"]')
        await expect(me).to_contain_text("viewer")
        await expect(me.locator("select")).to_have_count(0)
        await expect(vic.page.locator("#sharing-refused")).to_have_text(
            "You can only view this project, so you cannot add people; ask its owner."
        )
        await expect(vic.page.locator("#add-collaborator")).to_be_hidden()
        await expect(vic.page.locator("#make-invite")).to_be_hidden()
        # in JupyterLab he reads, but a terminal does not open for him
        await vic.page.goto(hub.project_url(pid, "lab"))
        await vic.wait_for_lab(pid)
        terminal_card = vic.page.locator(".jp-LauncherCard", has_text="Terminal")
        await terminal_card.click()
        dialog = vic.page.locator(".jp-Dialog")
        await expect(dialog).to_contain_text("Launcher Error")
        await expect(dialog).to_contain_text("not authorized to write on resource: terminals")
        await dialog.get_by_role("button", name="Close").click()
        await expect(dialog).to_have_count(0)
        await expect(vic.page.locator(".jp-Terminal")).to_have_count(0)
        # nor does a kernel start, and the server answers his browser so
        assert (await vic.fetch_in_project(pid, "GET", "api/contents"))[0] == 200
        assert (await vic.fetch_in_project(pid, "POST", "api/terminals"))[0] == 403
        assert (await vic.fetch_in_project(pid, "POST", "api/kernels"))[0] == 403

        # a collaborator again
        await role.select_option("collaborator")
        await expect(role).to_have_value("collaborator")
        await page.reload()
        await expect(role).to_have_value("collaborator")
        await vic.page.goto(vic.url(f"/hub/projects/{pid}"))
        await expect(me).to_contain_text("collaborator")
        await expect(vic.page.locator("#add-collaborator")).to_be_visible()
        await expect(vic.page.locator("#sharing-refused")).to_be_hidden()
        # the server knows within its revocation delay; then a terminal opens for him
        status, body = None, None
        for _ in range(4 * REVOCATION_DELAY):
            status, body = await vic.fetch_in_project(pid, "POST", "api/terminals")
            if status != 403:
                break
            await vic.page.wait_for_timeout(500)
        assert status == 200, (status, body)
        await vic.page.goto(hub.project_url(pid, "lab"))
        await vic.wait_for_lab(pid)
        await terminal_card.click()
        await expect(vic.page.locator(".jp-Terminal")).to_be_visible()
    finally:
        await owner.api.stop_project(pid)
