"""Public data shapes, named as families: XCreate (input), XUpdate (partial input), XPublic (output)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StrictBool, StringConstraints

from backend.db.models import Role
from backend.security import PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS

TITLE_MAX = 500
DESCRIPTION_MAX = 20_000
COMMENT_MAX = 10_000
LABEL_MAX = 50
LABELS_MAX = 20
TASK_PAGE_DEFAULT = 1000
TASK_PAGE_MAX = 5000
# Years a date may have: far enough, and clear of datetime's limits in any time zone (and once "in 999
# years" is added to them).
YEAR_MIN, YEAR_MAX = 1900, 2999


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refusing it here keeps it a 422 rather than a 500.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


def _utc(value: datetime) -> datetime:
    # A time without offset is taken as UTC (not as the database server's zone). Years far out are refused:
    # shown in a user's zone, 9999-12-31T23:59Z or 0001-01-01T00:00Z would not fit a datetime any more.
    try:
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not YEAR_MIN <= moment.year <= YEAR_MAX:
        raise ValueError(f"must be a time between the years {YEAR_MIN} and {YEAR_MAX}")
    return moment


def _password_rules(value: str) -> str:
    if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValueError(f"must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8")
    return _no_nul(value)


def _distinct_labels(values: list[str]) -> list[str]:
    """Repeats collapse case-blind, keeping the first spelling ("Bug", "bug" → "Bug"), as in quick add."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.casefold(), value)
    return list(seen.values())


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(_no_nul),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_nul)
]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX), AfterValidator(_no_nul)]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LABEL_MAX), AfterValidator(_no_nul)
]
Labels = Annotated[list[Label], Field(max_length=LABELS_MAX), AfterValidator(_distinct_labels)]
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$"),
]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_CHARS), AfterValidator(_password_rules)]
Priority = Annotated[int, Field(ge=1, le=5)]
# Ids are BIGINT: a larger one is a 422 here rather than an out-of-range error in the database.
ID_MAX = 2**62
IdRef = Annotated[int, Field(ge=1, le=ID_MAX)]
Timestamp = Annotated[datetime, AfterValidator(_utc)]
Position = Annotated[int, Field(ge=0, le=1_000_000)]
Version = Annotated[int, Field(ge=1)]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class PublicSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Users and tokens


class UserCreate(Schema):
    username: Username
    email: EmailStr
    password: Password
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(_no_nul)]
        | None
    ) = None


class UserPublic(PublicSchema):
    id: int
    username: str
    email: str
    display_name: str
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


# Projects and members


class ProjectCreate(Schema):
    name: Name
    description: Description = ""


class ProjectUpdate(Schema):
    name: Name | None = None
    description: Description | None = None


class ProjectPublic(PublicSchema):
    id: int
    name: str
    description: str
    role: Role | None = Field(description="The caller's role; null in events, whose readers differ.")
    event_seq: int
    created_at: datetime
    updated_at: datetime


class ProjectOverview(PublicSchema):
    """One tile of the projects page: the project, the reader's role and how much is still open."""

    id: int
    name: str
    description: str
    role: Role
    open_tasks: int = Field(description="Tasks neither archived nor in a done column.")


class MemberCreate(Schema):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), AfterValidator(_no_nul)
    ]
    role: Role = Role.editor


class MemberUpdate(Schema):
    role: Role


class MemberPublic(PublicSchema):
    user_id: int
    username: str
    display_name: str
    role: Role


# Columns


class ColumnCreate(Schema):
    name: Name
    position: Position | None = None
    is_done: StrictBool = False


class ColumnUpdate(Schema):
    name: Name | None = None
    position: Position | None = None
    is_done: StrictBool | None = None


class ColumnPublic(PublicSchema):
    id: int
    project_id: int
    name: str
    position: int
    is_done: bool


# Tasks


class TaskCreate(Schema):
    title: Title
    description: Description = ""
    column_id: IdRef | None = Field(default=None, description="Defaults to the project's first column.")
    position: Position | None = Field(default=None, description="0-based index; defaults to the end.")
    priority: Priority | None = None
    due_at: Timestamp | None = None
    assignee_id: IdRef | None = None
    labels: Labels = []


class TaskUpdate(Schema):
    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_at: Timestamp | None = None
    assignee_id: IdRef | None = None
    labels: Labels | None = None
    archived: StrictBool | None = None


class TaskMove(Schema):
    column_id: IdRef
    position: Position | None = Field(default=None, description="0-based index; defaults to the end.")


class TaskPublic(PublicSchema):
    id: int
    project_id: int
    column_id: int
    title: str
    description: str
    priority: int | None
    due_at: datetime | None
    assignee_id: int | None
    labels: list[str]
    position: int
    version: int
    archived: bool
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class TaskFilters(Schema):
    column_id: IdRef | None = None
    assignee_id: IdRef | None = None
    label: Label | None = None
    q: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_nul)]
        | None
    ) = None
    include_archived: bool = False
    limit: int = Field(default=TASK_PAGE_DEFAULT, ge=1, le=TASK_PAGE_MAX, description="Page size.")
    offset: int = Field(default=0, ge=0, le=10**9, description="Tasks to skip, in board order.")


# Comments


class CommentCreate(Schema):
    body: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX),
        AfterValidator(_no_nul),
    ]


class CommentPublic(PublicSchema):
    id: int
    task_id: int
    author_id: int | None
    body: str
    created_at: datetime


# Events


EventType = Literal[
    "project.updated",
    "project.deleted",
    "column.created",
    "column.updated",
    "column.deleted",
    "task.created",
    "task.updated",
    "task.moved",
    "task.deleted",
    "comment.created",
    "member.added",
    "member.role_changed",
    "member.removed",
]


class EventEnvelope(BaseModel):
    id: str
    type: EventType
    project_id: int
    seq: int
    actor_id: int | None
    occurred_at: str
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventEnvelope]
    last_seq: int = Field(description="The project's newest seq at the time of the answer.")
    complete: bool = Field(description="False when events after `after` are gone (past retention): reload.")


# Errors: every error answer is {"detail": ...} (DESIGN.md); these document them in OpenAPI.


class ErrorPublic(BaseModel):
    detail: str


class TaskConflictPublic(BaseModel):
    detail: str
    current: TaskPublic = Field(description="The task as it is now: retry the change against this version.")


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorsPublic(BaseModel):
    detail: list[ValidationErrorItem]
