"""An instructor turns on peer feedback on the course page, sends the collected work out
for review and collects the feedback back, with the page's buttons."""

import asyncio

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(600)


async def finished(person, course_id, job_id, timeout=300):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = (await person.api("GET", f"courses/{course_id}/jobs/{job_id}")).json()
        if job["finished"]:
            assert job["failed"] == [], job
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.3)


async def test_peer_feedback_from_the_course_page(hub, people):
    teacher = await people("teacher-peer", account=True)
    students = [await hub.person() for _ in range(3)]
    project = (await teacher.api.create_project("Essays (course)"))["id"]
    await teacher.api.start_project(project)
    await teacher.api.execute(
        project, "import os\nos.makedirs('essay')\nopen('essay/topic.md', 'w').write('Write')"
    )
    r = await teacher.api.api("POST", "courses", {"project": project, "title": "Essays"})
    course_id = r.json()["id"]
    names = [s.name for s in students]
    r = await teacher.api.api("POST", f"courses/{course_id}/students", {"students": names})
    projects = [s["project"] for s in r.json()["course"]["students"]]
    r = await teacher.api.api("POST", f"courses/{course_id}/assignments", {"path": "essay"})
    essay = r.json()["assignments"][0]["id"]
    for step in ("assign", "collect"):
        r = await teacher.api.api("POST", f"courses/{course_id}/assignments/{essay}/{step}", {})
        assert r.status_code == 202, r.text
        await finished(teacher.api, course_id, r.json()["id"])

    page = teacher.page
    await page.goto(teacher.url(f"/hub/courses/{course_id}"))
    row = page.locator('li[data-assignment="essay"]')
    # no peer steps until it is on; a k too large says why
    await expect(row.locator(".step-collect")).to_be_visible()
    await expect(row.locator(".step-peer")).to_have_count(0)
    await row.locator(".peer-editor input").fill("3")
    await row.locator("button.set-peers").click()
    await expect(page.locator("#course-error")).to_contain_text("only 3 students")
    await row.locator(".peer-editor input").fill("1")
    await row.locator("button.set-peers").click()

    await row.locator(".step-peer").click()
    await expect(page.locator("#job-label")).to_contain_text("peer essay: done", timeout=300_000)
    await row.locator(".step-peer-collect").click()
    await expect(page.locator("#job-label")).to_contain_text(
        "peer-collect essay: done", timeout=300_000
    )
    await expect(page.locator("#job-label")).not_to_contain_text("failed")
    for name in names:
        r = await teacher.api.client.get(
            hub.project_url(project, f"api/contents/essay-peer-feedback/{name}/from-reviewer-1.md")
        )
        assert r.status_code == 200 and "Peer feedback on essay" in r.json()["content"], r.text
    for student, student_project in zip(students, projects, strict=True):
        await student.stop_project(student_project)
    await teacher.api.stop_project(project)
