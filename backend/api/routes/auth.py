from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from backend.api.deps import CurrentUser, SessionDep, SettingsDep
from backend.schemas import Token, UserCreate, UserPublic
from backend.services import users

router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=status.HTTP_201_CREATED)
def register(session: SessionDep, data: UserCreate) -> UserPublic:
    return users.register_user(session, data=data)


@router.post("/auth/token")
def token(
    session: SessionDep, settings: SettingsDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    return users.issue_token(session, username=form.username, password=form.password, settings=settings)


@router.get("/users/me")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
