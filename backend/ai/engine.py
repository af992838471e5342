"""The AI engine: Gemini when it is configured, reachable and answers validly; the local engine otherwise.
Both give the same shapes. The engine knows no database: services hand it what it needs."""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from backend.ai.analysis import analyze_locally, similar_open_tasks
from backend.ai.breaker import Breaker
from backend.ai.dates import Clock, localize
from backend.ai.gemini import Gemini
from backend.ai.prompts import (
    ANALYZE_SYSTEM,
    CANDIDATES_MAX,
    PARSE_SYSTEM,
    GeminiAnalysis,
    GeminiTask,
    analyze_prompt,
    parse_prompt,
)
from backend.ai.quickadd import clock_for, parse_quick_add, unquoted
from backend.ai.schemas import Analysis, ParseResult, Repeat, TaskDraft
from backend.config import Settings

# Breaker and Redis calls must leave the interactive deadline to Gemini.
REDIS_TIMEOUT_SECONDS = 0.5
BREAKER_WINDOW_SECONDS = 60.0
# Titles loosely like the analysed one, offered to Gemini to pick duplicates from.
CANDIDATE_CUTOFF = 50.0


@dataclass(frozen=True)
class ProjectContext:
    """What Gemini gets to know about the project a quick-add line is typed into."""

    labels: list[str]
    members: list[str]


@dataclass(frozen=True)
class AnalysisSubject:
    title: str
    description: str
    labels_in_use: list[str]
    open_tasks: list[tuple[int, str]]  # (id, title) of the project's other open tasks


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _in_zone(moment: datetime | None, clock: Clock) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(clock.zone) if moment.tzinfo else localize(moment, clock.zone)


def _merge(answer: GeminiTask, local: TaskDraft, clock: Clock) -> TaskDraft:
    """Gemini's reading, except that explicit markers (*label, !3, +project, @user), which the local
    parser reads exactly, win."""
    repeat = Repeat(every=answer.repeat_every, unit=answer.repeat_unit) if answer.repeat_unit else None
    return TaskDraft(
        title=answer.title,
        due_at=_in_zone(answer.due_at, clock),
        priority=local.priority if local.priority is not None else answer.priority,
        labels=local.labels or answer.labels,
        assignees=local.assignees or answer.assignees,
        project=local.project or answer.project,
        repeat=repeat,
    )


class AIEngine:
    def __init__(self, *, gemini: Gemini | None) -> None:
        self.gemini = gemini

    @classmethod
    def from_settings(cls, settings: Settings, *, key_prefix: str = "agorax:ai") -> AIEngine:
        """Without GEMINI_API_KEY: local only, with no network and no Redis."""
        if not settings.gemini_api_key:
            return cls(gemini=None)
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        breaker = Breaker(
            redis,
            key=f"{key_prefix}:gemini:breaker",
            failures=settings.ai_breaker_failures,
            reset_seconds=settings.ai_breaker_reset_seconds,
            window_seconds=BREAKER_WINDOW_SECONDS,
            lease_seconds=settings.ai_deadline_seconds + 1,
        )
        gemini = Gemini(
            api_key=settings.gemini_api_key,
            model=settings.model_name,
            breaker=breaker,
            deadline_seconds=settings.ai_deadline_seconds,
            base_url=settings.gemini_base_url or None,  # empty in .env means the default
        )
        return cls(gemini=gemini)

    async def parse(
        self, text: str, *, tz: str | None, now: datetime | None, context: ProjectContext | None = None
    ) -> ParseResult:
        started = time.perf_counter()
        clock = clock_for(tz, now)
        draft = parse_quick_add(text, tz=tz, now=clock.now)
        source = "local"
        if self.gemini is not None and unquoted(text.strip()) is None:  # quoted: parsing is off
            context = context or ProjectContext(labels=[], members=[])
            prompt = parse_prompt(text, clock=clock, labels=context.labels, members=context.members)
            answer = await self.gemini.generate(system=PARSE_SYSTEM, prompt=prompt, schema=GeminiTask)
            if answer is not None:
                draft, source = _merge(answer, draft, clock), "gemini"
        return ParseResult(**draft.model_dump(), source=source, elapsed_ms=_elapsed_ms(started))

    async def analyze(self, subject: AnalysisSubject, *, tz: str | None, now: datetime | None) -> Analysis:
        started = time.perf_counter()
        clock = clock_for(tz, now)
        local = analyze_locally(
            title=subject.title,
            description=subject.description,
            labels_in_use=subject.labels_in_use,
            open_tasks=subject.open_tasks,
            clock=clock,
        )
        fields: dict[str, Any] = {**asdict(local), "source": "local"}
        if self.gemini is not None:
            candidates = similar_open_tasks(
                subject.title, subject.open_tasks, cutoff=CANDIDATE_CUTOFF, limit=CANDIDATES_MAX
            )
            prompt = analyze_prompt(
                title=subject.title,
                description=subject.description,
                clock=clock,
                labels=subject.labels_in_use,
                candidates=[(candidate.task_id, candidate.title) for candidate in candidates],
            )
            answer = await self.gemini.generate(system=ANALYZE_SYSTEM, prompt=prompt, schema=GeminiAnalysis)
            offered = {candidate.task_id: candidate for candidate in candidates}
            # Ids that were not offered are made up: the whole answer is then not trusted.
            if answer is not None and set(answer.duplicate_task_ids) <= offered.keys():
                fields = {
                    "priority": answer.priority,
                    "labels": answer.labels,
                    "due_at": _in_zone(answer.due_at, clock),
                    "subtasks": answer.subtasks,
                    "duplicates": [offered[task_id] for task_id in dict.fromkeys(answer.duplicate_task_ids)],
                    "source": "gemini",
                }
        return Analysis(**fields, elapsed_ms=_elapsed_ms(started))

    async def aclose(self) -> None:
        if self.gemini is not None:
            await self.gemini.aclose()

    async def breaker_state(self) -> dict[str, Any]:
        """For GET /api/health: {"state": "disabled"} without a key, else the shared breaker's state."""
        if self.gemini is None:
            return {"state": "disabled"}
        return await self.gemini.breaker.state()


# redis.asyncio and httpx connections belong to the event loop that opened them, so each loop (the web
# process has one; a test client may bring its own) gets its own engine.
_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AIEngine] = weakref.WeakKeyDictionary()


def engine_for_loop(settings: Settings) -> AIEngine:
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = _engines[loop] = AIEngine.from_settings(settings)
    return engine
