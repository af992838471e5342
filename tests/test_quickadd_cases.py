"""The local quick-add parser against the shared cases (/work/shared/cases/quickadd.jsonl, each compared on
its `asserted` fields only), plus our own: #labels and #123, priority words, time zones and DST, quoting,
titles that are never emptied, and dates that are never taken out of the middle of a title.

The cases' tz is "local": they are run in Europe/Berlin and due times are compared as local wall-clock
times. Their priority scale has 0 for "unset", which is our null.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backend.ai.quickadd import parse_quick_add
from backend.schemas import TITLE_MAX

CASES_FILE = Path(__file__).resolve().parents[2] / "shared" / "cases" / "quickadd.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text().splitlines() if line.strip()]
LOCAL_ZONE = "Europe/Berlin"
NOW = datetime(2021, 6, 24, 12, 0)  # a Thursday


def local_due(due_at: datetime | None, precision: str | None) -> str | None:
    """The due time as the user's wall clock, to the precision the case asserts (date, or date and time)."""
    if due_at is None:
        return None
    wall = due_at.replace(tzinfo=None).isoformat(timespec="minutes")
    return wall[: len(precision)] if precision else wall


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_shared_case(case: dict[str, Any]) -> None:
    result = parse_quick_add(case["input"], tz=LOCAL_ZONE, now=datetime.fromisoformat(case["now"]))
    assert result.due_at is None or result.due_at.tzinfo is not None
    expect = case["expect"]
    for field in case["asserted"]:
        if field == "due":
            assert local_due(result.due_at, expect["due"]) == expect["due"], field
        elif field == "priority":
            assert result.priority == (expect["priority"] or None), field
        elif field == "repeat":
            assert (result.repeat.model_dump() if result.repeat else None) == expect["repeat"], field
        else:
            assert getattr(result, field) == expect[field], field


def parse(text: str, *, now: datetime = NOW, tz: str = LOCAL_ZONE) -> dict[str, Any]:
    result = parse_quick_add(text, tz=tz, now=now)
    fields = result.model_dump()
    fields["due"] = local_due(result.due_at, None)
    fields["repeat"] = (result.repeat.every, result.repeat.unit) if result.repeat else None
    return fields


def check(text: str, **expected: Any) -> None:
    fields = parse(text)
    assert {name: fields[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fix #123 crash #bug", {"title": "Fix #123 crash", "labels": ["bug"]}),
        ("Review #'needs review' #ops", {"title": "Review", "labels": ["needs review", "ops"]}),
        ('Plan *"big launch" *Ops *ops', {"title": "Plan", "labels": ["big launch", "Ops"]}),
        ("See #42 and #7", {"title": "See #42 and #7", "labels": []}),
        ("C# course", {"title": "C# course", "labels": []}),
        ("Tag it #release,", {"title": "Tag it", "labels": ["release"]}),
    ],
)
def test_hash_labels_and_issue_references(text: str, expected: dict[str, Any]) -> None:
    check(text, **expected)


@pytest.mark.parametrize(
    ("text", "title", "priority"),
    [
        ("Pay bills !low", "Pay bills", 1),
        ("Pay bills !Medium", "Pay bills", 2),
        ("Pay bills !HIGH", "Pay bills", 3),
        ("Pay bills !urgent", "Pay bills", 4),
        ("Pay bills !5", "Pay bills", 5),
        ("!high Pay bills !1", "Pay bills !1", 3),
        ("Pay bills !extreme", "Pay bills !extreme", None),
        ("Pay bills !6", "Pay bills !6", None),
        ("Ship it now!", "Ship it now!", None),
    ],
)
def test_priority_markers_and_words(text: str, title: str, priority: int | None) -> None:
    check(text, title=title, priority=priority)


def test_due_times_are_in_the_request_zone_with_its_offset() -> None:
    new_york = parse_quick_add("Call tomorrow at 9am", tz="America/New_York", now=NOW)
    assert new_york.due_at is not None
    assert new_york.due_at.isoformat() == "2021-06-25T09:00:00-04:00"
    kolkata = parse_quick_add("Call tomorrow at 9am", tz="Asia/Kolkata", now=NOW)
    assert kolkata.model_dump(mode="json")["due_at"] == "2021-06-25T09:00:00+05:30"
    assert new_york.due_at - kolkata.due_at == timedelta(hours=9, minutes=30)


def test_now_defaults_to_the_current_time_in_the_zone() -> None:
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: its today is often not UTC's
    result = parse_quick_add("Call tomorrow", tz="Pacific/Kiritimati")
    assert result.due_at is not None
    assert result.due_at.date() == datetime.now(zone).date() + timedelta(days=1)
    assert result.due_at.utcoffset() == timedelta(hours=14)


def test_an_aware_now_is_read_in_the_request_zone() -> None:
    result = parse_quick_add(
        "Call today", tz="Asia/Tokyo", now=datetime.fromisoformat("2021-06-24T20:00:00+00:00")
    )
    assert result.due_at is not None
    assert result.due_at.isoformat() == "2021-06-25T05:00:00+09:00"  # already the 25th in Tokyo


@pytest.mark.parametrize(
    ("text", "tz"),
    [("Plan the party in 999 years", "UTC"), ("Backup 31/12/2999 at 23:00", "Pacific/Pago_Pago")],
)
def test_a_date_no_task_can_hold_stays_in_the_title(text: str, tz: str) -> None:
    # Tasks take due dates in the years 1900-2999 (UTC); quick add must not offer one the create refuses.
    result = parse_quick_add(text, tz=tz, now=datetime(2999, 12, 1, 10, 0))
    assert (result.title, result.due_at) == (text, None)


def test_daylight_saving_gaps_and_elapsed_hours() -> None:
    zone = "America/New_York"  # clocks jump from 02:00 to 03:00 on 2021-03-14
    skipped = parse_quick_add("Backup tomorrow", tz=zone, now=datetime(2021, 3, 13, 2, 30))
    assert skipped.due_at is not None and skipped.due_at.isoformat() == "2021-03-14T03:30:00-04:00"
    hour = parse_quick_add("Check in 1 hour", tz=zone, now=datetime(2021, 3, 14, 1, 30))
    assert hour.due_at is not None and hour.due_at.isoformat() == "2021-03-14T03:30:00-04:00"
    day = parse_quick_add("Check in 1 day", tz=zone, now=datetime(2021, 3, 13, 12, 0))
    assert day.due_at is not None and day.due_at.isoformat() == "2021-03-14T12:00:00-04:00"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ('"Buy milk tomorrow *food !2"', "Buy milk tomorrow *food !2"),
        ("'Lunch at 1pm @anna'", "Lunch at 1pm @anna"),
        ("\u201cRead 9/11 Report next week\u201d", "Read 9/11 Report next week"),
    ],
)
def test_quoting_the_whole_text_turns_parsing_off(text: str, title: str) -> None:
    check(text, title=title, due=None, labels=[], priority=None, assignees=[], project=None, repeat=None)


@pytest.mark.parametrize(
    ("text", "title", "due"),
    [
        ("tomorrow", "tomorrow", "2021-06-25T12:00"),
        ("in 2 days", "in 2 days", "2021-06-26T12:00"),
        ("tomorrow *home", "tomorrow", "2021-06-25T12:00"),
        ("*home !3", "*home !3", None),
        ("@3pm", "@3pm", "2021-06-24T15:00"),
        ('""', '""', None),
        ("'   '", "'   '", None),
    ],
)
def test_the_title_is_never_empty(text: str, title: str, due: str | None) -> None:
    check(text, title=title, due=due)


@pytest.mark.parametrize(
    "text",
    [
        "Meet tomorrow with Anna",
        "Read chapter 3/4 notes",
        "Upgrade to 1.2.10",
        "Upgrade to v2.0.1 now",
        "Walk in the sun",
        "Wear the sat nav",
        "Weekly report",
        "Email bob@example.com",
        "Order 5 pm units",
        "Party january 27,",
        "Plan the weekend",
        "Watch High Noon",
    ],
)
def test_ordinary_titles_keep_their_words(text: str) -> None:
    check(text, title=text, due=None, repeat=None)


@pytest.mark.parametrize(
    ("text", "title", "due", "repeat"),
    [
        ("Standup at 9", "Standup", "2021-06-25T09:00", None),  # 9:00 has passed today
        ("Call Bob at 5pm", "Call Bob", "2021-06-24T17:00", None),
        ("Call Bob @ 17:30", "Call Bob", "2021-06-24T17:30", None),
        ("Dinner tonight", "Dinner", "2021-06-24T20:00", None),
        ("Dinner tonight at 11pm", "Dinner", "2021-06-24T23:00", None),
        ("Picnic next sat", "Picnic", "2021-06-26T12:00", None),
        ("Party next weekend", "Party", "2021-07-03T12:00", None),
        ("Plan next week", "Plan", "2021-06-28T12:00", None),
        ("Invoice end of month", "Invoice", "2021-06-30T12:00", None),
        ("Taxes 3/5", "Taxes", "2022-03-05T12:00", None),  # past, no year: next year
        ("Taxes 3/5/2021", "Taxes", "2021-03-05T12:00", None),
        ("Launch 2021-07-06 at 10:15", "Launch", "2021-07-06T10:15", None),
        ("Launch on July 6th, 2022", "Launch", "2022-07-06T12:00", None),
        ("Leap day feb 29", "Leap day", "2024-02-29T12:00", None),
        ("Send report weekly", "Send report", None, (1, "weeks")),
        ("every other day water plants", "water plants", None, (2, "days")),
        ("Standup every monday at 9:30", "Standup", "2021-06-28T09:30", (1, "weeks")),
        ("Call @anna tomorrow", "Call @anna", "2021-06-25T12:00", None),
    ],
)
def test_more_dates_times_and_repeats(text: str, title: str, due: str | None, repeat: Any) -> None:
    check(text, title=title, due=due, repeat=repeat)


def test_first_project_and_assignees() -> None:
    check(
        'Ship +"Big Launch" +other @anna @bob, @anna',
        title="Ship +other @anna @bob, @anna",
        project="Big Launch",
        assignees=["anna", "bob"],
    )
    check("Vote +1 on the idea", title="Vote +1 on the idea", project=None)


def test_a_long_text_gives_a_title_within_bounds() -> None:
    result = parse_quick_add("word " * 150 + "tomorrow", tz="UTC", now=NOW)
    assert 0 < len(result.title) <= TITLE_MAX
    assert result.due_at is not None
