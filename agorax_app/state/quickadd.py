"""The board's quick-add box: free text → task fields as you type (Gemini or the local engine), title
suggestions from the project's own tasks, and Enter creates the card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import reflex as rx
import structlog
from pydantic import ValidationError

from agorax_app.backend_calls import call_service
from agorax_app.state.board import BoardState
from backend.ai.schemas import ParseRequest, ParseResult
from backend.ai.service import parse_task, suggest_titles
from backend.db.session import session_scope
from backend.schemas import TaskCreate
from backend.services import members
from backend.services.errors import DomainError

log = structlog.get_logger(__name__)

SUGGESTIONS_SHOWN = 6


@dataclass
class Chip:
    kind: str  # due | priority | label | assignee | repeat
    text: str


def _chips(result: ParseResult, tz: str) -> list[Chip]:
    chips = []
    if result.due_at is not None:
        local = result.due_at.astimezone(ZoneInfo(tz))
        shown = (
            local.strftime("%a %d %b")
            if local.time() == datetime.min.time()
            else local.strftime("%a %d %b %H:%M")
        )
        chips.append(Chip(kind="due", text=shown))
    if result.priority is not None:
        chips.append(Chip(kind="priority", text=f"!{result.priority}"))
    chips += [Chip(kind="label", text=label) for label in result.labels]
    chips += [Chip(kind="assignee", text=f"@{name}") for name in result.assignees]
    if result.repeat is not None:
        chips.append(Chip(kind="repeat", text=f"every {result.repeat.every} {result.repeat.unit}"))
    return chips


class QuickAddState(BoardState):
    quick_text: str = ""
    understood_title: str = ""
    chips: list[Chip] = []
    suggestions: list[str] = []
    answered_by: str = ""  # gemini | local

    _parsed: ParseResult | None = None

    async def _understand(self, text: str) -> ParseResult | None:
        user_id = self.current_user_id()
        if user_id is None or not text.strip():
            return None
        request = ParseRequest(text=text, project_id=self.board_id, tz=self.tz)
        # parse_task does its database reads in a worker thread and awaits Gemini (or the local engine).
        with session_scope() as session:
            return await parse_task(session, user_id=user_id, request=request)

    @rx.event
    async def type_quick(self, text: str):
        self.quick_text = text
        user_id = self.current_user_id()
        if not text.strip() or user_id is None:
            self._parsed, self.chips, self.suggestions, self.understood_title = None, [], [], ""
            return
        try:
            self._parsed = await self._understand(text)
            found = await call_service(
                suggest_titles, user_id=user_id, project_id=self.board_id, query=text, limit=SUGGESTIONS_SHOWN
            )
        except (DomainError, ValidationError) as exc:
            log.info("quick_add_not_understood", error=repr(exc))
            self._parsed, self.chips, self.suggestions = None, [], []
            return
        if self._parsed is not None:
            self.understood_title = self._parsed.title
            self.chips = _chips(self._parsed, self.tz)
            self.answered_by = self._parsed.source
        self.suggestions = [s.title for s in found.suggestions if s.title != text.strip()]

    @rx.event
    def pick_suggestion(self, title: str):
        self.quick_text = title
        self.understood_title = title
        self.suggestions = []
        self.chips = []
        self._parsed = None

    @rx.event
    async def submit_quick(self, form: dict[str, str]):
        # The form carries what is in the box now; the preview may still be catching up with typing.
        text = str(form.get("quick", ""))
        if not text.strip():
            return
        if self.current_user_id() is None:
            yield self.session_expired()
            return
        fresh = self._parsed is not None and text == self.quick_text
        parsed = self._parsed if fresh else await self._understand(text)
        if parsed is None:
            return
        assignee_id = await self._assignee_id(parsed.assignees)
        draft = TaskCreate.model_construct(
            title=parsed.title,
            due_at=parsed.due_at,
            priority=parsed.priority,
            labels=parsed.labels,
            assignee_id=assignee_id,
        )
        self.quick_text, self.understood_title, self.chips, self.suggestions = "", "", [], []
        self._parsed = None
        if parsed.assignees and assignee_id is None:
            named = ", ".join(f"@{name}" for name in parsed.assignees)
            yield rx.toast.info(
                f"{named}: not a member of this board, so the card is unassigned", duration=6000
            )
        async for step in self._create_card(draft):
            yield step

    async def _assignee_id(self, usernames: list[str]) -> int | None:
        """The first @name that is a member of the project (others stay unassigned rather than fail)."""
        user_id = self.current_user_id()
        if not usernames or user_id is None:
            return None
        team = await call_service(members.list_members, user_id=user_id, project_id=self.board_id)
        by_name = {member.username.lower(): member.user_id for member in team}
        return next((by_name[n.lower()] for n in usernames if n.lower() in by_name), None)
