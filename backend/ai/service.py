"""AI use cases: membership checks and the project's data, then the engine. Called by the REST routes and
by the UI alike. Project members of any role may ask (DESIGN.md: reading the project); others get NotFound.

The database work is synchronous (one short query or a few); the async use cases run it in a worker thread
so that the event loop keeps serving while Gemini is awaited."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.ai.autocomplete import title_indexes
from backend.ai.engine import AIEngine, AnalysisSubject, ProjectContext, engine_for_loop
from backend.ai.schemas import Analysis, AnalyzeRequest, ParseRequest, ParseResult, SuggestResult
from backend.config import get_settings
from backend.db.models import Column, Project, ProjectMember, Role, Task, User
from backend.services.access import require_role, task_in_reach

# Labels "in use" are those of the project's newest tasks: bounded work on a large board.
LABEL_SAMPLE_TASKS = 500
LABELS_IN_USE_MAX = 100


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _labels_in_use(session: Session, project_id: int) -> list[str]:
    rows = session.scalars(
        select(Task.labels)
        .where(Task.project_id == project_id)
        .order_by(Task.id.desc())
        .limit(LABEL_SAMPLE_TASKS)
    )
    seen: dict[str, None] = {}
    for labels in rows:
        for label in labels:
            seen.setdefault(label, None)
    return list(seen)[:LABELS_IN_USE_MAX]


def project_context(session: Session, *, user_id: int, project_id: int) -> ProjectContext:
    """What the engine may know of a project (labels in use, members' usernames), for any member."""
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    members = session.scalars(
        select(User.username)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project_id)
        .order_by(User.username)
    )
    return ProjectContext(labels=_labels_in_use(session, project_id), members=list(members))


async def parse_task(
    session: Session, *, user_id: int, request: ParseRequest, engine: AIEngine | None = None
) -> ParseResult:
    started = time.perf_counter()
    engine = engine or engine_for_loop(get_settings())
    context = None
    if request.project_id is not None:
        context = await asyncio.to_thread(
            project_context, session, user_id=user_id, project_id=request.project_id
        )
    result = await engine.parse(request.text, tz=request.tz, now=request.now, context=context)
    return result.model_copy(update={"elapsed_ms": _ms_since(started)})


def suggest_titles(
    session: Session, *, user_id: int, project_id: int, query: str, limit: int
) -> SuggestResult:
    """Completions for what is being typed, from the titles of the project's tasks (archived ones too:
    recurring chores are usually done)."""
    started = time.perf_counter()
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    version = session.scalar(select(Project.event_seq).where(Project.id == project_id))
    index = title_indexes.get(
        project_id,
        version or 0,
        lambda: session.execute(select(Task.id, Task.title).where(Task.project_id == project_id)),
    )
    return SuggestResult(
        suggestions=index.suggest(query, limit=limit), source="local", elapsed_ms=_ms_since(started)
    )


def _analysis_subject(session: Session, *, user_id: int, request: AnalyzeRequest) -> AnalysisSubject:
    if request.task_id is not None:
        task = task_in_reach(session, user_id=user_id, task_id=request.task_id, minimum=Role.viewer)
        project_id, title, description = task.project_id, task.title, task.description
    else:
        assert request.project_id is not None and request.title is not None  # AnalyzeRequest's rule
        require_role(session, project_id=request.project_id, user_id=user_id, minimum=Role.viewer)
        project_id, title, description = request.project_id, request.title, request.description or ""
    open_tasks = session.execute(
        select(Task.id, Task.title)
        .join(Column, Column.id == Task.column_id)
        .where(
            Task.project_id == project_id,
            Task.archived.is_(False),
            Column.is_done.is_(False),
            Task.id != (request.task_id or 0),
        )
    )
    return AnalysisSubject(
        title=title,
        description=description,
        labels_in_use=_labels_in_use(session, project_id),
        open_tasks=[(task_id, task_title) for task_id, task_title in open_tasks],
    )


async def analyze_task(
    session: Session, *, user_id: int, request: AnalyzeRequest, engine: AIEngine | None = None
) -> Analysis:
    started = time.perf_counter()
    engine = engine or engine_for_loop(get_settings())
    subject = await asyncio.to_thread(_analysis_subject, session, user_id=user_id, request=request)
    result = await engine.analyze(subject, tz=request.tz, now=request.now)
    return result.model_copy(update={"elapsed_ms": _ms_since(started)})
