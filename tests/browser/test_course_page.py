"""An instructor runs a course from its page: adds students, assigns, collects, grades."""

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(600)


async def test_instructor_assigns_and_collects_from_the_course_page(hub, people):
    teacher = await people("teacher-grace", account=True)
    students = [await hub.person() for _ in range(2)]
    project = (await teacher.api.create_project("Physics (course)"))["id"]
    await teacher.api.start_project(project)
    await teacher.api.execute(
        project, "import os\nos.makedirs('lab1')\nopen('lab1/task.md', 'w').write('Measure g')"
    )
    page = teacher.page

    # a new course, from the courses page
    await page.goto(teacher.url("/hub/courses"))
    await page.select_option("#course-project", project)
    await page.fill("#course-title", "Physics")
    await page.click("#create-course-button")
    await expect(page.locator("#course-title")).to_have_text("Physics")
    course_id = page.url.rstrip("/").rsplit("/", 1)[1]

    # students pasted as a list, one of them not signed up yet
    await page.fill("#students-list", f"{students[0].name}, {students[1].name}\nlate@example.org")
    await page.click("#add-students button[type=submit]")
    await expect(page.locator("#add-results")).to_contain_text("late@example.org: pending")
    for student in students:
        await expect(page.locator(f'tr[data-student="{student.name}"]')).to_be_visible()

    # the assignment, then Assign: the progress shows, then each student's status
    await page.fill("#assignment-path", "lab1")
    await page.click("#add-assignment button[type=submit]")
    row = page.locator('li[data-assignment="lab1"]')
    await row.locator(".step-assign").click()
    await expect(page.locator("#job")).to_be_visible()
    await expect(page.locator("#job-label")).to_contain_text("assign lab1: done", timeout=300_000)
    await expect(page.locator("#job-label")).to_contain_text("1 failed")  # not signed up yet
    await expect(page.locator("#job-failures")).to_contain_text("late@example.org")
    for student in students:
        cell = page.locator(f'tr[data-student="{student.name}"] td[data-assignment="lab1"]')
        await expect(cell).to_contain_text("assigned")
    student_project = next(p["id"] for p in (await students[0].api("GET", "projects")).json())
    await students[0].start_project(student_project)
    r = await students[0].client.get(hub.project_url(student_project, "api/contents/lab1/task.md"))
    assert r.json()["content"] == "Measure g"
    await students[0].stop_project(student_project)

    # Collect
    await row.locator(".step-collect").click()
    await expect(page.locator("#job-label")).to_contain_text("collect lab1: done", timeout=300_000)
    cell = page.locator(f'tr[data-student="{students[0].name}"] td[data-assignment="lab1"]')
    await expect(cell).to_contain_text("collected")
    r = await teacher.api.client.get(
        hub.project_url(project, f"api/contents/lab1-collect/{students[0].name}/task.md")
    )
    assert r.status_code == 200 and r.json()["content"] == "Measure g"

    # a grade typed in the cell's editor is saved, and the grid shows it
    await cell.click()
    editor = page.locator("#cell-editor")
    await expect(editor).to_contain_text(f"{students[0].name} · lab1")
    await editor.locator("input.grade").fill("A-")
    await editor.get_by_role("button", name="Save").click()
    await expect(cell).to_contain_text("graded A-")
    course = (await teacher.api.api("GET", f"courses/{course_id}")).json()
    graded = next(s for s in course["students"] if s["name"] == students[0].name)
    assert next(iter(graded["work"].values()))["grade"] == "A-"

    # someone signs up with the reserved address, unverified: the place waits for the
    # instructor, who knows who "late" is and approves them on the page
    late = await hub.person("late-grace", email="late@example.org")
    assert (await late.api("GET", "projects")).json() == []
    await page.reload()
    place = page.locator('tr[data-student="late@example.org"]')
    await expect(place.locator(".pending-match")).to_contain_text("late-grace")
    await place.locator("button.approve").click()
    await expect(page.locator('tr[data-student="late-grace"]')).to_be_visible()
    await expect(page.locator(".pending-match")).to_have_count(0)
    assert [p["title"] for p in (await late.api("GET", "projects")).json()] != []
    await teacher.api.stop_project(project)
