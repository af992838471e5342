"""Accounts: registration and sign-in."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import User
from backend.schemas import Token, UserCreate, UserPublic
from backend.security import create_access_token, hash_password, verify_password
from backend.services.errors import Conflict, InvalidCredentials


def find_user_by_username(session: Session, *, username: str) -> User | None:
    if "\x00" in username:  # no username holds NUL, and PostgreSQL refuses it in a query (sign-in form)
        return None
    return session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def get_user(session: Session, *, user_id: int) -> UserPublic | None:
    user = session.get(User, user_id)
    return None if user is None else UserPublic.model_validate(user)


def register_user(session: Session, *, data: UserCreate) -> UserPublic:
    if find_user_by_username(session, username=data.username) is not None:
        raise Conflict("That username is taken")
    user = User(
        username=data.username,
        email=str(data.email),
        display_name=data.display_name or data.username,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race for the name
        session.rollback()
        raise Conflict("That username is taken") from exc
    return UserPublic.model_validate(user)


def authenticate(session: Session, *, username: str, password: str) -> User:
    user = find_user_by_username(session, username=username)
    # verify_password runs bcrypt even for unknown users, so both failures take as long.
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise InvalidCredentials("Incorrect username or password")
    return user


def issue_token(session: Session, *, username: str, password: str, settings: Settings) -> Token:
    user = authenticate(session, username=username, password=password)
    return Token(
        access_token=create_access_token(user_id=user.id, settings=settings),
        expires_in=settings.access_token_expire_minutes * 60,
    )
