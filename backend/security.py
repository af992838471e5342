"""Password hashing (bcrypt), access tokens (JWT, algorithm pinned when decoding) and sign-in throttling."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import bcrypt
import jwt
import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from backend.config import Settings

log = structlog.get_logger(__name__)

# bcrypt reads at most 72 bytes; longer passwords are refused (not truncated) so that two different
# passwords can never unlock the same account.
PASSWORD_MAX_BYTES = 72
PASSWORD_MIN_CHARS = 8
BCRYPT_ROUNDS = 12

# Verifying against this keeps the answer time the same for unknown users and wrong passwords: it has the
# same cost as every stored hash.
DUMMY_HASH = bcrypt.hashpw(b"agorax-timing-equaliser", bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether `password` is the one `password_hash` was made from. No hash (an unknown user) still runs
    bcrypt, against DUMMY_HASH. A password over 72 bytes is never truncated to match: it is wrong."""
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no stored password holds one
        encoded = b""
        password_hash = None
    if len(encoded) > PASSWORD_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, (password_hash or DUMMY_HASH).encode()) and password_hash is not None
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
    """The user id a valid token names, or None for any token that does not verify.

    Valid means: signed with SECRET_KEY by the configured ALGORITHM (the header's `alg` is never trusted:
    `none`, another HMAC size or an RSA/EC algorithm are refused), `exp`, `iat` and `sub` present, `exp`
    not passed and `iat` not in the future (each give or take TOKEN_LEEWAY_SECONDS of clock skew), the
    times integers and `sub` a plain decimal user id, as create_access_token writes them.
    """
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[settings.algorithm],
            options={"require": ["exp", "iat", "sub"]},
            leeway=settings.token_leeway_seconds,
        )
    except (jwt.PyJWTError, ValueError):  # ValueError: a str PyJWT cannot encode (a lone surrogate)
        return None
    # PyJWT also takes "123", 1.5 and 10**400; only plain integers in JSON's safe range are times here.
    if not all(type(payload[claim]) is int and 0 <= payload[claim] < 2**53 for claim in ("exp", "iat")):
        return None
    subject = payload["sub"]
    # ASCII digits only, and within the id column's range (a longer number cannot name a user).
    if not isinstance(subject, str) or not (subject.isascii() and subject.isdigit()) or len(subject) > 18:
        return None
    return int(subject)


class ActiveSession(NamedTuple):
    user_id: int
    token: str  # the token to keep using: the one given, or its renewal


def active_session(token: str, *, settings: Settings, now: datetime | None = None) -> ActiveSession | None:
    """For the UI, which holds a token as long as a board stays open: a token that verifies and has used up
    half its lifetime is swapped for a fresh one, so an active user stays signed in while an idle one's
    session still ends. None when the token does not verify."""
    user_id = decode_access_token(token, settings=settings)
    if user_id is None:
        return None
    claims = jwt.decode(token, options={"verify_signature": False})  # verified just above
    issued, expires = claims["iat"], claims["exp"]
    moment = now or datetime.now(UTC)
    if moment.timestamp() - issued < (expires - issued) / 2:
        return ActiveSession(user_id=user_id, token=token)
    return ActiveSession(
        user_id=user_id, token=create_access_token(user_id=user_id, settings=settings, now=now)
    )


class SignInThrottle:
    """Failed sign-ins counted in Redis (a moving window, by the `limits` library), per username (any case)
    and per client address. Once either count reaches its limit, retry_after() says how long to wait."""

    def __init__(self, *, redis_url: str, per_username: int, per_address: int, window_seconds: int) -> None:
        # Short timeouts: a Redis that does not answer must not hold sign-in up (see retry_after).
        storage = storage_from_string(
            redis_url, wrap_exceptions=True, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._username = RateLimitItemPerSecond(per_username, window_seconds, namespace="agorax-signin-user")
        self._address = RateLimitItemPerSecond(per_address, window_seconds, namespace="agorax-signin-addr")

    def _counters(self, username: str, address: str | None) -> list[tuple[RateLimitItem, str]]:
        # Hashed: any length or character a sign-in form may carry makes a short, plain Redis key.
        name = hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
        counters = [(self._username, name)]
        network = client_network(address)
        if network is not None:
            counters.append((self._address, network))
        return counters

    def retry_after(self, *, username: str, address: str | None) -> int | None:
        """Whole seconds until a sign-in attempt is allowed again, or None when it is allowed now. When
        Redis cannot be reached, sign-in goes on unthrottled (and says so in the log)."""
        waits = []
        try:
            for item, key in self._counters(username, address):
                if not self._limiter.test(item, key):
                    reset = self._limiter.get_window_stats(item, key).reset_time
                    waits.append(max(1, math.ceil(reset - time.time())))
        except StorageError as exc:
            log.warning("signin_throttle_unavailable", error=repr(exc.storage_error))
            return None
        return max(waits) if waits else None

    def record_failure(self, *, username: str, address: str | None) -> None:
        try:
            for item, key in self._counters(username, address):
                self._limiter.hit(item, key)
        except StorageError as exc:
            log.warning("signin_throttle_unavailable", error=repr(exc.storage_error))


def client_network(address: str | None) -> str | None:
    """What the per-address count is keyed by: the IPv4 address, or the /64 an IPv6 client is given (it
    can pick any address inside it). None for anything that is no IP address (a Unix socket, a test
    client's "testclient"), which is then counted per username only."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@lru_cache(maxsize=8)
def _throttle(redis_url: str, per_username: int, per_address: int, window_seconds: int) -> SignInThrottle:
    return SignInThrottle(
        redis_url=redis_url, per_username=per_username, per_address=per_address, window_seconds=window_seconds
    )


def signin_throttle(settings: Settings) -> SignInThrottle:
    """The process's throttle for these settings (one Redis connection pool)."""
    return _throttle(
        settings.redis_url,
        settings.signin_max_failures_per_username,
        settings.signin_max_failures_per_address,
        settings.signin_failure_window_seconds,
    )
