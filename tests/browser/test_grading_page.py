"""An instructor autogrades an nbgrader assignment from the course page, grades the
written answer on the grading page, returns the work, and a student opens the feedback
in their project."""

import asyncio

import pytest
from playwright.async_api import expect

from ..test_autograde import answered, source_notebook
from ..test_deadlines import put_file
from .test_course_peer_page import finished

pytestmark = pytest.mark.timeout(600)


async def test_autograde_grade_by_hand_return_and_read_the_feedback(hub, people):
    teacher = await people("teacher-grading", account=True)
    right = await people("stu-grading-right", account=True)
    wrong = await people("stu-grading-wrong", account=True)
    project = (await teacher.api.create_project("Squares (course)"))["id"]
    await teacher.api.start_project(project)
    await put_file(hub, teacher.api, project, "hw1", None)
    await put_file(hub, teacher.api, project, "hw1/square.ipynb", source_notebook())
    r = await teacher.api.api("POST", "courses", {"project": project, "title": "Squares"})
    course_id = r.json()["id"]
    r = await teacher.api.api(
        "POST", f"courses/{course_id}/students", {"students": [right.name, wrong.name]}
    )
    projects = {s["name"]: s["project"] for s in r.json()["course"]["students"]}
    r = await teacher.api.api("POST", f"courses/{course_id}/assignments", {"path": "hw1"})
    hw = r.json()["assignments"][0]["id"]
    r = await teacher.api.api("POST", f"courses/{course_id}/assignments/{hw}/assign", {})
    await finished(teacher.api, course_id, r.json()["id"])
    for student, kind in ((right, "right"), (wrong, "wrong")):
        pid = projects[student.name]
        await student.api.start_project(pid)
        r = await student.api.client.get(hub.project_url(pid, "api/contents/hw1/square.ipynb"),
                                         params={"format": "text", "type": "file"})  # fmt: skip
        assert r.status_code == 200, r.text
        await put_file(
            hub, student.api, pid, "hw1/square.ipynb", answered(r.json()["content"], kind)
        )
    r = await teacher.api.api("POST", f"courses/{course_id}/assignments/{hw}/collect", {})
    await finished(teacher.api, course_id, r.json()["id"])

    # autograde from the course page; the page then offers grading by question
    page = teacher.page
    await page.goto(teacher.url(f"/hub/courses/{course_id}"))
    row = page.locator('li[data-assignment="hw1"]')
    await expect(row.locator(".grading-link")).to_have_count(0)
    # the autograder's time limits, set on the page; a notebook shorter than a cell says why
    limits = row.locator(".autograde-limits input")
    await limits.nth(0).fill("20")
    await limits.nth(1).fill("10")
    await row.locator("button.set-limits").click()
    await expect(page.locator("#course-error")).to_contain_text("cell_timeout cannot be longer")
    await limits.nth(1).fill("90")
    await row.locator("button.set-limits").click()
    wanted = {"cell_timeout": 20, "notebook_timeout": 90}
    for _ in range(100):
        r = await teacher.api.api("GET", f"courses/{course_id}")
        if r.json()["assignments"][0]["autograde"] == wanted:
            break
        await asyncio.sleep(0.1)
    assert r.json()["assignments"][0]["autograde"] == wanted
    await expect(page.locator("#course-error")).to_be_hidden()
    await row.locator(".step-autograde").click()
    await expect(page.locator("#job-label")).to_contain_text("autograde hw1: done", timeout=300_000)
    await expect(page.locator("#job-label")).not_to_contain_text("failed")
    await row.locator(".grading-link").click()

    # the written answer waits for a person: one student wrote one
    why = page.locator('#questions-body tr[data-question="square:why"]')
    await expect(why.locator(".waiting")).to_have_text("1 of 2")
    totals = page.locator(f'#totals-body tr[data-student="{right.name}"] .total')
    await expect(totals).to_have_text("2 / 5 *")
    await why.locator(".show-answers").click()
    await expect(page.locator("#answers-title")).to_have_text("Answers to square · why")
    card = page.locator(f'.answer[data-student="{right.name}"]')
    await expect(card.locator(".answer-source")).to_have_text("Because it multiplies x by itself.")
    await page.locator("#only-waiting").check()
    await expect(page.locator(".answer")).to_have_count(1)
    await card.locator("input.points").fill("3")
    await card.locator("textarea.comment").fill("Well argued: x times x.")
    await card.locator("button.save").click()
    await expect(page.locator(".saved")).to_be_visible()
    await expect(totals).to_have_text("5 / 5")
    await expect(why.locator(".waiting")).to_have_text("none")

    # an autograded score is changed only with a reason
    test_row = page.locator('#questions-body tr[data-question="square:test_square"]')
    await page.locator("#only-waiting").uncheck()
    await test_row.locator(".show-answers").click()
    await expect(page.locator("#answers-title")).to_have_text("Answers to square · test_square")
    card = page.locator(f'.answer[data-student="{wrong.name}"]')
    await card.locator("input.points").fill("1")
    await card.locator("button.save").click()
    await expect(page.locator("#grading-error")).to_contain_text("say why")
    await card.locator("input.reason").fill("right for x = 2")
    await card.locator("button.save").click()
    await expect(page.locator(f'#totals-body tr[data-student="{wrong.name}"] .total')).to_have_text(
        "1 / 5"
    )

    # return, from the course page
    await page.goto(teacher.url(f"/hub/courses/{course_id}"))
    await row.locator(".step-return").click()
    await expect(page.locator("#job-label")).to_contain_text("return hw1: done", timeout=300_000)
    await expect(page.locator("#job-label")).not_to_contain_text("failed")

    # the student opens their feedback, in their project
    feedback = right.page
    await feedback.goto(hub.project_url(projects[right.name], "files/graded-hw1/square.html"))
    await expect(feedback.locator("body")).to_contain_text("Well argued: x times x.")
    await expect(feedback.locator("body")).to_contain_text("5")

    for student in (right, wrong):
        await student.api.stop_project(projects[student.name])
    await teacher.api.stop_project(project)
