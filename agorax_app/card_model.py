"""The open card's details as the dialog shows and edits them: plain Python (no Reflex), unit-tested alone.

A card is held as the server's public representation (`TaskPublic` as JSON), which is also what every
task event carries, so a live event replaces it as it is. Edits are drafted as text (what the inputs hold)
and turned into the fields of one `TaskUpdate` that holds only what the user changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

PRIORITY_CHOICES = ["none", "1", "2", "3", "4", "5"]
NO_ASSIGNEE = "none"


def local_moment(due_at: str, tz: str) -> datetime:
    moment = datetime.fromisoformat(due_at)
    try:
        return moment.astimezone(ZoneInfo(tz))
    except OverflowError:  # a stored date at the very edge of the calendar: shown as stored
        return moment


def due_label(due_at: str | None, tz: str) -> str:
    """The due moment in the user's zone; the time only when there is one (midnight means a date)."""
    if not due_at:
        return ""
    local = local_moment(due_at, tz)
    return local.strftime("%d %b %Y" if (local.hour, local.minute) == (0, 0) else "%d %b %Y %H:%M")


def is_overdue(due_at: str | None, *, now: datetime, done: bool) -> bool:
    """Past due and not finished (a card in a done column is finished)."""
    return bool(due_at) and not done and datetime.fromisoformat(due_at) < now  # type: ignore[arg-type]


def due_inputs(due_at: str | None, tz: str) -> tuple[str, str]:
    """The values of the date and time inputs (`YYYY-MM-DD`, `HH:MM`; the time empty at midnight)."""
    if not due_at:
        return "", ""
    local = local_moment(due_at, tz)
    shown_time = "" if (local.hour, local.minute) == (0, 0) else local.strftime("%H:%M")
    return local.date().isoformat(), shown_time


def due_from_inputs(day: str, clock: str, tz: str) -> datetime | None:
    """The moment the date and time inputs mean in the user's zone; None when the date is cleared. Without
    a time the card is due that day (stored as local midnight). Raises ValueError for text that is neither."""
    day, clock = day.strip(), clock.strip()
    if not day:
        return None
    when = time.fromisoformat(clock) if clock else time(0, 0)
    return datetime.combine(date.fromisoformat(day), when.replace(second=0, microsecond=0), ZoneInfo(tz))


def parse_labels(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class Draft:
    """What the dialog's edit form holds, as text."""

    title: str
    description: str
    due_date: str
    due_time: str
    priority: str  # "none" or "1".."5"
    labels: str  # comma separated
    assignee: str  # "none" or a member's user id

    @classmethod
    def of(cls, task: dict[str, Any], tz: str) -> Draft:
        day, clock = due_inputs(task.get("due_at"), tz)
        assignee = task.get("assignee_id")
        priority = task.get("priority")
        return cls(
            title=task["title"],
            description=task.get("description") or "",
            due_date=day,
            due_time=clock,
            priority=str(priority) if priority else "none",
            labels=", ".join(task.get("labels") or ()),
            assignee=str(assignee) if assignee else NO_ASSIGNEE,
        )


def draft_changes(task: dict[str, Any], draft: Draft, tz: str) -> dict[str, Any]:
    """The fields of a TaskUpdate for what the draft changes against `task` (nothing for an untouched field,
    so that a save never echoes back a value it did not mean to set). Raises ValueError for a date, time,
    priority or assignee the inputs cannot mean."""
    before = Draft.of(task, tz)
    changes: dict[str, Any] = {}
    if draft.title.strip() != before.title.strip():
        changes["title"] = draft.title
    if draft.description != before.description:
        changes["description"] = draft.description
    if (draft.due_date.strip(), draft.due_time.strip()) != (before.due_date, before.due_time):
        try:
            due = due_from_inputs(draft.due_date, draft.due_time, tz)
        except ValueError:
            raise ValueError("Give the due date as a date and the time as HH:MM") from None
        changes["due_at"] = due
    if draft.priority != before.priority:
        if draft.priority not in PRIORITY_CHOICES:
            raise ValueError("Priority is none or 1 to 5")
        changes["priority"] = None if draft.priority == "none" else int(draft.priority)
    if parse_labels(draft.labels) != parse_labels(before.labels):
        changes["labels"] = parse_labels(draft.labels)
    if draft.assignee != before.assignee:
        if draft.assignee != NO_ASSIGNEE and not (draft.assignee.isascii() and draft.assignee.isdigit()):
            raise ValueError("Pick a member of the project, or nobody")
        changes["assignee_id"] = None if draft.assignee == NO_ASSIGNEE else int(draft.assignee)
    return changes


def with_changes(task: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The task as it will be once `changes` are stored (for the optimistic view)."""
    shown = dict(task)
    for field, value in changes.items():
        shown[field] = value.isoformat() if isinstance(value, datetime) else value
    if "title" in changes:
        shown["title"] = changes["title"].strip() or task["title"]
    return shown
