from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status

from backend.api.deps import CurrentUser, SessionDep, SettingsDep
from backend.api.errors import error_responses
from backend.schemas import Token, UserCreate, UserPublic
from backend.services import users

router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 409))
def register(session: SessionDep, data: UserCreate) -> UserPublic:
    return users.register_user(session, data=data)


@router.post("/auth/token", responses=error_responses(401, 429))
def token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> Token:
    """OAuth2 password flow (form fields). Repeated failures for one username or from one address are
    answered 429 with Retry-After (SIGNIN_MAX_FAILURES_PER_USERNAME / _PER_ADDRESS in
    SIGNIN_FAILURE_WINDOW_SECONDS)."""
    return users.issue_token(
        session,
        username=username,
        password=password,
        settings=settings,
        client_address=request.client.host if request.client else None,
    )


@router.get("/users/me", responses=error_responses(401, validates=False))
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
