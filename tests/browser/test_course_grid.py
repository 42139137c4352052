"""The course page holds a class of 300: one status grid, searched, filtered and sorted,
and one editor for the cell a person clicks."""

import re

import pytest
from playwright.async_api import expect

from smchub import orm

pytestmark = pytest.mark.timeout(300)

CLASS_SIZE = 300
ASSIGNMENTS = 20


async def test_a_class_of_300_in_one_grid(hub, people):
    teacher = await people("teacher-grid", account=True)
    zoe = await hub.person("grid-zoe")
    project = (await teacher.api.create_project("Big class (course)"))["id"]
    r = await teacher.api.api("POST", "courses", {"project": project, "title": "Big class"})
    course_id = r.json()["id"]
    # places reserved by email make no project: a class of 300 is added in one request;
    # zoe, added by username, gets her project (no server is started for it)
    places = [f"s{i:03d}@example.org" for i in range(CLASS_SIZE - 1)]
    r = await teacher.api.api(
        "POST", f"courses/{course_id}/students", {"students": [zoe.name, *places]}
    )
    assert r.status_code == 200, r.text
    for i in range(ASSIGNMENTS):
        r = await teacher.api.api(
            "POST", f"courses/{course_id}/assignments", {"path": f"hw{i:02d}"}
        )
        assert r.status_code == 201, r.text
    course = r.json()
    hw = {a["path"]: a["id"] for a in course["assignments"]}
    ids = {s["name"]: s["id"] for s in course["students"]}
    zoe_project = next(s["project"] for s in course["students"] if s["name"] == zoe.name)

    # where each student is, written straight into the database: assigning and collecting
    # 300 real projects would take minutes, and tests/test_course_*.py and
    # tests/test_deadlines.py test those steps (late work included) end to end
    db = hub.app.db
    now = orm.now()
    late = [places[7], places[42], places[250]]
    for name, student_id in ids.items():
        for path in ("hw00", "hw01"):
            student = db.get(orm.CourseStudent, student_id)
            work = orm.StudentAssignment(student=student, assignment_id=hw[path])
            work.assigned = now
            work.collected = now if path == "hw00" or name in late else None
            work.late_collected = now if path == "hw01" and name in late else None
            db.add(work)
    failed = db.get(orm.StudentAssignment, (ids[places[3]], hw["hw00"]))
    failed.error = "the project's disk is full"
    for name, grade in ((places[10], "9"), (places[11], "3"), (places[12], "10")):
        work = db.get(orm.StudentAssignment, (ids[name], hw["hw00"]))
        work.graded, work.grade = now, grade
    db.commit()

    page = teacher.page
    await page.goto(teacher.url(f"/hub/courses/{course_id}"))
    rows = page.locator("#students-body tr[data-student]")
    await expect(rows).to_have_count(CLASS_SIZE)
    await expect(page.locator("#students-count")).to_have_text(
        f"{CLASS_SIZE} of {CLASS_SIZE} students"
    )
    await expect(page.locator("#students-body td[data-assignment]")).to_have_count(
        CLASS_SIZE * ASSIGNMENTS
    )
    # a cell says where the student is; the failed one says why on hover
    cell = page.locator(f'tr[data-student="{places[3]}"] td[data-assignment="hw00"]')
    await expect(cell).to_have_text("failed")
    await expect(cell).to_have_attribute("title", re.compile("^failed: the project's disk is full"))

    # the late ones, in any assignment
    await page.select_option("#student-filter", "late")
    await expect(rows).to_have_count(len(late))
    for name in late:
        row = page.locator(f'#students-body tr[data-student="{name}"]')
        await expect(row.locator('td[data-assignment="hw01"] .late')).to_have_text("late")
    # none is late in hw00
    await page.select_option("#filter-assignment", str(hw["hw00"]))
    await expect(rows).to_have_count(0)
    await expect(page.locator("#students-count")).to_have_text(f"0 of {CLASS_SIZE} students")
    await page.select_option("#student-filter", "failed")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-student", places[3])
    await page.select_option("#student-filter", "all")
    await expect(rows).to_have_count(CLASS_SIZE)

    # sorted by hw00's grade: numbers in order, then students without one
    await page.select_option("#student-sort", f"grade:{hw['hw00']}")
    names = [places[11], places[10], places[12]]
    for i, name in enumerate(names):
        await expect(rows.nth(i)).to_have_attribute("data-student", name)
    # by name again
    await page.select_option("#student-sort", "name")
    await expect(rows.nth(0)).to_have_attribute("data-student", zoe.name)
    await expect(rows.nth(1)).to_have_attribute("data-student", places[0])

    # a column's head sorts by its status: the failed student first, graded ones last
    await page.locator(f'#students-head th[data-aid="{hw["hw00"]}"]').click()
    await expect(rows.first).to_have_attribute("data-student", places[3])
    await expect(rows.last).to_contain_text("graded")

    # search finds zoe, whose project is one click away
    await page.fill("#student-search", "ZOE")
    await expect(rows).to_have_count(1)
    row = page.locator(f'#students-body tr[data-student="{zoe.name}"]')
    await expect(row.locator("a.student-project")).to_have_attribute(
        "href", f"/hub/projects/{zoe_project}"
    )

    # her cell opens the editor; a grade saved there shows in the grid
    zoe_cell = row.locator('td[data-assignment="hw00"]')
    await expect(zoe_cell).to_have_text("collected")
    await zoe_cell.click()
    editor = page.locator("#cell-editor")
    await expect(editor).to_contain_text(f"{zoe.name} · hw00")
    await expect(editor).to_contain_text("collected")
    await editor.locator("input.grade").fill("7.5")
    await editor.locator("input.comments").fill("Clear work")
    await editor.get_by_role("button", name="Save").click()
    await expect(zoe_cell).to_have_text("graded 7.5")
    # the search still stands after the grid was built again
    await expect(rows).to_have_count(1)
    r = await teacher.api.api("GET", f"courses/{course_id}")
    work = next(s for s in r.json()["students"] if s["name"] == zoe.name)["work"][str(hw["hw00"])]
    assert (work["grade"], work["comments"]) == ("7.5", "Clear work")
