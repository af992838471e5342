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
from agorax_app.state.board import BoardState, refusal
from backend.ai.engine import engine_for_loop
from backend.ai.schemas import ParseRequest, ParseResult
from backend.ai.service import project_context, suggest_titles
from backend.config import get_settings
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


async def _understand(text: str, *, user_id: int, project_id: int, tz: str) -> ParseResult:
    """Free text → task fields. What parse_task does, with its database step as one service call (a session
    opened and closed in a worker thread, so no connection is held while Gemini is awaited)."""
    request = ParseRequest(text=text, project_id=project_id, tz=tz)
    context = await call_service(project_context, user_id=user_id, project_id=project_id)
    engine = engine_for_loop(get_settings())
    return await engine.parse(request.text, tz=request.tz, now=request.now, context=context)


class QuickAddState(BoardState):
    quick_text: str = ""
    understood_title: str = ""
    chips: list[Chip] = []
    suggestions: list[str] = []
    answered_by: str = ""  # gemini | local

    _parsed: ParseResult | None = None
    _parsed_text: str = ""  # the text `_parsed` was understood from

    @rx.event(background=True, supersedes=True)
    async def type_quick(self, text: str):
        # In the background, holding the session's state only to read and write it: Gemini may take
        # seconds, and the board's live updates must not wait for it. A newer keystroke cancels this one,
        # and an answer for text that is no longer in the box is dropped.
        async with self:
            self.quick_text = text
            user_id = self.current_user_id()
            project_id, tz = self.board_id, self.tz
            if not text.strip() or user_id is None:
                self._parsed, self.chips, self.suggestions, self.understood_title = None, [], [], ""
                return
        parsed: ParseResult | None = None
        titles: list[str] = []
        try:
            parsed = await _understand(text, user_id=user_id, project_id=project_id, tz=tz)
            found = await call_service(
                suggest_titles, user_id=user_id, project_id=project_id, query=text, limit=SUGGESTIONS_SHOWN
            )
            titles = [s.title for s in found.suggestions if s.title != text.strip()]
        except (DomainError, ValidationError) as exc:
            log.info("quick_add_not_understood", error=repr(exc))
            parsed = None
        except Exception:  # the preview is only a help: the box keeps working without it
            log.exception("quick_add_preview_failed")
            parsed = None
        async with self:
            if self.quick_text != text:
                return
            self._parsed, self._parsed_text = parsed, text
            self.suggestions = titles
            if parsed is None:
                self.chips = []
                return
            self.understood_title = parsed.title
            self.chips = _chips(parsed, tz)
            self.answered_by = parsed.source

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
        user_id = self.current_user_id()
        if user_id is None:
            yield self.session_expired()
            return
        # The box keeps the text until the card is stored, so a card that is refused is not lost.
        try:
            parsed = (
                self._parsed
                if self._parsed is not None and self._parsed_text == text
                else await _understand(text, user_id=user_id, project_id=self.board_id, tz=self.tz)
            )
            assignee_id = await self._assignee_id(user_id, parsed.assignees)
        except Exception as exc:
            yield rx.toast.error(f"Card not added: {refusal(exc)}", duration=6000)
            return
        draft = TaskCreate.model_construct(
            title=parsed.title,
            due_at=parsed.due_at,
            priority=parsed.priority,
            labels=list(parsed.labels),  # a plain list, not the state's change-tracking proxy of it
            assignee_id=assignee_id,
        )
        if parsed.assignees and assignee_id is None:
            named = ", ".join(f"@{name}" for name in parsed.assignees)
            yield rx.toast.info(
                f"{named}: not a member of this board, so the card is unassigned", duration=6000
            )
        async for step in self._create_card(draft, on_created=self._clear_quick):
            yield step

    def _clear_quick(self) -> None:
        self.quick_text, self.understood_title, self.chips, self.suggestions = "", "", [], []
        self._parsed, self._parsed_text = None, ""

    async def _assignee_id(self, user_id: int, usernames: list[str]) -> int | None:
        """The first @name that is a member of the project (others stay unassigned rather than fail)."""
        if not usernames:
            return None
        team = await call_service(members.list_members, user_id=user_id, project_id=self.board_id)
        by_name = {member.username.lower(): member.user_id for member in team}
        return next((by_name[n.lower()] for n in usernames if n.lower() in by_name), None)
