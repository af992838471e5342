"""Passwords and sign-in: bcrypt's 72-byte limit never lets two passwords open one account, an unknown
username and a wrong password get the same answer after the same work, and repeated failures per username
or per client address are throttled (429 with Retry-After) in the real Redis at REDIS_URL.

Every test signs in with its own usernames and client addresses, so the throttle's counters (which live
in Redis for the window, across test runs) never collide.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import pytest
import redis
from fastapi.testclient import TestClient

from backend.api.main import app
from backend.config import Settings, get_settings
from backend.security import (
    BCRYPT_ROUNDS,
    DUMMY_HASH,
    PASSWORD_MAX_BYTES,
    client_network,
    hash_password,
    verify_password,
)
from tests.conftest import unique

WRONG = {"detail": "Incorrect username or password"}


@pytest.fixture
def settings_override() -> Iterator[Callable[..., Settings]]:
    """Serve the API with other settings (smaller limits, another Redis) for one test."""

    def use(**values: Any) -> Settings:
        settings = Settings(**values)
        app.dependency_overrides[get_settings] = lambda: settings
        return settings

    yield use
    app.dependency_overrides.pop(get_settings, None)


def fresh_name() -> str:
    """A username no earlier run used (the throttle's counters outlive the test database)."""
    return f"{unique('s')}{uuid.uuid4().hex[:8]}"


def fresh_address() -> str:
    """A client address (in the IPv6 documentation range) no earlier run used."""
    return f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"


def client_at(address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def register(client: TestClient, password: str, username: str | None = None) -> str:
    name = username or fresh_name()
    response = client.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    assert response.status_code == 201, response.text
    return name


def sign_in(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": password})


# bcrypt's 72-byte limit


AT_THE_LIMIT = {
    "ascii": "a" * 72,
    "two-byte last": "a" * 70 + "é",
    "three-byte": "€" * 24,
    "four-byte": "😀" * 18,
    "mixed": "pässwörd€😀" * 4 + "abcd",
}
OVER_THE_LIMIT = {
    "ascii": "a" * 73,
    "two-byte last": "a" * 71 + "é",  # 73 bytes in 72 characters
    "three-byte": "€" * 24 + "a",
    "four-byte last": "a" * 69 + "😀",  # 73 bytes in 70 characters
    "all two-byte": "é" * 37,
}


@pytest.mark.parametrize("password", AT_THE_LIMIT.values(), ids=AT_THE_LIMIT)
def test_passwords_of_up_to_72_utf8_bytes_are_accepted(
    client: TestClient, cheap_password_hashing: None, password: str
) -> None:
    assert len(password.encode()) == PASSWORD_MAX_BYTES
    name = register(client, password)
    assert sign_in(client, name, password).status_code == 200


@pytest.mark.parametrize("password", OVER_THE_LIMIT.values(), ids=OVER_THE_LIMIT)
def test_passwords_over_72_utf8_bytes_are_refused_at_registration(client: TestClient, password: str) -> None:
    assert len(password.encode()) > PASSWORD_MAX_BYTES
    name = fresh_name()
    response = client.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "password"]]
    assert "72 bytes" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("password", AT_THE_LIMIT.values(), ids=AT_THE_LIMIT)
def test_no_longer_password_opens_an_account_with_a_72_byte_one(
    client: TestClient,
    settings_override: Callable[..., Settings],
    cheap_password_hashing: None,
    password: str,
) -> None:
    """bcrypt itself would ignore everything past byte 72: sign-in refuses such passwords instead of
    truncating them, so P + anything is not P."""
    settings_override(SIGNIN_MAX_FAILURES_PER_USERNAME=10)
    name = register(client, password)
    for longer in (password + "x", password + "é", password + "😀", password + "\x00", password + password):
        response = sign_in(client, name, longer)
        assert response.status_code == 401, (longer, response.text)
        assert response.json() == WRONG
    assert sign_in(client, name, password[:-1]).status_code == 401
    assert sign_in(client, name, password).status_code == 200


def test_verify_password_never_truncates() -> None:
    stored = hash_password("k" * 72)
    assert verify_password("k" * 72, stored)
    assert not verify_password("k" * 73, stored)
    assert not verify_password("k" * 72 + "\x00", stored)
    assert not verify_password("k" * 71, stored)
    assert not verify_password("\ud800", stored)  # what no HTTP form carries, but the UI might pass on


def test_nul_in_a_password_is_refused_at_registration(client: TestClient) -> None:
    name = fresh_name()
    response = client.post(
        "/api/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "abcdefgh\x00ijk"},
    )
    assert response.status_code == 422


def test_oversized_sign_in_fields_are_422_not_work(client: TestClient) -> None:
    """The form is bounded: a megabyte of password is refused before any hashing or lookup."""
    response = sign_in(client, fresh_name(), "p" * 1_000_000)
    assert response.status_code == 422
    assert sign_in(client, "u" * 10_000, "password").status_code == 422
    # Within the bounds a long password is just a wrong one (no stored password is over 72 bytes).
    assert sign_in(client, fresh_name(), "p" * 1000).json() == WRONG


# Unknown user and wrong password: same answer, same work


def test_unknown_user_and_wrong_password_answer_alike(
    client: TestClient, cheap_password_hashing: None
) -> None:
    name = register(client, "right password")
    wrong = sign_in(client, name, "wrong password")
    unknown = sign_in(client, fresh_name(), "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == WRONG
    assert wrong.content == unknown.content
    assert {k: v for k, v in wrong.headers.items() if k != "date"} == {
        k: v for k, v in unknown.headers.items() if k != "date"
    }


@pytest.fixture
def checkpw_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hashes bcrypt.checkpw is asked to check against (the real checkpw still runs)."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def recording(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", recording)
    return calls


def test_an_unknown_user_costs_one_full_bcrypt_check(client: TestClient, checkpw_calls: list[bytes]) -> None:
    """Structural: the unknown-user path runs bcrypt once against a hash of the same cost as a stored one,
    exactly like a wrong password."""
    name = register(client, "right password")
    checkpw_calls.clear()
    assert sign_in(client, name, "wrong password").status_code == 401
    assert sign_in(client, fresh_name(), "wrong password").status_code == 401
    assert sign_in(client, name + "\x00", "wrong password").status_code == 401  # not even a possible name
    assert len(checkpw_calls) == 3
    stored, dummy, dummy_again = checkpw_calls
    assert dummy == dummy_again == DUMMY_HASH.encode() != stored
    assert stored.split(b"$")[2] == dummy.split(b"$")[2] == f"{BCRYPT_ROUNDS:02d}".encode()
    assert BCRYPT_ROUNDS >= 12


def test_unknown_user_and_wrong_password_take_as_long(client: TestClient) -> None:
    """The same, timed (generous bounds: both are one bcrypt check at 12 rounds, ~0.25 s here)."""
    name = register(client, "right password")

    def timed(username: str) -> float:
        started = time.perf_counter()
        assert sign_in(client, username, "wrong password").status_code == 401
        return time.perf_counter() - started

    wrong = statistics.median(timed(name) for _ in range(3))
    unknown = statistics.median(timed(fresh_name()) for _ in range(3))
    assert 1 / 3 < unknown / wrong < 3, (unknown, wrong)


# Throttling


def test_the_documented_limits_are_the_defaults() -> None:
    fields = Settings.model_fields
    assert fields["signin_max_failures_per_username"].default == 5
    assert fields["signin_max_failures_per_address"].default == 20
    assert fields["signin_failure_window_seconds"].default == 900
    assert get_settings().redis_url.startswith("redis://")


def assert_throttled(response: Any, window: int) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert response.json() == {
        "detail": f"Too many failed sign-in attempts: try again in {retry_after} seconds"
    }
    return retry_after


def test_five_failures_for_a_username_lock_it_for_the_window(
    client: TestClient, cheap_password_hashing: None
) -> None:
    """The defaults: the 6th attempt within 15 minutes is refused, even with the right password and
    whatever the case of the name; other usernames are unaffected."""
    name = register(client, "right password")
    for _ in range(5):
        assert sign_in(client, name, "wrong password").json() == WRONG
    for attempt in (name, name.upper(), f"  {name.lower()} "):
        assert_throttled(sign_in(client, attempt, "wrong password"), 900)
        assert_throttled(sign_in(client, attempt, "right password"), 900)
    other = register(client, "right password")
    assert sign_in(client, other, "right password").status_code == 200


def test_an_unknown_username_is_throttled_the_same_way(client: TestClient) -> None:
    """No enumeration through the limit: a name nobody has gets the same 401s, then the same 429."""
    name = fresh_name()
    for _ in range(5):
        assert sign_in(client, name, "wrong password").json() == WRONG
    assert_throttled(sign_in(client, name, "wrong password"), 900)


def test_successful_sign_ins_do_not_count(client: TestClient, cheap_password_hashing: None) -> None:
    name = register(client, "right password")
    for _ in range(8):
        assert sign_in(client, name, "right password").status_code == 200
    for _ in range(4):
        assert sign_in(client, name, "wrong password").status_code == 401
    assert sign_in(client, name, "right password").status_code == 200
    assert sign_in(client, name, "wrong password").status_code == 401  # the 5th failure
    assert_throttled(sign_in(client, name, "right password"), 900)


def test_failures_from_one_address_lock_that_address(
    settings_override: Callable[..., Settings], cheap_password_hashing: None
) -> None:
    """Per address (4 here): spread over many usernames, the failures still add up; another address is
    unaffected, and so is the username counter of a name tried only once."""
    settings_override(SIGNIN_MAX_FAILURES_PER_ADDRESS=4)
    address = fresh_address()
    with client_at(address) as attacker, client_at(fresh_address()) as bystander:
        victim = register(bystander, "right password")
        for _ in range(4):
            assert sign_in(attacker, fresh_name(), "guess").status_code == 401
        assert_throttled(sign_in(attacker, fresh_name(), "guess"), 900)
        assert_throttled(sign_in(attacker, victim, "right password"), 900)
        assert sign_in(bystander, victim, "right password").status_code == 200


def test_an_ipv6_client_is_counted_by_its_64(
    settings_override: Callable[..., Settings], cheap_password_hashing: None
) -> None:
    settings_override(SIGNIN_MAX_FAILURES_PER_ADDRESS=3)
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    for host in ("::1", "::2", ":abcd:ef01:2345:6789"):
        with client_at(prefix + host) as client:
            assert sign_in(client, fresh_name(), "guess").status_code == 401
    with client_at(prefix + ":ffff:ffff:ffff:ffff") as client:
        assert_throttled(sign_in(client, fresh_name(), "guess"), 900)
    with client_at(prefix[:-1] + ("0" if prefix[-1] != "0" else "1") + "::1") as neighbour:
        assert sign_in(neighbour, fresh_name(), "guess").status_code == 401


def test_client_network() -> None:
    assert client_network("203.0.113.7") == "203.0.113.7"
    assert client_network("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    for not_an_address in (None, "", "testclient", "unix:/run/agorax.sock", "203.0.113.7:80"):
        assert client_network(not_an_address) is None


def test_retry_after_is_when_the_oldest_failure_leaves_the_window(
    client: TestClient, settings_override: Callable[..., Settings], cheap_password_hashing: None
) -> None:
    settings_override(SIGNIN_MAX_FAILURES_PER_USERNAME=2, SIGNIN_FAILURE_WINDOW_SECONDS=2)
    name = register(client, "right password")
    for _ in range(2):
        assert sign_in(client, name, "wrong password").status_code == 401
    retry_after = assert_throttled(sign_in(client, name, "right password"), 2)
    time.sleep(retry_after + 0.2)
    assert sign_in(client, name, "right password").status_code == 200


def test_the_counters_live_in_redis(client: TestClient) -> None:
    name = fresh_name()
    store = redis.Redis.from_url(get_settings().redis_url)
    try:
        before = set(store.scan_iter("LIMITS:*agorax-signin-user*"))
        assert sign_in(client, name, "wrong password").status_code == 401
        created = set(store.scan_iter("LIMITS:*agorax-signin-user*")) - before
        assert len(created) == 1
        (key,) = created
        assert 0 < store.ttl(key) <= 900
    finally:
        store.close()


def test_without_redis_sign_in_still_works_unthrottled(
    client: TestClient, settings_override: Callable[..., Settings], cheap_password_hashing: None
) -> None:
    """A Redis that does not answer must not take sign-in down: the throttle steps aside (and logs it)."""
    name = register(client, "right password")
    settings_override(REDIS_URL="redis://127.0.0.1:1/0", SIGNIN_MAX_FAILURES_PER_USERNAME=1)
    started = time.monotonic()
    for _ in range(3):
        assert sign_in(client, name, "wrong password").status_code == 401
    assert sign_in(client, name, "right password").status_code == 200
    assert time.monotonic() - started < 10
