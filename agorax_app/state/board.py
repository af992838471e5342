"""One open board: loaded from a consistent snapshot, then kept live by events pushed from the fan-out.

A user's own change is shown at once (optimistic), written through the service layer, and rolled back
with a visible message if the write fails (refused or not). The canonical copy is the backend-only `_model`;
`columns` is the small view the browser renders.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import reflex as rx
import structlog
from pydantic import ValidationError
from reflex.event import EventSpec

from agorax_app import fanout
from agorax_app.backend_calls import call_service
from agorax_app.board_model import BoardModel, ColumnItem, Outcome, TaskItem
from agorax_app.ids import browser_id
from agorax_app.state.auth import AuthState
from backend.schemas import TaskCreate, TaskMove, TaskPublic, TaskUpdate
from backend.services import events, tasks
from backend.services.board import BoardSnapshot, board_snapshot
from backend.services.errors import Conflict, DomainError, NotFound

log = structlog.get_logger(__name__)

WRITE_ROLES = ("owner", "editor")
# Beyond this many pages of missed events a fresh snapshot is cheaper than replaying them.
MAX_CATCH_UP_PAGES = 4
EDIT_CONFLICT = (
    "Title not saved: someone else changed this card while you were editing it (it shows their change)"
)
NO_SUCH_BOARD = "There is no such board"
NOT_A_MEMBER = "This board does not exist, or you are not a member of it"
_GRAVITY = {Outcome.APPLIED: 0, Outcome.DUPLICATE: 0, Outcome.RELOAD: 1, Outcome.CLOSED: 2}


def _graver(current: Outcome, step: Outcome) -> Outcome:
    """The outcome that decides what happens next: a closed board beats a reload beats applied."""
    return step if _GRAVITY.get(step, 1) > _GRAVITY[current] else current


@dataclass
class CardView:
    id: int
    title: str
    labels: list[str]
    due: str
    priority: int


@dataclass
class ColumnView:
    id: int
    name: str
    is_done: bool
    cards: list[CardView]


def _due_label(due_at: str | None, tz: str) -> str:
    """The due moment in the user's zone; the time only when there is one."""
    if not due_at:
        return ""
    moment = datetime.fromisoformat(due_at)
    try:
        local = moment.astimezone(ZoneInfo(tz))
    except OverflowError:  # a stored date at the very edge of the calendar: shown as stored
        local = moment
    return local.strftime("%d %b %Y" if (local.hour, local.minute) == (0, 0) else "%d %b %Y %H:%M")


def _model_from(snapshot: BoardSnapshot, *, user_id: int) -> BoardModel:
    return BoardModel(
        project_id=snapshot.project.id,
        project_name=snapshot.project.name,
        user_id=user_id,
        role=snapshot.project.role.value if snapshot.project.role else "viewer",
        last_seq=snapshot.seq,
        columns={
            c.id: ColumnItem(id=c.id, name=c.name, position=c.position, is_done=c.is_done)
            for c in snapshot.columns
        },
        tasks={t.id: TaskItem.from_public(t.model_dump(mode="json")) for t in snapshot.tasks},
    )


def refusal(exc: Exception) -> str:
    """Why a change did not happen, in words for the user. A failure that is not a refusal (the database
    away, a pool timeout, a bug) is logged here, since the user only learns that it failed."""
    if isinstance(exc, DomainError):
        return exc.detail
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    log.error("board_write_failed", exc_info=exc)
    return "The server could not save that change: try again"


class BoardState(AuthState):
    board_id: int = 0
    board_name: str = ""
    role: str = ""
    columns: list[ColumnView] = []
    closed_reason: str = ""
    notice: str = ""
    # The browser's IANA time zone, so that "tomorrow 5pm" means the user's tomorrow.
    tz: str = "UTC"
    editing_id: int = 0
    edit_text: str = ""
    confirming_delete_id: int = 0

    _model: BoardModel | None = None
    _next_temp_id: int = -1
    _editing_version: int = 0

    @rx.var
    def can_edit(self) -> bool:
        return self.role in WRITE_ROLES

    # Loading and rendering

    def _render(self) -> None:
        model = self._model
        if model is None:
            self.columns = []
            return
        self.board_name = model.project_name
        self.role = model.role
        self.columns = [
            ColumnView(
                id=column.id,
                name=column.name,
                is_done=column.is_done,
                cards=[
                    CardView(
                        id=task.id,
                        title=task.title,
                        labels=list(task.labels),
                        due=_due_label(task.due_at, self.tz),
                        priority=task.priority or 0,
                    )
                    for task in model.visible_tasks(column.id)
                ],
            )
            for column in model.ordered_columns()
        ]

    async def _reload(self, user_id: int) -> None:
        try:
            snapshot = await call_service(board_snapshot, user_id=user_id, project_id=self.board_id)
        except NotFound:
            self._close(NOT_A_MEMBER)
            return
        self._model = _model_from(snapshot, user_id=user_id)
        self._render()

    def _close(self, reason: str) -> None:
        fanout.unwatch(self.router.session.client_token)
        self._model = None
        self.closed_reason = reason
        self.columns = []

    @rx.event
    async def load_board(self):
        user_id = self.current_user_id()
        if user_id is None:
            return rx.redirect("/login")
        self.closed_reason = ""
        self.notice = ""
        self.editing_id = 0
        board_id = browser_id(self.project_id)  # the [project_id] route argument
        if board_id is None:
            self.board_id = 0
            self._close(NO_SUCH_BOARD)
            return None
        self.board_id = board_id
        # Watch first: an event committed while the snapshot loads is then either in it or delivered after.
        # A board that does not load is unwatched again (by _close).
        fanout.watch(self.router.session.client_token, board_id, user_id)
        try:
            await self._reload(user_id)
        except Exception:
            log.exception("board_load_failed", project_id=board_id)
            self._close("The board could not be loaded: try again in a moment")
            return None
        if self._model is None:  # refused: _reload closed it
            return None
        return rx.call_script("Intl.DateTimeFormat().resolvedOptions().timeZone", callback=BoardState.set_tz)

    @rx.event
    def set_tz(self, tz: str):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            return
        self.tz = tz
        self._render()

    @rx.event
    def leave_board(self):
        """on_load of the pages that are not a board: no more pushes for the board the session left."""
        self._close("")
        self.board_id = 0

    # Events from the fan-out (called inside app.modify_state, never by the browser)

    async def apply_events(self, envelopes: list[dict[str, Any]]) -> None:
        """Apply live events in seq order; a gap is filled from the server's history first."""
        model = self._model
        if model is None:
            return
        outcome = Outcome.APPLIED
        for envelope in envelopes:
            step = model.apply(envelope)
            if step is Outcome.GAP:
                step = await self._fetch_missed(model, through=envelope["seq"])
            outcome = _graver(outcome, step)
            if outcome is Outcome.CLOSED:
                break
        await self._settle(model, outcome)

    async def catch_up(self) -> None:
        """Apply whatever was committed since the last applied event (after the feed was away)."""
        model = self._model
        if model is not None:
            await self._settle(model, await self._fetch_missed(model, through=None))

    def close_for(self, reason: str) -> None:
        """Close the board from outside (the fan-out found the user is no longer a member)."""
        self._close(reason)

    async def _settle(self, model: BoardModel, outcome: Outcome) -> None:
        if model.role != self.role and self.role and outcome is not Outcome.CLOSED:
            self.notice = (
                "An owner made you a viewer: this board is now read-only"
                if model.role == "viewer"
                else f"An owner changed your role to {model.role}"
            )
        if outcome is Outcome.CLOSED:
            self._close(model.closed_reason or "You no longer have access to this project")
        elif outcome is Outcome.RELOAD:
            await self._reload(model.user_id)
        else:
            self._render()

    async def _fetch_missed(self, model: BoardModel, *, through: int | None) -> Outcome:
        """Apply the events after the last applied one from the server's history, in order, up to
        `through` (or all of them). RELOAD when the history no longer has them."""
        outcome = Outcome.APPLIED
        for _ in range(MAX_CATCH_UP_PAGES):
            try:
                page = await call_service(
                    events.list_events,
                    user_id=model.user_id,
                    project_id=model.project_id,
                    after=model.last_seq,
                )
            except NotFound:
                return Outcome.CLOSED
            if not page.complete:
                return Outcome.RELOAD
            for missed in page.events:
                outcome = _graver(outcome, model.apply(missed.model_dump()))
                if outcome is Outcome.CLOSED:
                    return outcome
            caught_up = model.last_seq >= (through if through is not None else page.last_seq)
            if caught_up or not page.events:
                return outcome if caught_up else Outcome.RELOAD
        return Outcome.RELOAD

    # The user's own changes: optimistic, rolled back visibly when they fail for any reason

    def _roll_back(self, before: BoardModel, what: str, exc: Exception) -> EventSpec:
        """Show the board as it was before a change that did not happen, and tell the user why."""
        self._model = before
        self._render()
        return rx.toast.error(f"{what}: {refusal(exc)}", duration=6000)

    @rx.event
    async def add_card(self, form: dict[str, Any]):
        column_id = browser_id(form.get("column_id"))
        title = str(form.get("title", ""))
        if column_id is None or not title.strip():
            return
        async for step in self._create_card(TaskCreate.model_construct(title=title, column_id=column_id)):
            yield step

    async def _create_card(
        self, draft: TaskCreate, on_created: Callable[[], None] | None = None
    ) -> AsyncIterator[Any]:
        """Show the new card at once, create it through the service, and take it back if that fails
        (`on_created` runs only once it is stored). `draft` is validated by the service call, so a bad
        one is refused like any write."""
        user_id = self.current_user_id()
        model = self._model
        if user_id is None:
            yield self.session_expired()
            return
        if model is None:
            return
        if not model.columns:
            yield rx.toast.error("This board has no columns yet", duration=6000)
            return
        column_id = draft.column_id or model.ordered_columns()[0].id
        before = copy.deepcopy(model)
        temp_id, self._next_temp_id = self._next_temp_id, self._next_temp_id - 1
        model.put_moved(
            TaskItem(
                id=temp_id,
                column_id=column_id,
                title=draft.title.strip(),
                position=model.column_size(column_id),
                version=1,
                priority=draft.priority,
                due_at=draft.due_at.isoformat() if draft.due_at else None,
                labels=tuple(draft.labels or ()),
            )
        )
        self._render()
        yield
        try:
            data = TaskCreate.model_validate({**draft.model_dump(exclude_unset=True), "column_id": column_id})
            created: TaskPublic = await call_service(
                tasks.create_task, user_id=user_id, project_id=model.project_id, data=data
            )
        except Exception as exc:
            yield self._roll_back(before, "Card not added", exc)
            return
        model.remove_task(temp_id)
        if created.id not in model.tasks:
            model.put_moved(TaskItem.from_public(created.model_dump(mode="json")))
        if on_created is not None:
            on_created()
        self._render()

    @rx.event
    def start_edit(self, card_id: int, title: str):
        task = self._model.tasks.get(card_id) if self._model else None
        if self.can_edit and task is not None:
            self.editing_id = card_id
            self.edit_text = title
            # The save is based on the card as it was when editing began: a change someone else makes
            # meanwhile then makes it a conflict instead of being overwritten.
            self._editing_version = task.version

    @rx.event
    def cancel_edit(self):
        self.editing_id = 0

    @rx.event
    def set_edit_text(self, value: str):
        self.edit_text = value

    @rx.event
    async def save_edit(self):
        user_id = self.current_user_id()
        model = self._model
        card_id, self.editing_id = self.editing_id, 0
        if user_id is None:
            yield self.session_expired()
            return
        task = model.tasks.get(card_id) if model else None
        if model is None or task is None or self.edit_text == task.title:
            return
        before = copy.deepcopy(model)
        model.tasks[card_id] = replace(task, title=self.edit_text.strip() or task.title)
        self._render()
        yield
        try:
            saved = await call_service(
                tasks.update_task,
                user_id=user_id,
                task_id=card_id,
                data=TaskUpdate(title=self.edit_text),
                expected_version=self._editing_version or task.version,
            )
        except Conflict:
            self._model = before
            self._render()
            yield rx.toast.error(EDIT_CONFLICT, duration=8000)
            return
        except Exception as exc:
            yield self._roll_back(before, "Title not saved", exc)
            return
        model.tasks[card_id] = replace(model.tasks[card_id], version=saved.version, title=saved.title)
        self._render()

    @rx.event
    async def move_card(self, card_id: int, column_id: str):
        user_id = self.current_user_id()
        model = self._model
        if user_id is None:
            yield self.session_expired()
            return
        task = model.tasks.get(card_id) if model else None
        target = browser_id(column_id)
        if model is None or task is None or target not in model.columns or target == task.column_id:
            return
        before = copy.deepcopy(model)
        model.move_to_end(card_id, target)
        self._render()
        yield
        try:
            moved = await call_service(
                tasks.move_task,
                user_id=user_id,
                task_id=card_id,
                data=TaskMove(column_id=target),
                expected_version=task.version,
            )
        except Exception as exc:
            yield self._roll_back(before, "Card not moved", exc)
            return
        model.put_moved(TaskItem.from_public(moved.model_dump(mode="json")))
        self._render()

    @rx.event
    def ask_delete(self, card_id: int):
        self.confirming_delete_id = card_id

    @rx.event
    def cancel_delete(self):
        self.confirming_delete_id = 0

    @rx.event
    async def delete_card(self, card_id: int):
        self.confirming_delete_id = 0
        user_id = self.current_user_id()
        model = self._model
        if user_id is None:
            yield self.session_expired()
            return
        task = model.tasks.get(card_id) if model else None
        if model is None or task is None:
            return
        before = copy.deepcopy(model)
        model.remove_task(card_id)
        self._render()
        yield
        try:
            await call_service(
                tasks.delete_task, user_id=user_id, task_id=card_id, expected_version=task.version
            )
        except Exception as exc:
            yield self._roll_back(before, "Card not deleted", exc)
