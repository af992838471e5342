"""Trello "Export as JSON" → an import plan. Pure: no database, no I/O beyond reading the file.

Two export generations are accepted: current ones list the board's labels at the top level and on every card;
older ones (2015 era) have no top-level `labels` and name the label colours in `labelNames`.
Every value is shaped here to fit Agorax's limits (backend/schemas.py), so the writer only writes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from backend.schemas import COMMENT_MAX, DESCRIPTION_MAX, LABEL_MAX, LABELS_MAX, TITLE_MAX, YEAR_MAX, YEAR_MIN
from backend.services.errors import InvalidInput

NAME_MAX = 200  # projects.name and columns.name
# Trello has no "done" flag on lists; lists called like this become done columns (whose cards are finished:
# not offered as likely duplicates, for one).
DONE_LIST_NAMES = frozenset(
    {"done", "complete", "completed", "finished", "closed", "shipped", "完了", "クローズ"}
)
UNTITLED_BOARD = "(untitled board)"
UNTITLED_LIST = "(untitled list)"
UNTITLED_CARD = "(untitled card)"
UNKNOWN_MEMBER = "Unknown member"


# The plan handed to the writer.


@dataclass(frozen=True, slots=True)
class CommentPlan:
    body: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class TaskPlan:
    title: str
    description: str
    due_at: datetime | None
    labels: tuple[str, ...]
    archived: bool
    comments: tuple[CommentPlan, ...]
    checklists: int


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    name: str
    tasks: tuple[TaskPlan, ...]
    is_done: bool = False


@dataclass(frozen=True, slots=True)
class BoardPlan:
    name: str
    description: str
    columns: tuple[ColumnPlan, ...]
    # (closed list name, number of its cards) for every closed list that held cards.
    skipped_cards: tuple[tuple[str, int], ...]
    # Comments whose card is not imported.
    skipped_comments: int
    # Comments that imported cards count but the file lacks: Trello exports only the newest 1000 actions.
    missing_comments: int
    # Imported cards whose due date lay outside the years Agorax takes (they keep no due date).
    dropped_due_dates: int


# The export's shape: only the fields the import reads; Trello adds fields freely.


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


Text = Annotated[str, BeforeValidator(_none_as_empty)]


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Label(_Raw):
    id: str | None = None
    name: Text = ""
    color: Text = ""


class _List(_Raw):
    id: str
    name: Text = ""
    closed: bool = False
    pos: float = 0


class _Badges(_Raw):
    comments: int = 0


class _Card(_Raw):
    id: str
    id_list: str = Field(alias="idList")
    name: Text = ""
    desc: Text = ""
    due: datetime | None = None
    closed: bool = False
    pos: float = 0
    # Older exports may carry only idLabels; those resolve through the board's `labels`.
    labels: list[_Label] | None = None
    id_labels: list[str] = Field(default_factory=list, alias="idLabels")
    badges: _Badges = Field(default_factory=_Badges)


class _CheckItem(_Raw):
    name: Text = ""
    state: Text = "incomplete"
    pos: float = 0


class _Checklist(_Raw):
    id_card: str = Field(alias="idCard")
    name: Text = ""
    pos: float = 0
    check_items: list[_CheckItem] = Field(default_factory=list, alias="checkItems")


class _CardRef(_Raw):
    id: str


class _CommentData(_Raw):
    text: Text = ""
    card: _CardRef


class _Member(_Raw):
    full_name: Text = Field(default="", alias="fullName")
    username: Text = ""


class _Comment(_Raw):
    id: str
    date: datetime
    data: _CommentData
    member_creator: _Member | None = Field(default=None, alias="memberCreator")


class _Board(_Raw):
    name: Text = ""
    desc: Text = ""
    lists: list[_List]
    cards: list[_Card]
    labels: list[_Label] = Field(default_factory=list)
    label_names: dict[str, Text] = Field(default_factory=dict, alias="labelNames")
    checklists: list[_Checklist] = Field(default_factory=list)
    comments: list[_Comment] = Field(default_factory=list, validation_alias="actions")

    @field_validator("comments", mode="before")
    @classmethod
    def _only_comment_actions(cls, actions: Any) -> Any:
        # The action log mixes dozens of action types; only comments are imported.
        if not isinstance(actions, list):
            return actions
        return [a for a in actions if isinstance(a, dict) and a.get("type") == "commentCard"]


# Reading


def load_board(path: Path) -> BoardPlan:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return parse_board(raw, source=str(path))


def parse_board(raw: bytes | str, *, source: str = "input") -> BoardPlan:
    """Raises InvalidInput, with a one-line message naming `source`, for anything but a Trello export."""
    not_export = f"{source} is not a Trello board export"
    if not raw.strip():
        raise InvalidInput(f"{not_export}: the file is empty")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, or nesting too deep
        raise InvalidInput(f"{not_export}: it is not JSON") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("lists"), list)
        or not isinstance(data.get("cards"), list)
    ):
        raise InvalidInput(f'{not_export}: expected a JSON object with "lists" and "cards"')
    try:
        board = _Board.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(f"{not_export}: {where}: {error['msg']}") from None
    try:
        return _plan(board, not_export=not_export)
    except OverflowError:  # a comment's date that leaves the datetime range in UTC (year 1 at +14:00)
        raise InvalidInput(f"{not_export}: a date is out of range") from None


# Shaping


# PostgreSQL text cannot hold U+0000, nor UTF-8 a lone surrogate (JSON's "\ud800" without its pair).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(value: str) -> str:
    return _UNSTORABLE.sub("", value)


def _fit(value: str, limit: int) -> str:
    value = _clean(value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _due_at(due: datetime) -> datetime | None:
    """The due date in UTC, or None outside the years the API takes (a UI could not even show year 1)."""
    try:
        moment = _utc(due)
    except OverflowError:  # year 1 at +14:00 has no UTC
        return None
    return moment if YEAR_MIN <= moment.year <= YEAR_MAX else None


def _label_names(card: _Card, board: _Board) -> tuple[str, ...]:
    by_id = {label.id: label for label in board.labels if label.id}
    labels = card.labels if card.labels is not None else [by_id[i] for i in card.id_labels if i in by_id]
    names: dict[str, None] = {}
    for label in labels:
        # An unnamed label is known by its colour, as Trello shows it.
        name = _fit(label.name.strip() or board.label_names.get(label.color, "") or label.color, LABEL_MAX)
        if name:
            names.setdefault(name, None)
    return tuple(names)[:LABELS_MAX]


def _checklist_markdown(checklist: _Checklist) -> str:
    lines = [f"### Checklist: {' '.join(_clean(checklist.name).split())}"]
    for item in sorted(checklist.check_items, key=lambda item: item.pos):
        mark = "x" if item.state == "complete" else " "
        # One line per item keeps the Markdown list intact.
        lines.append(f"- [{mark}] {' '.join(_clean(item.name).split())}")
    return "\n".join(lines)


def _comment(comment: _Comment) -> CommentPlan:
    member = comment.member_creator
    author = _clean(member.full_name.strip() or member.username.strip()) if member else ""
    posted_at = _utc(comment.date)
    body = f"**{author or UNKNOWN_MEMBER}** ({posted_at:%Y-%m-%d}): {_clean(comment.data.text).strip()}"
    return CommentPlan(body=_fit(body, COMMENT_MAX), posted_at=posted_at)


def _plan(board: _Board, *, not_export: str) -> BoardPlan:
    lists = {item.id: item for item in board.lists}
    for card in board.cards:
        if card.id_list not in lists:
            raise InvalidInput(f"{not_export}: card {card.id} is in list {card.id_list}, not in the file")

    checklists: dict[str, list[_Checklist]] = {}
    for checklist in sorted(board.checklists, key=lambda c: c.pos):
        checklists.setdefault(checklist.id_card, []).append(checklist)
    comments: dict[str, list[_Comment]] = {}
    for comment in sorted(board.comments, key=lambda c: (_utc(c.date), c.id)):
        comments.setdefault(comment.data.card.id, []).append(comment)

    # Trello orders by pos; ties (they happen) fall back to the id, which grows with creation time.
    cards_by_list: dict[str, list[_Card]] = {}
    for card in sorted(board.cards, key=lambda c: (c.pos, c.id)):
        cards_by_list.setdefault(card.id_list, []).append(card)

    columns: list[ColumnPlan] = []
    skipped: list[tuple[str, int]] = []
    imported_comments = 0
    missing_comments = 0
    dropped_due_dates = 0
    for item in sorted(board.lists, key=lambda i: (i.pos, i.id)):
        cards = cards_by_list.get(item.id, [])
        if item.closed:
            if cards:
                skipped.append((_fit(item.name, NAME_MAX) or UNTITLED_LIST, len(cards)))
            continue
        tasks = []
        for card in cards:
            card_checklists = checklists.get(card.id, [])
            description = "\n\n".join(
                [part for part in [_clean(card.desc).strip()] if part]
                + [_checklist_markdown(c) for c in card_checklists]
            )
            card_comments = tuple(_comment(c) for c in comments.get(card.id, []))
            imported_comments += len(card_comments)
            missing_comments += max(0, card.badges.comments - len(card_comments))
            due_at = _due_at(card.due) if card.due else None
            if card.due and due_at is None:
                dropped_due_dates += 1
            tasks.append(
                TaskPlan(
                    title=_fit(card.name, TITLE_MAX) or UNTITLED_CARD,
                    description=_fit(description, DESCRIPTION_MAX),
                    due_at=due_at,
                    labels=_label_names(card, board),
                    archived=card.closed,
                    comments=card_comments,
                    checklists=len(card_checklists),
                )
            )
        columns.append(
            ColumnPlan(
                name=_fit(item.name, NAME_MAX) or UNTITLED_LIST,
                tasks=tuple(tasks),
                is_done=item.name.strip().casefold() in DONE_LIST_NAMES,
            )
        )

    return BoardPlan(
        name=_fit(board.name, NAME_MAX) or UNTITLED_BOARD,
        description=_fit(board.desc, DESCRIPTION_MAX),
        columns=tuple(columns),
        skipped_cards=tuple(skipped),
        skipped_comments=len(board.comments) - imported_comments,
        missing_comments=missing_comments,
        dropped_due_dates=dropped_due_dates,
    )
