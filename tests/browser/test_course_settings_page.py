"""An instructor sets the course's settings on its page: an exam window with what it takes
away, and teaching assistants as viewers of students' projects; a mistake is explained
on the page and changes nothing."""

from datetime import datetime, timedelta

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(300)


def local_minute(minutes):
    """A datetime-local value `minutes` from now, in the browser's zone (the machine's)."""
    return (datetime.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


async def test_exam_window_and_assistants_from_the_course_page(hub, people):
    teacher = await people("teacher-eve", account=True)
    ta, student = await hub.person(), await hub.person()
    project = (await teacher.api.create_project("Statics (course)"))["id"]
    await ta.join(teacher.api, project)
    r = await teacher.api.api("POST", "courses", {"project": project, "title": "Statics"})
    course_id = r.json()["id"]
    r = await teacher.api.api("POST", f"courses/{course_id}/students", {"students": student.name})
    (result,) = r.json()["results"]
    student_project = result["project"]

    async def settings():
        return (await teacher.api.api("GET", f"courses/{course_id}")).json()["settings"]

    async def ta_role():
        r = await teacher.api.api("GET", f"projects/{student_project}")
        return {c["name"]: c["role"] for c in r.json()["collaborators"]}[ta.name]

    before = await settings()
    page = teacher.page
    await page.goto(teacher.url(f"/hub/courses/{course_id}"))
    await expect(page.locator("#students-body tr[data-student]")).to_have_count(1)
    panel = page.locator("#course-settings")
    await panel.locator("summary").click()
    form = panel.locator("#settings-form")

    # a window with an opening and no closing: the hub's reason, on the page; nothing kept
    await form.get_by_label("Opens").fill(local_minute(60))
    await form.get_by_label("no terminals").check()
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.locator("#settings-error")).to_contain_text(
        "needs both exam_start and exam_end"
    )
    assert await settings() == before
    # what the person chose is still in the form, to correct
    await expect(form.get_by_label("no terminals")).to_be_checked()

    opens, closes = local_minute(60), local_minute(150)
    await form.get_by_label("Opens").fill(opens)
    await form.get_by_label("Closes").fill(closes)
    await form.get_by_label("Teaching assistants only view").check()
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.locator("#settings-saved")).to_be_visible()
    await expect(form.locator("#settings-error")).to_be_hidden()

    saved = await settings()
    start = datetime.fromisoformat(saved["exam_start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(saved["exam_end"].replace("Z", "+00:00"))
    assert start.astimezone().strftime("%Y-%m-%dT%H:%M") == opens
    assert end.astimezone().strftime("%Y-%m-%dT%H:%M") == closes
    assert saved["no_terminals"] is True and saved["assistants_view_only"] is True
    assert saved["no_downloads"] is False and saved["students_can_share"] is False
    assert saved["exam_open"] is False
    assert await ta_role() == "viewer"

    # the page shows what is saved when it is opened again
    await page.reload()
    await panel.locator("summary").click()
    await expect(form.get_by_label("Opens")).to_have_value(opens)
    await expect(form.get_by_label("Closes")).to_have_value(closes)
    await expect(form.get_by_label("Teaching assistants only view")).to_be_checked()
    await expect(form.get_by_label("no downloads")).not_to_be_checked()

    # and the assistant collaborates again once the box is cleared
    await form.get_by_label("Teaching assistants only view").uncheck()
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.locator("#settings-saved")).to_be_visible()
    assert (await settings())["assistants_view_only"] is False
    assert await ta_role() == "collaborator"
    assert not teacher.js_errors, teacher.js_errors
