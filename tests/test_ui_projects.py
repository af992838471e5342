"""The projects page, driven directly (no browser) against the real test database: the tiles' summary from
the service layer, and the fan-out that keeps each open project list live (which sessions an event reloads,
one read per user, nothing for sessions that left, and one failing session not costing the others)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import SessionData
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from agorax_app import fanout
from agorax_app.agorax_app import app
from agorax_app.state.projects import ProjectsState
from backend.config import get_settings
from backend.db.models import Role
from backend.db.session import session_scope
from backend.schemas import (
    ColumnUpdate,
    MemberCreate,
    MemberUpdate,
    ProjectCreate,
    ProjectUpdate,
    TaskCreate,
    TaskUpdate,
    UserCreate,
)
from backend.security import create_access_token
from backend.services import columns, members, projects, tasks, users
from tests.conftest import unique


def service(fn: Callable[..., Any], **kwargs: Any) -> Any:
    with session_scope() as session:
        return fn(session, **kwargs)


def make_user() -> tuple[int, str, str]:
    name = unique("pl")
    user = service(
        users.register_user,
        data=UserCreate(username=name, email=f"{name}@example.com", password="correct horse 1"),
    )
    return user.id, name, create_access_token(user_id=user.id, settings=get_settings())


@pytest.fixture(autouse=True)
def no_lists() -> Iterator[None]:
    yield
    for token in list(fanout._list_users):
        fanout.unwatch_list(token)


# The tiles' summary (service layer)


def test_overviews_count_open_cards_and_carry_the_readers_role(
    db: Session, cheap_password_hashing: None
) -> None:
    def user(prefix: str) -> int:
        name = unique(prefix)
        data = UserCreate(username=name, email=f"{name}@example.com", password="correct horse 1")
        return users.register_user(db, data=data).id

    owner, guest, stranger = user("ow"), user("gu"), user("st")
    busy = projects.create_project(db, user_id=owner, data=ProjectCreate(name="Busy"))
    empty = projects.create_project(db, user_id=owner, data=ProjectCreate(name="Empty", description="Quiet"))
    projects.create_project(db, user_id=stranger, data=ProjectCreate(name="Not yours"))
    todo, _, done = columns.list_columns(db, user_id=owner, project_id=busy.id)
    made = {
        title: tasks.create_task(
            db, user_id=owner, project_id=busy.id, data=TaskCreate(title=title, column_id=column.id)
        )
        for title, column in (("one", todo), ("two", todo), ("three", todo), ("old", todo), ("shipped", done))
    }
    tasks.update_task(db, user_id=owner, task_id=made["old"].id, data=TaskUpdate(archived=True))
    guest_name = users.get_user(db, user_id=guest).username
    members.add_member(
        db, user_id=owner, project_id=busy.id, data=MemberCreate(username=guest_name, role=Role.viewer)
    )

    mine = projects.list_project_overviews(db, user_id=owner)
    assert [(p.name, p.role, p.open_tasks, p.description) for p in mine] == [
        ("Busy", Role.owner, 3, ""),
        ("Empty", Role.owner, 0, "Quiet"),
    ]
    assert [(p.id, p.role, p.open_tasks) for p in projects.list_project_overviews(db, user_id=guest)] == [
        (busy.id, Role.viewer, 3)
    ]
    # Marking the column done closes its cards.
    columns.update_column(db, user_id=owner, column_id=todo.id, data=ColumnUpdate(is_done=True))
    assert projects.list_project_overviews(db, user_id=owner)[0].open_tasks == 0
    assert empty.id in {p.id for p in mine}


# The live list (fan-out)


class FakeNamespace:
    def __init__(self, tokens: list[str]) -> None:
        self.token_to_sid = dict.fromkeys(tokens, "sid")
        self._token_manager = object()


class FakeApp:
    """What the fan-out uses of rx.App: the sockets this process holds, and modify_state (which fails for
    the tokens in `broken`, as a state manager that lost its Redis would)."""

    def __init__(self, lists: dict[str, ProjectsState], broken: frozenset[str] = frozenset()) -> None:
        self.lists = lists
        self.broken = broken
        self.event_namespace = FakeNamespace(list(lists))
        self.modified: list[str] = []

    @asynccontextmanager
    async def modify_state(self, token: rx.BaseStateToken) -> AsyncIterator[Any]:
        self.modified.append(token.ident)
        if token.ident in self.broken:
            raise OperationalError("SELECT", {}, Exception("connection reset"))
        listing = self.lists[token.ident]

        class Root:
            async def get_state(self, _cls: type) -> ProjectsState:
                return listing

        yield Root()


async def open_list(token: str, access_token: str) -> ProjectsState:
    root = rx.State(_reflex_internal_init=True)
    root.rx_router_session = SessionData(client_token=token)
    listing = root.get_substate(ProjectsState.get_full_name().split("."))
    assert isinstance(listing, ProjectsState)
    listing.access_token = access_token
    await listing.load_projects()
    return listing


def shown(listing: ProjectsState) -> list[tuple[str, str]]:
    return [(p.name, p.role) for p in listing.projects]


def envelope(kind: str, project_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "project_id": project_id, "seq": 1, "data": data}


async def test_membership_and_project_events_reload_exactly_the_affected_lists(
    cheap_password_hashing: None,
) -> None:
    owner_id, _, owner_token = make_user()
    ben_id, ben, ben_token = make_user()
    _, _, carl_token = make_user()
    project = service(projects.create_project, user_id=owner_id, data=ProjectCreate(name="Shared"))
    lists = {
        "owner-tab": await open_list("owner-tab", owner_token),
        "ben-tab-1": await open_list("ben-tab-1", ben_token),
        "ben-tab-2": await open_list("ben-tab-2", ben_token),
        "carl-tab": await open_list("carl-tab", carl_token),
    }
    fake = FakeApp(lists)
    assert shown(lists["ben-tab-1"]) == [] and shown(lists["owner-tab"]) == [("Shared", "owner")]

    async def deliver(kind: str, data: dict[str, Any]) -> list[str]:
        fake.modified.clear()
        await fanout.push_to_lists(fake, envelope(kind, project.id, data), ProjectsState)  # type: ignore[arg-type]
        return sorted(fake.modified)

    added = service(
        members.add_member,
        user_id=owner_id,
        project_id=project.id,
        data=MemberCreate(username=ben, role=Role.editor),
    )
    assert await deliver("member.added", added.model_dump(mode="json")) == ["ben-tab-1", "ben-tab-2"]
    assert shown(lists["ben-tab-1"]) == shown(lists["ben-tab-2"]) == [("Shared", "editor")]

    changed = service(
        members.change_role,
        user_id=owner_id,
        project_id=project.id,
        member_user_id=ben_id,
        data=MemberUpdate(role=Role.viewer),
    )
    assert await deliver("member.role_changed", changed.model_dump(mode="json")) == ["ben-tab-1", "ben-tab-2"]
    assert shown(lists["ben-tab-1"]) == [("Shared", "viewer")]

    service(
        projects.update_project, user_id=owner_id, project_id=project.id, data=ProjectUpdate(name="Moved")
    )
    assert await deliver("project.updated", {"id": project.id}) == ["ben-tab-1", "ben-tab-2", "owner-tab"]
    assert shown(lists["ben-tab-2"]) == [("Moved", "viewer")] and shown(lists["owner-tab"]) == [
        ("Moved", "owner")
    ]

    # A tab that left the page gets nothing more; events that change no list reload none.
    lists["ben-tab-2"].leave_projects()
    assert await deliver("task.created", {"id": 1}) == []
    service(members.remove_member, user_id=owner_id, project_id=project.id, member_user_id=ben_id)
    assert await deliver("member.removed", changed.model_dump(mode="json")) == ["ben-tab-1"]
    assert shown(lists["ben-tab-1"]) == [] and shown(lists["ben-tab-2"]) == [("Moved", "viewer")]

    service(projects.delete_project, user_id=owner_id, project_id=project.id)
    assert await deliver("project.deleted", {"id": project.id}) == ["owner-tab"]
    assert shown(lists["owner-tab"]) == [] and shown(lists["carl-tab"]) == []


async def test_one_failing_session_does_not_keep_the_change_from_the_others(
    cheap_password_hashing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_id, _, owner_token = make_user()
    project = service(projects.create_project, user_id=owner_id, data=ProjectCreate(name="Before"))
    lists = {token: await open_list(token, owner_token) for token in ("a", "b", "c", "gone")}
    fake = FakeApp(lists, broken=frozenset({"b"}))
    del fake.event_namespace.token_to_sid["gone"]  # its socket closed: dropped, not pushed to
    reads: list[int] = []
    overviews = projects.list_project_overviews

    def counted(session: Session, *, user_id: int) -> Any:
        reads.append(user_id)
        return overviews(session, user_id=user_id)

    monkeypatch.setattr(fanout, "list_project_overviews", counted)
    service(
        projects.update_project, user_id=owner_id, project_id=project.id, data=ProjectUpdate(name="After")
    )
    await fanout.push_to_lists(fake, envelope("project.updated", project.id, {}), ProjectsState)  # type: ignore[arg-type]
    assert reads == [owner_id]  # one read for the user, shown in each of their sessions
    assert shown(lists["a"]) == shown(lists["c"]) == [("After", "owner")]
    assert shown(lists["gone"]) == [("Before", "owner")] and "gone" not in fanout._list_users
    assert sorted(fanout._list_users) == ["a", "b", "c"]


async def test_a_list_still_loading_is_reloaded_by_any_project_event(cheap_password_hashing: None) -> None:
    fanout.watch_list("loading", 1)
    assert fanout.list_targets(envelope("project.deleted", 12345, {})) == {1: ["loading"]}
    fanout.list_shows("loading", {7})
    assert fanout.list_targets(envelope("project.deleted", 12345, {})) == {}
    assert fanout.list_targets(envelope("project.updated", 7, {})) == {1: ["loading"]}
    assert fanout.list_targets(envelope("member.added", 7, {"user_id": 2})) == {}


def test_every_other_page_stops_the_live_list() -> None:
    for route in ("/login", "/board/5"):
        assert ProjectsState.leave_projects in app.get_load_events(route)
    assert ProjectsState.load_projects in app.get_load_events("/")
