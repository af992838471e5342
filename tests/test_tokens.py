"""Access tokens under attack: whatever is wrong with a token (forged, re-signed, stale, malformed, naming
no one), the answer is the same 401 with `WWW-Authenticate: Bearer`, never a 500, on every signed-in route.

The `client` fixture raises any server error, so a token that made the server fail would fail here too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.config import DEV_SECRET_KEY, Settings, get_settings
from backend.security import active_session, create_access_token, decode_access_token
from tests.conftest import Account

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

UNAUTHORIZED = {"detail": "Not signed in, or the session expired: sign in again"}
SIGNED_IN_ROUTES = ["/api/users/me", "/api/projects"]


@pytest.fixture
def owner(make_account: Callable[..., Account]) -> Account:
    return make_account()


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode() if not isinstance(value, bytes) else value)


def hs256(signing_input: str, key: str) -> str:
    return b64(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())


def claims_for(user_id: int, **changes: Any) -> dict[str, Any]:
    """Valid claims for `user_id` (issued a minute ago, expiring in five), with `changes` applied; a
    change to `...` removes that claim."""
    claims: dict[str, Any] = {"sub": str(user_id), "iat": now() - 60, "exp": now() + 300}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not ...}


def signed(
    claims: dict[str, Any] | bytes, *, header: dict[str, Any] | None = None, key: str | None = None
) -> str:
    """A token signed with HMAC-SHA256 by `key` (the server's by default) whatever its header says; the
    payload may be raw bytes (JSON that json.dumps would not write)."""
    signing_input = f"{b64json(header or {'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims)}"
    return f"{signing_input}.{hs256(signing_input, get_settings().secret_key if key is None else key)}"


def get_me(client: TestClient, token: str | None, path: str = "/api/users/me") -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"} if token is not None else {})


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED


# The controls: a token is accepted when only the thing each attack below changes is right.


def test_the_issued_token_and_a_hand_made_one_are_accepted(client: TestClient, owner: Account) -> None:
    for token in (
        owner.token,
        signed(claims_for(owner.id)),
        jwt.encode(claims_for(owner.id), get_settings().secret_key),
    ):
        for path in SIGNED_IN_ROUTES:
            response = get_me(client, token, path)
            assert response.status_code == 200, (path, response.text)
    assert get_me(client, owner.token).json()["id"] == owner.id


def test_clock_skew_within_the_leeway_is_tolerated(client: TestClient, owner: Account) -> None:
    """TOKEN_LEEWAY_SECONDS (10 by default): a token that expired a moment ago, or whose iat is a moment
    ahead of this server's clock, still signs in."""
    leeway = get_settings().token_leeway_seconds
    assert leeway >= 4
    just_expired = signed(claims_for(owner.id, exp=now() - leeway // 2))
    issued_ahead = signed(claims_for(owner.id, iat=now() + leeway // 2))
    assert get_me(client, just_expired).status_code == 200
    assert get_me(client, issued_ahead).status_code == 200


def test_expiry_is_counted_from_the_configured_lifetime(owner: Account) -> None:
    settings = get_settings()
    issued = datetime.now(UTC)
    token = create_access_token(user_id=owner.id, settings=settings, now=issued)
    claims = jwt.decode(token, settings.secret_key, algorithms=[settings.algorithm])
    assert claims == {
        "sub": str(owner.id),
        "iat": int(issued.timestamp()),
        "exp": int(issued.timestamp()) + settings.access_token_expire_minutes * 60,
    }
    assert jwt.get_unverified_header(token)["alg"] == settings.algorithm == "HS256"


# Attacks on the signature and the algorithm


def _rsa_signed(claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256")


def _ec_signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def _unsigned(claims: dict[str, Any], alg: str) -> str:
    return f"{b64json({'alg': alg, 'typ': 'JWT'})}.{b64json(claims)}."


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64json(claims)}.{signature}"


SIGNATURE_ATTACKS: dict[str, Callable[[Account, Account], str]] = {
    "alg none": lambda me, _: jwt.encode(claims_for(me.id), None, algorithm="none"),
    "alg None, no signature": lambda me, _: _unsigned(claims_for(me.id), "None"),
    "alg NONE, no signature": lambda me, _: _unsigned(claims_for(me.id), "NONE"),
    "alg HS256, no signature": lambda me, _: _unsigned(claims_for(me.id), "HS256"),
    "HS384 with the server key": lambda me, _: jwt.encode(
        claims_for(me.id), get_settings().secret_key, "HS384"
    ),
    "HS512 with the server key": lambda me, _: jwt.encode(
        claims_for(me.id), get_settings().secret_key, "HS512"
    ),
    "RS256 with an attacker's key": lambda me, _: _rsa_signed(claims_for(me.id)),
    "ES256 with an attacker's key": lambda me, _: _ec_signed(claims_for(me.id)),
    # Algorithm confusion: an RS256 header over an HMAC made with the server's key as if it were public.
    "RS256 header, HMAC signature": lambda me, _: signed(claims_for(me.id), header={"alg": "RS256"}),
    "header alg as a list": lambda me, _: signed(claims_for(me.id), header={"alg": ["HS256"]}),
    "header without alg": lambda me, _: signed(claims_for(me.id), header={"typ": "JWT"}),
    "another user's id over my signature": lambda me, other: _swap_payload(me.token, claims_for(other.id)),
    "a longer expiry over my signature": lambda me, _: _swap_payload(
        me.token, claims_for(me.id, exp=now() + 10**6)
    ),
    "header changed to HS512 over my signature": lambda me, _: ".".join(
        [b64json({"alg": "HS512", "typ": "JWT"}), *me.token.split(".")[1:]]
    ),
    "signature removed": lambda me, _: me.token.rsplit(".", 1)[0] + ".",
    "signature of another token": lambda me, other: (
        me.token.rsplit(".", 1)[0] + "." + other.token.rsplit(".", 1)[1]
    ),
    "wrong secret": lambda me, _: signed(claims_for(me.id), key="some-other-key-that-is-long-enough-32"),
    "empty secret": lambda me, _: signed(claims_for(me.id), key=""),
}


@pytest.mark.parametrize("attack", SIGNATURE_ATTACKS)
def test_forged_and_re_signed_tokens_are_refused(
    client: TestClient, make_account: Callable[..., Account], attack: str
) -> None:
    me, other = make_account(), make_account()
    token = SIGNATURE_ATTACKS[attack](me, other)
    for path in SIGNED_IN_ROUTES:
        assert_refused(get_me(client, token, path))


# Time claims


def test_expired_beyond_the_leeway_is_refused(client: TestClient, owner: Account) -> None:
    leeway = get_settings().token_leeway_seconds
    for exp in (now() - leeway - 5, now() - 3600, 0, -(2**40)):
        assert_refused(get_me(client, signed(claims_for(owner.id, exp=exp))))


def test_the_issued_token_once_expired_is_refused(client: TestClient, owner: Account) -> None:
    settings = get_settings()
    long_ago = datetime.fromtimestamp(
        now() - settings.access_token_expire_minutes * 60 - settings.token_leeway_seconds - 5, UTC
    )
    assert_refused(get_me(client, create_access_token(user_id=owner.id, settings=settings, now=long_ago)))


def test_issued_in_the_future_beyond_the_leeway_is_refused(client: TestClient, owner: Account) -> None:
    leeway = get_settings().token_leeway_seconds
    for iat in (now() + leeway + 30, now() + 86_400, 10**30):
        assert_refused(get_me(client, signed(claims_for(owner.id, iat=iat, exp=now() + 10**7))))


def test_not_before_in_the_future_is_refused(client: TestClient, owner: Account) -> None:
    assert_refused(get_me(client, signed(claims_for(owner.id, nbf=now() + 3600))))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_a_missing_claim_is_refused(client: TestClient, owner: Account, claim: str) -> None:
    assert_refused(get_me(client, signed(claims_for(owner.id, **{claim: ...}))))
    assert_refused(get_me(client, signed(claims_for(owner.id, **{claim: None}))))


# Malformed claims, signed with the server's key: only what create_access_token writes is accepted.

BAD_SUBJECTS = {
    "integer": 1,
    "float": 1.0,
    "list": ["1"],
    "object": {"id": 1},
    "boolean": True,
    "empty": "",
    "letters": "abc",
    "decimal point": "1.0",
    "sign": "+1",
    "negative": "-1",
    "hex": "0x1",
    "exponent": "1e3",
    "space": " 1",
    "newline": "1\n",
    "underscore": "1_0",
    "zero": "0",
    "huge": "9" * 30,
    "past bigint": str(2**63),
    "arabic-indic digit": "\u0663",
    "fullwidth digit": "\uff11",
    "superscript": "\u00b2",
    "devanagari digits": "\u0967\u0968",
}


@pytest.mark.parametrize("subject", BAD_SUBJECTS)
def test_a_subject_that_is_not_a_plain_user_id_is_refused(
    client: TestClient, owner: Account, subject: str
) -> None:
    assert_refused(get_me(client, signed(claims_for(owner.id, sub=BAD_SUBJECTS[subject]))))


BAD_TIMES: dict[str, dict[str, Any] | bytes] = {
    "exp as a string": {"exp": "99999999999"},
    "iat as a string": {"iat": "0"},
    "exp in unicode digits": {"exp": "\u0669" * 11},
    "iat in unicode digits": {"iat": "\u0661"},
    "exp as a float": {"exp": 99_999_999_999.5},
    "exp true": {"exp": True},
    "iat false": {"iat": False},
    "exp as a list": {"exp": [99_999_999_999]},
    "exp far beyond any date": {"exp": 10**400},
    "exp infinite": b'{"sub": "SUB", "iat": 1, "exp": 1e400}',
    "exp NaN": b'{"sub": "SUB", "iat": 1, "exp": NaN}',
    "exp with 5000 digits": b'{"sub": "SUB", "iat": 1, "exp": 1' + b"0" * 5000 + b"}",
    "iat negative huge": {"iat": -(10**30)},
}


@pytest.mark.parametrize("case", BAD_TIMES)
def test_malformed_times_are_refused(client: TestClient, owner: Account, case: str) -> None:
    change = BAD_TIMES[case]
    if isinstance(change, bytes):
        payload: dict[str, Any] | bytes = change.replace(b"SUB", str(owner.id).encode())
    else:
        payload = claims_for(owner.id, **change)
    assert_refused(get_me(client, signed(payload)))


# Tokens that are not tokens, and tokens that name no one


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


GARBAGE = {
    "not a jwt": "not.a.jwt",
    "one part": "abc",
    "two parts": "abc.def",
    "four parts": "a.b.c.d",
    "empty parts": "..",
    "payload is a list": None,  # built in the test: needs the key
    "payload not json": None,
    "header not json": f"{b64(b'not json')}.{b64json({})}.{b64(b'sig')}",
    "header deeply nested": f"{b64(_nested(100_000))}.{b64json({})}.{b64(b'sig')}",
    "payload deeply nested": None,
    "non-ascii": "ä.ö.ü",
    "very long": "a" * 6000 + ".b.c",
}


@pytest.mark.parametrize("case", GARBAGE)
def test_garbage_tokens_are_refused(client: TestClient, owner: Account, case: str) -> None:
    token = GARBAGE[case]
    if case == "payload is a list":
        token = signed([str(owner.id)])  # type: ignore[arg-type]
    elif case == "payload not json":
        token = signed(b"sub=1")
    elif case == "payload deeply nested":
        token = signed(_nested(100_000))
    assert token is not None
    if not token.isascii():  # HTTP headers are bytes; send the UTF-8 bytes as a browser would
        response = client.get("/api/users/me", headers={"Authorization": b"Bearer " + token.encode()})  # type: ignore[dict-item]
    else:
        response = get_me(client, token)
    assert_refused(response)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "bearer",
        "Bearerabc.def.ghi",
    ],
)
def test_missing_or_other_schemes_are_refused(client: TestClient, owner: Account, header: str | None) -> None:
    response = client.get("/api/users/me", headers={"Authorization": header} if header is not None else {})
    assert_refused(response)


def test_a_token_in_a_query_string_or_cookie_is_not_read(client: TestClient, owner: Account) -> None:
    assert_refused(client.get("/api/users/me", params={"access_token": owner.token}))
    client.cookies.set("access_token", owner.token)
    try:
        assert_refused(client.get("/api/users/me"))
    finally:
        client.cookies.clear()


def test_the_scheme_name_is_case_insensitive(client: TestClient, owner: Account) -> None:
    """RFC 7235: auth-scheme names are case-insensitive, so "bearer <token>" signs in too."""
    response = client.get("/api/users/me", headers={"Authorization": f"bearer {owner.token}"})
    assert response.status_code == 200


def test_a_deleted_users_token_is_refused(client: TestClient, db: Session, owner: Account) -> None:
    assert get_me(client, owner.token).status_code == 200
    db.execute(text("DELETE FROM users WHERE id = :id"), {"id": owner.id})
    db.commit()
    for path in SIGNED_IN_ROUTES:
        assert_refused(get_me(client, owner.token, path))


@pytest.mark.parametrize("user_id", [2**62, 10**18 - 1])
def test_a_well_formed_token_naming_no_user_is_refused(client: TestClient, user_id: int) -> None:
    assert_refused(get_me(client, signed(claims_for(user_id))))


# decode_access_token itself (the Reflex app calls it on the token kept in the browser)


def test_decode_refuses_what_no_http_header_can_carry(owner: Account) -> None:
    settings = get_settings()
    assert decode_access_token(owner.token, settings=settings) == owner.id
    for token in ["\ud800.a.b", owner.token + "\ud800", "", "\x00"]:
        assert decode_access_token(token, settings=settings) is None


def test_a_token_signed_with_another_key_never_verifies(owner: Account) -> None:
    """A deployment with its own SECRET_KEY refuses tokens signed with the built-in development key (or any
    other), and the other way round."""
    production = Settings(AGORAX_ENV="production", SECRET_KEY="p" * 48)  # type: ignore[call-arg]
    development = Settings(AGORAX_ENV="development", SECRET_KEY="")  # type: ignore[call-arg]
    assert development.secret_key == DEV_SECRET_KEY
    for mine, theirs in ((production, development), (development, production)):
        token = create_access_token(user_id=owner.id, settings=theirs)
        assert decode_access_token(token, settings=theirs) == owner.id
        assert decode_access_token(token, settings=mine) is None


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_the_configured_algorithm_is_the_only_one_accepted(owner: Account, algorithm: str) -> None:
    """With ALGORITHM=HS512 configured, HS512 tokens verify and HS256 ones (the default) no longer do."""
    settings = Settings(ALGORITHM=algorithm, SECRET_KEY=get_settings().secret_key)  # type: ignore[call-arg]
    token = create_access_token(user_id=owner.id, settings=settings)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert decode_access_token(token, settings=settings) == owner.id
    assert decode_access_token(token, settings=get_settings()) is None
    assert decode_access_token(owner.token, settings=settings) is None


# The UI's sliding session


def test_a_token_in_the_first_half_of_its_life_is_kept(owner: Account) -> None:
    settings = get_settings()
    issued = datetime.now(UTC) - timedelta(minutes=settings.access_token_expire_minutes * 0.4)
    token = create_access_token(user_id=owner.id, settings=settings, now=issued)
    assert active_session(token, settings=settings) == (owner.id, token)


def test_a_token_past_half_its_life_is_renewed(owner: Account) -> None:
    settings = get_settings()
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    issued = datetime.now(UTC) - lifetime * 0.6
    session = active_session(
        create_access_token(user_id=owner.id, settings=settings, now=issued), settings=settings
    )
    assert session is not None and session.user_id == owner.id
    claims = jwt.decode(session.token, settings.secret_key, algorithms=[settings.algorithm])
    assert claims["exp"] - claims["iat"] == lifetime.total_seconds()
    assert claims["iat"] >= int(datetime.now(UTC).timestamp()) - 5


@pytest.mark.parametrize("case", ["expired", "forged", "garbage"])
def test_a_token_that_does_not_verify_is_never_renewed(owner: Account, case: str) -> None:
    settings = get_settings()
    token = {
        "expired": create_access_token(
            user_id=owner.id, settings=settings, now=datetime.now(UTC) - timedelta(days=1)
        ),
        "forged": create_access_token(
            user_id=owner.id, settings=settings.model_copy(update={"secret_key": "x" * 64})
        ),
        "garbage": "not.a.token",
    }[case]
    assert active_session(token, settings=settings) is None
