"""Accounts: registration and sign-in."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import User
from backend.schemas import Token, UserCreate, UserPublic
from backend.security import create_access_token, hash_password, signin_throttle, verify_password
from backend.services.errors import Conflict, InvalidCredentials, TooManyAttempts


def find_user_by_username(session: Session, *, username: str) -> User | None:
    # No username holds NUL or a lone surrogate, and PostgreSQL refuses both in a query (sign-in form).
    if "\x00" in username or not _encodes(username):
        return None
    return session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def issue_token(
    session: Session, *, username: str, password: str, settings: Settings, client_address: str | None = None
) -> Token:
    """Sign in. Failures are counted per username and per client address (when known); past either limit
    the answer is TooManyAttempts, before any password is checked, until the oldest failure is out of the
    window. The same holds for usernames that do not exist, so the limit tells nothing about accounts."""
    throttle = signin_throttle(settings)
    wait = throttle.retry_after(username=username, address=client_address)
    if wait is not None:
        raise TooManyAttempts(
            f"Too many failed sign-in attempts: try again in {wait} seconds", retry_after=wait
        )
    try:
        user = authenticate(session, username=username, password=password)
    except InvalidCredentials:
        throttle.record_failure(username=username, address=client_address)
        raise
    return Token(
        access_token=create_access_token(user_id=user.id, settings=settings),
        expires_in=settings.access_token_expire_minutes * 60,
    )
