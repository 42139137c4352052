"""Admins find projects among all of them: ?q= searches titles, owners' names and ids,
?active_days= and ?idle_days= filter by when they were last used, ?sort=last_active puts
the projects in use first; the admin pages follow the scopes and show courses' sizes
and failures."""

import asyncio
import re
import secrets
from datetime import timedelta

import pytest
from jupyterhub import orm as hub_orm
from jupyterhub import roles

from smchub import orm
from smchub.scopes import READ_ALL_PROJECTS_SCOPE

pytestmark = pytest.mark.timeout(300)

PAGED = {"Accept": "application/jupyterhub-pagination+json"}


async def listed(person, query, status=200):
    r = await person.api("GET", f"projects?{query}", headers=PAGED)
    assert r.status_code == status, r.text
    return r.json()


def ids(page):
    return [p["id"] for p in page["items"]]


@pytest.fixture
async def shelf(hub):
    """Two people's projects with a word in their titles no other test uses."""
    word = "Quux" + secrets.token_hex(3)
    ursula = await hub.person("ursula-" + secrets.token_hex(3))
    viktor = await hub.person("viktor-" + secrets.token_hex(3))
    made = {
        "u_notes": (await ursula.create_project(f"{word} notes"))["id"],
        "u_plain": (await ursula.create_project("Plain title"))["id"],
        "v_notes": (await viktor.create_project(f"Old {word.upper()} notes 100%"))["id"],
        "v_under": (await viktor.create_project(f"{word} a_b"))["id"],
    }
    return word, ursula, viktor, made


async def test_q_searches_titles_owners_and_ids(hub, shelf):
    word, ursula, viktor, made = shelf
    admin = hub.admin
    # titles hold it in any case; newest first, as every list
    page = await listed(admin, f"all=1&q={word.lower()}")
    assert ids(page) == [made["v_under"], made["v_notes"], made["u_notes"]]
    assert page["_pagination"]["total"] == 3
    # an owner's name, or part of it, finds all their projects, whatever the titles
    page = await listed(admin, f"all=1&q={ursula.name[-6:].upper()}")
    assert set(ids(page)) == {made["u_notes"], made["u_plain"]}
    # a project's id (pasted from a log, say) finds it
    assert ids(await listed(admin, f"all=1&q={made['u_plain']}")) == [made["u_plain"]]
    # % and _ are characters, not wildcards
    assert ids(await listed(admin, f"all=1&q={word}%20a_b")) == [made["v_under"]]
    assert ids(await listed(admin, f"all=1&q={word}%20a%25b")) == []
    assert ids(await listed(admin, "all=1&q=notes%20100%25")) == [made["v_notes"]]
    # with the other filters, and paged
    assert ids(await listed(admin, f"all=1&q={word}&owner={viktor.name}")) == [
        made["v_under"], made["v_notes"],
    ]  # fmt: skip
    page = await listed(admin, f"all=1&q={word}&limit=2&offset=2")
    assert ids(page) == [made["u_notes"]] and page["_pagination"]["total"] == 3
    assert ids(await listed(admin, f"all=1&q={word}&state=running")) == []
    # blank is no search
    assert (await listed(admin, "all=1&q=%20&limit=1"))["_pagination"]["total"] >= 4


async def test_q_on_a_persons_own_list_finds_only_theirs(hub, shelf):
    word, ursula, viktor, made = shelf
    assert ids(await listed(ursula, f"q={word}")) == [made["u_notes"]]
    # viktor's name finds nothing of his in ursula's list
    assert ids(await listed(ursula, f"q={viktor.name}")) == []
    assert ids(await listed(viktor, f"q={viktor.name}")) == [made["v_under"], made["v_notes"]]


async def test_bad_search_and_order_are_refused(hub):
    for query, said in (
        ("all=1&q=" + "x" * 201, "longer than 200"),
        ("all=1&sort=title", "sort must be one of created, last_active"),
        ("sort=-created", "sort must be one of"),
        ("all=1&active_days=0", "active_days must be a whole number of days from 1 to 36500"),
        ("all=1&idle_days=1.5", "idle_days must be a whole number of days"),
        ("all=1&idle_days=" + "9" * 5000, "idle_days must be a whole number of days"),
        ("all=1&active_days=36501", "from 1 to 36500"),
    ):
        r = await hub.admin.api("GET", f"projects?{query}")
        assert r.status_code == 400, r.text
        assert said in r.json()["message"]


async def test_last_activity_sorts_and_filters(hub, shelf):
    word, ursula, viktor, made = shelf
    # u_notes is used now; v_notes was, two days ago (as JupyterHub records it for the
    # project's serving user); the others never were
    await ursula.start_project(made["u_notes"])
    await ursula.stop_project(made["u_notes"])
    db = hub.db
    served = hub_orm.User.find(db, made["v_notes"])
    served.last_activity = orm.now() - timedelta(days=2)
    db.commit()
    page = await listed(hub.admin, f"all=1&q={word}&sort=last_active")
    assert ids(page) == [made["u_notes"], made["v_notes"], made["v_under"]]
    assert page["items"][0]["last_active"] and page["items"][2]["last_active"] is None
    # filtered by when they were last used
    assert ids(await listed(hub.admin, f"all=1&q={word}&active_days=1")) == [made["u_notes"]]
    assert ids(await listed(hub.admin, f"all=1&q={word}&active_days=7")) == [
        made["v_notes"], made["u_notes"],
    ]  # fmt: skip
    assert ids(await listed(hub.admin, f"all=1&q={word}&idle_days=1")) == [
        made["v_under"], made["v_notes"],
    ]  # fmt: skip
    page = await listed(hub.admin, f"all=1&q={word}&idle_days=7&sort=last_active")
    assert ids(page) == [made["v_under"]]
    # the default order is still newest first
    assert ids(await listed(hub.admin, f"all=1&q={word}&sort=created")) == [
        made["v_under"], made["v_notes"], made["u_notes"],
    ]  # fmt: skip


async def test_admin_pages_follow_the_scopes(hub, shelf):
    word, ursula, viktor, made = shelf
    # a helpdesk person whose role lets them read every project, and nothing more
    helper = await hub.person("helpdesk-" + secrets.token_hex(3))
    db = hub.db
    role = "helpdesk-" + secrets.token_hex(3)
    roles.create_role(db, {"name": role, "scopes": [READ_ALL_PROJECTS_SCOPE]})
    roles.grant_role(db, hub_orm.User.find(db, helper.name), role)
    browser = await helper.browser()
    page = await browser.get("/hub/admin/projects")
    assert page.status_code == 200
    assert 'href="/hub/admin/projects"' in page.text
    # they may look, not start, stop or move
    assert 'data-may-manage=""' in page.text and 'data-may-move=""' in page.text
    for path in ("/hub/admin/courses", "/hub/nodes"):
        r = await browser.get(path)
        assert r.status_code == 403, path
        assert 'href="/hub/admin/courses"' not in r.text and 'href="/hub/nodes"' not in r.text
    # the admin may do all of it
    admin = await hub.admin.browser()
    page = await admin.get("/hub/admin/projects")
    assert page.status_code == 200
    assert 'data-may-manage="yes"' in page.text and 'data-may-move="yes"' in page.text
    for path in ("/hub/admin/projects", "/hub/admin/courses", "/hub/nodes"):
        assert f'href="{path}"' in page.text
    # a person with no such scope is refused every page, and sees no link to them
    browser = await ursula.browser()
    for path in ("/hub/admin/projects", "/hub/admin/courses", "/hub/nodes"):
        r = await browser.get(path)
        assert r.status_code == 403, path
        assert "scope" in r.text
    page = await browser.get("/hub/projects")
    assert "/hub/admin/projects" not in page.text and "/hub/admin/courses" not in page.text


async def test_courses_page_counts_students_and_failures(hub):
    teacher = await hub.person()
    project = (await teacher.create_project("Counting (course)"))["id"]
    title = "Counting " + secrets.token_hex(3)
    r = await teacher.api("POST", "courses", {"project": project, "title": title})
    course_id = r.json()["id"]
    places = [f"count{i}-{secrets.token_hex(2)}@example.org" for i in range(3)]
    r = await teacher.api("POST", f"courses/{course_id}/students", {"students": places})
    assert r.status_code == 200, r.text
    for path, kind in (("hw1", "assignment"), ("hw2", "assignment"), ("notes", "handout")):
        body = {"path": path, "kind": kind}
        r = await teacher.api("POST", f"courses/{course_id}/assignments", body)
        assert r.status_code == 201, r.text
    browser = await hub.admin.browser()

    async def course_row():
        page = await browser.get("/hub/admin/courses")
        assert page.status_code == 200
        return page.text.split(f'data-course-id="{course_id}"')[1].split("</tr>")[0]

    row = await course_row()
    assert title in row and teacher.name in row
    assert '<td class="course-students">3</td>' in row
    assert '<td class="course-assignments">2 (+1 handouts)</td>' in row
    assert '<td class="course-failures">0</td>' in row
    # "Start all" fails for every student who has not signed up: three failures, and
    # the newest one's reason
    r = await teacher.api("POST", f"courses/{course_id}/actions/start", {})
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(100):
        if job["finished"]:
            break
        await asyncio.sleep(0.2)
        job = (await teacher.api("GET", f"courses/{course_id}/jobs/{job['id']}")).json()
    assert len(job["failed"]) == 3, job
    row = await course_row()
    assert '<td class="course-failures">3</td>' in row
    said = r'start for count\d-\w+@example.org</span>:\s*<span class="failure-reason">'
    assert re.search(said + "has not signed up yet, so has no project</span>", row), row
