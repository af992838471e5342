"""The AI endpoints over HTTP: POST /api/ai/parse, GET /api/ai/suggest, POST /api/ai/analyze.

Members of any role may ask; non-members get 404 and anonymous callers 401 (tests/test_roles.py holds the
full matrix). Bad input is a 422, never a 500. Without GEMINI_API_KEY (the test settings) every answer is
local; one test points the engine at the fake Gemini server to check that its answers come through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.ai.engine import AIEngine
from backend.api.main import app
from backend.api.routes.ai import get_engine
from tests.conftest import Account
from tests.test_ai_gemini import FakeGemini, settings_for

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

NOW = "2021-06-24T12:00:00"

Json = dict[str, Any]


@dataclass
class Board:
    owner: Account
    viewer: Account
    outsider: Account
    pid: int
    tasks: dict[str, int]


TITLES = [
    "Deploy the release to staging",
    "Deploy the release to production",
    "Review the deployment checklist",
    "Write release notes",
    "Fix login page crash on Safari",
    "Water the plants",
]


def add_task(client: TestClient, who: Account, pid: int, title: str, **fields: Any) -> int:
    response = client.post(f"/api/projects/{pid}/tasks", json={"title": title, **fields}, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def board(client: TestClient, make_account: Callable[..., Account]) -> Board:
    owner, viewer, outsider = make_account(), make_account(), make_account()
    created = client.post("/api/projects", json={"name": "Launch"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    added = client.post(
        f"/api/projects/{pid}/members",
        json={"username": viewer.username, "role": "viewer"},
        headers=owner.headers,
    )
    assert added.status_code == 201, added.text
    tasks = {
        title: add_task(client, owner, pid, title, labels=["ops"] if "Deploy" in title else [])
        for title in TITLES
    }
    return Board(owner=owner, viewer=viewer, outsider=outsider, pid=pid, tasks=tasks)


# POST /api/ai/parse


def test_parse_answers_the_task_fields(client: TestClient, board: Board) -> None:
    response = client.post(
        "/api/ai/parse",
        json={"text": "Call Bob tomorrow at 5pm *sales !high @anna", "tz": "Europe/Berlin", "now": NOW},
        headers=board.viewer.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.pop("elapsed_ms") >= 0
    assert body == {
        "title": "Call Bob @anna",
        "due_at": "2021-06-25T17:00:00+02:00",
        "priority": 3,
        "labels": ["sales"],
        "assignees": ["anna"],
        "project": None,
        "repeat": None,
        "source": "local",
    }


def test_parse_in_a_project_needs_membership(client: TestClient, board: Board) -> None:
    body = {"text": "Ship it friday", "project_id": board.pid}
    assert client.post("/api/ai/parse", json=body, headers=board.viewer.headers).status_code == 200
    refused = client.post("/api/ai/parse", json=body, headers=board.outsider.headers)
    assert (refused.status_code, refused.json()) == (404, {"detail": "Project not found"})
    missing = client.post("/api/ai/parse", json={**body, "project_id": 2**61}, headers=board.viewer.headers)
    assert missing.status_code == 404
    assert client.post("/api/ai/parse", json=body).status_code == 401


def test_parse_defaults_to_utc_and_the_current_time(client: TestClient, board: Board) -> None:
    body = client.post("/api/ai/parse", json={"text": "Call in 2 hours"}, headers=board.owner.headers).json()
    assert body["due_at"].endswith("Z") or body["due_at"].endswith("+00:00")


def test_parse_accepts_a_now_with_an_offset(client: TestClient, board: Board) -> None:
    body = {"text": "Call today", "tz": "Asia/Tokyo", "now": "2021-06-24T20:00:00+00:00"}
    answer = client.post("/api/ai/parse", json=body, headers=board.owner.headers).json()
    assert answer["due_at"] == "2021-06-25T05:00:00+09:00"


BAD_PARSE_BODIES: list[Json] = [
    {},
    {"text": ""},
    {"text": "   "},
    {"text": "x" * 1001},
    {"text": "bad\u0000byte"},
    {"text": 42},
    {"text": "ok", "tz": "Mars/Olympus_Mons"},
    {"text": "ok", "tz": "local"},
    {"text": "ok", "tz": "../../etc/passwd"},
    {"text": "ok", "tz": ""},
    {"text": "ok", "tz": "x" * 65},
    {"text": "ok", "now": "yesterday"},
    {"text": "ok", "now": 1624536000},
    {"text": "ok", "now": "2021-02-30T10:00:00"},
    {"text": "ok", "project_id": 0},
    {"text": "ok", "project_id": "abc"},
    {"text": "ok", "project_id": 2**63},
    {"text": "ok", "colour": "red"},
]


def test_parse_refuses_bad_input(client: TestClient, board: Board) -> None:
    for body in BAD_PARSE_BODIES:
        response = client.post("/api/ai/parse", json=body, headers=board.owner.headers)
        assert response.status_code == 422, (body, response.text)
        assert isinstance(response.json()["detail"], list)


def test_parse_takes_text_up_to_the_bound(client: TestClient, board: Board) -> None:
    response = client.post("/api/ai/parse", json={"text": "y" * 1000}, headers=board.owner.headers)
    assert response.status_code == 200
    assert len(response.json()["title"]) == 500


# GET /api/ai/suggest


def suggest(client: TestClient, who: Account, pid: int, q: str, **params: Any) -> Any:
    return client.get("/api/ai/suggest", params={"project_id": pid, "q": q, **params}, headers=who.headers)


def test_suggest_ranks_the_projects_own_titles(client: TestClient, board: Board) -> None:
    response = suggest(client, board.viewer, board.pid, "deploy the rel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["elapsed_ms"] >= 0) == ("local", True)
    titles = [item["title"] for item in body["suggestions"]]
    assert titles[:2] == ["Deploy the release to production", "Deploy the release to staging"]  # newest first
    assert "Water the plants" not in titles
    top = body["suggestions"][0]
    assert (top["task_id"], top["score"]) == (board.tasks["Deploy the release to production"], 100.0)


def test_suggest_forgives_typos_and_finds_later_words(client: TestClient, board: Board) -> None:
    assert (
        suggest(client, board.owner, board.pid, "wtaer").json()["suggestions"][0]["title"]
        == "Water the plants"
    )
    titles = [
        item["title"] for item in suggest(client, board.owner, board.pid, "safari").json()["suggestions"]
    ]
    assert titles == ["Fix login page crash on Safari"]


def test_suggest_sees_new_tasks_at_once(client: TestClient, board: Board) -> None:
    assert suggest(client, board.owner, board.pid, "quarterly").json()["suggestions"] == []
    task_id = add_task(client, board.owner, board.pid, "Quarterly tax return")
    suggestions = suggest(client, board.owner, board.pid, "quarterly").json()["suggestions"]
    assert [item["task_id"] for item in suggestions] == [task_id]


def test_suggest_limits_and_empty_queries(client: TestClient, board: Board) -> None:
    assert len(suggest(client, board.owner, board.pid, "the", limit=2).json()["suggestions"]) == 2
    assert suggest(client, board.owner, board.pid, "  ").json()["suggestions"] == []
    assert suggest(client, board.owner, board.pid, "zzzzqqq").json()["suggestions"] == []


def test_suggest_needs_membership(client: TestClient, board: Board) -> None:
    assert suggest(client, board.outsider, board.pid, "deploy").status_code == 404
    assert client.get("/api/ai/suggest", params={"project_id": board.pid, "q": "deploy"}).status_code == 401


BAD_SUGGEST_PARAMS: list[Json] = [
    {"q": "x"},
    {"project_id": "{pid}"},
    {"project_id": "abc", "q": "x"},
    {"project_id": 0, "q": "x"},
    {"project_id": "{pid}", "q": "x" * 201},
    {"project_id": "{pid}", "q": "a\u0000b"},
    {"project_id": "{pid}", "q": "x", "limit": 0},
    {"project_id": "{pid}", "q": "x", "limit": 21},
]


def test_suggest_refuses_bad_input(client: TestClient, board: Board) -> None:
    for params in BAD_SUGGEST_PARAMS:
        filled = {key: board.pid if value == "{pid}" else value for key, value in params.items()}
        response = client.get("/api/ai/suggest", params=filled, headers=board.owner.headers)
        assert response.status_code == 422, (params, response.text)


# POST /api/ai/analyze


def analyze(client: TestClient, who: Account, body: Json) -> Any:
    return client.post("/api/ai/analyze", json={"tz": "UTC", "now": NOW, **body}, headers=who.headers)


def test_analyze_a_draft(client: TestClient, board: Board) -> None:
    response = analyze(
        client,
        board.viewer,
        {
            "project_id": board.pid,
            "title": "Deploy the release to staging tomorrow",
            "description": "- run the migrations\n- [ ] smoke test the login page\n\nThanks!",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "local"
    assert body["due_at"] == "2021-06-25T12:00:00Z"
    assert "ops" not in body["labels"]  # "ops" is in use, but this text does not name it
    assert body["subtasks"] == ["Run the migrations", "Smoke test the login page"]
    duplicates = body["duplicates"]
    assert duplicates[0]["task_id"] == board.tasks["Deploy the release to staging"]
    assert duplicates[0]["score"] == 100.0
    assert all(item["score"] >= 85 for item in duplicates)


def test_analyze_a_stored_task(client: TestClient, board: Board) -> None:
    task_id = board.tasks["Fix login page crash on Safari"]
    body = analyze(client, board.owner, {"task_id": task_id}).json()
    assert body["source"] == "local"
    assert body["priority"] == 3
    assert "bug" in body["labels"]
    assert task_id not in [item["task_id"] for item in body["duplicates"]]


def test_analyze_skips_done_and_archived_tasks(client: TestClient, board: Board, db: Session) -> None:
    staging = board.tasks["Deploy the release to staging"]
    production = board.tasks["Deploy the release to production"]
    # Every new project has a "Done" column.
    done = db.execute(
        text("SELECT id FROM columns WHERE project_id = :pid AND is_done"), {"pid": board.pid}
    ).scalar_one()
    moved = client.post(f"/api/tasks/{staging}/move", json={"column_id": done}, headers=board.owner.headers)
    assert moved.status_code == 200, moved.text
    archived = client.patch(f"/api/tasks/{production}", json={"archived": True}, headers=board.owner.headers)
    assert archived.status_code == 200, archived.text
    body = analyze(client, board.owner, {"project_id": board.pid, "title": "Deploy the release"}).json()
    assert {staging, production}.isdisjoint(item["task_id"] for item in body["duplicates"])


def test_analyze_rules(client: TestClient, board: Board) -> None:
    def answer(title: str, description: str = "") -> Json:
        return analyze(
            client, board.owner, {"project_id": board.pid, "title": title, "description": description}
        ).json()

    assert answer("Production outage in checkout")["priority"] == 5
    assert answer("Security review of tokens")["priority"] == 4
    assert answer("Maybe a dark theme someday")["priority"] == 1
    assert answer("Lunch")["priority"] is None
    assert answer("Update the ops runbook")["labels"] == ["ops"]  # a label in use, named
    assert answer("Write the README")["labels"] == ["docs"]  # a category
    assert answer("Write the docs and record the demo video")["subtasks"] == [
        "Write the docs",
        "Record the demo video",
    ]
    assert answer("Buy salt and pepper")["subtasks"] == []
    assert answer("Fix it !2 *urgent-ish")["priority"] == 2


def test_analyze_needs_membership(client: TestClient, board: Board) -> None:
    task_id = board.tasks["Write release notes"]
    assert analyze(client, board.outsider, {"task_id": task_id}).json() == {"detail": "Task not found"}
    assert analyze(client, board.outsider, {"project_id": board.pid, "title": "x"}).status_code == 404
    assert analyze(client, board.owner, {"task_id": 2**61}).status_code == 404
    assert client.post("/api/ai/analyze", json={"task_id": task_id}).status_code == 401


BAD_ANALYZE_BODIES: list[Json] = [
    {},
    {"project_id": "{pid}"},
    {"title": "Lonely title"},
    {"task_id": "{task}", "title": "Both"},
    {"task_id": "{task}", "project_id": "{pid}"},
    {"project_id": "{pid}", "title": ""},
    {"project_id": "{pid}", "title": "x" * 501},
    {"project_id": "{pid}", "title": "ok", "description": "x" * 20_001},
    {"project_id": "{pid}", "title": "ok", "tz": "Nowhere/Land"},
    {"task_id": 0},
    {"task_id": "{task}", "now": "soon"},
]


def test_analyze_refuses_bad_input(client: TestClient, board: Board) -> None:
    ids = {"{pid}": board.pid, "{task}": board.tasks["Water the plants"]}
    for body in BAD_ANALYZE_BODIES:
        filled = {
            key: ids.get(value, value) if isinstance(value, str) else value for key, value in body.items()
        }
        response = client.post("/api/ai/analyze", json=filled, headers=board.owner.headers)
        assert response.status_code == 422, (body, response.text)


# Gemini through the API


@pytest.fixture
def gemini_engine(client: TestClient) -> Iterator[FakeGemini]:
    """The routes' engine pointed at the fake Gemini server (built in the app's event loop)."""
    fake = FakeGemini()
    engines: list[AIEngine] = []

    async def engine() -> AIEngine:
        if not engines:
            engines.append(
                AIEngine.from_settings(settings_for(fake.url), key_prefix=f"test:ai:api:{id(fake)}")
            )
        return engines[0]

    app.dependency_overrides[get_engine] = engine
    yield fake
    app.dependency_overrides.pop(get_engine, None)
    if engines:
        assert client.portal is not None
        client.portal.call(engines[0].aclose)
    fake.close()


def test_gemini_answers_come_through_the_api(
    client: TestClient, board: Board, gemini_engine: FakeGemini
) -> None:
    body = {"text": "water the plants tomorrow at 9am every other day", "project_id": board.pid, "now": NOW}
    answer = client.post(
        "/api/ai/parse", json={**body, "tz": "Europe/Berlin"}, headers=board.owner.headers
    ).json()
    assert (answer["source"], answer["title"], answer["due_at"]) == (
        "gemini",
        "Water the plants",
        "2021-06-25T09:00:00+02:00",
    )
    sent = gemini_engine.requests[0]["body"]["contents"][0]["parts"][0]["text"]
    assert board.owner.username in sent and "ops" in sent  # members and labels in use go along
    gemini_engine.mode = "malformed"
    answer = client.post("/api/ai/parse", json=body, headers=board.owner.headers).json()
    assert (answer["source"], answer["title"]) == ("local", "water the plants")


def test_health_reports_the_gemini_breaker(client: TestClient) -> None:
    """Without GEMINI_API_KEY (as in tests) the AI layer is local only, which health says plainly."""
    body = client.get("/api/health").json()
    assert body["gemini"] == {"state": "disabled"}
    assert {"database", "redis", "rabbitmq", "relay", "workers"} <= set(body)
