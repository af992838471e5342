"""One open board: loaded from a consistent snapshot, then kept live by events pushed from the fan-out.

A user's own change is shown at once (optimistic), written through the service layer, and rolled back
with a visible message if the write fails (refused or not). The canonical copy is the backend-only `_model`;
`columns` is the small view the browser renders.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import reflex as rx
import structlog
from pydantic import ValidationError
from reflex.event import EventSpec

from agorax_app import fanout
from agorax_app.backend_calls import call_service
from agorax_app.board_model import BoardModel, ColumnItem, Outcome, TaskItem
from agorax_app.card_model import due_label, is_overdue
from agorax_app.errors import failure_message, invalid_input
from agorax_app.ids import browser_id
from agorax_app.state.auth import AuthState
from backend.schemas import ColumnCreate, ColumnUpdate, TaskCreate, TaskMove, TaskPublic, TaskUpdate
from backend.services import columns as column_services
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
    overdue: bool
    priority: int


@dataclass
class ColumnView:
    id: int
    name: str
    is_done: bool
    cards: list[CardView]


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
    """Why something the user asked for did not happen, in words for them."""
    if isinstance(exc, DomainError):
        return exc.detail
    if isinstance(exc, ValidationError):
        return invalid_input(exc)
    return failure_message(exc)


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
    renaming_column_id: int = 0
    column_name_text: str = ""
    confirming_column_delete_id: int = 0

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
        now = datetime.now(UTC)
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
                        due=due_label(task.due_at, self.tz),
                        overdue=is_overdue(task.due_at, now=now, done=column.is_done),
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
        self.board_name, self.role = "", ""  # nothing of the board opened before shows on this one
        await self._forward_to_card([], Outcome.CLOSED)  # a card left open on the board before is closed
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
        applied: list[dict[str, Any]] = []
        for envelope in envelopes:
            step = model.apply(envelope)
            if step is Outcome.GAP:
                step = await self._fetch_missed(model, through=envelope["seq"], applied=applied)
            elif step is not Outcome.DUPLICATE:
                applied.append(envelope)
            outcome = _graver(outcome, step)
            if outcome is Outcome.CLOSED:
                break
        await self._settle(model, outcome)
        await self._forward_to_card(applied, outcome)

    async def catch_up(self) -> None:
        """Apply whatever was committed since the last applied event (after the feed was away)."""
        model = self._model
        if model is not None:
            applied: list[dict[str, Any]] = []
            outcome = await self._fetch_missed(model, through=None, applied=applied)
            await self._settle(model, outcome)
            await self._forward_to_card(applied, outcome)

    async def _forward_to_card(self, applied: list[dict[str, Any]], outcome: Outcome) -> None:
        """The open card's dialog (if any) follows the same events as the board."""
        from agorax_app.state.card import CardState  # the card dialog is a substate of this one

        card = await self.get_state(CardState)
        if card.card_id or card.card_notice:
            await card.follow_events(applied, outcome)

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

    async def _fetch_missed(
        self, model: BoardModel, *, through: int | None, applied: list[dict[str, Any]] | None = None
    ) -> Outcome:
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
                envelope = missed.model_dump(mode="json")
                outcome = _graver(outcome, model.apply(envelope))
                if applied is not None:
                    applied.append(envelope)
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

    # Columns: optimistic like the cards; the column.* event that follows reloads every open board

    async def _column_write(
        self, before: BoardModel, what: str, service: Callable[..., Any], **kwargs: Any
    ) -> EventSpec | list[EventSpec] | None:
        """Store a column change already shown; None when stored, else the rollback's message."""
        user_id = self.current_user_id()
        if user_id is None:
            self._model = before
            self._render()
            return self.session_expired()
        try:
            await call_service(service, user_id=user_id, **kwargs)
        except Exception as exc:
            return self._roll_back(before, what, exc)
        return None

    @rx.event
    async def add_column(self, form: dict[str, Any]):
        model = self._model
        name = str(form.get("name", "")).strip()
        if model is None or not name or not self.can_edit:
            return
        before = copy.deepcopy(model)
        temp_id, self._next_temp_id = self._next_temp_id, self._next_temp_id - 1
        model.columns[temp_id] = ColumnItem(id=temp_id, name=name, position=len(model.columns))
        self._render()
        yield
        try:
            data = ColumnCreate(name=name)
        except ValidationError as exc:
            yield self._roll_back(before, "Column not added", exc)
            return
        yield await self._column_write(
            before, "Column not added", column_services.create_column, project_id=model.project_id, data=data
        )

    @rx.event
    def start_column_rename(self, column_id: int, name: str):
        if self.can_edit and self._model is not None and browser_id(column_id) in self._model.columns:
            self.renaming_column_id = column_id
            self.column_name_text = name

    @rx.event
    def set_column_name_text(self, value: str):
        self.column_name_text = value

    @rx.event
    def cancel_column_rename(self):
        self.renaming_column_id = 0

    @rx.event
    async def save_column_rename(self):
        model = self._model
        column_id, self.renaming_column_id = self.renaming_column_id, 0
        column = model.columns.get(column_id) if model else None
        name = self.column_name_text.strip()
        if model is None or column is None or not name or name == column.name:
            return
        before = copy.deepcopy(model)
        model.columns[column_id] = replace(column, name=name)
        self._render()
        yield
        try:
            data = ColumnUpdate(name=name)
        except ValidationError as exc:
            yield self._roll_back(before, "Column not renamed", exc)
            return
        yield await self._column_write(
            before, "Column not renamed", column_services.update_column, column_id=column_id, data=data
        )

    @rx.event
    async def toggle_column_done(self, column_id: int):
        model = self._model
        column = model.columns.get(browser_id(column_id) or 0) if model else None
        if model is None or column is None or not self.can_edit:
            return
        before = copy.deepcopy(model)
        model.columns[column.id] = replace(column, is_done=not column.is_done)
        self._render()
        yield
        yield await self._column_write(
            before,
            "Column not changed",
            column_services.update_column,
            column_id=column.id,
            data=ColumnUpdate(is_done=not column.is_done),
        )

    @rx.event
    async def move_column(self, column_id: int, step: int):
        model = self._model
        column = model.columns.get(browser_id(column_id) or 0) if model else None
        if model is None or column is None or step not in (-1, 1) or not self.can_edit:
            return
        ordered = [c.id for c in model.ordered_columns()]
        target = ordered.index(column.id) + step
        if not 0 <= target < len(ordered):
            return
        before = copy.deepcopy(model)
        model.move_column(column.id, target)
        self._render()
        yield
        yield await self._column_write(
            before,
            "Column not moved",
            column_services.update_column,
            column_id=column.id,
            data=ColumnUpdate(position=target),
        )

    @rx.event
    def ask_delete_column(self, column_id: int):
        self.confirming_column_delete_id = column_id

    @rx.event
    def cancel_delete_column(self):
        self.confirming_column_delete_id = 0

    @rx.event
    async def delete_column(self, column_id: int):
        self.confirming_column_delete_id = 0
        model = self._model
        column = model.columns.get(browser_id(column_id) or 0) if model else None
        if model is None or column is None or not self.can_edit:
            return
        before = copy.deepcopy(model)
        # An empty column goes at once; one with cards stays until the server answers (it refuses it).
        if not model.column_size(column.id):
            model.remove_column(column.id)
            self._render()
            yield
        yield await self._column_write(
            before, "Column not deleted", column_services.delete_column, column_id=column.id
        )
