"""The AI endpoints: quick-add parsing, autocomplete and task analysis. Every answer says its `source`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.ai import service
from backend.ai.engine import AIEngine, engine_for_loop
from backend.ai.schemas import (
    Analysis,
    AnalyzeRequest,
    ParseRequest,
    ParseResult,
    SuggestLimit,
    SuggestQuery,
    SuggestResult,
)
from backend.api.deps import CurrentUser, SessionDep, SettingsDep
from backend.api.errors import error_responses
from backend.schemas import IdRef

router = APIRouter(prefix="/ai", tags=["ai"])


async def get_engine(settings: SettingsDep) -> AIEngine:
    return engine_for_loop(settings)


EngineDep = Annotated[AIEngine, Depends(get_engine)]


@router.post("/parse", responses=error_responses(400, 401, 404))
async def parse(session: SessionDep, user: CurrentUser, engine: EngineDep, data: ParseRequest) -> ParseResult:
    return await service.parse_task(session, user_id=user.id, request=data, engine=engine)


@router.get("/suggest", responses=error_responses(401, 404))
def suggest(
    session: SessionDep,
    user: CurrentUser,
    project_id: Annotated[IdRef, Query()],
    q: Annotated[SuggestQuery, Query()],
    limit: Annotated[SuggestLimit, Query()] = 8,
) -> SuggestResult:
    return service.suggest_titles(session, user_id=user.id, project_id=project_id, query=q, limit=limit)


@router.post("/analyze", responses=error_responses(400, 401, 404))
async def analyze(
    session: SessionDep, user: CurrentUser, engine: EngineDep, data: AnalyzeRequest
) -> Analysis:
    return await service.analyze_task(session, user_id=user.id, request=data, engine=engine)
