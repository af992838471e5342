"""The Reflex states and the fan-out, driven directly (no browser) against the real test database: failed
writes roll back visibly, ids from the browser are checked, one viewer's failure does not cost the others
an event, and the quick-add preview does not hold the session while the AI engine answers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import reflex as rx
from reflex import constants
from reflex.event import EventHandler, EventSpec
from reflex.istate.data import PageData, SessionData
from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.proxy import StateProxy
from reflex_base.event.context import EventContext
from sqlalchemy.exc import OperationalError

from agorax_app import fanout
from agorax_app.agorax_app import app
from agorax_app.errors import DATABASE_DOWN
from agorax_app.ids import browser_id
from agorax_app.state import board as board_module
from agorax_app.state import members as members_module
from agorax_app.state import quickadd as quickadd_module
from agorax_app.state.board import NO_SUCH_BOARD, BoardState
from agorax_app.state.members import MembersState
from agorax_app.state.quickadd import QuickAddState
from backend.ai.schemas import ParseResult
from backend.config import get_settings
from backend.db.session import session_scope
from backend.schemas import ID_MAX, MemberCreate, MemberUpdate, ProjectCreate, TaskCreate, UserCreate
from backend.security import create_access_token
from backend.services import columns, members, projects, tasks, users
from tests.conftest import unique

S = TypeVar("S", bound=rx.State)
# "²".isdigit() is true; the others pass isdigit() but are no id the database can hold.
BAD_IDS = ["²", "99999999999999999999", str(ID_MAX + 1), "0"]


def service(fn: Callable[..., Any], **kwargs: Any) -> Any:
    with session_scope() as session:
        return fn(session, **kwargs)


@dataclass
class Project:
    owner_id: int
    owner_token: str
    id: int
    column_ids: list[int]
    task_id: int


def make_user() -> tuple[int, str]:
    name = unique("ui")
    user = service(
        users.register_user,
        data=UserCreate(username=name, email=f"{name}@example.com", password="correct horse 1"),
    )
    return user.id, create_access_token(user_id=user.id, settings=get_settings())


@pytest.fixture
def project(cheap_password_hashing: None) -> Project:
    owner_id, token = make_user()
    created = service(projects.create_project, user_id=owner_id, data=ProjectCreate(name="UI"))
    column_ids = [c.id for c in service(columns.list_columns, user_id=owner_id, project_id=created.id)]
    task = service(
        tasks.create_task, user_id=owner_id, project_id=created.id, data=TaskCreate(title="Existing")
    )
    return Project(owner_id, token, created.id, column_ids, task.id)


@pytest.fixture(autouse=True)
def no_watches() -> Iterator[None]:
    yield
    for token in list(fanout._watching):
        fanout.unwatch(token)
    fanout._members.clear()


def new_root(*, token: str, access_token: str, route_id: str = "") -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    root.rx_router_session = SessionData(client_token=token)
    root.rx_router_page = PageData(params={"project_id": route_id})
    root.get_substate(BoardState.get_full_name().split(".")).access_token = access_token
    return root


def substate(root: rx.State, cls: type[S]) -> S:
    found = root.get_substate(cls.get_full_name().split("."))
    assert isinstance(found, cls)
    return found


async def steps(handler: AsyncIterator[Any]) -> list[Any]:
    return [step async for step in handler]


_TOAST = re.compile(r"""refs\['__toast'\]\?\.\["(?:error|warning|info)"\]\(("(?:[^"\\]|\\.)*")""")


def toasts(events: list[Any]) -> list[str]:
    """The messages of the toasts among what a handler yielded (a toast is a script run in the browser)."""
    specs = [spec for event in events for spec in (event if isinstance(event, list) else [event])]
    scripts = [str(value) for spec in specs if isinstance(spec, EventSpec) for _, value in spec.args]
    return [json.loads(match) for script in scripts for match in _TOAST.findall(script)]


async def open_board(project: Project, token: str = "tab-1") -> BoardState:
    board = substate(
        new_root(token=token, access_token=project.owner_token, route_id=str(project.id)), BoardState
    )
    await board.load_board()
    assert board.closed_reason == "" and board.columns
    return board


def titles(board: BoardState) -> dict[int, list[str]]:
    return {column.id: [card.title for card in column.cards] for column in board.columns}


# 1. A write that fails for any reason is rolled back with a message


async def test_a_move_that_fails_unexpectedly_is_rolled_back_with_a_message(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await open_board(project)
    shown = titles(board)

    def database_away(*_: Any, **__: Any) -> None:
        raise OperationalError("UPDATE tasks", {}, Exception("server closed the connection"))

    monkeypatch.setattr(tasks, "move_task", database_away)
    events = await steps(board.move_card(project.task_id, str(project.column_ids[1])))
    assert titles(board) == shown
    assert toasts(events) == [f"Card not moved: {DATABASE_DOWN}"]


async def test_failed_rename_add_and_delete_are_rolled_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await open_board(project)
    shown = titles(board)

    async def pool_timeout(*_: Any, **__: Any) -> None:
        raise TimeoutError("QueuePool limit reached")

    monkeypatch.setattr(board_module, "call_service", pool_timeout)
    board.start_edit(project.task_id, "Existing")
    board.edit_text = "Renamed"
    renamed = await steps(board.save_edit())
    added = await steps(board.add_card({"column_id": str(project.column_ids[0]), "title": "New"}))
    deleted = await steps(board.delete_card(project.task_id))
    assert titles(board) == shown
    assert [message.split(":")[0] for message in toasts(renamed + added + deleted)] == [
        "Title not saved",
        "Card not added",
        "Card not deleted",
    ]


# 2. Bad board ids, and no watch left behind by a board that does not open


@pytest.mark.parametrize("raw_id", BAD_IDS)
async def test_a_bad_board_id_shows_no_such_board_and_watches_nothing(project: Project, raw_id: str) -> None:
    board = await open_board(project)  # the session had a board open before
    board.rx_router_page = PageData(params={"project_id": raw_id})
    await board.load_board()
    assert board.closed_reason == NO_SUCH_BOARD and board.columns == []
    assert fanout._watching == {}


async def test_a_board_that_does_not_open_leaves_no_watch(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stranger_token = make_user()
    board = substate(
        new_root(token="tab-2", access_token=stranger_token, route_id=str(project.id)), BoardState
    )
    await board.load_board()
    assert "not a member" in board.closed_reason and fanout._watching == {}

    def database_away(*_: Any, **__: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(board_module, "board_snapshot", database_away)
    owner = substate(
        new_root(token="tab-3", access_token=project.owner_token, route_id=str(project.id)), BoardState
    )
    await owner.load_board()
    assert owner.closed_reason.startswith("The board could not be loaded") and fanout._watching == {}


def test_ids_from_the_browser_are_taken_as_the_api_takes_path_ids() -> None:
    assert [browser_id(v) for v in ("7", "0012", 7, ID_MAX, str(ID_MAX))] == [7, 12, 7, ID_MAX, ID_MAX]
    for bad in [*BAD_IDS, "-1", "1.5", "", " 1", 0, -3, ID_MAX + 1, 10**30, 1.0, True, None, [1], {"id": 1}]:
        assert browser_id(bad) is None, bad


@pytest.mark.parametrize("member_id", ["²", 99999999999999999999, 2.5, True, None, [1]])
async def test_crafted_member_ids_are_ignored(
    project: Project, member_id: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[Any] = []

    async def recording(*args: Any, **kwargs: Any) -> None:
        called.append((args, kwargs))

    dialog = substate(new_root(token="tab-4", access_token=project.owner_token), MembersState)
    dialog.board_id = project.id
    monkeypatch.setattr(members_module, "call_service", recording)
    await dialog.set_role(member_id, "viewer")
    await dialog.remove(member_id)
    assert called == []


# 3 and 5. The fan-out


@dataclass
class FakeBoard:
    board_id: int
    fails: bool = False
    applied: list[dict[str, Any]] = field(default_factory=list)

    async def apply_events(self, envelopes: list[dict[str, Any]]) -> None:
        if self.fails:
            raise OperationalError("SELECT", {}, Exception("connection reset"))
        self.applied += envelopes

    def close_for(self, reason: str) -> None:
        raise AssertionError(reason)


class FakeNamespace:
    def __init__(self, tokens: list[str]) -> None:
        self.token_to_sid = dict.fromkeys(tokens, "sid")
        self._token_manager = object()


class FakeApp:
    """What the fan-out uses of rx.App: the sockets this process holds, and modify_state."""

    def __init__(self, boards: dict[str, FakeBoard]) -> None:
        self.boards = boards
        self.event_namespace = FakeNamespace(list(boards))

    @asynccontextmanager
    async def modify_state(self, token: rx.BaseStateToken) -> AsyncIterator[Any]:
        board = self.boards[token.ident]

        class Root:
            async def get_state(self, _cls: type) -> FakeBoard:
                return board

        yield Root()


async def test_one_viewers_failure_does_not_keep_the_event_from_the_others(project: Project) -> None:
    boards = {token: FakeBoard(project.id, fails=token == "b") for token in ("a", "b", "c")}
    for token in boards:
        fanout.watch(token, project.id, project.owner_id)
    envelope = {"seq": 9, "type": "task.updated", "project_id": project.id, "data": {}}
    await fanout.push_to_viewers(FakeApp(boards), envelope, BoardState)  # type: ignore[arg-type]
    assert boards["a"].applied == [envelope] and boards["c"].applied == [envelope]


async def test_a_deleted_project_is_not_kept_in_the_members_cache(project: Project) -> None:
    boards = {"a": FakeBoard(project.id)}
    fanout.watch("a", project.id, project.owner_id)
    fake = FakeApp(boards)
    update = {"seq": 5, "type": "task.updated", "project_id": project.id, "data": {}}
    await fanout.push_to_viewers(fake, update, BoardState)  # type: ignore[arg-type]
    assert fanout._members[project.id] == {project.owner_id: "owner"}
    service(projects.delete_project, user_id=project.owner_id, project_id=project.id)
    deleted = {"seq": 6, "type": "project.deleted", "project_id": project.id, "data": {}}
    await fanout.push_to_viewers(fake, deleted, BoardState)  # type: ignore[arg-type]
    assert boards["a"].applied == [update, deleted]
    assert project.id not in fanout._members


async def test_pages_that_are_not_a_board_leave_the_open_board(project: Project) -> None:
    for route in ("/", "/login"):
        assert BoardState.leave_board in app.get_load_events(route)
    board = await open_board(project, token="tab-5")
    assert fanout._watching == {"tab-5": project.id}
    board.leave_board()
    assert fanout._watching == {} and project.id not in fanout._members and board.board_id == 0


# 3 and 4. Quick add


class SlowEngine:
    """An AI engine whose answers the test releases one text at a time."""

    def __init__(self) -> None:
        self.asked: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}

    async def parse(self, text: str, **_: Any) -> ParseResult:
        self.release.setdefault(text, asyncio.Event())
        self.asked.setdefault(text, asyncio.Event()).set()
        await self.release[text].wait()
        return ParseResult(
            title=f"understood {text}",
            due_at=None,
            priority=None,
            labels=[],
            assignees=[],
            project=None,
            repeat=None,
            source="gemini",
            elapsed_ms=1.0,
        )

    async def asked_for(self, text: str) -> None:
        await asyncio.wait_for(self.asked.setdefault(text, asyncio.Event()).wait(), 5)


@dataclass
class Session:
    """One browser session's state in a state manager, and its events run as Reflex runs them: a
    background handler with a StateProxy, any other one holding the session's state throughout."""

    manager: StateManagerMemory
    token: str

    def key(self) -> rx.BaseStateToken:
        return rx.BaseStateToken(ident=self.token, cls=QuickAddState)

    async def run(self, handler: EventHandler, *args: Any) -> None:
        EventContext.set(EventContext(token=self.token, state_manager=self.manager, enqueue_impl=_no_enqueue))
        if handler.is_background:
            root = await self.manager.get_state(self.key())
            await handler.fn(StateProxy(substate(root, QuickAddState)), *args)
            return
        async with self.manager.modify_state(self.key()) as root:
            await handler.fn(substate(root, QuickAddState), *args)

    async def quick(self) -> QuickAddState:
        return substate(await self.manager.get_state(self.key()), QuickAddState)


async def _no_enqueue(*_: Any, **__: Any) -> list[Any]:
    return []


@pytest.fixture
async def quick_session(project: Project) -> Session:
    session = Session(StateManagerMemory(), unique("tab"))
    async with session.manager.modify_state(session.key()) as root:
        # A session with a page: a routeless one would be hydrated afresh on the next `async with self`.
        root.router_data = {constants.RouteVar.CLIENT_TOKEN: session.token}
        root.rx_router_session = SessionData(client_token=session.token)
        quick = substate(root, QuickAddState)
        quick.access_token = project.owner_token
        quick.board_id = project.id
    return session


async def test_the_preview_does_not_hold_the_session_and_keeps_the_newest_answer(
    quick_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = SlowEngine()
    monkeypatch.setattr(quickadd_module, "engine_for_loop", lambda _settings: engine)
    older = asyncio.create_task(quick_session.run(QuickAddState.type_quick, "Review"))
    await engine.asked_for("Review")
    # While the engine thinks, the session's state is free for a live update from the fan-out.
    async with asyncio.timeout(2), quick_session.manager.modify_state(quick_session.key()):
        pass
    newer = asyncio.create_task(quick_session.run(QuickAddState.type_quick, "Review PR"))
    await engine.asked_for("Review PR")
    engine.release["Review PR"].set()
    await asyncio.wait_for(newer, 5)
    engine.release["Review"].set()  # the older answer arrives last
    await asyncio.wait_for(older, 5)
    quick = await quick_session.quick()
    assert quick.quick_text == "Review PR" and quick.understood_title == "understood Review PR"


async def test_the_quick_add_box_keeps_its_text_until_the_card_is_stored(project: Project) -> None:
    user_id, user_token = make_user()
    username = service(users.get_user, user_id=user_id).username
    service(
        members.add_member,
        user_id=project.owner_id,
        project_id=project.id,
        data=MemberCreate(username=username, role="viewer"),
    )
    box = substate(new_root(token="tab-6", access_token=user_token, route_id=str(project.id)), QuickAddState)
    await box.load_board()
    typed = "Sneaky card !3"
    box.quick_text = typed
    refused = await steps(box.submit_quick({"quick": typed}))
    assert box.quick_text == typed and typed.removesuffix(" !3") not in str(titles(box))
    assert [message.split(":")[0] for message in toasts(refused)] == ["Card not added"]

    service(
        members.change_role,
        user_id=project.owner_id,
        project_id=project.id,
        member_user_id=user_id,
        data=MemberUpdate(role="editor"),
    )
    await box.load_board()
    assert toasts(await steps(box.submit_quick({"quick": typed}))) == []
    assert box.quick_text == "" and "Sneaky card" in titles(box)[project.column_ids[0]]

    # Removed from the project meanwhile (NotFound before the card is even drafted): said, and kept.
    service(members.remove_member, user_id=project.owner_id, project_id=project.id, member_user_id=user_id)
    box.quick_text = "Too late"
    removed = await steps(box.submit_quick({"quick": "Too late"}))
    assert box.quick_text == "Too late"
    assert [message.split(":")[0] for message in toasts(removed)] == ["Card not added"]
