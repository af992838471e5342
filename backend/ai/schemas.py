"""Shapes of the AI endpoints (`/api/ai/*`); the local engine and the Gemini path answer with the same."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints, model_validator

from backend.schemas import YEAR_MAX, YEAR_MIN, Description, IdRef, Schema, Title, _no_nul

# Room for the markers and date words around a 500-character title.
TEXT_MAX = 1000
QUERY_MAX = 200
SUGGESTIONS_MAX = 20
TZ_MAX = 64

Source = Literal["gemini", "local"]
RepeatUnit = Literal["hours", "days", "weeks", "months", "years"]


def _real_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name, such as Europe/Paris") from None
    return value


def _local_time(value: Any) -> datetime:
    # Only ISO 8601 text: pydantic alone would also take numbers as Unix timestamps.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 local time, such as 2026-03-01T09:30:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 local time, such as 2026-03-01T09:30:00") from None
    if not YEAR_MIN <= moment.year <= YEAR_MAX:
        raise ValueError(f"must be a time between the years {YEAR_MIN} and {YEAR_MAX}")
    return moment


TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=TZ_MAX), AfterValidator(_real_zone)]
LocalTime = Annotated[datetime, BeforeValidator(_local_time)]


class LocalClock(Schema):
    """The user's zone and wall-clock time, so that "today" is the user's today (tests pin `now`)."""

    tz: TimeZoneName | None = Field(default=None, description="IANA zone; UTC when absent.")
    now: LocalTime | None = Field(
        default=None,
        description="The user's local time, ISO 8601 without offset (one with an offset is converted to tz).",
    )


class Repeat(BaseModel):
    every: int = Field(ge=1, le=1000)
    unit: RepeatUnit


class TaskDraft(BaseModel):
    """The task fields understood from free text."""

    title: str
    due_at: datetime | None = Field(description="ISO 8601 with offset, in the request's tz.")
    priority: int | None = Field(ge=1, le=5, description="1 low .. 5 do now.")
    labels: list[str]
    assignees: list[str] = Field(description="Usernames, without the @.")
    project: str | None
    repeat: Repeat | None


class Answer(BaseModel):
    source: Source
    elapsed_ms: float


class ParseRequest(LocalClock):
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX),
        AfterValidator(_no_nul),
    ]
    project_id: IdRef | None = None


class ParseResult(TaskDraft, Answer):
    pass


class Suggestion(BaseModel):
    title: str
    task_id: int = Field(description="The newest task with this title.")
    score: float = Field(ge=0, le=100)


class SuggestResult(Answer):
    suggestions: list[Suggestion]


class AnalyzeRequest(LocalClock):
    """Either a draft ({project_id, title, description?}) or a stored task ({task_id})."""

    task_id: IdRef | None = None
    project_id: IdRef | None = None
    title: Title | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> AnalyzeRequest:
        draft = self.project_id is not None or self.title is not None or self.description is not None
        if self.task_id is not None and draft:
            raise ValueError("give either task_id, or project_id and title, not both")
        if self.task_id is None and (self.project_id is None or self.title is None):
            raise ValueError("give task_id, or project_id and title")
        return self


class Duplicate(BaseModel):
    task_id: int
    title: str
    score: float = Field(ge=0, le=100)


class Analysis(Answer):
    priority: int | None = Field(ge=1, le=5)
    labels: list[str]
    due_at: datetime | None
    subtasks: list[str]
    duplicates: list[Duplicate] = Field(description="Open tasks of the project that look like the same work.")


SuggestLimit = Annotated[int, Field(ge=1, le=SUGGESTIONS_MAX)]
SuggestQuery = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=QUERY_MAX), AfterValidator(_no_nul)
]
