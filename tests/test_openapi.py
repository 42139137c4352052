"""smchub's OpenAPI document (share/smchub/openapi.yaml): served by the hub, complete,
held to by the hub's answers, and explored by Schemathesis against the live hub.

Every other API test checks its answers against the document too (Person.api, with
tests/openapi_contract.py); this file checks the document itself, and lets Schemathesis
generate requests from it: no answer may be a server error, have a status the document
does not list, or a body that breaks its schema.
"""

import asyncio
import os
import re
import time
import warnings
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smchub import apihandlers
from smchub.apihandlers.openapi import DOCUMENT_PATH, load_document
from smchub.authenticators import api as accounts_api

from .openapi_contract import BrokenContract, check_response

METHODS = ("get", "put", "post", "patch", "delete")
# JupyterHub's own routes that smchub only narrows (the users API, OAuth): JupyterHub's
# documentation describes them
JUPYTERHUB_ROUTES = {r"/api/users/([^/]+)", r"/api/oauth2/authorize"}

# Schemathesis: examples per operation, per caller and mode; and the time all may take
EXAMPLES = int(os.environ.get("SMCHUB_SCHEMATHESIS_EXAMPLES", "20"))
BUDGET_S = float(os.environ.get("SMCHUB_SCHEMATHESIS_BUDGET", "150"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def smchub_routes():
    """(pattern, handler class) of every route smchub adds to the hub's API, in order."""
    routes = [*apihandlers.default_handlers, *accounts_api.default_handlers]
    return [(pattern, cls) for pattern, cls, *_ in routes if pattern not in JUPYTERHUB_ROUTES]


def handler_methods(cls):
    """The HTTP methods a handler class answers (those it or smchub's bases define)."""
    return {
        method
        for klass in cls.__mro__
        if klass.__module__.startswith("smchub.")
        for method in METHODS
        if method in vars(klass)
    }


def sample_path(path, item):
    """A concrete address for a path of the document, its parameters filled with values
    their schemas allow (an enum's first, a whole number, or a word)."""
    components = load_document()[1]["components"]["parameters"]
    listed = [*item.get("parameters", [])]
    for method in METHODS:
        listed += item.get(method, {}).get("parameters", [])
    parameters = {}
    for p in listed:
        p = components[p["$ref"].rpartition("/")[2]] if "$ref" in p else p
        if p["in"] == "path":
            parameters[p["name"]] = p

    def value(match):
        schema = parameters[match.group(1)]["schema"]
        if "enum" in schema:
            return schema["enum"][0]
        return "1" if schema.get("type") == "integer" else "x1"

    return re.sub(r"\{([^}]+)\}", value, path)


def test_every_route_of_smchub_is_in_the_document_with_its_methods():
    document = load_document()[1]
    routes = smchub_routes()
    covered = set()
    problems = []
    for path, item in document["paths"].items():
        address = "/api" + sample_path(path, item)
        # tornado takes the first route that matches, as here
        route = next(((p, c) for p, c in routes if re.fullmatch(p, address)), None)
        if route is None:
            problems.append(f"{path} is in the document, but no smchub route answers {address}")
            continue
        covered.add(route[0])
        documented = {m for m in METHODS if m in item}
        answered = handler_methods(route[1])
        if documented != answered:
            problems.append(
                f"{path}: the document has {sorted(documented)}, "
                f"{route[1].__name__} answers {sorted(answered)}"
            )
    for pattern, cls in routes:
        if pattern not in covered:
            problems.append(f"route {pattern} ({cls.__name__}) is not in the document")
    assert not problems, "\n".join(problems)


def test_the_document_is_valid_openapi():
    from openapi_spec_validator import validate

    validate(load_document()[1])


async def test_the_hub_serves_its_document_to_anyone(hub):
    anonymous = hub.anonymous()
    try:
        r = await anonymous.api("GET", "openapi.yaml")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/yaml")
        with open(DOCUMENT_PATH, encoding="utf-8") as f:
            assert yaml.safe_load(r.text) == yaml.safe_load(f)
        r = await anonymous.api("GET", "openapi.json")
        assert r.status_code == 200, r.text
        served = r.json()
        assert served["servers"] == [{"url": "/hub/api", "description": "this hub's API"}]
        assert served["paths"] == load_document()[1]["paths"]
    finally:
        await anonymous.close()


async def test_an_answer_that_breaks_the_document_fails_the_test(hub):
    """The check every API test runs on its answers can fail, and says why."""
    person = await hub.person()
    project = await person.create_project("Contract")
    r = await person.api("GET", f"projects/{project['id']}")
    assert r.status_code == 200
    body = r.json()
    del body["state"]
    broken = httpx.Response(200, json=body, request=r.request)
    with pytest.raises(
        BrokenContract, match=r"(?s)GET /hub/api/projects/[^ ]+ answered 200.*'state'"
    ):
        check_response(broken)
    teapot = httpx.Response(418, json={"status": 418, "message": "no"}, request=r.request)
    with pytest.raises(BrokenContract, match="a status the document does not list"):
        check_response(teapot)
    shapeless = httpx.Response(404, json={"error": "gone"}, request=r.request)
    with pytest.raises(BrokenContract, match="'status' is a required property"):
        check_response(shapeless)
    # JupyterHub's own routes are JupyterHub's to document
    check_response(
        httpx.Response(200, json=[], request=httpx.Request("GET", r.url.join("/hub/api/users")))
    )


# --- Schemathesis -------------------------------------------------------------------

# Never generated for: node writes would make the hub contact whatever address a
# generated node names (tests talk to loopback only), and they would change the node
# every other test's projects run on
NEVER = {("POST", "/nodes"), ("PATCH", "/nodes/{node_name}"), ("DELETE", "/nodes/{node_name}")}
# With real ids (a project and course of the person's): not what starts servers, runs
# restic or course jobs (slow, and servers would outlive the test), nor what deletes
# the ids the other operations use
NOT_WITH_REAL_IDS = {
    ("POST", "/projects/{project_id}/start"),
    ("POST", "/projects/{project_id}/copy"),
    ("POST", "/projects/{project_id}/move"),
    ("POST", "/projects/{project_id}/snapshots"),
    ("POST", "/projects/{project_id}/snapshots/{snapshot_id}/restore"),
    ("DELETE", "/projects/{project_id}"),
    ("DELETE", "/courses/{course_id}"),
    ("DELETE", "/courses/{course_id}/assignments/{assignment_id}"),
    ("POST", "/courses/{course_id}/assignments/{assignment_id}/{step}"),
    ("POST", "/courses/{course_id}/actions/start"),
    ("POST", "/courses/{course_id}/actions/exec"),
}


def explore(document, base_url, token, fixed, mode, deadline):
    """Run Schemathesis's cases for every operation of `document` as the owner of
    `token`; `fixed` path parameters replace generated ones (and leave out the
    operations in NOT_WITH_REAL_IDS). Returns (failures, operations not reached, how
    many answers had each status class)."""
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"token {token}"}
    failures, skipped = [], []
    statuses = Counter()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            key = (operation.method.upper(), operation.path)
            if key in NEVER or (fixed and key in NOT_WITH_REAL_IDS):
                continue
            if time.monotonic() > deadline:
                skipped.append(operation.label)
                continue
            names = {p.name for p in operation.path_parameters}
            pinned = {name: value for name, value in fixed.items() if name in names}
            strategy = operation.as_strategy(
                generation_mode=mode, headers=headers, path_parameters=pinned or None
            )

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                # no shrinking: the first failing case is reported as it was found
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                response = case.call_and_validate(
                    base_url=base_url, session=session, headers=headers, checks=CHECKS
                )
                statuses[f"{response.status_code // 100}xx"] += 1

            try:
                run()
            except Unsatisfiable:
                # nothing of it can be made invalid (negative mode, no body, free strings)
                continue
            except (Exception, FailureGroup) as e:
                failures.append(f"{operation.label} ({mode.value}): {e}")
    return failures, skipped, statuses


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(hub):
    person = await hub.person()
    project = await person.create_project("Explored")
    r = await person.api("POST", "courses", {"project": project["id"], "title": "Explored"})
    assert r.status_code == 201, r.text
    course = r.json()
    r = await person.api("POST", f"courses/{course['id']}/assignments", {"path": "hw1"})
    assert r.status_code == 201, r.text
    real_ids = {
        "project_id": project["id"],
        "course_id": course["id"],
        "assignment_id": r.json()["assignments"][0]["id"],
    }
    anonymous = hub.anonymous()
    r = await anonymous.api("GET", "openapi.json")
    await anonymous.close()
    document = r.json()
    base_url = hub.url + document["servers"][0]["url"]
    deadline = time.monotonic() + BUDGET_S
    runs = [
        (hub.admin.token, {}, schemathesis.GenerationMode.POSITIVE),
        (person.token, {}, schemathesis.GenerationMode.POSITIVE),
        (person.token, real_ids, schemathesis.GenerationMode.POSITIVE),
        (person.token, real_ids, schemathesis.GenerationMode.NEGATIVE),
    ]
    failures, skipped = [], []
    for token, fixed, mode in runs:
        # requests is synchronous, and the hub answers on this event loop
        found, left, statuses = await asyncio.to_thread(
            explore, document, base_url, token, fixed, mode, deadline
        )
        failures += found
        skipped += left
        # an exploration that never got past the door (a token refused everywhere)
        # would find nothing
        positive = mode == schemathesis.GenerationMode.POSITIVE
        assert statuses["4xx"] and (statuses["2xx"] or not positive), (fixed, mode, statuses)
    if skipped:
        warnings.warn(
            f"Schemathesis ran out of its {BUDGET_S:g} s before {len(skipped)} operations: "
            + ", ".join(skipped),
            stacklevel=1,
        )
    assert not failures, "\n\n".join(failures)
    # the person's project is still theirs, and still answers as the document says
    r = await person.api("GET", f"projects/{project['id']}")
    assert r.status_code == 200, r.text
