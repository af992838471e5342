"""DESIGN.md's role table, cell by cell: every endpoint times every kind of caller.

One table (ENDPOINTS) drives one parametrized test. Each cell checks the exact status; a refusal must leave
the database exactly as it was (projects, members, columns, tasks, comments) and emit no event (no outbox
row, projects.event_seq unchanged); a granted write must emit exactly one event of the expected type, and a
granted read must change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.api.main import app
from backend.config import get_settings
from backend.db.models import Column, Comment, Project, ProjectMember, Role, Task, User
from backend.security import create_access_token
from tests.conftest import Account, unique

# The callers of DESIGN.md's role table, plus an invalid token (well-formed, signed with the wrong key,
# naming the owner: the dangerous kind).
ACTORS = ("owner", "editor", "viewer", "outsider", "no_token", "bad_token")


def read(ok: int = 200) -> dict[str, int]:
    return {"owner": ok, "editor": ok, "viewer": ok, "outsider": 404, "no_token": 401}


def write(ok: int) -> dict[str, int]:
    return {"owner": ok, "editor": ok, "viewer": 403, "outsider": 404, "no_token": 401}


def owner_only(ok: int) -> dict[str, int]:
    return {"owner": ok, "editor": 403, "viewer": 403, "outsider": 404, "no_token": 401}


def any_signed_in(ok: int) -> dict[str, int]:
    return {"owner": ok, "editor": ok, "viewer": ok, "outsider": ok, "no_token": 401}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    # Formatted with the world's ids: pid, task, col0..2, bystander, newcomer, newcomer_name, me.
    path: str
    expect: dict[str, int]
    event: str | None = None  # the event type a granted write emits
    body: dict[str, Any] | None = None
    co_owner: bool = False  # make the bystander a second owner first
    reads: bool = False  # a POST that only reads (the AI endpoints): it must change nothing


ENDPOINTS: tuple[Endpoint, ...] = (
    # Not tied to a project: any signed-in user.
    Endpoint("me", "GET", "/api/users/me", any_signed_in(200)),
    Endpoint("list_projects", "GET", "/api/projects", any_signed_in(200)),
    Endpoint("create_project", "POST", "/api/projects", any_signed_in(201), body={"name": "Another"}),
    # read project, columns, tasks, comments, events (and members)
    Endpoint("get_project", "GET", "/api/projects/{pid}", read()),
    Endpoint("list_members", "GET", "/api/projects/{pid}/members", read()),
    Endpoint("list_columns", "GET", "/api/projects/{pid}/columns", read()),
    Endpoint("list_tasks", "GET", "/api/projects/{pid}/tasks", read()),
    Endpoint("get_task", "GET", "/api/tasks/{task}", read()),
    Endpoint("list_comments", "GET", "/api/tasks/{task}/comments", read()),
    Endpoint("list_events", "GET", "/api/projects/{pid}/events?after=0", read()),
    # create / update / move / delete tasks, comment
    Endpoint(
        "create_task", "POST", "/api/projects/{pid}/tasks", write(201), "task.created", {"title": "New"}
    ),
    Endpoint("update_task", "PATCH", "/api/tasks/{task}", write(200), "task.updated", {"title": "Renamed"}),
    Endpoint(
        "move_task",
        "POST",
        "/api/tasks/{task}/move",
        write(200),
        "task.moved",
        {"column_id": "{col1}", "position": 0},
    ),
    Endpoint("delete_task", "DELETE", "/api/tasks/{task}", write(204), "task.deleted"),
    Endpoint(
        "add_comment", "POST", "/api/tasks/{task}/comments", write(201), "comment.created", {"body": "Hi"}
    ),
    # create / rename / reorder / delete columns
    Endpoint(
        "create_column",
        "POST",
        "/api/projects/{pid}/columns",
        write(201),
        "column.created",
        {"name": "Review", "position": 1},
    ),
    Endpoint(
        "rename_column", "PATCH", "/api/columns/{col0}", write(200), "column.updated", {"name": "Later"}
    ),
    Endpoint("reorder_column", "PATCH", "/api/columns/{col0}", write(200), "column.updated", {"position": 2}),
    Endpoint("delete_column", "DELETE", "/api/columns/{col2}", write(204), "column.deleted"),
    # rename project; delete project
    Endpoint(
        "rename_project",
        "PATCH",
        "/api/projects/{pid}",
        owner_only(200),
        "project.updated",
        {"name": "Renamed", "description": "New words"},
    ),
    Endpoint("delete_project", "DELETE", "/api/projects/{pid}", owner_only(204), "project.deleted"),
    # add / change role / remove members
    Endpoint(
        "add_member",
        "POST",
        "/api/projects/{pid}/members",
        owner_only(201),
        "member.added",
        {"username": "{newcomer_name}", "role": "viewer"},
    ),
    Endpoint(
        "change_role",
        "PATCH",
        "/api/projects/{pid}/members/{bystander}",
        owner_only(200),
        "member.role_changed",
        {"role": "editor"},
    ),
    Endpoint(
        "remove_member",
        "DELETE",
        "/api/projects/{pid}/members/{bystander}",
        owner_only(204),
        "member.removed",
    ),
    # AI answers: reading the project
    Endpoint(
        "ai_parse",
        "POST",
        "/api/ai/parse",
        read(),
        body={"text": "Call Bob tomorrow *work", "project_id": "{pid}"},
        reads=True,
    ),
    Endpoint("ai_suggest", "GET", "/api/ai/suggest?project_id={pid}&q=Fir", read()),
    Endpoint(
        "ai_analyze_draft",
        "POST",
        "/api/ai/analyze",
        read(),
        body={"project_id": "{pid}", "title": "Second"},
        reads=True,
    ),
    Endpoint("ai_analyze_task", "POST", "/api/ai/analyze", read(), body={"task_id": "{task}"}, reads=True),
    # leave project: yes, unless last owner (409)
    Endpoint(
        "leave_project",
        "DELETE",
        "/api/projects/{pid}/members/{me}",
        {"owner": 409, "editor": 204, "viewer": 204, "outsider": 404, "no_token": 401},
        "member.removed",
    ),
    Endpoint(
        "leave_project_with_co_owner",
        "DELETE",
        "/api/projects/{pid}/members/{me}",
        {"owner": 204, "editor": 204, "viewer": 204, "outsider": 404, "no_token": 401},
        "member.removed",
        co_owner=True,
    ),
)

CELLS = [(endpoint, actor) for endpoint in ENDPOINTS for actor in ACTORS]


def expected_status(endpoint: Endpoint, actor: str) -> int:
    return 401 if actor == "bad_token" else endpoint.expect[actor]


@dataclass
class World:
    """A project with one member of each role, a bystander (viewer) to manage, and a newcomer to add."""

    accounts: dict[str, Account]
    pid: int
    ids: dict[str, Any]


PASSWORD = "correct horse 1"
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost is not under test


def build_world(db: Session) -> World:
    """Rows written straight through the ORM, in a handful of round trips, to keep 150+ cells fast; the API
    itself creates the same rows in test_api.py."""
    names = ("owner", "editor", "viewer", "outsider", "bystander", "newcomer")
    people = {
        name: User(
            username=unique(name), email=f"{name}@example.com", display_name=name, password_hash=PASSWORD_HASH
        )
        for name in names
    }
    project = Project(name="Board")
    db.add_all([*people.values(), project])
    db.flush()
    board = [
        Column(project_id=project.id, name=name, position=i)
        for i, name in enumerate(("To do", "Doing", "Done"))
    ]
    roles = {"owner": Role.owner, "editor": Role.editor, "viewer": Role.viewer, "bystander": Role.viewer}
    db.add_all(
        [
            ProjectMember(project_id=project.id, user_id=people[name].id, role=role)
            for name, role in roles.items()
        ]
    )
    db.add_all(board)
    db.flush()
    work = [
        Task(
            project_id=project.id,
            column_id=board[0].id,
            title=title,
            position=i,
            created_by=people["owner"].id,
        )
        for i, title in enumerate(("First", "Second"))
    ]
    db.add_all(work)
    db.flush()
    db.add(Comment(task_id=work[0].id, author_id=people["owner"].id, body="Noted"))
    db.commit()
    settings = get_settings()
    accounts = {
        name: Account(
            id=user.id,
            username=user.username,
            password=PASSWORD,
            token=create_access_token(user_id=user.id, settings=settings),
        )
        for name, user in people.items()
    }
    ids = {
        "pid": project.id,
        "task": work[0].id,
        **{f"col{i}": column.id for i, column in enumerate(board)},
        "bystander": people["bystander"].id,
        "newcomer": people["newcomer"].id,
        "newcomer_name": people["newcomer"].username,
    }
    db.expunge_all()
    return World(accounts=accounts, pid=project.id, ids=ids)


def forged_token(user_id: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, "not-the-server-key-" * 3, algorithm="HS256")


def headers_for(world: World, actor: str) -> dict[str, str]:
    if actor == "no_token":
        return {}
    if actor == "bad_token":
        return {"Authorization": f"Bearer {forged_token(world.accounts['owner'].id)}"}
    return world.accounts[actor].headers


def fill(value: Any, ids: dict[str, Any]) -> Any:
    """Put the world's ids into a path or body template; a template that is exactly "{x}" keeps x's type."""
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    return value.format(**ids) if isinstance(value, str) else value


def snapshot(db: Session, pid: int) -> dict[str, Any]:
    """Every row the project owns, plus the set of all project ids and memberships (for create_project)."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in db.execute(text(sql), {"pid": pid})]

    return {
        "project": rows("SELECT id, name, description, event_seq, updated_at FROM projects WHERE id = :pid"),
        "all_projects": rows("SELECT id, name FROM projects ORDER BY id"),
        "members": rows("SELECT user_id, role FROM project_members WHERE project_id = :pid ORDER BY user_id"),
        "all_memberships": rows("SELECT project_id, user_id, role FROM project_members ORDER BY id"),
        "columns": rows(
            "SELECT id, name, position, is_done, updated_at FROM columns WHERE project_id = :pid ORDER BY id"
        ),
        "tasks": rows(
            "SELECT id, column_id, title, description, priority, due_at, assignee_id, labels::text, position,"
            " version, archived, updated_at FROM tasks WHERE project_id = :pid ORDER BY id"
        ),
        "comments": rows(
            "SELECT c.id, c.task_id, c.author_id, c.body FROM comments c JOIN tasks t ON t.id = c.task_id"
            " WHERE t.project_id = :pid ORDER BY c.id"
        ),
        "outbox": rows("SELECT seq, type FROM outbox WHERE project_id = :pid ORDER BY seq"),
    }


# How the table's placeholders are spelled in the app's route templates.
ROUTE_PARAMS = {
    "pid": "project_id",
    "task": "task_id",
    "col0": "column_id",
    "col2": "column_id",
    "bystander": "user_id",
    "me": "user_id",
}
PUBLIC_ROUTES = {"/api/auth/register", "/api/auth/token", "/api/health"}


def test_role_table_covers_every_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    """Every signed-in /api route is in the table, so a new route cannot slip past the matrix."""
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path not in PUBLIC_ROUTES
        for method in operations
    }
    covered = {
        (e.method, re.sub(r"\{(\w+)\}", lambda m: "{" + ROUTE_PARAMS[m[1]] + "}", e.path.split("?")[0]))
        for e in ENDPOINTS
    }
    assert routes - covered == set()
    assert covered - routes == set()
    with capsys.disabled():  # shown in CI output even without -s
        print(f"\nrole matrix: {len(ENDPOINTS)} endpoints x {len(ACTORS)} callers = {len(CELLS)} cells")


def content(snap: dict[str, Any]) -> dict[str, Any]:
    """The snapshot without the event bookkeeping: what a write is supposed to change."""
    project = [row[:3] + row[4:] for row in snap["project"]]
    return {**snap, "project": project, "outbox": None}


@pytest.mark.parametrize(
    ("endpoint", "actor"), CELLS, ids=[f"{endpoint.name}-{actor}" for endpoint, actor in CELLS]
)
def test_role_cell(client: TestClient, db: Session, endpoint: Endpoint, actor: str) -> None:
    world = build_world(db)
    owner = world.accounts["owner"].headers
    if endpoint.co_owner:
        promoted = client.patch(
            f"/api/projects/{world.pid}/members/{world.ids['bystander']}",
            json={"role": "owner"},
            headers=owner,
        )
        assert promoted.status_code == 200, promoted.text
    me = world.accounts[actor].id if actor in world.accounts else world.accounts["owner"].id
    ids = {**world.ids, "me": me}
    before = snapshot(db, world.pid)

    response = client.request(
        endpoint.method,
        fill(endpoint.path, ids),
        json=fill(endpoint.body, ids) if endpoint.body is not None else None,
        headers=headers_for(world, actor),
    )

    expected = expected_status(endpoint, actor)
    assert response.status_code == expected, response.text
    after = snapshot(db, world.pid)
    if expected >= 400:
        assert isinstance(response.json()["detail"], str)
        if expected == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        assert after == before, "a refused request changed the database or emitted an event"
    elif endpoint.method == "GET" or endpoint.reads:
        assert after == before, "a read changed the database"
    elif endpoint.event is None:  # creating a project: one new project, owned by the caller; no event
        created = response.json()
        assert after["all_projects"] == [*before["all_projects"], (created["id"], "Another")]
        assert (created["id"], me, "owner") in after["all_memberships"]
        assert after["outbox"] == before["outbox"]
    else:
        seq = before["project"][0][3]
        assert after["outbox"] == [*before["outbox"], (seq + 1, endpoint.event)]
        assert after["project"][0][3] == seq + 1 if after["project"] else endpoint.name == "delete_project"
        assert content(after) != content(before), "a granted write changed nothing"
