"""Behaviour of every REST endpoint (DESIGN.md's API list) and its answers to bad input.

The `client` fixture raises any server error, so every request here is also a check that nothing answers 500.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import event as sql_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.api.deps import expected_version
from backend.config import get_settings
from tests.conftest import Account, register, unique

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


Json = dict[str, Any]


# Helpers


def new_project(client: TestClient, who: Account, name: str = "Board") -> int:
    response = client.post("/api/projects", json={"name": name}, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def column_ids(client: TestClient, who: Account, pid: int) -> list[int]:
    response = client.get(f"/api/projects/{pid}/columns", headers=who.headers)
    assert response.status_code == 200, response.text
    return [column["id"] for column in response.json()]


def new_task(client: TestClient, who: Account, pid: int, title: str = "Task", **fields: Any) -> Json:
    response = client.post(f"/api/projects/{pid}/tasks", json={"title": title, **fields}, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


def add_member(client: TestClient, owner: Account, pid: int, who: Account, role: str) -> None:
    response = client.post(
        f"/api/projects/{pid}/members", json={"username": who.username, "role": role}, headers=owner.headers
    )
    assert response.status_code == 201, response.text


def titles_by_position(db: Session, column_id: int) -> list[tuple[int, str]]:
    """(position, title) of every task in a column, as stored."""
    rows = db.execute(
        text("SELECT position, title FROM tasks WHERE column_id = :c ORDER BY position, id"), {"c": column_id}
    )
    return [(row.position, row.title) for row in rows]


def assert_dense(db: Session, column_id: int, titles: list[str]) -> None:
    assert titles_by_position(db, column_id) == list(enumerate(titles))


def event_types(client: TestClient, who: Account, pid: int, after: int = 0) -> list[str]:
    page = client.get(f"/api/projects/{pid}/events", params={"after": after}, headers=who.headers)
    assert page.status_code == 200, page.text
    return [event["type"] for event in page.json()["events"]]


def count(db: Session, sql: str, **params: Any) -> int:
    return db.execute(text(sql), params).scalar_one()


@pytest.fixture
def owner(make_account: Callable[..., Account]) -> Account:
    return make_account()


@pytest.fixture
def pid(client: TestClient, owner: Account) -> int:
    return new_project(client, owner)


# Accounts and tokens (token attacks: test_tokens.py; passwords, sign-in throttling: test_auth_security.py)


def test_register_answers_201_with_the_public_user(client: TestClient) -> None:
    name = unique("Reg")
    response = client.post(
        "/api/auth/register",
        json={"username": name, "email": f"{name}@Example.com", "password": "long enough 1"},
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {"id", "username", "email", "display_name", "created_at"}
    assert user["username"] == name and user["display_name"] == name
    assert user["email"].lower() == f"{name}@example.com".lower()
    assert datetime.fromisoformat(user["created_at"]).utcoffset() == timedelta(0)


def test_register_keeps_the_display_name(client: TestClient) -> None:
    name = unique("disp")
    response = client.post(
        "/api/auth/register",
        json={
            "username": name,
            "email": "d@example.com",
            "password": "long enough 1",
            "display_name": " Zoë ",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["display_name"] == "Zoë"


def test_username_is_taken_case_insensitively(client: TestClient, db: Session) -> None:
    name = unique("Case")
    register(client, name)
    for variant in (name, name.upper(), name.lower()):
        again = client.post(
            "/api/auth/register",
            json={"username": variant, "email": "x@example.com", "password": "long enough 1"},
        )
        assert again.status_code == 409, again.text
        assert again.json()["detail"] == "That username is taken"
    assert count(db, "SELECT count(*) FROM users WHERE lower(username) = :n", n=name.lower()) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"email": "not-an-email"},
        {"email": "a@"},
        {"email": ""},
        {"password": "short12"},  # 7 characters
        {"password": "x" * 73},  # bcrypt reads 72 bytes: refused rather than truncated
        {"password": "é" * 37},  # 74 bytes in UTF-8
        {"username": "ab"},
        {"username": "has space"},
        {"username": "x" * 41},
        {"display_name": "x" * 101},
        {"admin": True},
    ],
    ids=lambda change: next(iter(change)) + ":" + str(next(iter(change.values())))[:12],
)
def test_register_refuses_bad_fields(client: TestClient, change: Json) -> None:
    body = {"username": unique("bad"), "email": "ok@example.com", "password": "long enough 1", **change}
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 422, response.text
    field = next(iter(change))
    assert any(error["loc"][-1] == field for error in response.json()["detail"])


def test_register_refuses_missing_fields(client: TestClient) -> None:
    response = client.post("/api/auth/register", json={"username": unique("m")})
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json()["detail"]} == {
        ("body", "email"),
        ("body", "password"),
    }


def test_token_is_a_bearer_token_that_signs_in(client: TestClient, owner: Account) -> None:
    response = client.post("/api/auth/token", data={"username": owner.username, "password": owner.password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == get_settings().access_token_expire_minutes * 60
    me = client.get("/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == owner.id


def test_token_accepts_the_username_in_any_case(client: TestClient, owner: Account) -> None:
    response = client.post(
        "/api/auth/token", data={"username": owner.username.upper(), "password": owner.password}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "credentials",
    ["wrong password", "unknown user", "nul in username", "nul in password", "password over 72 bytes"],
)
def test_token_refuses_bad_credentials_alike(client: TestClient, owner: Account, credentials: str) -> None:
    form = {
        "wrong password": {"username": owner.username, "password": "not the password"},
        "unknown user": {"username": unique("ghost"), "password": owner.password},
        "nul in username": {"username": owner.username + "\x00", "password": owner.password},
        "nul in password": {"username": owner.username, "password": owner.password + "\x00"},
        "password over 72 bytes": {"username": owner.username, "password": owner.password + "x" * 80},
    }[credentials]
    response = client.post("/api/auth/token", data=form)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Incorrect username or password"}


def test_token_needs_the_form_fields(client: TestClient, owner: Account) -> None:
    response = client.post("/api/auth/token", json={"username": owner.username, "password": owner.password})
    assert response.status_code == 422


def test_me_is_the_signed_in_user(client: TestClient, owner: Account) -> None:
    response = client.get("/api/users/me", headers=owner.headers)
    assert response.status_code == 200
    assert response.json()["id"] == owner.id and response.json()["username"] == owner.username


# Projects


def test_create_project_makes_the_caller_owner_with_default_columns(
    client: TestClient, owner: Account
) -> None:
    response = client.post(
        "/api/projects", json={"name": "  Launch  ", "description": "Ship it"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    project = response.json()
    assert project["name"] == "Launch" and project["description"] == "Ship it"
    assert project["role"] == "owner" and project["event_seq"] == 0
    columns = client.get(f"/api/projects/{project['id']}/columns", headers=owner.headers).json()
    assert [(c["name"], c["position"], c["is_done"]) for c in columns] == [
        ("To do", 0, False),
        ("In progress", 1, False),
        ("Done", 2, True),
    ]
    members = client.get(f"/api/projects/{project['id']}/members", headers=owner.headers).json()
    assert members == [
        {"user_id": owner.id, "username": owner.username, "display_name": owner.username, "role": "owner"}
    ]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": None}])
def test_create_project_needs_a_name(client: TestClient, owner: Account, body: Json) -> None:
    assert client.post("/api/projects", json=body, headers=owner.headers).status_code == 422


def test_list_shows_only_your_projects_with_your_role(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    alpha = new_project(client, alice, "Alpha")
    beta = new_project(client, alice, "Beta")
    gamma = new_project(client, bob, "Gamma")
    add_member(client, alice, alpha, bob, "viewer")
    add_member(client, alice, beta, bob, "editor")

    def listing(who: Account) -> list[tuple[int, str, str]]:
        response = client.get("/api/projects", headers=who.headers)
        assert response.status_code == 200
        return [(p["id"], p["name"], p["role"]) for p in response.json()]

    assert listing(alice) == [(alpha, "Alpha", "owner"), (beta, "Beta", "owner")]
    assert listing(bob) == [(alpha, "Alpha", "viewer"), (beta, "Beta", "editor"), (gamma, "Gamma", "owner")]
    assert listing(carol) == []


def test_get_project_answers_with_the_callers_role(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    viewer = make_account()
    add_member(client, owner, pid, viewer, "viewer")
    assert client.get(f"/api/projects/{pid}", headers=owner.headers).json()["role"] == "owner"
    seen = client.get(f"/api/projects/{pid}", headers=viewer.headers).json()
    assert seen["role"] == "viewer" and seen["id"] == pid and seen["name"] == "Board"


def test_rename_project(client: TestClient, owner: Account, pid: int) -> None:
    response = client.patch(
        f"/api/projects/{pid}", json={"name": " Renamed ", "description": "New"}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["description"]) == ("Renamed", "New")
    assert response.json()["role"] == "owner" and response.json()["event_seq"] == 1
    fetched = client.get(f"/api/projects/{pid}", headers=owner.headers).json()
    assert (fetched["name"], fetched["description"]) == ("Renamed", "New")
    [event] = client.get(f"/api/projects/{pid}/events", headers=owner.headers).json()["events"]
    assert event["type"] == "project.updated"
    # Roles differ by reader, and the envelope's seq is the project's new event_seq: neither is in the data.
    assert event["data"]["name"] == "Renamed" and not {"role", "event_seq"} & set(event["data"])


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "  "}, {"name": "x" * 201}, {"owner_id": 1}])
def test_rename_project_refuses_bad_names(client: TestClient, owner: Account, pid: int, body: Json) -> None:
    assert client.patch(f"/api/projects/{pid}", json=body, headers=owner.headers).status_code == 422
    assert client.get(f"/api/projects/{pid}", headers=owner.headers).json()["name"] == "Board"


def test_delete_project_cascades_to_everything_in_it(
    client: TestClient, db: Session, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    editor = make_account()
    add_member(client, owner, pid, editor, "editor")
    task = new_task(client, owner, pid, "Doomed")
    client.post(f"/api/tasks/{task['id']}/comments", json={"body": "Bye"}, headers=editor.headers)
    other = new_project(client, owner, "Survivor")
    survivor = new_task(client, owner, other, "Stays")
    client.post(f"/api/tasks/{survivor['id']}/comments", json={"body": "Still here"}, headers=owner.headers)
    seq = client.get(f"/api/projects/{pid}", headers=owner.headers).json()["event_seq"]

    response = client.delete(f"/api/projects/{pid}", headers=owner.headers)

    assert response.status_code == 204 and response.content == b""
    for table in ("projects WHERE id", "project_members WHERE project_id", "columns WHERE project_id"):
        assert count(db, f"SELECT count(*) FROM {table} = :p", p=pid) == 0, table
    assert count(db, "SELECT count(*) FROM tasks WHERE project_id = :p", p=pid) == 0
    assert count(db, "SELECT count(*) FROM comments WHERE task_id = :t", t=task["id"]) == 0
    # Only that project went.
    assert count(db, "SELECT count(*) FROM tasks WHERE project_id = :p", p=other) == 1
    assert count(db, "SELECT count(*) FROM comments WHERE task_id = :t", t=survivor["id"]) == 1
    assert count(db, "SELECT count(*) FROM columns WHERE project_id = :p", p=other) == 3
    # The project.deleted event survives the cascade, as the last of the project's events.
    last = db.execute(
        text("SELECT seq, type FROM outbox WHERE project_id = :p ORDER BY seq DESC LIMIT 1"), {"p": pid}
    ).one()
    assert (last.seq, last.type) == (seq + 1, "project.deleted")
    for who in (owner, editor):
        assert client.get(f"/api/projects/{pid}", headers=who.headers).status_code == 404
        assert client.get(f"/api/tasks/{task['id']}", headers=who.headers).status_code == 404
    assert [p["id"] for p in client.get("/api/projects", headers=owner.headers).json()] == [other]


# Members


def test_add_member_by_username(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    newcomer = make_account()
    response = client.post(
        f"/api/projects/{pid}/members",
        json={"username": f" {newcomer.username.upper()} "},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "user_id": newcomer.id,
        "username": newcomer.username,
        "display_name": newcomer.username,
        "role": "editor",  # the default
    }
    listed = client.get(f"/api/projects/{pid}/members", headers=newcomer.headers).json()
    assert [(m["user_id"], m["role"]) for m in listed] == [(owner.id, "owner"), (newcomer.id, "editor")]
    assert client.get(f"/api/projects/{pid}", headers=newcomer.headers).json()["role"] == "editor"
    assert event_types(client, owner, pid) == ["member.added"]


def test_add_member_unknown_username_is_404(client: TestClient, owner: Account, pid: int) -> None:
    response = client.post(
        f"/api/projects/{pid}/members", json={"username": unique("nobody")}, headers=owner.headers
    )
    assert response.status_code == 404
    assert "No user is called" in response.json()["detail"]


def test_add_member_twice_is_409(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    member = make_account()
    add_member(client, owner, pid, member, "viewer")
    again = client.post(
        f"/api/projects/{pid}/members",
        json={"username": member.username, "role": "owner"},
        headers=owner.headers,
    )
    assert again.status_code == 409
    self_again = client.post(
        f"/api/projects/{pid}/members", json={"username": owner.username}, headers=owner.headers
    )
    assert self_again.status_code == 409
    roles = {
        m["user_id"]: m["role"]
        for m in client.get(f"/api/projects/{pid}/members", headers=owner.headers).json()
    }
    assert roles == {owner.id: "owner", member.id: "viewer"}


@pytest.mark.parametrize(
    "body", [{"username": "x", "role": "admin"}, {"username": ""}, {}, {"username": "x", "extra": 1}]
)
def test_add_member_refuses_bad_bodies(client: TestClient, owner: Account, pid: int, body: Json) -> None:
    assert client.post(f"/api/projects/{pid}/members", json=body, headers=owner.headers).status_code == 422


def test_change_role(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    member = make_account()
    add_member(client, owner, pid, member, "viewer")
    response = client.patch(
        f"/api/projects/{pid}/members/{member.id}", json={"role": "editor"}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "editor" and response.json()["user_id"] == member.id
    assert client.get(f"/api/projects/{pid}", headers=member.headers).json()["role"] == "editor"
    # The new role takes effect at once: an editor may now add tasks.
    assert (
        client.post(f"/api/projects/{pid}/tasks", json={"title": "x"}, headers=member.headers).status_code
        == 201
    )
    # Setting the role it already has changes nothing and emits nothing.
    same = client.patch(
        f"/api/projects/{pid}/members/{member.id}", json={"role": "editor"}, headers=owner.headers
    )
    assert same.status_code == 200
    assert event_types(client, owner, pid) == ["member.added", "member.role_changed", "task.created"]


def test_change_role_of_a_non_member_is_404(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    stranger = make_account()
    response = client.patch(
        f"/api/projects/{pid}/members/{stranger.id}", json={"role": "editor"}, headers=owner.headers
    )
    assert response.status_code == 404
    assert (
        client.delete(f"/api/projects/{pid}/members/{stranger.id}", headers=owner.headers).status_code == 404
    )
    assert (
        client.patch(
            f"/api/projects/{pid}/members/{2**40}", json={"role": "viewer"}, headers=owner.headers
        ).status_code
        == 404
    )


def test_remove_member(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    member = make_account()
    add_member(client, owner, pid, member, "editor")
    task = new_task(client, member, pid, "Mine")
    response = client.delete(f"/api/projects/{pid}/members/{member.id}", headers=owner.headers)
    assert response.status_code == 204
    assert client.get(f"/api/projects/{pid}", headers=member.headers).status_code == 404
    assert client.get(f"/api/tasks/{task['id']}", headers=member.headers).status_code == 404
    assert [
        m["user_id"] for m in client.get(f"/api/projects/{pid}/members", headers=owner.headers).json()
    ] == [owner.id]
    assert event_types(client, owner, pid)[-1] == "member.removed"


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_member_can_leave(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account], role: str
) -> None:
    member = make_account()
    add_member(client, owner, pid, member, role)
    assert (
        client.delete(f"/api/projects/{pid}/members/{member.id}", headers=member.headers).status_code == 204
    )
    assert client.get(f"/api/projects/{pid}", headers=member.headers).status_code == 404
    assert client.get("/api/projects", headers=member.headers).json() == []


def test_last_owner_can_neither_leave_nor_be_demoted(
    client: TestClient, db: Session, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    editor = make_account()
    add_member(client, owner, pid, editor, "editor")
    seq = client.get(f"/api/projects/{pid}", headers=owner.headers).json()["event_seq"]
    leave = client.delete(f"/api/projects/{pid}/members/{owner.id}", headers=owner.headers)
    assert leave.status_code == 409
    assert "at least one owner" in leave.json()["detail"]
    for role in ("editor", "viewer"):
        demote = client.patch(
            f"/api/projects/{pid}/members/{owner.id}", json={"role": role}, headers=owner.headers
        )
        assert demote.status_code == 409
    project = client.get(f"/api/projects/{pid}", headers=owner.headers).json()
    assert project["role"] == "owner" and project["event_seq"] == seq


def test_with_a_second_owner_an_owner_may_step_down_or_leave(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    second = make_account()
    add_member(client, owner, pid, second, "owner")
    demote = client.patch(
        f"/api/projects/{pid}/members/{owner.id}", json={"role": "editor"}, headers=owner.headers
    )
    assert demote.status_code == 200 and demote.json()["role"] == "editor"
    # Now `second` is the last owner.
    assert (
        client.delete(f"/api/projects/{pid}/members/{second.id}", headers=second.headers).status_code == 409
    )
    promote = client.patch(
        f"/api/projects/{pid}/members/{owner.id}", json={"role": "owner"}, headers=second.headers
    )
    assert promote.status_code == 200
    assert (
        client.delete(f"/api/projects/{pid}/members/{second.id}", headers=second.headers).status_code == 204
    )
    assert client.get(f"/api/projects/{pid}/members", headers=owner.headers).json()[0]["role"] == "owner"


def events_after(client: TestClient, who: Account, pid: int, after: int) -> list[Json]:
    page = client.get(f"/api/projects/{pid}/events", params={"after": after}, headers=who.headers)
    assert page.status_code == 200, page.text
    return page.json()["events"]


@pytest.mark.parametrize("remover", ["owner", "member"])
def test_removing_or_leaving_unassigns_the_members_tasks(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account], remover: str
) -> None:
    member = make_account()
    add_member(client, owner, pid, member, "editor")
    theirs = new_task(client, owner, pid, "Theirs", assignee_id=member.id)
    archived = new_task(client, owner, pid, "Archived", assignee_id=member.id)
    archived = client.patch(
        f"/api/tasks/{archived['id']}", json={"archived": True}, headers=owner.headers
    ).json()
    others = new_task(client, owner, pid, "Others", assignee_id=owner.id)
    seq = client.get(f"/api/projects/{pid}", headers=owner.headers).json()["event_seq"]
    actor = owner if remover == "owner" else member

    response = client.delete(f"/api/projects/{pid}/members/{member.id}", headers=actor.headers)

    assert response.status_code == 204
    events = events_after(client, owner, pid, seq)
    assert [(e["type"], e["data"].get("id"), e["actor_id"]) for e in events] == [
        ("task.updated", theirs["id"], actor.id),
        ("task.updated", archived["id"], actor.id),
        ("member.removed", None, actor.id),
    ]
    for before, event in zip((theirs, archived), events, strict=False):
        now = client.get(f"/api/tasks/{before['id']}", headers=owner.headers).json()
        assert now == event["data"]
        assert (now["assignee_id"], now["version"]) == (None, before["version"] + 1)
        assert {k: v for k, v in now.items() if k not in {"assignee_id", "version", "updated_at"}} == {
            k: v for k, v in before.items() if k not in {"assignee_id", "version", "updated_at"}
        }
    assert client.get(f"/api/tasks/{others['id']}", headers=owner.headers).json() == others


def test_patch_echoing_an_unchanged_assignee_who_left_is_accepted(
    client: TestClient, db: Session, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    member, stranger = make_account(), make_account()
    add_member(client, owner, pid, member, "editor")
    task = new_task(client, owner, pid, "Kept", assignee_id=member.id)
    # A task still assigned to someone who is no longer a member (as rows from before the fix are).
    db.execute(text("DELETE FROM project_members WHERE user_id = :u"), {"u": member.id})
    db.commit()
    echoed = client.patch(
        f"/api/tasks/{task['id']}", json={"title": "Edited", "assignee_id": member.id}, headers=owner.headers
    )
    assert echoed.status_code == 200, echoed.text
    assert (echoed.json()["title"], echoed.json()["assignee_id"]) == ("Edited", member.id)
    moved_to = client.patch(
        f"/api/tasks/{task['id']}", json={"assignee_id": stranger.id}, headers=owner.headers
    )
    assert moved_to.status_code == 422 and "not a member" in moved_to.json()["detail"]


# Columns


def test_create_column_at_a_position_keeps_positions_dense(
    client: TestClient, owner: Account, pid: int
) -> None:
    first = client.post(
        f"/api/projects/{pid}/columns", json={"name": "Backlog", "position": 0}, headers=owner.headers
    )
    assert first.status_code == 201, first.text
    assert (
        first.json()["position"] == 0
        and first.json()["project_id"] == pid
        and first.json()["is_done"] is False
    )
    middle = client.post(
        f"/api/projects/{pid}/columns",
        json={"name": "Review", "position": 3, "is_done": True},
        headers=owner.headers,
    )
    assert middle.json()["position"] == 3 and middle.json()["is_done"] is True
    end = client.post(f"/api/projects/{pid}/columns", json={"name": "Archive"}, headers=owner.headers)
    assert end.json()["position"] == 5
    far = client.post(
        f"/api/projects/{pid}/columns", json={"name": "Far", "position": 1000}, headers=owner.headers
    )
    assert far.json()["position"] == 6  # clamped to the end
    columns = client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()
    assert [(c["name"], c["position"]) for c in columns] == [
        ("Backlog", 0),
        ("To do", 1),
        ("In progress", 2),
        ("Review", 3),
        ("Done", 4),
        ("Archive", 5),
        ("Far", 6),
    ]


@pytest.mark.parametrize(
    ("move_to", "expected"),
    [
        (0, ["C", "A", "B", "D"]),
        (1, ["A", "C", "B", "D"]),
        (2, ["A", "B", "C", "D"]),
        (3, ["A", "B", "D", "C"]),
        (99, ["A", "B", "D", "C"]),
    ],
)
def test_reorder_columns_keeps_positions_dense(
    client: TestClient, owner: Account, pid: int, move_to: int, expected: list[str]
) -> None:
    for column_id in column_ids(client, owner, pid):
        assert client.delete(f"/api/columns/{column_id}", headers=owner.headers).status_code == 204
    ids = {
        name: client.post(f"/api/projects/{pid}/columns", json={"name": name}, headers=owner.headers).json()[
            "id"
        ]
        for name in "ABCD"
    }
    response = client.patch(f"/api/columns/{ids['C']}", json={"position": move_to}, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["position"] == expected.index("C")
    columns = client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()
    assert [(c["name"], c["position"]) for c in columns] == [(name, i) for i, name in enumerate(expected)]


def test_rename_column_and_mark_it_done(client: TestClient, owner: Account, pid: int) -> None:
    first = column_ids(client, owner, pid)[0]
    response = client.patch(
        f"/api/columns/{first}", json={"name": " Next ", "is_done": True}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"id": first, "project_id": pid, "name": "Next", "position": 0, "is_done": True}
    assert client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()[0]["name"] == "Next"
    assert event_types(client, owner, pid) == ["column.updated"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": " "},
        {"position": -1},
        {"is_done": "maybe"},
        {"x": 1},
        {"name": None},
        {"position": None},
        {"is_done": None},
        {"name": "Fine", "is_done": None},
    ],
)
def test_update_column_refuses_bad_bodies(client: TestClient, owner: Account, pid: int, body: Json) -> None:
    first = column_ids(client, owner, pid)[0]
    before = client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()
    assert client.patch(f"/api/columns/{first}", json=body, headers=owner.headers).status_code == 422
    assert client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json() == before
    assert event_types(client, owner, pid) == []


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "Done"}, {"name": " Done "}, {"is_done": True}, {"position": 2}, {"position": 99}],
)
def test_a_column_update_that_changes_nothing_records_no_event(
    client: TestClient, owner: Account, pid: int, body: Json
) -> None:
    done = column_ids(client, owner, pid)[2]
    before = client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()
    response = client.patch(f"/api/columns/{done}", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == before[2]
    assert client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json() == before
    assert client.get(f"/api/projects/{pid}", headers=owner.headers).json()["event_seq"] == 0
    assert event_types(client, owner, pid) == []


def test_delete_column_refuses_while_it_holds_cards(
    client: TestClient, db: Session, owner: Account, pid: int
) -> None:
    todo, doing, done = column_ids(client, owner, pid)
    held = new_task(client, owner, pid, "Still here", column_id=doing)
    archived = new_task(client, owner, pid, "Archived", column_id=done)
    client.patch(f"/api/tasks/{archived['id']}", json={"archived": True}, headers=owner.headers)
    for column_id in (doing, done):
        refused = client.delete(f"/api/columns/{column_id}", headers=owner.headers)
        assert refused.status_code == 409 and "1 card" in refused.json()["detail"]
    assert client.get(f"/api/tasks/{held['id']}", headers=owner.headers).status_code == 200
    assert len(client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()) == 3

    client.delete(f"/api/tasks/{held['id']}", headers=owner.headers)
    assert client.delete(f"/api/columns/{doing}", headers=owner.headers).status_code == 204
    columns = client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()
    assert [(c["id"], c["position"]) for c in columns] == [(todo, 0), (done, 1)]
    assert client.patch(f"/api/columns/{doing}", json={"name": "x"}, headers=owner.headers).status_code == 404
    assert client.delete(f"/api/columns/{doing}", headers=owner.headers).status_code == 404
    assert event_types(client, owner, pid)[-1] == "column.deleted"


def test_deleting_a_project_still_cascades_to_its_columns_and_tasks(
    client: TestClient, db: Session, owner: Account, pid: int
) -> None:
    task = new_task(client, owner, pid, "Goes with the project")
    assert client.delete(f"/api/projects/{pid}", headers=owner.headers).status_code == 204
    assert count(db, "SELECT count(*) FROM tasks WHERE id = :t", t=task["id"]) == 0


@pytest.mark.parametrize("body", [{"archived": "yes"}, {"archived": 1}, {"archived": "true"}])
def test_booleans_must_be_booleans(client: TestClient, owner: Account, pid: int, body: Json) -> None:
    task = new_task(client, owner, pid, "Strict")
    assert client.patch(f"/api/tasks/{task['id']}", json=body, headers=owner.headers).status_code == 422
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json()["archived"] is False


# Tasks


def test_create_task_defaults_to_the_first_column_at_the_end(
    client: TestClient, db: Session, owner: Account, pid: int
) -> None:
    todo = column_ids(client, owner, pid)[0]
    first = new_task(client, owner, pid, "One")
    second = new_task(client, owner, pid, "Two")
    assert (first["column_id"], first["position"]) == (todo, 0)
    assert (second["column_id"], second["position"]) == (todo, 1)
    assert first["version"] == 1 and first["created_by"] == owner.id and first["project_id"] == pid
    assert first["labels"] == [] and first["priority"] is None and first["archived"] is False
    front = new_task(client, owner, pid, "Zero", position=0)
    assert front["position"] == 0
    assert_dense(db, todo, ["Zero", "One", "Two"])


def test_create_task_with_every_field(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    member = make_account()
    add_member(client, owner, pid, member, "viewer")
    done = column_ids(client, owner, pid)[2]
    task = new_task(
        client,
        owner,
        pid,
        "Full",
        description="Details",
        column_id=done,
        priority=5,
        due_at="2027-01-02T03:04:05+02:00",
        assignee_id=member.id,
        labels=["a", " b ", "A", "B "],
    )
    assert task["column_id"] == done and task["priority"] == 5 and task["assignee_id"] == member.id
    assert task["due_at"] == "2027-01-02T01:04:05Z"  # stored and answered in UTC
    assert task["labels"] == ["a", "b"]
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == task


def test_create_task_in_a_column_of_another_project_is_422(
    client: TestClient, owner: Account, pid: int
) -> None:
    other = new_project(client, owner, "Other")
    foreign = column_ids(client, owner, other)[0]
    for column_id in (foreign, 2**40):
        response = client.post(
            f"/api/projects/{pid}/tasks", json={"title": "x", "column_id": column_id}, headers=owner.headers
        )
        assert response.status_code == 422
        assert "is not in this project" in response.json()["detail"]
    assert client.get(f"/api/projects/{other}/tasks", headers=owner.headers).json() == []


def test_create_task_in_a_project_without_columns_is_422(
    client: TestClient, owner: Account, pid: int
) -> None:
    for column_id in column_ids(client, owner, pid):
        client.delete(f"/api/columns/{column_id}", headers=owner.headers)
    response = client.post(f"/api/projects/{pid}/tasks", json={"title": "x"}, headers=owner.headers)
    assert response.status_code == 422


def test_assignee_must_be_a_member(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    stranger = make_account()
    response = client.post(
        f"/api/projects/{pid}/tasks", json={"title": "x", "assignee_id": stranger.id}, headers=owner.headers
    )
    assert response.status_code == 422
    assert "not a member" in response.json()["detail"]
    task = new_task(client, owner, pid)
    patch = client.patch(f"/api/tasks/{task['id']}", json={"assignee_id": stranger.id}, headers=owner.headers)
    assert patch.status_code == 422
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json()["version"] == 1


def test_list_tasks_filters(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    helper = make_account()
    add_member(client, owner, pid, helper, "editor")
    todo, doing, _ = column_ids(client, owner, pid)
    a = new_task(client, owner, pid, "Write report", labels=["work", "urgent"], assignee_id=helper.id)
    b = new_task(client, owner, pid, "Buy milk", description="semi-skimmed REPORT", labels=["home"])
    c = new_task(client, owner, pid, "100% done_ish", column_id=doing, labels=["work"], assignee_id=owner.id)
    archived = new_task(client, owner, pid, "Old report", labels=["work"])
    client.patch(f"/api/tasks/{archived['id']}", json={"archived": True}, headers=owner.headers)

    def ids(**params: Any) -> list[int]:
        response = client.get(f"/api/projects/{pid}/tasks", params=params, headers=helper.headers)
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()]

    assert ids() == [a["id"], b["id"], c["id"]]
    assert ids(include_archived=True) == [a["id"], b["id"], archived["id"], c["id"]]
    assert ids(column_id=todo) == [a["id"], b["id"]]
    assert ids(column_id=doing) == [c["id"]]
    assert ids(assignee_id=helper.id) == [a["id"]]
    assert ids(assignee_id=owner.id) == [c["id"]]
    assert ids(label="work") == [a["id"], c["id"]]
    assert ids(label="wor") == []  # whole labels, not substrings
    assert ids(label="WORK") == ids(label="Work") == [a["id"], c["id"]]  # case-blind, as labels are kept
    assert ids(label="home", column_id=todo) == [b["id"]]
    assert ids(q="report") == [a["id"], b["id"]]  # title or description, any case
    assert ids(q="%") == [c["id"]]  # LIKE wildcards are literal
    assert ids(q="_") == [c["id"]]
    assert ids(q="nothing like it") == []
    assert ids(column_id=doing, label="home") == []
    assert ids(limit=2) == [a["id"], b["id"]]
    assert ids(limit=2, offset=2) == [c["id"]]
    assert ids(include_archived=True, offset=3) == [c["id"]]


def test_label_filter_finds_the_kept_spelling(client: TestClient, owner: Account, pid: int) -> None:
    bug = new_task(client, owner, pid, "Crash", labels=["Bug", "bug", "UI"])
    assert bug["labels"] == ["Bug", "UI"]
    new_task(client, owner, pid, "Debug", labels=["debugging"])
    for label in ("bug", "BUG", "Bug", " bug "):
        found = client.get(f"/api/projects/{pid}/tasks", params={"label": label}, headers=owner.headers)
        assert [task["id"] for task in found.json()] == [bug["id"]], label


def test_text_search_names_its_escape_character(
    client: TestClient, db: Session, owner: Account, pid: int
) -> None:
    """LIKE's escape character is backslash by default on PostgreSQL only; the query says so itself."""
    path = new_task(client, owner, pid, "C:\\temp\\x_y")
    new_task(client, owner, pid, "C:/temp/xzy")
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    engine = db.get_bind().engine
    sql_event.listen(engine, "before_cursor_execute", seen)
    try:
        found = client.get(f"/api/projects/{pid}/tasks", params={"q": "\\x_"}, headers=owner.headers)
    finally:
        sql_event.remove(engine, "before_cursor_execute", seen)
    assert [task["id"] for task in found.json()] == [path["id"]]
    [search] = [sql for sql in statements if "ILIKE" in sql.upper()]
    assert search.upper().count("ESCAPE") == 2


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 5001}, {"offset": -1}, {"limit": "many"}])
def test_task_pages_are_bounded(client: TestClient, owner: Account, pid: int, params: Json) -> None:
    response = client.get(f"/api/projects/{pid}/tasks", params=params, headers=owner.headers)
    assert response.status_code == 422


def test_get_task(client: TestClient, owner: Account, pid: int) -> None:
    task = new_task(client, owner, pid, "Look")
    response = client.get(f"/api/tasks/{task['id']}", headers=owner.headers)
    assert response.status_code == 200 and response.json() == task
    assert client.get(f"/api/tasks/{2**40}", headers=owner.headers).status_code == 404


def test_patch_task_changes_fields_and_bumps_the_version(
    client: TestClient, owner: Account, pid: int
) -> None:
    task = new_task(client, owner, pid, "Before", priority=2, due_at="2027-05-01T10:00:00Z", labels=["x"])
    response = client.patch(
        f"/api/tasks/{task['id']}",
        json={"title": " After ", "description": "More", "labels": ["y"], "priority": 4},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["title"], updated["description"], updated["labels"], updated["priority"]) == (
        "After",
        "More",
        ["y"],
        4,
    )
    assert updated["version"] == 2 and updated["due_at"] == "2027-05-01T10:00:00Z"
    assert (updated["column_id"], updated["position"]) == (task["column_id"], task["position"])
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == updated
    # A patch that changes nothing keeps the version and emits nothing.
    same = client.patch(f"/api/tasks/{task['id']}", json={"title": "After"}, headers=owner.headers)
    assert same.status_code == 200 and same.json()["version"] == 2
    assert event_types(client, owner, pid) == ["task.created", "task.updated"]


def test_patch_with_null_clears_due_at_priority_and_assignee(
    client: TestClient, owner: Account, pid: int
) -> None:
    task = new_task(
        client, owner, pid, "Due", priority=3, due_at="2027-05-01T10:00:00Z", assignee_id=owner.id
    )
    response = client.patch(
        f"/api/tasks/{task['id']}",
        json={"due_at": None, "priority": None, "assignee_id": None},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    cleared = client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json()
    assert (cleared["due_at"], cleared["priority"], cleared["assignee_id"]) == (None, None, None)
    assert cleared["title"] == "Due" and cleared["version"] == 2


@pytest.mark.parametrize("field", ["title", "description", "labels", "archived"])
def test_patch_with_null_on_a_required_field_is_422(
    client: TestClient, owner: Account, pid: int, field: str
) -> None:
    task = new_task(client, owner, pid, "Keep me")
    response = client.patch(f"/api/tasks/{task['id']}", json={field: None}, headers=owner.headers)
    assert response.status_code == 422
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == task


def test_archive_and_unarchive(client: TestClient, owner: Account, pid: int) -> None:
    task = new_task(client, owner, pid)
    assert client.patch(f"/api/tasks/{task['id']}", json={"archived": True}, headers=owner.headers).json()[
        "archived"
    ]
    assert client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json() == []
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).status_code == 200
    client.patch(f"/api/tasks/{task['id']}", json={"archived": False}, headers=owner.headers)
    assert len(client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json()) == 1


@pytest.mark.parametrize(
    ("title", "position", "expected"),
    [
        ("A", 2, ["B", "C", "A", "D"]),
        ("D", 0, ["D", "A", "B", "C"]),
        ("B", 1, ["A", "B", "C", "D"]),
        ("B", None, ["A", "C", "D", "B"]),
        ("A", 999, ["B", "C", "D", "A"]),
    ],
)
def test_move_within_a_column_keeps_positions_dense(
    client: TestClient,
    db: Session,
    owner: Account,
    pid: int,
    title: str,
    position: int | None,
    expected: list[str],
) -> None:
    todo = column_ids(client, owner, pid)[0]
    tasks = {name: new_task(client, owner, pid, name) for name in "ABCD"}
    body: Json = {"column_id": todo} if position is None else {"column_id": todo, "position": position}
    response = client.post(f"/api/tasks/{tasks[title]['id']}/move", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["position"] == expected.index(title) and response.json()["version"] == 2
    assert_dense(db, todo, expected)


@pytest.mark.parametrize(
    ("title", "position", "source", "target"),
    [
        ("A", 0, ["B", "C"], ["A", "X", "Y"]),
        ("B", 1, ["A", "C"], ["X", "B", "Y"]),
        ("C", None, ["A", "B"], ["X", "Y", "C"]),
        ("A", 50, ["B", "C"], ["X", "Y", "A"]),
    ],
)
def test_move_across_columns_keeps_both_columns_dense(
    client: TestClient,
    db: Session,
    owner: Account,
    pid: int,
    title: str,
    position: int | None,
    source: list[str],
    target: list[str],
) -> None:
    todo, doing, _ = column_ids(client, owner, pid)
    tasks = {name: new_task(client, owner, pid, name) for name in "ABC"}
    for name in "XY":
        new_task(client, owner, pid, name, column_id=doing)
    body: Json = {"column_id": doing} if position is None else {"column_id": doing, "position": position}
    response = client.post(f"/api/tasks/{tasks[title]['id']}/move", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["column_id"] == doing and response.json()["position"] == target.index(title)
    assert_dense(db, todo, source)
    assert_dense(db, doing, target)
    listed = client.get(
        f"/api/projects/{pid}/tasks", params={"column_id": doing}, headers=owner.headers
    ).json()
    assert [(t["title"], t["position"]) for t in listed] == list(zip(target, range(3), strict=True))
    assert event_types(client, owner, pid)[-1] == "task.moved"


def test_move_to_a_column_of_another_project_is_422(
    client: TestClient, db: Session, owner: Account, pid: int
) -> None:
    task = new_task(client, owner, pid)
    foreign = column_ids(client, owner, new_project(client, owner, "Other"))[0]
    response = client.post(
        f"/api/tasks/{task['id']}/move", json={"column_id": foreign}, headers=owner.headers
    )
    assert response.status_code == 422
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == task
    assert_dense(db, task["column_id"], ["Task"])


def test_delete_task_compacts_its_column(client: TestClient, db: Session, owner: Account, pid: int) -> None:
    todo = column_ids(client, owner, pid)[0]
    tasks = {name: new_task(client, owner, pid, name) for name in "ABCD"}
    client.post(f"/api/tasks/{tasks['B']['id']}/comments", json={"body": "x"}, headers=owner.headers)
    response = client.delete(f"/api/tasks/{tasks['B']['id']}", headers=owner.headers)
    assert response.status_code == 204 and response.content == b""
    assert_dense(db, todo, ["A", "C", "D"])
    assert count(db, "SELECT count(*) FROM comments WHERE task_id = :t", t=tasks["B"]["id"]) == 0
    assert client.get(f"/api/tasks/{tasks['B']['id']}", headers=owner.headers).status_code == 404
    assert client.delete(f"/api/tasks/{tasks['B']['id']}", headers=owner.headers).status_code == 404
    assert event_types(client, owner, pid)[-1] == "task.deleted"


# If-Match (optimistic concurrency)


def conditional_write(
    client: TestClient, who: Account, task: Json, kind: str, if_match: str | bytes, column_id: int
) -> Any:
    """PATCH, move or DELETE the task with an If-Match header."""
    headers = {**who.headers, "If-Match": if_match}
    if kind == "patch":
        return client.patch(f"/api/tasks/{task['id']}", json={"title": "Mine"}, headers=headers)
    if kind == "move":
        return client.post(f"/api/tasks/{task['id']}/move", json={"column_id": column_id}, headers=headers)
    return client.delete(f"/api/tasks/{task['id']}", headers=headers)


@pytest.mark.parametrize("kind", ["patch", "move", "delete"])
def test_if_match_stale_is_409_with_the_current_task(
    client: TestClient, owner: Account, pid: int, kind: str
) -> None:
    task = new_task(client, owner, pid, "Shared")
    doing = column_ids(client, owner, pid)[1]
    theirs = client.patch(f"/api/tasks/{task['id']}", json={"title": "Theirs"}, headers=owner.headers).json()
    assert theirs["version"] == 2

    stale = conditional_write(client, owner, task, kind, "1", doing)

    assert stale.status_code == 409
    body = stale.json()
    assert "version" in body["detail"]
    assert body["current"] == theirs == client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json()
    assert event_types(client, owner, pid) == ["task.created", "task.updated"]


@pytest.mark.parametrize("kind", ["patch", "move", "delete"])
def test_if_match_current_version_succeeds(client: TestClient, owner: Account, pid: int, kind: str) -> None:
    doing = column_ids(client, owner, pid)[1]
    for spelling in ["2", '"2"', 'W/"2"', " 2 "]:
        task = new_task(client, owner, pid, "Shared")
        client.patch(f"/api/tasks/{task['id']}", json={"title": "v2"}, headers=owner.headers)
        response = conditional_write(client, owner, task, kind, spelling, doing)
        assert response.status_code == (204 if kind == "delete" else 200), (spelling, response.text)
        if kind == "delete":
            assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).status_code == 404
        else:
            assert response.json()["version"] == 3


@pytest.mark.parametrize("kind", ["patch", "move", "delete"])
def test_malformed_if_match_is_400(client: TestClient, owner: Account, pid: int, kind: str) -> None:
    task = new_task(client, owner, pid, "Shared")
    doing = column_ids(client, owner, pid)[1]
    for value in ["abc", "-1", "1.0", "", "1 2", "0x1", "9" * 10, "*,1", "\u0661"]:
        response = conditional_write(client, owner, task, kind, value.encode(), doing)
        assert response.status_code == 400, (value, response.text)
        assert response.json() == {"detail": 'If-Match must be a task version number, such as "3", or *'}
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == task


@pytest.mark.parametrize("kind", ["patch", "move", "delete"])
def test_if_match_star_means_any_version(client: TestClient, owner: Account, pid: int, kind: str) -> None:
    doing = column_ids(client, owner, pid)[1]
    for spelling in ["*", " * "]:
        task = new_task(client, owner, pid, "Shared")
        client.patch(f"/api/tasks/{task['id']}", json={"title": "v2"}, headers=owner.headers)
        response = conditional_write(client, owner, task, kind, spelling, doing)
        assert response.status_code == (204 if kind == "delete" else 200), (spelling, response.text)
    gone = conditional_write(client, owner, task, kind, "*", doing)
    if kind == "delete":
        assert gone.status_code == 404


@pytest.mark.parametrize("value", ["²", "¹2", "1²"])
def test_if_match_refuses_non_ascii_digits(value: str) -> None:
    # Header values arrive as latin-1 text; "²".isdigit() is true but int("²") fails.
    with pytest.raises(HTTPException) as refused:
        expected_version(value)
    assert refused.value.status_code == 400


# Comments


def test_comments_create_and_list(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    editor = make_account()
    viewer = make_account()
    add_member(client, owner, pid, editor, "editor")
    add_member(client, owner, pid, viewer, "viewer")
    task = new_task(client, owner, pid)
    first = client.post(
        f"/api/tasks/{task['id']}/comments", json={"body": "  First!  "}, headers=owner.headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["body"] == "First!" and first.json()["author_id"] == owner.id
    assert first.json()["task_id"] == task["id"]
    second = client.post(
        f"/api/tasks/{task['id']}/comments", json={"body": "Second 👍"}, headers=editor.headers
    )
    listed = client.get(f"/api/tasks/{task['id']}/comments", headers=viewer.headers)
    assert listed.status_code == 200
    assert listed.json() == [first.json(), second.json()]
    assert event_types(client, owner, pid)[-2:] == ["comment.created", "comment.created"]
    other = new_task(client, owner, pid, "Other")
    assert client.get(f"/api/tasks/{other['id']}/comments", headers=owner.headers).json() == []


@pytest.mark.parametrize(
    "body", [{}, {"body": ""}, {"body": " \n "}, {"body": "x" * 10_001}, {"body": "a\x00"}]
)
def test_comment_refuses_bad_bodies(client: TestClient, owner: Account, pid: int, body: Json) -> None:
    task = new_task(client, owner, pid)
    assert (
        client.post(f"/api/tasks/{task['id']}/comments", json=body, headers=owner.headers).status_code == 422
    )
    assert (
        client.post(f"/api/tasks/{2**40}/comments", json={"body": "x"}, headers=owner.headers).status_code
        == 404
    )


# Events


ENVELOPE_KEYS = {"id", "type", "project_id", "seq", "actor_id", "occurred_at", "data"}


def test_events_replay_every_write_in_order(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    editor = make_account()
    h = owner.headers
    writes: list[tuple[str, Any]] = []
    member = client.post(f"/api/projects/{pid}/members", json={"username": editor.username}, headers=h)
    writes.append(("member.added", member.json()))
    column = client.post(f"/api/projects/{pid}/columns", json={"name": "Review"}, headers=h)
    writes.append(("column.created", column.json()))
    renamed = client.patch(f"/api/columns/{column.json()['id']}", json={"name": "QA"}, headers=h)
    writes.append(("column.updated", renamed.json()))
    task = client.post(f"/api/projects/{pid}/tasks", json={"title": "T"}, headers=editor.headers)
    writes.append(("task.created", task.json()))
    tid = task.json()["id"]
    updated = client.patch(f"/api/tasks/{tid}", json={"priority": 2}, headers=editor.headers)
    writes.append(("task.updated", updated.json()))
    moved = client.post(f"/api/tasks/{tid}/move", json={"column_id": column.json()["id"]}, headers=h)
    writes.append(("task.moved", moved.json()))
    comment = client.post(f"/api/tasks/{tid}/comments", json={"body": "c"}, headers=h)
    writes.append(("comment.created", comment.json()))
    role = client.patch(f"/api/projects/{pid}/members/{editor.id}", json={"role": "viewer"}, headers=h)
    writes.append(("member.role_changed", role.json()))
    project = client.patch(f"/api/projects/{pid}", json={"name": "Renamed"}, headers=h)
    writes.append(("project.updated", {**project.json(), "role": None}))
    client.delete(f"/api/tasks/{tid}", headers=h)
    writes.append(("task.deleted", moved.json()))
    client.delete(f"/api/columns/{column.json()['id']}", headers=h)
    writes.append(("column.deleted", renamed.json()))
    client.delete(f"/api/projects/{pid}/members/{editor.id}", headers=editor.headers)  # leaves
    writes.append(("member.removed", role.json()))

    page = client.get(f"/api/projects/{pid}/events", params={"after": 0}, headers=h)

    assert page.status_code == 200
    body = page.json()
    assert body["last_seq"] == len(writes) and body["complete"] is True
    events = body["events"]
    assert [(e["seq"], e["type"]) for e in events] == [(i + 1, kind) for i, (kind, _) in enumerate(writes)]
    actors = [
        editor.id if e["type"] in {"task.created", "task.updated", "member.removed"} else owner.id
        for e in events
    ]
    for event, (_, data), actor in zip(events, writes, actors, strict=True):
        assert set(event) == ENVELOPE_KEYS
        assert uuid.UUID(event["id"]).version == 4
        assert event["project_id"] == pid and event["actor_id"] == actor
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["occurred_at"])
        shown = event["data"]
        assert shown == {key: data[key] for key in shown}, event["type"]
        assert set(shown) >= set(data) - {"updated_at", "event_seq", "role"}, event["type"]
    assert len({e["id"] for e in events}) == len(events)


def test_events_after_filters(client: TestClient, owner: Account, pid: int) -> None:
    for title in "ABCD":
        new_task(client, owner, pid, title)
    for after, expected in ((0, [1, 2, 3, 4]), (2, [3, 4]), (4, []), (10, [])):
        page = client.get(f"/api/projects/{pid}/events?after={after}", headers=owner.headers).json()
        assert [e["seq"] for e in page["events"]] == expected
        assert page["last_seq"] == 4 and page["complete"] is True
    assert [
        e["data"]["title"]
        for e in client.get(f"/api/projects/{pid}/events?after=1", headers=owner.headers).json()["events"]
    ] == ["B", "C", "D"]
    limited = client.get(f"/api/projects/{pid}/events?after=0&limit=2", headers=owner.headers).json()
    assert [e["seq"] for e in limited["events"]] == [1, 2]


def test_events_are_per_project(client: TestClient, owner: Account, pid: int) -> None:
    other = new_project(client, owner, "Other")
    new_task(client, owner, pid, "here")
    new_task(client, owner, other, "there")
    new_task(client, owner, other, "there too")
    assert [
        e["seq"] for e in client.get(f"/api/projects/{other}/events", headers=owner.headers).json()["events"]
    ] == [1, 2]
    assert event_types(client, owner, pid) == ["task.created"]


@pytest.mark.parametrize("query", ["after=-1", "after=x", f"after={2**63}", "limit=0", "limit=501"])
def test_events_refuse_bad_queries(client: TestClient, owner: Account, pid: int, query: str) -> None:
    assert client.get(f"/api/projects/{pid}/events?{query}", headers=owner.headers).status_code == 422


# Bad input (DESIGN.md: "never a 500 for bad input")


BAD_TITLES = ["", " ", "   \t\n ", "\u00a0\u3000", "x" * 501, " " + "x" * 501 + " ", None, 5, ["x"], "a\x00b"]


def test_bad_titles_are_422(client: TestClient, owner: Account, pid: int) -> None:
    task = new_task(client, owner, pid)
    for title in BAD_TITLES:
        response = client.post(f"/api/projects/{pid}/tasks", json={"title": title}, headers=owner.headers)
        assert response.status_code == 422, (title, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "title"]
        patched = client.patch(f"/api/tasks/{task['id']}", json={"title": title}, headers=owner.headers)
        assert patched.status_code == 422, (title, patched.text)
    assert client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json() == [task]


@pytest.mark.parametrize(
    "title", ["x" * 500, "  " + "y" * 500 + "  ", "😀" * 500, "e\u0301" * 250, "界" * 500]
)
def test_titles_up_to_500_characters_are_kept(
    client: TestClient, owner: Account, pid: int, title: str
) -> None:
    task = new_task(client, owner, pid, title)
    assert task["title"] == title.strip() and len(task["title"]) == 500


UNICODE_TITLES = [
    "Ship it ✨🚀",
    "👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 👍🏽",
    "שלום עולם",
    "مرحبا بالعالم \u200f(RTL)\u200f",
    "\u202eoverride\u202c",
    "漢字かなカナ 한국어",
    "e\u0301 vs \u00e9",  # decomposed and composed: both kept as sent
    "Z\u0351\u0360a\u0352\u035flgo",
    "\U0001d56c\U0001d58c\U0001d594 \U0001f9ea \U00010348",
    "tab\tinside and 'quotes' \"double\" <b>html</b> %_ \\",
    "\u200b",  # zero-width space: not whitespace, a real (if invisible) character
]


@pytest.mark.parametrize("title", UNICODE_TITLES)
def test_unicode_titles_round_trip_exactly(client: TestClient, owner: Account, pid: int, title: str) -> None:
    task = new_task(client, owner, pid, title)
    assert task["title"] == title
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json()["title"] == title
    assert [t["title"] for t in client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json()] == [
        title
    ]
    renamed = client.patch(f"/api/tasks/{task['id']}", json={"title": title + "!"}, headers=owner.headers)
    assert renamed.json()["title"] == title + "!"
    found = client.get(f"/api/projects/{pid}/tasks", params={"q": title}, headers=owner.headers).json()
    assert [t["id"] for t in found] == [task["id"]]
    assert (
        client.get(f"/api/projects/{pid}/events?after=0", headers=owner.headers).json()["events"][0]["data"][
            "title"
        ]
        == title
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/{missing}",
        "/api/projects/{missing}/members",
        "/api/projects/{missing}/columns",
        "/api/projects/{missing}/tasks",
        "/api/projects/{missing}/events",
        "/api/tasks/{missing}",
        "/api/tasks/{missing}/comments",
        "/api/projects/{foreign}",
        "/api/projects/{foreign}/tasks",
        "/api/projects/{foreign}/events",
        "/api/tasks/{foreign_task}",
        "/api/tasks/{foreign_task}/comments",
    ],
)
def test_unknown_or_foreign_resources_are_404(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account], path: str
) -> None:
    stranger = make_account()
    foreign = new_project(client, stranger, "Theirs")
    foreign_task = new_task(client, stranger, foreign)["id"]
    url = path.format(missing=2**40, foreign=foreign, foreign_task=foreign_task)
    response = client.get(url, headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["detail"].endswith("not found")


def test_writes_to_unknown_or_foreign_resources_are_404(
    client: TestClient, owner: Account, pid: int, make_account: Callable[..., Account]
) -> None:
    stranger = make_account()
    foreign = new_project(client, stranger, "Theirs")
    foreign_task = new_task(client, stranger, foreign)["id"]
    foreign_column = column_ids(client, stranger, foreign)[0]
    h = owner.headers
    for target in (foreign, 2**40):
        assert client.patch(f"/api/projects/{target}", json={"name": "x"}, headers=h).status_code == 404
        assert client.post(f"/api/projects/{target}/tasks", json={"title": "x"}, headers=h).status_code == 404
        assert (
            client.post(f"/api/projects/{target}/columns", json={"name": "x"}, headers=h).status_code == 404
        )
        assert client.delete(f"/api/projects/{target}", headers=h).status_code == 404
    for column in (foreign_column, 2**40):
        assert client.patch(f"/api/columns/{column}", json={"name": "x"}, headers=h).status_code == 404
        assert client.delete(f"/api/columns/{column}", headers=h).status_code == 404
    for task in (foreign_task, 2**40):
        assert client.patch(f"/api/tasks/{task}", json={"title": "x"}, headers=h).status_code == 404
        assert client.delete(f"/api/tasks/{task}", headers=h).status_code == 404
        own_column = column_ids(client, owner, pid)[0]
        assert (
            client.post(f"/api/tasks/{task}/move", json={"column_id": own_column}, headers=h).status_code
            == 404
        )
    assert client.get(f"/api/tasks/{foreign_task}", headers=stranger.headers).json()["title"] == "Task"


BAD_IDS = ["abc", "1.5", "1e3", "0", "-1", str(2**63), str(10**30), "%20", "\uff11", "😀"]
ID_ROUTES: list[tuple[str, str, Json | None]] = [
    ("GET", "/api/projects/{id}", None),
    ("PATCH", "/api/projects/{id}", {"name": "x"}),
    ("DELETE", "/api/projects/{id}", None),
    ("GET", "/api/projects/{id}/members", None),
    ("POST", "/api/projects/{id}/members", {"username": "x"}),
    ("PATCH", "/api/projects/{pid}/members/{id}", {"role": "viewer"}),
    ("DELETE", "/api/projects/{pid}/members/{id}", None),
    ("GET", "/api/projects/{id}/columns", None),
    ("POST", "/api/projects/{id}/columns", {"name": "x"}),
    ("PATCH", "/api/columns/{id}", {"name": "x"}),
    ("DELETE", "/api/columns/{id}", None),
    ("GET", "/api/projects/{id}/tasks", None),
    ("POST", "/api/projects/{id}/tasks", {"title": "x"}),
    ("GET", "/api/tasks/{id}", None),
    ("PATCH", "/api/tasks/{id}", {"title": "x"}),
    ("DELETE", "/api/tasks/{id}", None),
    ("POST", "/api/tasks/{id}/move", {"column_id": 1}),
    ("GET", "/api/tasks/{id}/comments", None),
    ("POST", "/api/tasks/{id}/comments", {"body": "x"}),
    ("GET", "/api/projects/{id}/events", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES])
def test_bad_ids_in_paths_are_422(
    client: TestClient, owner: Account, pid: int, method: str, path: str, body: Json | None
) -> None:
    for bad in BAD_IDS:
        response = client.request(method, path.format(id=bad, pid=pid), json=body, headers=owner.headers)
        assert response.status_code == 422, (bad, response.text)
        assert [error["loc"][0] for error in response.json()["detail"]] == ["path"], bad


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("create", "column_id"),
        ("create", "assignee_id"),
        ("patch", "assignee_id"),
        ("move", "column_id"),
        ("filter", "column_id"),
        ("filter", "assignee_id"),
    ],
)
def test_bad_ids_in_bodies_and_filters_are_422(
    client: TestClient, owner: Account, pid: int, where: str, field: str
) -> None:
    task = new_task(client, owner, pid)
    h = owner.headers
    for value in [2**62 + 1, 2**63, 10**30, -1, 0, "x", 1.5]:
        if where == "create":
            response = client.post(f"/api/projects/{pid}/tasks", json={"title": "x", field: value}, headers=h)
        elif where == "patch":
            response = client.patch(f"/api/tasks/{task['id']}", json={field: value}, headers=h)
        elif where == "move":
            response = client.post(f"/api/tasks/{task['id']}/move", json={field: value}, headers=h)
        else:
            response = client.get(f"/api/projects/{pid}/tasks", params={field: str(value)}, headers=h)
        assert response.status_code == 422, (value, response.text)
    assert client.get(f"/api/projects/{pid}/tasks", headers=h).json() == [task]


NUL = "a\x00b"
NUL_CASES = [
    (
        "POST",
        "/api/auth/register",
        {"username": "nul_user", "email": "n@example.com", "password": "long enough 1", "display_name": NUL},
    ),
    ("POST", "/api/auth/register", {"username": "nul_user", "email": "n@example.com", "password": NUL * 4}),
    ("POST", "/api/projects", {"name": NUL}),
    ("POST", "/api/projects", {"name": "x", "description": NUL}),
    ("PATCH", "/api/projects/{pid}", {"description": NUL}),
    ("POST", "/api/projects/{pid}/members", {"username": NUL}),
    ("POST", "/api/projects/{pid}/columns", {"name": NUL}),
    ("PATCH", "/api/columns/{column}", {"name": NUL}),
    ("POST", "/api/projects/{pid}/tasks", {"title": NUL}),
    ("POST", "/api/projects/{pid}/tasks", {"title": "x", "description": NUL}),
    ("POST", "/api/projects/{pid}/tasks", {"title": "x", "labels": [NUL]}),
    ("PATCH", "/api/tasks/{task}", {"title": NUL}),
    ("PATCH", "/api/tasks/{task}", {"description": NUL}),
    ("PATCH", "/api/tasks/{task}", {"labels": ["ok", NUL]}),
    ("POST", "/api/tasks/{task}/comments", {"body": NUL}),
    ("GET", "/api/projects/{pid}/tasks?q=a%00b", None),
    ("GET", "/api/projects/{pid}/tasks?label=a%00b", None),
]


@pytest.mark.parametrize(("method", "path", "body"), NUL_CASES, ids=[f"{m} {p} {b}" for m, p, b in NUL_CASES])
def test_nul_characters_are_422(
    client: TestClient, owner: Account, pid: int, method: str, path: str, body: Json | None
) -> None:
    task = new_task(client, owner, pid)
    url = path.format(pid=pid, task=task["id"], column=task["column_id"])
    response = client.request(method, url, json=body, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == task


BODY_ROUTES = [
    ("POST", "/api/auth/register"),
    ("POST", "/api/projects"),
    ("PATCH", "/api/projects/{pid}"),
    ("POST", "/api/projects/{pid}/members"),
    ("PATCH", "/api/projects/{pid}/members/{me}"),
    ("POST", "/api/projects/{pid}/columns"),
    ("PATCH", "/api/columns/{column}"),
    ("POST", "/api/projects/{pid}/tasks"),
    ("PATCH", "/api/tasks/{task}"),
    ("POST", "/api/tasks/{task}/move"),
    ("POST", "/api/tasks/{task}/comments"),
]
BAD_BODIES = {
    "truncated": '{"title": "x"',
    "trailing comma": '{"title": "x",}',
    "single quotes": "{'title': 'x'}",
    "not json": "title=x",
    "empty": "",
    "array": "[]",
    "null": "null",
    "string": '"x"',
    "NaN": '{"title": NaN, "name": NaN, "body": NaN, "role": NaN, "column_id": NaN, "priority": NaN}',
    "huge number": '{"title": 1e400, "position": 1e400, "priority": 1e400, "column_id": 1e400}',
    "lone surrogate": '{"title": "\\ud800", "name": "\\udfff", "body": "\\ud800", "username": "\\ud800"}',
    "surrogate key": '{"\\ud800": 1}',
    "unknown field": '{"title": "x", "name": "x", "body": "x", "role": "viewer", "column_id": 1, "extra": 1}',
}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
def test_malformed_bodies_are_422(
    client: TestClient, owner: Account, pid: int, method: str, path: str
) -> None:
    task = new_task(client, owner, pid)
    url = path.format(pid=pid, task=task["id"], column=task["column_id"], me=owner.id)
    for name, raw in BAD_BODIES.items():
        response = client.request(
            method, url, content=raw, headers={**owner.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, (name, response.text)
        assert isinstance(response.json()["detail"], list), name
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json() == task
    assert client.get(f"/api/projects/{pid}/events", headers=owner.headers).json()["last_seq"] == 1


def test_unknown_query_parameters_are_422(client: TestClient, owner: Account, pid: int) -> None:
    response = client.get(f"/api/projects/{pid}/tasks?colum_id=1", headers=owner.headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2027-03-04T05:06:07Z", "2027-03-04T05:06:07Z"),
        ("2027-03-04T05:06:07+05:30", "2027-03-03T23:36:07Z"),
        ("2027-03-04T05:06:07", "2027-03-04T05:06:07Z"),  # no offset: taken as UTC
        ("2027-03-04", "2027-03-04T00:00:00Z"),
    ],
)
def test_due_at_is_stored_in_utc(
    client: TestClient, owner: Account, pid: int, sent: str, stored: str
) -> None:
    task = new_task(client, owner, pid, due_at=sent)
    assert task["due_at"] == stored
    assert client.get(f"/api/tasks/{task['id']}", headers=owner.headers).json()["due_at"] == stored


@pytest.mark.parametrize(
    "due_at",
    [
        '"0001-01-01T00:00:00+14:00"',
        '"9999-12-31T23:00:00-05:00"',
        '"tomorrow"',
        '"2027-13-01T00:00:00Z"',
        "1e400",
    ],
)
def test_due_at_out_of_range_or_malformed_is_422(
    client: TestClient, owner: Account, pid: int, due_at: str
) -> None:
    response = client.post(
        f"/api/projects/{pid}/tasks",
        content=f'{{"title": "x", "due_at": {due_at}}}',
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


BAD_TASK_FIELDS: list[Json] = [
    {"priority": 0},
    {"priority": 6},
    {"priority": "high"},
    {"position": -1},
    {"position": 1_000_001},
    {"labels": "work"},
    {"labels": [""]},
    {"labels": ["x" * 51]},
    {"labels": [str(i) for i in range(21)]},
    {"description": "x" * 20_001},
    {"archived": True},  # not a create field
    {"version": 5},
    # Dates no time zone could show: the board renders due dates in each user's zone.
    {"due_at": "9999-12-31T23:59:59Z"},
    {"due_at": "0001-01-01T00:00:00Z"},
    {"due_at": "1899-12-31T23:59:59Z"},
    {"due_at": "3000-01-01T00:00:00Z"},
]


def test_bad_task_fields_are_422(client: TestClient, owner: Account, pid: int) -> None:
    for fields in BAD_TASK_FIELDS:
        response = client.post(
            f"/api/projects/{pid}/tasks", json={"title": "x", **fields}, headers=owner.headers
        )
        assert response.status_code == 422, (fields, response.text)
    assert client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json() == []


def test_renaming_to_the_same_values_emits_no_event(client: TestClient, owner: Account, pid: int) -> None:
    response = client.patch(f"/api/projects/{pid}", json={"name": "Board"}, headers=owner.headers)
    assert response.status_code == 200 and response.json()["event_seq"] == 0
    assert client.get(f"/api/projects/{pid}/events", headers=owner.headers).json()["events"] == []


@pytest.mark.parametrize("body", [{"name": None}, {"description": None}])
def test_project_fields_cannot_be_nulled(client: TestClient, owner: Account, pid: int, body: Json) -> None:
    assert client.patch(f"/api/projects/{pid}", json=body, headers=owner.headers).status_code == 422


def test_the_edges_of_the_date_range_are_kept(client: TestClient, owner: Account, pid: int) -> None:
    for due in ("1900-01-01T00:00:00Z", "2999-12-31T23:59:59Z"):
        assert new_task(client, owner, pid, due_at=due)["due_at"] == due


def test_a_422_repeats_only_the_start_of_a_long_input(client: TestClient, owner: Account, pid: int) -> None:
    response = client.post(f"/api/projects/{pid}/tasks", json={"title": "x" * 100_000}, headers=owner.headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "title"]
    assert error["input"] == "x" * 200 + "…"
    assert len(response.content) < 2000
