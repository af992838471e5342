"""Password hashing (bcrypt) and access tokens (JWT, algorithm pinned when decoding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import jwt

from backend.config import Settings

# bcrypt reads at most 72 bytes; longer passwords are refused (not truncated) so that two different
# passwords can never unlock the same account.
PASSWORD_MAX_BYTES = 72
PASSWORD_MIN_CHARS = 8

# Verifying against this keeps the answer time the same for unknown users and wrong passwords.
_DUMMY_HASH = bcrypt.hashpw(b"agorax-timing-equaliser", bcrypt.gensalt()).decode()


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode()


def verify_password(password: str, password_hash: str | None) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > PASSWORD_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, (password_hash or _DUMMY_HASH).encode()) and password_hash is not None
    except ValueError:
        return False


def create_access_token(*, user_id: int, settings: Settings, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=settings.access_token_expire_minutes)).timestamp()),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=settings.algorithm)


def decode_access_token(token: str, *, settings: Settings) -> int | None:
    """The user id a valid token names, or None for any token that does not verify."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[settings.algorithm],
            options={"require": ["exp", "iat", "sub"]},
            leeway=settings.token_leeway_seconds,
        )
    except jwt.PyJWTError:
        return None
    subject = payload.get("sub")
    # ASCII digits only, and within the id column's range (a longer number cannot name a user).
    if not isinstance(subject, str) or not (subject.isascii() and subject.isdigit()) or len(subject) > 18:
        return None
    return int(subject)
