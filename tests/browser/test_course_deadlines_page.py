"""An instructor sets due dates and extensions on the course page, and sees the hub
collect at the deadline and late work flagged."""

import re
from datetime import datetime, timedelta

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(600)


def local_minute(minutes):
    """A datetime-local value `minutes` from now, in the browser's zone (the machine's)."""
    return (datetime.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


async def test_due_dates_extensions_and_late_work_on_the_course_page(hub, people):
    teacher = await people("teacher-ada", account=True)
    students = [await hub.person() for _ in range(2)]
    ana, ben = students
    project = (await teacher.api.create_project("Optics (course)"))["id"]
    await teacher.api.start_project(project)
    await teacher.api.execute(
        project, "import os\nos.makedirs('lab2')\nopen('lab2/task.md', 'w').write('Focus it')"
    )
    r = await teacher.api.api("POST", "courses", {"project": project, "title": "Optics"})
    course_id = r.json()["id"]
    r = await teacher.api.api(
        "POST", f"courses/{course_id}/students", {"students": [ana.name, ben.name]}
    )
    projects = {s["name"]: s["project"] for s in r.json()["course"]["students"]}
    r = await teacher.api.api("POST", f"courses/{course_id}/assignments", {"path": "lab2"})
    lab = r.json()["assignments"][0]["id"]
    r = await teacher.api.api("POST", f"courses/{course_id}/assignments/{lab}/assign", {})
    assert r.status_code == 202, r.text

    page = teacher.page
    await page.goto(teacher.url(f"/hub/courses/{course_id}"))
    row = page.locator('li[data-assignment="lab2"]')
    await expect(page.locator("#jobs")).to_contain_text("assign lab2", timeout=60_000)
    await expect(page.locator('tr[data-student] td[data-assignment="lab2"]').first).to_contain_text(
        "assigned", timeout=120_000
    )

    # ben gets an extension of a day, from the editor of his cell
    ben_cell = page.locator(f'tr[data-student="{ben.name}"] td[data-assignment="lab2"]')
    editor = page.locator("#cell-editor")
    await ben_cell.click()
    await editor.locator('input[type="datetime-local"]').fill(local_minute(24 * 60))
    await editor.locator("button.extend").click()
    await expect(editor.locator(".deadline")).to_contain_text("(extension)")
    await expect(ben_cell).to_have_attribute("title", re.compile(r"\(extension\)"))

    # the class's due date, set to a minute ago: the hub collects ana's work by itself
    await row.locator('input[type="datetime-local"]').fill(local_minute(-1))
    await row.locator("button.set-due").click()
    await expect(row).to_contain_text("(assignment) — due")
    ana_cell = page.locator(f'tr[data-student="{ana.name}"] td[data-assignment="lab2"]')
    await page.reload()
    await expect(ana_cell).to_contain_text("collected", timeout=120_000)
    await ana_cell.click()
    await expect(editor.locator(".due-collected")).to_contain_text("collected")
    await expect(page.locator("#jobs")).to_contain_text("Collected at the deadline: lab2")
    await expect(page.locator("#jobs")).to_contain_text("by the hub")
    # ben's own date stands
    await ben_cell.click()
    await expect(editor).to_contain_text(f"{ben.name} · lab2")
    await expect(editor.locator(".due-collected")).to_have_count(0)

    # ana changes her work after the deadline; Collect takes it apart, flagged late
    await ana.start_project(projects[ana.name])
    r = await ana.client.put(
        hub.project_url(projects[ana.name], "api/contents/lab2/task.md"),
        json={"type": "file", "format": "text", "content": "Focused, late"},
    )
    assert r.status_code == 200, r.text
    await row.locator(".step-collect").click()
    await expect(page.locator("#job-label")).to_contain_text("collect lab2: done", timeout=300_000)
    await expect(ana_cell.locator(".late")).to_have_text("late")
    await expect(ben_cell.locator(".late")).to_have_count(0)
    await ana.stop_project(projects[ana.name])
    await teacher.api.stop_project(project)
