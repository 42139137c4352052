"""Peer feedback: who reviews whose collected work, under which anonymous labels, and
where the copies and the feedback go.

An instructor turns it on for an assignment with k, the number of peers who review each
student's work. The first "peer" step pairs the students whose work was collected:
each reviews k others' work and never their own, and each work gets k reviewers. The
pairing is stored (orm.PeerReview), so a step retried or resumed after a restart sends
the same work to the same reviewers. Names never travel: a reviewer sees a work as
"work-1", an author and the instructors see feedback as from "reviewer-1".

Paths, for an assignment at hw1:
- in the reviewer's project, hw1-peer-review/work-1/ holds the copy, with FEEDBACK.md;
- in the course project, hw1-peer-feedback/<author>/from-reviewer-1.md the feedback
  collected back ("peer-collect");
- in the author's project, graded-hw1/peer-feedback/ what they received ("return").

The copying itself is coursework.py's (the "peer" and "peer-collect" steps).
"""

import random

from jupyterhub.utils import isoformat

from . import orm
from .projects import InvalidInput

# the file each reviewer writes their feedback into, beside the copy
FEEDBACK_FILE = "FEEDBACK.md"
# files of a collected folder that never go to reviewers: the grade the return step
# writes there names the student; a FEEDBACK.md would take the reviewer's file's place
NOT_SENT = ("GRADE.md", FEEDBACK_FILE)
PEER_STEPS = ("peer", "peer-collect")
# where the received feedback lands inside the graded folder of the author's project
RETURNED_FOLDER = "peer-feedback"


class PeerReviewRefused(Exception):
    """Peer feedback cannot be changed or run as asked now; the message says why."""


def review_folder(assignment):
    """The folder of a reviewer's project that holds the works they review."""
    return f"{assignment.path}-peer-review"


def review_copy(assignment, review):
    """Where the reviewer finds the work of this review, in their project."""
    return f"{review_folder(assignment)}/{review.work_label}"


def feedback_folder(assignment, author):
    """Where the feedback an author received is collected, in the course project."""
    return f"{assignment.path}-peer-feedback/{author.name}"


def feedback_name(review):
    return f"from-{review.reviewer_label}.md"


def feedback_template(assignment, review):
    """The FEEDBACK.md a reviewer finds beside the copy: instructions, and no names."""
    return (
        f"# Peer feedback on {assignment.path}, {review.work_label}\n\n"
        f"The files beside this one are the work of another student of the course, sent "
        f"to you without their name. Write your feedback on it below the line and save "
        f"this file. Your instructors collect it and pass it on to the author, without "
        f"your name.\n\n---\n\n"
    )


def _collected(student, assignment):
    # courses.work_for, which this module cannot import (courses shows peer_model)
    return any(w.assignment_id == assignment.id and w.collected for w in student.work)


def collected_students(assignment):
    """The students in the course whose work for the assignment was collected."""
    return [
        s
        for s in assignment.course.students
        if not s.removed and s.project_id is not None and _collected(s, assignment)
    ]


def check_peer_review(assignment, value):
    """The k of a PATCH's {"peer_review": {"k": k}}, checked; None turns it off.

    InvalidInput says what to fix.
    """
    if value is None:
        return None
    if assignment.kind != "assignment":
        raise InvalidInput("Handouts are not collected, so they have no peer feedback.")
    if not isinstance(value, dict) or set(value) != {"k"}:
        raise InvalidInput(
            'peer_review must be {"k": n}, n the number of students who review each '
            "student's work, or null to turn peer feedback off"
        )
    k = value["k"]
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidInput(f"peer_review.k must be a whole number like 2, not {k!r}")
    collected = len(collected_students(assignment))
    if k < 1:
        raise InvalidInput("peer_review.k must be at least 1: each work needs a reviewer")
    if k >= collected:
        raise InvalidInput(
            f"peer_review.k is {k}, but the work of only {collected} students of "
            f"{assignment.path} is collected: k must be below that (no one reviews their "
            "own work). Collect first, or choose a smaller k."
        )
    return k


def reviews(db, assignment, reviewer=None, author=None):
    """The stored pairing of the assignment (or the part of one reviewer or author)."""
    query = db.query(orm.PeerReview).filter(orm.PeerReview.assignment_id == assignment.id)
    if reviewer is not None:
        query = query.filter(orm.PeerReview.reviewer_id == reviewer.id)
    if author is not None:
        query = query.filter(orm.PeerReview.author_id == author.id)
    return query.order_by(orm.PeerReview.reviewer_id, orm.PeerReview.work_label).all()


def set_peer_review(db, assignment, k):
    """Turn peer feedback on with k reviewers per work, change k, or turn it off (None).

    A pairing not yet used is dropped (the next peer step pairs again with the new k);
    once work went out to reviewers, PeerReviewRefused: changing who reviews whom then
    would leave students with copies no one collects.
    """
    if k == assignment.peer_k:
        return
    existing = reviews(db, assignment)
    sent = sum(1 for r in existing if r.copied is not None)
    if sent:
        raise PeerReviewRefused(
            f"{sent} copies of {assignment.path} already went out to reviewers, so peer "
            f"feedback stays as it is (k = {assignment.peer_k}); collect the feedback with "
            "peer-collect and return it."
        )
    for review in existing:
        db.delete(review)
    assignment.peer_k = k
    db.commit()


def pairing(authors, k, rng):
    """Who reviews whom: (reviewer, author, work label, reviewer label) for each review.

    Every author gets k reviewers and every reviewer k works, never their own: in an
    order shuffled by `rng`, each student reviews the k students after them (wrapping
    around). Labels are numbered in shuffled orders too, so "work-1" and "reviewer-1"
    say nothing of who is behind them or of the order of the class.
    """
    if not 1 <= k < len(authors):
        raise ValueError(f"k={k} needs at least {k + 1} authors, not {len(authors)}")
    order = list(authors)
    rng.shuffle(order)
    n = len(order)
    pairs = [(order[i], order[(i + j) % n]) for i in range(n) for j in range(1, k + 1)]
    work_labels, reviewer_labels = {}, {}
    for at, person in enumerate(order):
        works = [order[(at + j) % n] for j in range(1, k + 1)]
        rng.shuffle(works)
        work_labels.update({(person, a): f"work-{i}" for i, a in enumerate(works, 1)})
        reviewers = [order[(at - j) % n] for j in range(1, k + 1)]
        rng.shuffle(reviewers)
        reviewer_labels.update({(r, person): f"reviewer-{i}" for i, r in enumerate(reviewers, 1)})
    return [(r, a, work_labels[r, a], reviewer_labels[r, a]) for r, a in pairs]


def ensure_pairing(db, assignment, rng=None):
    """The assignment's pairing: the stored one, else one made now among the students
    whose work is collected, and stored. InvalidInput if peer feedback is off or too few
    students' work is collected for its k."""
    if assignment.peer_k is None:
        raise InvalidInput(
            f"Peer feedback is off for {assignment.path}; turn it on first with PATCH "
            f'{{"peer_review": {{"k": 2}}}} on the assignment.'
        )
    existing = reviews(db, assignment)
    if existing:
        return existing
    authors = collected_students(assignment)
    k = assignment.peer_k
    if k >= len(authors):
        raise InvalidInput(
            f"Peer feedback of {assignment.path} has k = {k}, but the work of only "
            f"{len(authors)} students is collected: collect more, or choose a smaller k."
        )
    made = pairing([s.id for s in authors], k, rng or random.SystemRandom())
    for reviewer_id, author_id, work_label, reviewer_label in made:
        db.add(
            orm.PeerReview(
                assignment_id=assignment.id,
                reviewer_id=reviewer_id,
                author_id=author_id,
                work_label=work_label,
                reviewer_label=reviewer_label,
            )
        )
    db.commit()
    return reviews(db, assignment)


def peer_model(db, assignment):
    """The assignment's peer feedback as instructors see it: k, who reviews whom under
    which labels, and for each student how far their reviews given and received are.
    None if it is off."""
    if assignment.peer_k is None:
        return None
    rows = reviews(db, assignment) if db is not None else []
    students = {}

    def status(student_id):
        return students.setdefault(
            str(student_id),
            {"to_review": 0, "sent": 0, "feedback_collected": 0, "received": 0},
        )

    for row in rows:
        given = status(row.reviewer_id)
        given["to_review"] += 1
        given["sent"] += row.copied is not None
        given["feedback_collected"] += row.feedback_collected is not None
        status(row.author_id)["received"] += row.feedback_collected is not None
    return {
        "k": assignment.peer_k,
        "paired": bool(rows),
        "reviews": [
            {
                "reviewer": row.reviewer_id,
                "author": row.author_id,
                "work_label": row.work_label,
                "reviewer_label": row.reviewer_label,
                "sent": _time(row.copied),
                "feedback_collected": _time(row.feedback_collected),
            }
            for row in rows
        ],
        "students": students,
    }


def _time(value):
    return isoformat(value) if value else None
