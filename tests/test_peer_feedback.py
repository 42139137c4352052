"""Peer feedback: after collect, each student's work goes, without their name, to k
other students' projects; the feedback they write is collected back into the course
project and returned to the author with the grade."""

import os
import random
import secrets
from collections import Counter

import pytest

from smchub.peer_review import pairing

from .test_deadlines import Course, put_file

pytestmark = pytest.mark.timeout(600)

K = 2


@pytest.mark.parametrize("n,k", [(2, 1), (4, 2), (5, 4), (30, 3)])
def test_pairing_is_balanced_and_never_self(n, k):
    pairs = pairing(list(range(n)), k, random.Random(n * 100 + k))
    assert len(pairs) == n * k
    assert all(reviewer != author for reviewer, author, _, _ in pairs)
    assert len({(r, a) for r, a, _, _ in pairs}) == n * k
    assert Counter(r for r, _, _, _ in pairs) == dict.fromkeys(range(n), k)
    assert Counter(a for _, a, _, _ in pairs) == dict.fromkeys(range(n), k)
    works = {f"work-{i}" for i in range(1, k + 1)}
    reviewers = {f"reviewer-{i}" for i in range(1, k + 1)}
    for person in range(n):
        assert {w for r, _, w, _ in pairs if r == person} == works
        assert {v for _, a, _, v in pairs if a == person} == reviewers


def test_pairing_refuses_k_too_large():
    with pytest.raises(ValueError):
        pairing([1, 2, 3], 3, random.Random(0))


def tree(root):
    """Every path under `root`, relative to it, with the text of each file."""
    found = {}
    for parent, folders, files in os.walk(root):
        for name in folders + files:
            full = os.path.join(parent, name)
            relative = os.path.relpath(full, root)
            if os.path.isfile(full):
                with open(full) as f:
                    found[relative] = f.read()
            else:
                found[relative] = None
    return found


@pytest.fixture
async def make_course(hub):
    """Course.make, with every project of the courses made stopped at the end (the local
    node's CPUs are shared with the session's other tests)."""
    made = []

    async def make(size):
        made.append(await Course.make(hub, size))
        return made[-1]

    yield make
    for course in made:
        for person, _, project in course.students.values():
            await person.stop_project(project)
        await course.instructor.stop_project(course.course_project)


def pairs_of(peer):
    """Who reviews whom, under which labels, from the assignment model's peer_review."""
    return sorted((p["reviewer"], p["author"], p["work_label"], p["reviewer_label"])
                  for p in peer["reviews"])  # fmt: skip


async def rename(course, path, new_path):
    """Move a file or folder of the course project (as the instructor would in Lab)."""
    await course.instructor.start_project(course.course_project)
    url = course.hub.project_url(course.course_project, f"api/contents/{path}")
    r = await course.instructor.client.patch(url, json={"path": new_path})
    assert r.status_code == 200, r.text


def home(course, project):
    return os.path.join(course.hub.root, "data", "projects", project)


async def test_peer_feedback_round_trip(hub, make_course):
    course = await make_course(4)
    names = list(course.students)
    hw = await course.assignment()
    await course.step(hw, "assign")
    # each student's work is told apart by a token that is not their name
    token = {name: secrets.token_hex(6) for name in names}
    for name in names:
        person, _, project = course.students[name]
        await person.start_project(project)
        await course.write(name, "hw1/answer.md", f"answer {token[name]}: g = 9.8\n")

    # before anything is collected, no k fits
    r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": {"k": 1}})
    assert r.status_code == 400 and "Collect first" in r.json()["message"], r.text
    await course.step(hw, "collect")

    for bad in [{"k": 0}, {"k": -1}, {"k": 4}, {"k": 5}, {"k": "2"}, {"k": 2.5}, {"k": True},
                {"k": 2, "x": 1}, {}, 2, "two"]:  # fmt: skip
        r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": bad})
        assert r.status_code == 400, (bad, r.text)
        assert "k" in r.json()["message"], r.text
    r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": {"k": 4}})
    assert "only 4 students" in r.json()["message"], r.text
    r = await course.api("POST", f"assignments/{hw}/peer", {})
    assert r.status_code == 400 and "off" in r.json()["message"], r.text
    r = await course.api("POST", f"assignments/{hw}/peer-collect", {})
    assert r.status_code == 409, r.text

    r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": {"k": K}})
    assert r.status_code == 200, r.text
    peer = r.json()["assignments"][0]["peer_review"]
    assert peer["k"] == K and not peer["paired"], peer
    # a student can neither run the steps nor learn the pairing: the course is not theirs
    student = course.students[names[1]][0]
    for method, path, body in [
        ("POST", f"assignments/{hw}/peer", {}),
        ("POST", f"assignments/{hw}/peer-collect", {}),
        ("PATCH", f"assignments/{hw}", {"peer_review": None}),
        ("GET", "", None),
    ]:
        r = await course.api(method, path, body, person=student)
        assert r.status_code == 404, (method, path, r.text)

    # the first student's work is graded and returned before the peer step: the GRADE.md
    # the hub wrote beside it (with their name) must not travel to reviewers
    for name in names:
        student = course.students[name][1]
        r = await course.api("PUT", f"assignments/{hw}/grades/{student}", {"grade": "A"})
        assert r.status_code == 200, r.text
    first = course.students[names[0]][1]
    r = await course.api("POST", f"assignments/{hw}/return", {"students": [first]})
    job = await course.job(r.json()["id"])
    assert job["failed"] == [], job
    assert names[0] in course.file(course.course_project, f"hw1-collect/{names[0]}/GRADE.md")

    # one student's collected work is missing from the course project: their reviewers
    # fail with the reason, and a retry of those once it is back sends the same work to
    # the same reviewers
    missing, moved = f"hw1-collect/{names[2]}", "hw1-moved-away"
    await rename(course, missing, moved)
    r = await course.api("POST", f"assignments/{hw}/peer", {})
    assert r.status_code == 202, r.text
    job = await course.job(r.json()["id"])
    peer = (await course.api("GET")).json()["assignments"][0]["peer_review"]
    first_pairing = pairs_of(peer)
    reviewers_of_missing = {p[0] for p in first_pairing if p[1] == course.students[names[2]][1]}
    assert {f["student"] for f in job["failed"]} == reviewers_of_missing, job
    assert all("collect it again" in f["error"] for f in job["failed"]), job
    await rename(course, moved, missing)
    r = await course.api("POST", f"assignments/{hw}/peer",
                         {"students": sorted(reviewers_of_missing)})  # fmt: skip
    job = await course.job(r.json()["id"])
    assert job["failed"] == [] and job["total"] == K, job
    peer = (await course.api("GET")).json()["assignments"][0]["peer_review"]
    assert pairs_of(peer) == first_pairing

    # each student holds exactly K works, none their own, with nothing naming anyone
    seen_by = Counter()
    copies = {}  # reviewer -> {label: author}
    for name in names:
        project = course.students[name][2]
        review = os.path.join(home(course, project), "hw1-peer-review")
        labels = sorted(os.listdir(review))
        assert labels == [f"work-{i}" for i in range(1, K + 1)], labels
        copies[name] = {}
        for label in labels:
            files = tree(os.path.join(review, label))
            assert set(files) == {"answer.md", "problems.md", "FEEDBACK.md"}, files
            author = next(n for n in names if token[n] in files["answer.md"])
            assert author != name
            copies[name][label] = author
            seen_by[author] += 1
            for other in names:
                assert other not in label and other not in files["FEEDBACK.md"]
                assert all(other not in path for path in files)
    assert seen_by == dict.fromkeys(names, K)

    r = await course.api("GET")
    peer = r.json()["assignments"][0]["peer_review"]
    assert peer["paired"] and len(peer["reviews"]) == 4 * K
    for status in peer["students"].values():
        assert status["to_review"] == K and status["sent"] == K, peer

    # a retry (and a new k) does not pair again: the same works to the same reviewers
    r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": {"k": 1}})
    assert r.status_code == 409, r.text
    r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": None})
    assert r.status_code == 409, r.text
    await course.step(hw, "peer")
    peer = (await course.api("GET")).json()["assignments"][0]["peer_review"]
    assert peer["k"] == K
    assert pairs_of(peer) == first_pairing
    for name in names:
        project = course.students[name][2]
        assert len(os.listdir(os.path.join(home(course, project), "hw1-peer-review"))) == K

    # reviewers write their feedback, naming the token of the work they read
    for name in names:
        person, _, project = course.students[name]
        await person.start_project(project)
        for label, author in copies[name].items():
            path = f"hw1-peer-review/{label}/FEEDBACK.md"
            text = course.file(project, path) + f"Clear work, {token[author]}.\n"
            await put_file(hub, person, project, path, text)

    job = await course.step(hw, "peer-collect")
    assert job["total"] == 4 and job["failed"] == [], job
    for name in names:
        collected = tree(os.path.join(home(course, course.course_project),
                                      f"hw1-peer-feedback/{name}"))  # fmt: skip
        assert sorted(collected) == [f"from-reviewer-{i}.md" for i in range(1, K + 1)]
        assert all(f"Clear work, {token[name]}." in text for text in collected.values())

    job = await course.step(hw, "return")
    assert job["failed"] == [] and job["total"] == 4, job
    for name in names:
        project = course.students[name][2]
        received = tree(os.path.join(home(course, project), "graded-hw1/peer-feedback"))
        assert sorted(received) == [f"from-reviewer-{i}.md" for i in range(1, K + 1)]
        for text in received.values():
            assert f"Clear work, {token[name]}." in text
            assert not any(other in text for other in names)
        assert "GRADE.md" in os.listdir(os.path.join(home(course, project), "graded-hw1"))
    peer = (await course.api("GET")).json()["assignments"][0]["peer_review"]
    assert all(s["received"] == K and s["feedback_collected"] == K
               for s in peer["students"].values()), peer  # fmt: skip


async def test_a_handout_has_no_peer_feedback(make_course):
    course = await make_course(2)
    r = await course.api("POST", "assignments", {"path": "hw1", "kind": "handout"})
    assert r.status_code == 201, r.text
    hw = r.json()["assignments"][0]["id"]
    r = await course.api("PATCH", f"assignments/{hw}", {"peer_review": {"k": 1}})
    assert r.status_code == 400 and "Handouts" in r.json()["message"], r.text
    r = await course.api("POST", f"assignments/{hw}/peer", {})
    assert r.status_code == 400, r.text
