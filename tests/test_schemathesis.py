"""Property-based API testing: schemathesis generates requests (valid and invalid) for every operation of
/api/openapi.json and checks that none answers 5xx and that every answer matches the schema it documents.

The app runs in process against the test database. Each operation gets its own transaction (rolled back
at the end) and its own signed-in owner of a project with columns, a task, a comment and a second member;
generated path ids name those real resources half of the time.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from backend.api.main import app
from tests.conftest import Account, register

# Fuzzing examples per operation (the examples and coverage phases add their own); raise it for a deeper
# local run: AGORAX_FUZZ_EXAMPLES=500 pytest tests/test_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("AGORAX_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
EXAMPLES: Counter[str] = Counter()
ANSWERS: dict[str, Counter[str]] = {}
IDS: dict[str, int] = {}
BODY_IDS: dict[str, int] = {}
NEWCOMER: list[str] = [""]


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    real = {name: IDS[name] for name in path_parameters if name in IDS}
    return st.sampled_from([path_parameters, {**path_parameters, **real}])


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Ids in bodies (a task's column, its assignee) name real ones half of the time too, and so does the
    username of a member to add."""
    if not isinstance(body, dict):
        return st.just(body)
    real: dict[str, Any] = {name: BODY_IDS[name] for name in body if name in BODY_IDS}
    if "username" in body and context.operation.path.endswith("/members"):
        real["username"] = NEWCOMER[0]
    return st.sampled_from([body, {**body, **real}])


@schema.hook
def flatmap_headers(context: Any, headers: Any) -> Any:
    """A generated If-Match is almost never a valid version: half of the time, send none."""
    if not isinstance(headers, dict) or "if-match" not in {name.lower() for name in headers}:
        return st.just(headers)
    return st.sampled_from([headers, {k: v for k, v in headers.items() if k.lower() != "if-match"}])


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    if not EXAMPLES:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(
            f"\nschemathesis: {len(EXAMPLES)} operations, {sum(EXAMPLES.values())} examples checked"
            f" in {time.monotonic() - started:.1f}s"
        )
        for label, n in sorted(EXAMPLES.items()):
            answers = " ".join(f"{code}x{k}" for code, k in sorted(ANSWERS.get(label, Counter()).items()))
            print(f"  {n:5d}  {label:50s} {answers}")


@pytest.fixture
def owner(client: TestClient, db: Session, cheap_password_hashing: None) -> Account:
    owner, other, newcomer = register(client), register(client), register(client)
    NEWCOMER[0] = newcomer.username
    headers = owner.headers
    project = client.post("/api/projects", json={"name": "Fuzzed"}, headers=headers).json()
    columns = client.get(f"/api/projects/{project['id']}/columns", headers=headers).json()
    task = client.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "Fuzz me"}, headers=headers
    ).json()
    client.post(f"/api/tasks/{task['id']}/comments", json={"body": "hi"}, headers=headers)
    client.post(
        f"/api/projects/{project['id']}/members",
        json={"username": other.username, "role": "editor"},
        headers=headers,
    )
    IDS.clear()
    IDS.update(project_id=project["id"], column_id=columns[-1]["id"], task_id=task["id"], user_id=other.id)
    BODY_IDS.clear()
    BODY_IDS.update(column_id=columns[0]["id"], assignee_id=other.id)
    return owner


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, owner: Account) -> None:
    EXAMPLES[case.operation.label] += 1
    response = case.call_and_validate(headers=owner.headers, checks=CHECKS)
    ANSWERS.setdefault(case.operation.label, Counter())[str(response.status_code)] += 1


# Titles: any Unicode text (without NUL, which PostgreSQL cannot store, and lone surrogates, which UTF-8
# cannot carry) comes back exactly as sent once its ends are trimmed. Generated with hypothesis too.

_EDGE = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))
_INNER = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@st.composite
def titles(draw: st.DrawFn) -> str:
    """1..500 code points whose first and last are no kind of whitespace or control character."""
    middle = draw(st.text(_INNER, max_size=498))
    # Whatever the middle ends with, the title must not end in whitespace: close it with an edge character.
    return draw(_EDGE) + (middle + draw(_EDGE) if middle else "")


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(title=titles())
def test_any_unicode_title_round_trips_exactly(client: TestClient, owner: Account, title: str) -> None:
    assert 1 <= len(title) <= 500
    created = client.post(
        f"/api/projects/{IDS['project_id']}/tasks", json={"title": title}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["title"] == title
    fetched = client.get(f"/api/tasks/{created.json()['id']}", headers=owner.headers)
    assert fetched.json()["title"] == title
