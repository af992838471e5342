"""The local quick-add parser: free text in, task fields out, deterministically (README, "Quick add").

Markers count anywhere in the text: `*label` / `#label` (quoted for spaces; `#123` stays an issue
reference), `!1`..`!5` or `!low|medium|high|urgent`, `+project` (the first), `@user` (kept in the title).
Date, time and recurrence phrases count only at the start or the end of what remains, so that an ordinary
title ("The 9/11 Report", "v1.1.1") keeps its words. Quoting the whole text turns parsing off.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from backend.ai.dates import Clock, Piece, due_time, match_phrase
from backend.ai.schemas import TaskDraft
from backend.schemas import LABEL_MAX, LABELS_MAX, TITLE_MAX, YEAR_MAX, YEAR_MIN

# A marker with a quoted name is one token even with spaces inside.
TOKEN = re.compile(r"""[*#+](?:"[^"]*"|'[^']*'|“[^”]*”)|\S+""")
QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}  # also typographic ones
PRIORITIES: dict[str, int | None] = {"0": None, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
PRIORITIES |= {"low": 1, "medium": 2, "high": 3, "urgent": 4}
USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
# "@3pm" and "@ 15:00" are times, not people.
TIME_LIKE = re.compile(r"\d{1,2}(?::\d{2})?(?:am|pm|a\.m\.|p\.m\.)?", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)"
PROJECT_MAX = 200
# The longest phrase, in tokens: "by the end of the month".
PHRASE_TOKENS_MAX = 6


def clock_for(tz: str | None, now: datetime | None) -> Clock:
    """The user's clock: `now` is their local time (an aware one is converted); absent, the current time."""
    zone = ZoneInfo(tz or "UTC")
    if now is None:
        local = datetime.now(zone).replace(tzinfo=None)
    elif now.tzinfo is not None:
        local = now.astimezone(zone).replace(tzinfo=None)
    else:
        local = now
    return Clock(now=local.replace(second=0, microsecond=0), zone=zone)


def unquoted(text: str) -> str | None:
    """The inside of a text quoted as a whole, or None."""
    if len(text) >= 2 and QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return None


def _name(rest: str, limit: int) -> str | None:
    """A marker's name: quoted as given, or one word without trailing punctuation."""
    inner = unquoted(rest)
    name = inner if inner is not None else rest.rstrip(TRAILING_PUNCTUATION)
    return name if 0 < len(name) <= limit else None


def _mention(rest: str) -> str | None:
    name = rest.rstrip(TRAILING_PUNCTUATION)
    if TIME_LIKE.fullmatch(name) or not USERNAME.fullmatch(name):
        return None
    return name


class _Tokens:
    """The text's tokens and what each became: a plain word, a marker (taken out), a mention (kept in the
    title, transparent to date phrases), or part of a date phrase (taken out)."""

    def __init__(self, text: str) -> None:
        self.words = TOKEN.findall(text)
        self.kinds = ["word"] * len(self.words)

    def title(self, *kinds: str) -> str:
        return " ".join(word for word, kind in zip(self.words, self.kinds, strict=True) if kind in kinds)


def parse_quick_add(text: str, *, tz: str | None = None, now: datetime | None = None) -> TaskDraft:
    clock = clock_for(tz, now)
    stripped = text.strip()
    inner = unquoted(stripped)
    if inner is not None:
        return _draft(title=inner or stripped)

    tokens = _Tokens(stripped)
    labels: dict[str, str] = {}  # case-folded -> first spelling
    assignees: dict[str, None] = {}
    priority: int | None = None
    priority_seen = False
    project: str | None = None
    for index, word in enumerate(tokens.words):
        marker, rest = word[0], word[1:]
        if marker in "*#" and not (marker == "#" and rest.isdigit()) and len(labels) < LABELS_MAX:
            if (label := _name(rest, LABEL_MAX)) is not None:
                labels.setdefault(label.casefold(), label)
                tokens.kinds[index] = "marker"
        elif marker == "!" and not priority_seen and rest.lower() in PRIORITIES:
            # The first valid priority wins; "!0" means none.
            priority, priority_seen = PRIORITIES[rest.lower()], True
            tokens.kinds[index] = "marker"
        elif marker == "+" and project is None:
            name = _name(rest, PROJECT_MAX)
            if name is not None and not name.isdigit():  # "+1" is a vote, not a project
                project = name
                tokens.kinds[index] = "marker"
        elif marker == "@" and (user := _mention(rest)) is not None:
            assignees[user] = None
            tokens.kinds[index] = "mention"

    pieces = _take_date_phrases(tokens, clock)
    due_at = due_time(pieces, clock)
    if due_at is not None and not YEAR_MIN <= due_at.astimezone(UTC).year <= YEAR_MAX:
        # A date no task can hold ("in 999 years") is text, not a due date the create would refuse.
        tokens.kinds = ["word" if kind == "date" else kind for kind in tokens.kinds]
        pieces, due_at = [], None
    title = tokens.title("word", "mention") or tokens.title("word", "mention", "date") or stripped
    return _draft(
        title=title,
        due_at=due_at,
        priority=priority,
        labels=list(labels.values()),
        assignees=list(assignees),
        project=project,
        repeat=next((piece.repeat for piece in pieces if piece.repeat is not None), None),
    )


def _take_date_phrases(tokens: _Tokens, clock: Clock) -> list[Piece]:
    """Date, time and recurrence phrases from the end, then from the start, of the plain words; at most
    one of each kind, the longest phrase first."""
    plain = [index for index, kind in enumerate(tokens.kinds) if kind == "word"]
    pieces: list[Piece] = []
    taken: set[str] = set()

    def attempt(start: int, stop: int, *, at_tail: bool) -> bool:
        phrase = " ".join(tokens.words[plain[i]].lower() for i in range(start, stop))
        piece = match_phrase(phrase, clock, at_tail=at_tail)
        if piece is None or piece.slots & taken:
            return False
        pieces.append(piece)
        taken.update(piece.slots)
        for i in range(start, stop):
            tokens.kinds[plain[i]] = "date"
        return True

    end = len(plain)
    while end > 0:
        start = next(
            (s for s in range(max(0, end - PHRASE_TOKENS_MAX), end) if attempt(s, end, at_tail=True)), None
        )
        if start is None:
            break
        end = start
    begin = 0
    while begin < end:
        stop = next(
            (
                s
                for s in range(min(end, begin + PHRASE_TOKENS_MAX), begin, -1)
                if attempt(begin, s, at_tail=False)
            ),
            None,
        )
        if stop is None:
            break
        begin = stop
    return pieces


def _draft(*, title: str, **fields: object) -> TaskDraft:
    defaults: dict[str, object] = {
        "due_at": None,
        "priority": None,
        "labels": [],
        "assignees": [],
        "project": None,
        "repeat": None,
    }
    return TaskDraft.model_validate({**defaults, **fields, "title": title[:TITLE_MAX].strip()})
