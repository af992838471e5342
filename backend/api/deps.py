"""Typed dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from backend.config import Settings, get_settings
from backend.db.models import User
from backend.db.session import get_sessionmaker
from backend.security import decode_access_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Not signed in, or the session expired: sign in again",
    headers={"WWW-Authenticate": "Bearer"},
)


def get_current_user(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        raise UNAUTHORIZED
    user_id = decode_access_token(token, settings=settings)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise UNAUTHORIZED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def expected_version(
    if_match: Annotated[
        str | None,
        Header(
            description='The task version the change is based on ("3", or its ETag form W/"3"); 409 when it '
            "is stale. `*` sets no condition."
        ),
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip()
    if value == "*":  # RFC 9110: any current version will do, which every existing task has
        return None
    value = value.removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 9:  # "²".isdigit() but int("²") fails
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail='If-Match must be a task version number, such as "3", or *'
        )
    return int(value)


IfMatch = Annotated[int | None, Depends(expected_version)]
