"""Date, time and recurrence phrases of the quick-add syntax, and turning them into one due time.

A phrase is a few whole tokens, lower-cased and joined by single spaces ("next monday", "@ 3pm",
"21st june"); `match_phrase` recognises one and returns the `Piece` it contributes. The README's
"Quick add" section states the rules for the ambiguous cases; the comments below only say why.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

from backend.ai.schemas import Repeat, RepeatUnit
from backend.schemas import YEAR_MAX, YEAR_MIN

WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
# Ordinary English words as well: a bare "sun" at the end of "Walk in the sun" is not a Sunday.
WORDLIKE_WEEKDAYS = frozenset({"wed", "sat", "sun"})
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
UNITS = {
    "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "day": "days", "days": "days", "week": "weeks", "weeks": "weeks", "wk": "weeks", "wks": "weeks",
    "month": "months", "months": "months", "year": "years", "years": "years", "yr": "years", "yrs": "years",
}  # fmt: skip
ADVERBS = {
    "hourly": "hours", "daily": "days", "weekly": "weeks", "monthly": "months", "yearly": "years",
    "annually": "years",
}  # fmt: skip
REPEAT_UNITS: frozenset[str] = frozenset(get_args(RepeatUnit))
TONIGHT = time(20, 0)
NOON = time(12, 0)


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


WEEKDAY = f"(?P<wd>{_alternatives(WEEKDAYS)})"
MONTH = f"(?P<mon>{_alternatives(MONTHS)})"
NUMBER = rf"(?P<n>\d{{1,3}}|{_alternatives(NUMBERS)})"
UNIT = f"(?P<unit>{_alternatives(UNITS)})"
ORDINAL = r"(?P<ord>st|nd|rd|th)"
AT = r"(?:at |@ ?)"


@dataclass(frozen=True)
class Clock:
    """The user's wall-clock time (to the minute) in their zone."""

    now: datetime  # naive, local
    zone: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass(frozen=True)
class Piece:
    """What one phrase says about the due time and recurrence."""

    day: date | None = None
    at: time | None = None
    soft_at: time | None = None  # a time that an explicit one overrides ("tonight at 11pm")
    shift: tuple[int, str] | None = None  # "in N units"
    repeat: Repeat | None = None

    @property
    def slots(self) -> frozenset[str]:
        taken = set()
        if self.day is not None or self.shift is not None:
            taken.add("date")
        if self.at is not None or (self.shift is not None and self.shift[1] in ("minutes", "hours")):
            taken.add("time")
        if self.repeat is not None:
            taken.add("repeat")
        return frozenset(taken)


def localize(moment: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time in `zone`. A time skipped by a DST jump moves forward by the gap (the round
    trip through UTC does that); a repeated one takes its first occurrence (fold=0)."""
    return moment.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def add_months(day: date, months: int) -> date:
    """Calendar months later, on the same day or the month's last one (Jan 31 + 1 month = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _safe_date(year: int, month: int, day: int) -> date | None:
    if not YEAR_MIN <= year <= YEAR_MAX:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


def _next_weekday(today: date, weekday: int) -> date:
    # The next one on or after today: "thursday" said on a Thursday is today (as the cases assert).
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _year(match: re.Match[str]) -> int | None:
    """The year written in the match, two digits meaning 20xx; None when none was written."""
    text = match["y"]
    if text is None:
        return None
    return 2000 + int(text) if len(text) == 2 else int(text)


def _this_or_next_year(clock: Clock, month: int, day: int, *, keep_past: bool) -> date | None:
    """A day and month without a year: this year's, or next year's once it has passed (unless keep_past).
    Feb 29 goes to the next leap year."""
    for year in range(clock.today.year, clock.today.year + 9):
        found = _safe_date(year, month, day)
        if found is not None and (keep_past or found >= clock.today):
            return found
    return None


# Handlers: a regex match (and the clock) to a Piece, or None when the numbers make no date.


def _today(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=clock.today)


def _tonight(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=clock.today, soft_at=TONIGHT)


def _tomorrow(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=clock.today + timedelta(days=1))


def _day_after_tomorrow(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=clock.today + timedelta(days=2))


def _this_weekend(_: re.Match[str], clock: Clock) -> Piece:
    today = clock.today
    return Piece(day=today if today.weekday() >= 5 else _next_weekday(today, 5))


def _next_weekend(_: re.Match[str], clock: Clock) -> Piece:
    saturday_this_week = clock.today + timedelta(days=5 - clock.today.weekday())
    return Piece(day=saturday_this_week + timedelta(days=7))


def _next_week(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=clock.today + timedelta(days=7 - clock.today.weekday()))  # next week's Monday


def _next_month(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=add_months(clock.today.replace(day=1), 1))


def _next_year(_: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=date(clock.today.year + 1, 1, 1))


def _end_of_month(_: re.Match[str], clock: Clock) -> Piece:
    today = clock.today
    return Piece(day=today.replace(day=calendar.monthrange(today.year, today.month)[1]))


def _weekday(match: re.Match[str], clock: Clock) -> Piece | None:
    if match["wd"] in WORDLIKE_WEEKDAYS and match["q"] is None:
        return None
    return Piece(day=_next_weekday(clock.today, WEEKDAYS[match["wd"]]))


def _in(match: re.Match[str], _: Clock) -> Piece | None:
    amount = _number(match["n"])
    return Piece(shift=(amount, UNITS[match["unit"]])) if amount >= 1 else None


def _ymd(match: re.Match[str], _: Clock) -> Piece | None:
    found = _safe_date(int(match["y"]), int(match["mo"]), int(match["d"]))
    return Piece(day=found) if found else None


def _slashed(match: re.Match[str], clock: Clock) -> Piece | None:
    # Month first when that makes a date (6/8 is June 8), otherwise day first (16/12 is December 16).
    first, second, year = int(match["a"]), int(match["b"]), _year(match)
    for month, day in ((first, second), (second, first)):
        if year is not None:
            found = _safe_date(year, month, day)
        elif 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]:
            found = _this_or_next_year(clock, month, day, keep_past=False)
        else:
            found = None
        if found is not None:
            return Piece(day=found)
    return None


def _dotted(match: re.Match[str], _: Clock) -> Piece | None:
    year = _year(match)
    found = _safe_date(year, int(match["mo"]), int(match["d"])) if year is not None else None
    return Piece(day=found) if found else None


def _named(match: re.Match[str], clock: Clock) -> Piece | None:
    month, day, year = MONTHS[match["mon"]], int(match["d"]), _year(match)
    if year is not None:
        found = _safe_date(year, month, day)
    else:
        # Asserted by the cases: with an ordinal ("21st June", "Mar 8th") a past day stays this year's.
        found = _this_or_next_year(clock, month, day, keep_past=match["ord"] is not None)
    return Piece(day=found) if found else None


def _ordinal(match: re.Match[str], clock: Clock) -> Piece | None:
    # "the 29th": the next month that has that day, this month included.
    day, first = int(match["d"]), clock.today.replace(day=1)
    for offset in range(13):
        month = add_months(first, offset)
        found = _safe_date(month.year, month.month, day)
        if found is not None and found >= clock.today:
            return Piece(day=found)
    return None


def _twelve_hour(match: re.Match[str], _: Clock) -> Piece | None:
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if not (1 <= hour <= 12 and minute <= 59):
        return None
    return Piece(at=time(hour % 12 + (12 if match["ap"].startswith("p") else 0), minute))


def _clock_time(match: re.Match[str], _: Clock) -> Piece | None:
    hour, minute = int(match["h"]), int(match["m"] or 0)
    return Piece(at=time(hour, minute)) if hour <= 23 and minute <= 59 else None


def _noon(_: re.Match[str], __: Clock) -> Piece:
    return Piece(at=NOON)


def _every(match: re.Match[str], _: Clock) -> Piece | None:
    unit = UNITS[match["unit"]]
    every = 2 if match["other"] else _number(match["n"]) if match["n"] else 1
    if unit not in REPEAT_UNITS or not 1 <= every <= 1000:
        return None
    return Piece(repeat=Repeat.model_validate({"every": every, "unit": unit}))


def _every_weekday(match: re.Match[str], clock: Clock) -> Piece:
    return Piece(day=_next_weekday(clock.today, WEEKDAYS[match["wd"]]), repeat=Repeat(every=1, unit="weeks"))


def _adverb(match: re.Match[str], _: Clock) -> Piece:
    return Piece(repeat=Repeat.model_validate({"every": 1, "unit": ADVERBS[match["adv"]]}))


Handler = Callable[[re.Match[str], Clock], Piece | None]


@dataclass(frozen=True)
class Phrase:
    pattern: re.Pattern[str]
    handler: Handler
    tail_only: bool = False  # "Weekly report" is a title; "Send the report weekly" repeats


def _phrase(pattern: str, handler: Handler, *, tail_only: bool = False) -> Phrase:
    return Phrase(re.compile(pattern), handler, tail_only)


PHRASES: tuple[Phrase, ...] = (
    _phrase(r"today", _today),
    _phrase(r"tonight", _tonight),
    _phrase(r"(?:tomorrow|tmrw)", _tomorrow),
    _phrase(r"(?:the )?day after tomorrow", _day_after_tomorrow),
    _phrase(r"this weekend", _this_weekend),  # a bare "weekend" is a noun ("Plan the weekend")
    _phrase(r"next weekend", _next_weekend),
    _phrase(r"next week", _next_week),
    _phrase(r"next month", _next_month),
    _phrase(r"next year", _next_year),
    _phrase(r"(?:by )?(?:the )?end of (?:the )?month|eom", _end_of_month),
    _phrase(rf"(?:(?P<q>on|this|next) )?{WEEKDAY}", _weekday),
    _phrase(rf"in {NUMBER} {UNIT}", _in),
    _phrase(r"(?:on )?(?P<y>\d{4})([-/])(?P<mo>\d{1,2})\2(?P<d>\d{1,2})", _ymd),
    _phrase(r"(?:on )?(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?", _slashed),
    _phrase(r"(?:on )?(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4})", _dotted),
    # Two-digit years only with zero-padded parts, so that version numbers ("1.2.10") stay text.
    _phrase(r"(?:on )?(?P<d>\d{2})\.(?P<mo>\d{2})\.(?P<y>\d{2})", _dotted),
    _phrase(rf"(?:on )?(?:the )?(?P<d>\d{{1,2}}){ORDINAL}?(?: of)? {MONTH}(?:,? (?P<y>\d{{4}}))?", _named),
    _phrase(rf"(?:on )?{MONTH} (?:the )?(?P<d>\d{{1,2}}){ORDINAL}?(?:,? (?P<y>\d{{4}}))?", _named),
    _phrase(rf"(?:on )?(?:the )?(?P<d>\d{{1,2}}){ORDINAL}", _ordinal),
    _phrase(rf"{AT}?(?P<h>\d{{1,2}})(?::(?P<m>\d{{2}}))? ?(?P<ap>am|pm|a\.m\.|p\.m\.)", _twelve_hour),
    _phrase(rf"{AT}?(?P<h>\d{{1,2}}):(?P<m>\d{{2}})", _clock_time),
    _phrase(rf"{AT}(?P<h>\d{{1,2}})(?P<m>)", _clock_time),
    _phrase(rf"{AT}noon", _noon),  # a bare "noon" may be a word of the title ("Read High Noon")
    _phrase(rf"every (?:(?P<other>other) )?(?:{NUMBER} )?{UNIT}", _every),
    _phrase(rf"every {WEEKDAY}", _every_weekday),
    _phrase(rf"(?P<adv>{_alternatives(ADVERBS)})", _adverb, tail_only=True),
)


def match_phrase(text: str, clock: Clock, *, at_tail: bool) -> Piece | None:
    """The piece that `text` (whole tokens, lower case, single spaces) stands for, if it is one phrase."""
    for phrase in PHRASES:
        if phrase.tail_only and not at_tail:
            continue
        match = phrase.pattern.fullmatch(text)
        if match is not None and (piece := phrase.handler(match, clock)) is not None:
            return piece
    return None


def due_time(pieces: list[Piece], clock: Clock) -> datetime | None:
    """The due time the pieces describe, aware in the user's zone; None when they name no date or time.

    A date without a time keeps now's time of day (as the cases assert: "in 1 week" at 12:00 is 12:00);
    a time without a date is today's if still ahead, else tomorrow's."""
    day = next((p.day for p in pieces if p.day is not None), None)
    at = next((p.at for p in pieces if p.at is not None), None)
    soft_at = next((p.soft_at for p in pieces if p.soft_at is not None), None)
    shift = next((p.shift for p in pieces if p.shift is not None), None)
    if shift is not None:
        amount, unit = shift
        if unit in ("minutes", "hours"):  # elapsed time: added in UTC, so that a DST change counts
            start = localize(clock.now, clock.zone).astimezone(UTC)
            # (An explicit time cannot come with it: both fill the time slot.)
            return (start + timedelta(**{unit: amount})).astimezone(clock.zone)
        if unit == "months" or unit == "years":
            day = add_months(clock.today, amount * (12 if unit == "years" else 1))
        else:
            day = clock.today + timedelta(**{unit: amount})
    if day is None:
        if at is None:
            return None
        day = (
            clock.today if datetime.combine(clock.today, at) >= clock.now else clock.today + timedelta(days=1)
        )
    return localize(datetime.combine(day, at or soft_at or clock.now.time()), clock.zone)
