"""The rules of courses, without a hub: pasted student lists, due dates, assignment
folders, grades, where steps put work, and how many finished jobs the hub keeps."""

import posixpath
from datetime import datetime
from types import SimpleNamespace

import pytest

from smchub.courses import (
    MAX_STUDENTS_AT_ONCE,
    check_assignment_path,
    check_due,
    check_grade,
    is_email,
    parse_student_list,
    spreadsheet_cell,
)
from smchub.coursework import collect_folder, graded_folder
from smchub.projects import InvalidInput

# --- pasted student lists ---------------------------------------------------------


def test_a_pasted_list_splits_on_lines_commas_semicolons_and_spaces():
    pasted = "ada\nbob, carol@example.org;  dave\t\n\n eve "
    assert parse_student_list(pasted) == ["ada", "bob", "carol@example.org", "dave", "eve"]


def test_a_list_keeps_the_first_spelling_of_each_entry_in_order():
    pasted = ["Ada", "bob", "ADA", " ada ", "Carol@Example.org", "carol@example.org"]
    assert parse_student_list(pasted) == ["Ada", "bob", "Carol@Example.org"]


@pytest.mark.parametrize("value", ["", " \n,; ", [], ["", "  "]])
def test_a_list_with_no_entries_is_refused(value):
    with pytest.raises(InvalidInput, match="no usernames or emails"):
        parse_student_list(value)


@pytest.mark.parametrize("value", [None, 7, {"a": 1}, ["ada", 3], [None]])
def test_students_must_be_text_or_a_list_of_text(value):
    with pytest.raises(InvalidInput, match="list of usernames or emails"):
        parse_student_list(value)


def test_a_list_may_hold_the_limit_and_no_more():
    at_limit = [f"s{i}" for i in range(MAX_STUDENTS_AT_ONCE)]
    assert len(parse_student_list(at_limit)) == MAX_STUDENTS_AT_ONCE
    with pytest.raises(InvalidInput, match=f"the limit is {MAX_STUDENTS_AT_ONCE}"):
        parse_student_list([*at_limit, "one-more"])
    # repeats do not count towards the limit
    assert len(parse_student_list([*at_limit, "S0", "s1"])) == MAX_STUDENTS_AT_ONCE


@pytest.mark.parametrize(
    "entry, email",
    [
        ("ada@example.org", True),
        ("a.b+c@sub.example.co.uk", True),
        ("ada", False),
        ("ada@localhost", False),
        ("@example.org", False),
        ("ada@@example.org", False),
        ("ada@exa mple.org", False),
    ],
)
def test_which_entries_are_emails(entry, email):
    assert is_email(entry) is email


# --- due dates --------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_no_due_date(value):
    assert check_due(value) is None


@pytest.mark.parametrize(
    "value, due",
    [
        ("2026-12-01T17:00:00Z", datetime(2026, 12, 1, 17, 0)),
        ("2026-12-01T17:00:00+00:00", datetime(2026, 12, 1, 17, 0)),
        # stored in UTC, without a zone, like every time in the database
        ("2026-12-01T18:30:00+01:30", datetime(2026, 12, 1, 17, 0)),
        ("2026-12-31T23:00:00-02:00", datetime(2027, 1, 1, 1, 0)),
        # no zone given: taken as UTC already
        ("2026-12-01T17:00", datetime(2026, 12, 1, 17, 0)),
    ],
)
def test_due_dates_are_stored_in_utc(value, due):
    assert check_due(value) == due
    assert check_due(value).tzinfo is None


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00:00Z", "12/01/2026"])
def test_a_due_date_that_is_no_date_is_refused(value):
    with pytest.raises(InvalidInput, match="is not a date and time"):
        check_due(value)


@pytest.mark.parametrize("value", [20261201, ["2026-12-01"], {"at": "noon"}, True])
def test_a_due_date_must_be_text(value):
    with pytest.raises(InvalidInput, match="due must be a date and time"):
        check_due(value)


# --- assignment folders -----------------------------------------------------------


@pytest.mark.parametrize(
    "value, path",
    [
        ("hw1", "hw1"),
        (" hw1/ ", "hw1"),
        ("week1/hw1", "week1/hw1"),
        ("week1//./hw1", "week1/hw1"),
        ("a/../hw1", "hw1"),
    ],
)
def test_assignment_paths_are_folders_of_the_course_project(value, path):
    assert check_assignment_path(value) == path


@pytest.mark.parametrize("value", ["/etc", "..", "../hw1", "a/../../hw1", ".", "./"])
def test_an_assignment_path_may_not_leave_the_course_project(value):
    with pytest.raises(InvalidInput, match="inside the course project"):
        check_assignment_path(value)


@pytest.mark.parametrize("value", ["", "   ", None, 3, ["hw1"]])
def test_an_assignment_path_must_name_a_folder(value):
    with pytest.raises(InvalidInput, match="must name a folder"):
        check_assignment_path(value)


@pytest.mark.parametrize(
    "value",
    ["hw1-collect", "week1/hw1-collect", "graded-hw1", "hw1-peer-review", "hw1-peer-feedback"],
)
def test_folders_smchub_writes_into_are_not_assignments(value):
    with pytest.raises(InvalidInput, match="where smchub puts work"):
        check_assignment_path(value)


@pytest.mark.parametrize("value", [".smchub", ".smchub/release/hw1", "./.smchub/x"])
def test_the_generated_versions_folder_is_no_assignment(value):
    with pytest.raises(InvalidInput, match=".smchub is where smchub keeps"):
        check_assignment_path(value)


def test_an_assignment_path_has_a_length_limit():
    assert check_assignment_path("a" * 1024) == "a" * 1024
    with pytest.raises(InvalidInput, match="too long"):
        check_assignment_path("a" * 1025)


def test_where_steps_put_collected_and_graded_work():
    assignment = SimpleNamespace(path="week1/hw1")
    student = SimpleNamespace(name="ada")
    assert collect_folder(assignment, student) == "week1/hw1-collect/ada"
    assert graded_folder(assignment) == "week1/graded-hw1"
    assert graded_folder(SimpleNamespace(path="hw1")) == "graded-hw1"
    # neither is a folder an instructor could make an assignment of
    for folder in (posixpath.dirname(collect_folder(assignment, student)), "graded-hw1"):
        with pytest.raises(InvalidInput):
            check_assignment_path(folder)


# --- grades -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, result",
    [
        ({"grade": " A- ", "comments": "good"}, ("A-", "good")),
        ({"grade": 17.5}, ("17.5", "")),
        ({"grade": None}, ("", "")),
        ({}, ("", "")),
    ],
)
def test_grades_are_text(model, result):
    assert check_grade(model) == result


@pytest.mark.parametrize(
    "model, message",
    [
        ({"grade": True}, "text or a number"),
        ({"grade": ["A"]}, "text or a number"),
        ({"grade": "A" * 65}, "longer than 64"),
        ({"comments": 3}, "comments must be text"),
        ({"comments": "x" * 20_001}, "comments must be text"),
    ],
)
def test_bad_grades_are_refused(model, message):
    with pytest.raises(InvalidInput, match=message):
        check_grade(model)


@pytest.mark.parametrize(
    "value, cell",
    [("=1+1", "'=1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("-1", "-1"), ("+2.5", "+2.5"), ("B", "B")],
)
def test_spreadsheet_cells_never_start_a_formula(value, cell):
    assert spreadsheet_cell(value) == cell
