"""Writes that race each other or a role change, through the real API with one connection per request.

Nothing here runs in the rolled-back test transaction: the world is committed and removed afterwards. To make
each race happen every time, the test holds the project's row lock (as a writer in mid-transaction does),
queues the requests behind it one by one (PostgreSQL grants a row lock in the order it was asked for) and
only then lets go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, select, text

from backend.api.main import app
from backend.config import get_settings
from backend.db.models import Column, OutboxEvent, Project, ProjectMember, Role, User
from backend.db.session import get_engine, session_scope
from backend.security import create_access_token
from tests.conftest import unique

Json = dict[str, Any]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Json | None = None


@dataclass(frozen=True)
class World:
    pid: int
    owner: dict[str, str]
    editor: dict[str, str]
    editor_id: int
    columns: tuple[int, int]


def new_user(prefix: str) -> User:
    name = unique(prefix)
    return User(username=name, email=f"{name}@example.com", display_name=name, password_hash="-")


@pytest.fixture
def world(migrated_database: None) -> Iterator[World]:
    with session_scope() as session:
        owner, editor = (new_user(role) for role in ("owner", "editor"))
        project = Project(name="Race")
        session.add_all([owner, editor, project])
        session.flush()
        columns = [Column(project_id=project.id, name=name, position=i) for i, name in enumerate("AB")]
        session.add_all(
            [
                *columns,
                ProjectMember(project_id=project.id, user_id=owner.id, role=Role.owner),
                ProjectMember(project_id=project.id, user_id=editor.id, role=Role.editor),
            ]
        )
        session.commit()
        settings = get_settings()

        def headers(user: User) -> dict[str, str]:
            return {"Authorization": f"Bearer {create_access_token(user_id=user.id, settings=settings)}"}

        built = World(
            pid=project.id,
            owner=headers(owner),
            editor=headers(editor),
            editor_id=editor.id,
            columns=(columns[0].id, columns[1].id),
        )
        user_ids = [owner.id, editor.id]
    try:
        yield built
    finally:
        with session_scope() as session:
            session.execute(delete(OutboxEvent).where(OutboxEvent.project_id == built.pid))
            session.execute(delete(Project).where(Project.id == built.pid))
            session.execute(delete(User).where(User.id.in_(user_ids)))
            session.commit()


def send(call: Call) -> int:
    # A client per request: each goes through its own event loop and its own pooled connection.
    return (
        TestClient(app, raise_server_exceptions=False)
        .request(call.method, f"/api{call.path}", json=call.body, headers=call.headers)
        .status_code
    )


def committed(call: Call) -> Json:
    response = TestClient(app).request(call.method, f"/api{call.path}", json=call.body, headers=call.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


@contextmanager
def project_locked(pid: int) -> Iterator[Connection]:
    with get_engine().connect() as holder:
        holder.execute(text("SELECT 1 FROM projects WHERE id = :pid FOR UPDATE"), {"pid": pid})
        yield holder
        holder.commit()


def wait_for_waiters(number: int) -> None:
    """Until `number` sessions of this database wait for a lock."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 20
    with get_engine().connect() as probe:
        while (seen := probe.execute(waiting).scalar_one()) < number:
            assert time.monotonic() < deadline, f"{seen} of {number} requests queued for the lock"
            probe.rollback()
            time.sleep(0.02)


def race(pid: int, calls: list[Call], meanwhile: Callable[[Connection], object] | None = None) -> list[int]:
    """Each call's status, the calls having queued for the project lock in list order; `meanwhile` runs in
    the lock holder's transaction, committed before the queue moves."""
    with ThreadPoolExecutor(len(calls)) as pool:
        with project_locked(pid) as holder:
            futures = []
            for queued, call in enumerate(calls, start=1):
                futures.append(pool.submit(send, call))
                wait_for_waiters(queued)
            if meanwhile is not None:
                meanwhile(holder)
        return [future.result() for future in futures]


def new_task(world: World) -> Json:
    return committed(Call("POST", f"/projects/{world.pid}/tasks", world.owner, {"title": "Contested"}))


def task_events(world: World) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(OutboxEvent.type).where(OutboxEvent.project_id == world.pid).order_by(OutboxEvent.seq)
            )
        )


WRITES = [
    Call("PATCH", "/tasks/{task}", {}, {"title": "Still an editor?"}),
    Call("POST", "/tasks/{task}/move", {}, {"column_id": "{column}"}),
    Call("DELETE", "/tasks/{task}", {}),
    Call("POST", "/tasks/{task}/comments", {}, {"body": "Still an editor?"}),
    Call("POST", "/projects/{pid}/tasks", {}, {"title": "Still an editor?"}),
    Call("POST", "/projects/{pid}/columns", {}, {"name": "Still an editor?"}),
    Call("PATCH", "/columns/{column}", {}, {"name": "Still an editor?"}),
]
WRITE_IDS = ["patch", "move", "delete", "comment", "create task", "create column", "rename column"]


def editor_write(world: World, template: Call, task_id: int) -> Call:
    ids = {"task": task_id, "pid": world.pid, "column": world.columns[1]}
    body = template.body and {
        key: world.columns[1] if value == "{column}" else value for key, value in template.body.items()
    }
    return Call(template.method, template.path.format(**ids), world.editor, body)


def test_concurrent_deletes_of_a_task_give_one_204_and_404s(world: World) -> None:
    task = new_task(world)
    statuses = race(world.pid, [Call("DELETE", f"/tasks/{task['id']}", world.owner)] * 8)
    assert statuses == [204] + [404] * 7
    assert task_events(world) == ["task.created", "task.deleted"]


@pytest.mark.parametrize("late", WRITES[:4], ids=WRITE_IDS[:4])
def test_a_write_queued_behind_a_delete_of_its_task_is_404(world: World, late: Call) -> None:
    task = new_task(world)
    deleting = Call("DELETE", f"/tasks/{task['id']}", world.owner)
    assert race(world.pid, [deleting, editor_write(world, late, task["id"])]) == [204, 404]
    assert task_events(world) == ["task.created", "task.deleted"]


def test_concurrent_deletes_of_a_column_give_one_204_and_404s(world: World) -> None:
    statuses = race(world.pid, [Call("DELETE", f"/columns/{world.columns[1]}", world.owner)] * 4)
    assert statuses == [204] + [404] * 3


def test_a_column_rename_queued_behind_its_delete_is_404(world: World) -> None:
    statuses = race(
        world.pid,
        [
            Call("DELETE", f"/columns/{world.columns[1]}", world.owner),
            Call("PATCH", f"/columns/{world.columns[1]}", world.editor, {"name": "Too late"}),
        ],
    )
    assert statuses == [204, 404]


@pytest.mark.parametrize("template", WRITES, ids=WRITE_IDS)
def test_an_editor_demoted_while_their_write_waits_is_refused(world: World, template: Call) -> None:
    task = new_task(world)

    def demote(holder: Connection) -> None:
        holder.execute(
            text("UPDATE project_members SET role = 'viewer' WHERE project_id = :pid AND user_id = :uid"),
            {"pid": world.pid, "uid": world.editor_id},
        )

    assert race(world.pid, [editor_write(world, template, task["id"])], meanwhile=demote) == [403]
    assert task_events(world) == ["task.created"]


@pytest.mark.parametrize("template", WRITES, ids=WRITE_IDS)
def test_an_editor_removed_while_their_write_waits_gets_404(world: World, template: Call) -> None:
    task = new_task(world)

    def remove(holder: Connection) -> None:
        holder.execute(
            text("DELETE FROM project_members WHERE project_id = :pid AND user_id = :uid"),
            {"pid": world.pid, "uid": world.editor_id},
        )

    assert race(world.pid, [editor_write(world, template, task["id"])], meanwhile=remove) == [404]
    assert task_events(world) == ["task.created"]
