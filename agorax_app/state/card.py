"""The card dialog: one card's details and comments, editable by editors and owners, live while open.

Its data lives in this substate (small pushed vars; the card as the server represents it is backend-only),
and its comments are read only when it opens. Every edit carries the version the edit began from, so a
change someone else made meanwhile makes it a conflict (refused, and the dialog shows their change) instead
of being overwritten. The board forwards the events it applies (BoardState._forward_to_card).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import reflex as rx
import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from agorax_app.backend_calls import call_service
from agorax_app.board_model import Outcome, TaskItem
from agorax_app.card_model import (
    NO_ASSIGNEE,
    Draft,
    draft_changes,
    due_label,
    is_overdue,
    local_moment,
    with_changes,
)
from agorax_app.ids import browser_id
from agorax_app.state.board import BoardState, refusal
from backend.schemas import CommentCreate, CommentPublic, TaskPublic, TaskUpdate
from backend.services import comments, members, tasks, users
from backend.services.errors import Conflict, NotFound

log = structlog.get_logger(__name__)

CARD_CONFLICT = (
    "Not saved: someone else changed this card since you began editing it. It now shows their change"
)
CARD_GONE = "The card you had open was deleted"
FORMER_MEMBER = "a former member"


@dataclass
class CardDetail:
    id: int = 0
    title: str = ""
    description: str = ""
    due: str = ""
    overdue: bool = False
    priority: int = 0
    labels: list[str] = field(default_factory=list)
    assignee: str = ""
    column: str = ""
    creator: str = ""
    version: int = 0


@dataclass
class CommentView:
    id: int
    author: str
    when: str
    body: str


@dataclass
class DraftView:
    """The edit form's starting values (the inputs are uncontrolled: the form reads them on submit)."""

    title: str = ""
    description: str = ""
    due_date: str = ""
    due_time: str = ""
    priority: str = "none"
    labels: str = ""
    assignee: str = NO_ASSIGNEE


@dataclass
class MemberChoice:
    value: str
    label: str


@dataclass(frozen=True)
class CardData:
    task: TaskPublic
    comments: list[CommentPublic]
    members: dict[int, str]  # who can be assigned
    names: dict[int, str]  # everyone the card mentions, members or not


def card_data(session: Session, *, user_id: int, task_id: int, project_id: int) -> CardData:
    """Everything the dialog shows, read in one session: the task, its comments and the names of the people
    it mentions (members, and the creator or comment authors who have left since)."""
    task = tasks.get_task(session, user_id=user_id, task_id=task_id)
    if task.project_id != project_id:
        raise NotFound("Task not found")
    found = comments.list_comments(session, user_id=user_id, task_id=task_id)
    team = {
        m.user_id: m.display_name
        for m in members.list_members(session, user_id=user_id, project_id=project_id)
    }
    names = dict(team)
    for someone in {task.created_by, *(c.author_id for c in found)} - set(names) - {None}:
        user = users.get_user(session, user_id=someone)  # type: ignore[arg-type]
        if user is not None:
            names[user.id] = user.display_name
    return CardData(task=task, comments=found, members=team, names=names)


def _user_name(session: Session, *, user_id: int) -> str | None:
    user = users.get_user(session, user_id=user_id)
    return None if user is None else user.display_name


READ_ONLY = "you are a viewer on this board now, so it is read-only for you"


class CardState(BoardState):
    card_id: int = 0
    card_open: bool = False
    card_loading: bool = False
    card: CardDetail = CardDetail()
    comments: list[CommentView] = []
    card_editing: bool = False
    # True when someone else changed the card while this user edits it: saving will be refused.
    card_stale: bool = False
    draft: DraftView = DraftView()
    member_choices: list[MemberChoice] = []
    card_error: str = ""
    card_notice: str = ""
    form_key: int = 0

    _task: dict[str, Any] | None = None  # TaskPublic as JSON, as events carry it
    _comments: list[dict[str, Any]] = []
    _names: dict[int, str] = {}
    _members: dict[int, str] = {}
    _edit_base: dict[str, Any] | None = None  # the card the edit began from: its version is the If-Match
    _next_comment_id: int = -1

    # Rendering

    def _render_card(self) -> None:
        task = self._task
        if task is None:
            return
        column = self._model.columns.get(task["column_id"]) if self._model else None
        assignee = task.get("assignee_id")
        creator = task.get("created_by")
        detail = CardDetail(
            id=task["id"],
            title=task["title"],
            description=task.get("description") or "",
            due=due_label(task.get("due_at"), self.tz),
            overdue=is_overdue(
                task.get("due_at"), now=datetime.now(UTC), done=bool(column and column.is_done)
            ),
            priority=task.get("priority") or 0,
            labels=list(task.get("labels") or ()),
            assignee=self._names.get(assignee, FORMER_MEMBER) if assignee else "",
            column=column.name if column else "",
            creator=self._names.get(creator, FORMER_MEMBER) if creator else FORMER_MEMBER,
            version=task["version"],
        )
        # Assigned only when it differs: the board's other events then push nothing for the dialog.
        if detail != self.card:
            self.card = detail

    def _render_comments(self) -> None:
        self.comments = [
            CommentView(
                id=c["id"],
                author=self._names.get(c.get("author_id"), FORMER_MEMBER),  # type: ignore[arg-type]
                when=local_moment(c["created_at"], self.tz).strftime("%d %b %Y %H:%M"),
                body=c["body"],
            )
            for c in self._comments
        ]

    def _render_members(self) -> None:
        team = sorted(self._members.items(), key=lambda member: member[1].casefold())
        self.member_choices = [MemberChoice(value=str(user_id), label=name) for user_id, name in team]

    def _close_card(self) -> None:
        self.card_id = 0
        self.card_open = False
        self.card_editing = False
        self.card_stale = False
        self.card_error = ""
        self._task = None
        self._edit_base = None
        self._comments = []
        self.comments = []

    # Opening and closing

    @rx.event
    async def open_card(self, card_id: int):
        user_id = self.current_user_id()
        if user_id is None:
            yield self.session_expired()
            return
        task_id = browser_id(card_id)
        model = self._model
        item = model.tasks.get(task_id or 0) if model else None
        if model is None or item is None:
            return
        self._close_card()
        self.card_notice = ""
        self.card_id = item.id
        self.card_open = True
        self.card_loading = True
        self.card = CardDetail(id=item.id, title=item.title)  # shown at once; the rest as soon as read
        yield
        try:
            data = await call_service(
                card_data, user_id=user_id, task_id=item.id, project_id=model.project_id
            )
        except NotFound:
            self._close_card()
            yield rx.toast.error(CARD_GONE, duration=6000)
            return
        except Exception as exc:
            self._close_card()
            yield rx.toast.error(f"The card could not be opened: {refusal(exc)}", duration=6000)
            return
        finally:
            self.card_loading = False
        self._show(data)

    def _show(self, data: CardData) -> None:
        self._task = data.task.model_dump(mode="json")
        self._comments = [c.model_dump(mode="json") for c in data.comments]
        self._names = data.names
        self._members = data.members
        self._render_members()
        self._render_card()
        self._render_comments()

    @rx.event
    def card_dialog_toggled(self, is_open: bool):
        if not is_open:
            self._close_card()

    @rx.event
    def dismiss_card_notice(self):
        self.card_notice = ""

    # Editing

    @rx.event
    def start_card_edit(self):
        if not self.can_edit or self._task is None:
            return
        self._edit_base = copy.deepcopy(self._task)
        draft = Draft.of(self._task, self.tz)
        self.draft = DraftView(**draft.__dict__)
        self.card_error = ""
        self.card_stale = False
        self.card_editing = True
        self.form_key += 1  # the form's inputs start again from these values

    @rx.event
    def cancel_card_edit(self):
        self.card_editing = False
        self.card_stale = False
        self._edit_base = None

    @rx.event
    async def save_card(self, form: dict[str, Any]):
        user_id = self.current_user_id()
        if user_id is None:
            yield self.session_expired()
            return
        model, task, base = self._model, self._task, self._edit_base or self._task
        if model is None or task is None or base is None:
            return
        if not self.can_edit:  # made a viewer while the form was open
            self.card_editing, self._edit_base = False, None
            self.card_error = f"Not saved: {READ_ONLY}"
            return
        draft = Draft(
            **{
                name: str(form.get(name, getattr(self.draft, name)))
                for name in DraftView.__dataclass_fields__
            }
        )
        try:
            changes = draft_changes(base, draft, self.tz)
            update = TaskUpdate.model_validate(changes)
        except ValidationError as exc:
            self.card_error = f"Not saved: {refusal(exc)}"
            return
        except ValueError as exc:
            self.card_error = f"Not saved: {exc}"
            return
        self.card_error = ""
        self.card_editing = False
        self.card_stale = False
        self._edit_base = None
        if not changes:
            return
        # Shown at once, on the dialog and on the board.
        board_before, task_before = copy.deepcopy(model), task
        self._task = with_changes(task, changes)
        self._put_on_board(self._task)
        self._render_card()
        yield
        try:
            saved = await call_service(
                tasks.update_task,
                user_id=user_id,
                task_id=task["id"],
                data=update,
                expected_version=base["version"],
            )
        except Conflict as exc:
            # Refused, never overwritten: the dialog shows the card as it is now.
            self._model = board_before
            self._task = exc.current if isinstance(exc.current, dict) else task_before
            self.card_error = CARD_CONFLICT
            self._render()
            self._render_card()
            yield rx.toast.error(CARD_CONFLICT, duration=8000)
            return
        except Exception as exc:
            self._model = board_before
            self._task = task_before
            self.card_error = f"Not saved: {refusal(exc)}"
            self._render()
            self._render_card()
            yield rx.toast.error(self.card_error, duration=6000)
            return
        self._task = saved.model_dump(mode="json")
        self._put_on_board(self._task)
        self._render_card()

    def _put_on_board(self, task: dict[str, Any]) -> None:
        model = self._model
        if model is not None and task["id"] in model.tasks:
            current = model.tasks[task["id"]]
            shown = TaskItem.from_public(task)
            # An edit changes no place: the board keeps the card where it shows it.
            model.tasks[task["id"]] = TaskItem(
                **{**shown.__dict__, "column_id": current.column_id, "position": current.position}
            )
            self._render()

    @rx.event
    async def add_comment(self, form: dict[str, Any]):
        user_id = self.current_user_id()
        if user_id is None:
            yield self.session_expired()
            return
        task = self._task
        if task is None:
            return
        if not self.can_edit:
            self.card_error = f"Comment not added: {READ_ONLY}"
            return
        try:
            data = CommentCreate(body=str(form.get("body", "")))
        except ValidationError as exc:
            if str(form.get("body", "")).strip():
                self.card_error = f"Comment not added: {refusal(exc)}"
            return
        self.card_error = ""
        temp_id, self._next_comment_id = self._next_comment_id, self._next_comment_id - 1
        self._names.setdefault(user_id, self.display_name or self.username)
        pending = {
            "id": temp_id,
            "task_id": task["id"],
            "author_id": user_id,
            "body": data.body,
            "created_at": datetime.now(UTC).isoformat(),
        }
        self._comments = [*self._comments, pending]
        self._render_comments()
        yield
        try:
            stored = await call_service(comments.add_comment, user_id=user_id, task_id=task["id"], data=data)
        except Exception as exc:
            self._comments = [c for c in self._comments if c["id"] != temp_id]
            self._render_comments()
            self.card_error = f"Comment not added: {refusal(exc)}"
            yield rx.toast.error(self.card_error, duration=6000)
            return
        kept = [c for c in self._comments if c["id"] not in (temp_id, stored.id)]
        self._comments = [*kept, stored.model_dump(mode="json")]
        self._render_comments()
        yield rx.set_value("card-comment", "")

    # Live: the events the board applied (called by BoardState inside the fan-out's modify_state)

    async def follow_events(self, applied: list[dict[str, Any]], outcome: Outcome) -> None:
        task = self._task
        if outcome is Outcome.CLOSED or self._model is None:
            self._close_card()
            self.card_notice = ""
            return
        if not self.card_id:
            return
        if task is None:  # still loading: what it reads is at least as new
            return
        if self.card_editing and not self.can_edit:  # made a viewer: the form goes, and says why
            self.card_editing, self.card_stale, self._edit_base = False, False, None
            self.card_error = f"Editing stopped: {READ_ONLY}"
        comments_changed = False
        for envelope in applied:
            kind, data = envelope.get("type"), envelope.get("data") or {}
            if kind in ("task.updated", "task.moved") and data.get("id") == self.card_id:
                if data.get("version", 0) > self._task["version"]:  # type: ignore[index]
                    self._task = data
                    if self.card_editing:
                        self.card_stale = True
            elif kind == "task.deleted" and data.get("id") == self.card_id:
                self._close_card()
                self.card_notice = f"{CARD_GONE}: “{data.get('title', '')}”"
                return
            elif kind == "comment.created" and data.get("task_id") == self.card_id:
                if all(c["id"] != data.get("id") for c in self._comments):
                    await self._learn_name(data.get("author_id"))
                    self._comments = [*self._comments, data]
                    comments_changed = True
            elif kind == "member.added":
                self._names[data["user_id"]] = self._members[data["user_id"]] = data["display_name"]
                self._render_members()
            elif kind == "member.removed":
                self._members.pop(data["user_id"], None)
                self._render_members()
        # The board may know of changes no forwarded event carried (a reload, when the history was gone).
        item = self._model.tasks.get(self.card_id)
        if item is None:
            self._close_card()
            self.card_notice = CARD_GONE
            return
        if item.version > self._task["version"]:  # type: ignore[index]
            await self._reread()
            return
        if comments_changed:
            self._render_comments()
        self._render_card()

    async def _reread(self) -> None:
        user_id = self.current_user_id()
        if user_id is None or self._model is None:
            return
        try:
            data = await call_service(
                card_data, user_id=user_id, task_id=self.card_id, project_id=self._model.project_id
            )
        except NotFound:
            self._close_card()
            self.card_notice = CARD_GONE
            return
        except Exception:
            log.exception("card_reread_failed")
            return
        if self.card_editing:
            self.card_stale = True
        self._show(data)

    async def _learn_name(self, user_id: int | None) -> None:
        if user_id is None or user_id in self._names:
            return
        try:
            name = await call_service(_user_name, user_id=user_id)
        except Exception:
            log.exception("card_author_lookup_failed")
            return
        if name is not None:
            self._names[user_id] = name
