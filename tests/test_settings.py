"""Settings that guard the deployment: the signing key (refused outside development when missing or a
placeholder; never empty), the token algorithm and leeway, the sign-in limits, and CORS."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from backend.api.main import app
from backend.config import DEV_SECRET_KEY, Settings, get_settings
from backend.security import create_access_token, decode_access_token

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says which key and environment it means (and never reads the repo's .env: _env_file)."""
    for name in ("SECRET_KEY", "AGORAX_ENV", "ALGORITHM", "TOKEN_LEEWAY_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


BAD_KEYS = {
    "missing": None,
    "empty": "",
    "blank": "   ",
    "change-me": "change-me",
    "CHANGEME": "CHANGEME",
    "secret": "secret",
    "padded placeholder": "  Secret  ",
    "the built-in development key": DEV_SECRET_KEY,
    "31 characters": "k" * 31,
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS)
def test_production_refuses_a_missing_or_placeholder_key(key: str | None) -> None:
    values = {"AGORAX_ENV": "production"} | ({"SECRET_KEY": key} if key is not None else {})
    with pytest.raises(ValidationError, match="SECRET_KEY is missing, a placeholder or shorter than 32 char"):
        settings(**values)


@pytest.mark.parametrize("key", ["change-me", ""])
def test_production_refuses_it_from_the_environment_too(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("AGORAX_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        settings()


@pytest.mark.parametrize(("algorithm", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_production_wants_a_key_as_long_as_the_hash(algorithm: str, minimum: int) -> None:
    with pytest.raises(ValidationError, match=f"shorter than {minimum} characters"):
        settings(AGORAX_ENV="production", ALGORITHM=algorithm, SECRET_KEY="k" * (minimum - 1))
    assert (
        settings(AGORAX_ENV="production", ALGORITHM=algorithm, SECRET_KEY="k" * minimum).algorithm
        == algorithm
    )


def test_production_accepts_a_random_key() -> None:
    key = secrets.token_urlsafe(48)
    configured = settings(AGORAX_ENV="production", SECRET_KEY=key)
    assert configured.secret_key == key
    token = create_access_token(user_id=7, settings=configured)
    assert jwt.decode(token, key, algorithms=["HS256"])["sub"] == "7"


def test_the_app_refuses_to_start_in_production_with_a_placeholder_key(tmp_path: Path) -> None:
    """The real start-up path: importing backend.api.main (what uvicorn and Reflex do) fails, naming the
    problem, before anything is served."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    env.update(AGORAX_ENV="production", SECRET_KEY="change-me", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", "import backend.api.main"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is missing, a placeholder or shorter than 32 characters (for HS256)" in result.stderr


@pytest.mark.parametrize("environment", ["development", "test"])
@pytest.mark.parametrize("key", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_outside_production_an_empty_key_falls_back_to_the_development_key(
    environment: str, key: str | None
) -> None:
    """`SECRET_KEY=` (as .env.example has it) must never sign with an empty key: development uses the
    built-in development key, which production refuses."""
    values = {"AGORAX_ENV": environment} | ({"SECRET_KEY": key} if key is not None else {})
    configured = settings(**values)
    assert configured.secret_key == DEV_SECRET_KEY
    token = create_access_token(user_id=3, settings=configured)
    assert jwt.decode(token, DEV_SECRET_KEY, algorithms=["HS256"])["sub"] == "3"  # so not with ""
    assert decode_access_token(token, settings=configured) == 3


def test_the_running_tests_never_sign_with_an_empty_key() -> None:
    assert get_settings().secret_key.strip()


@pytest.mark.parametrize("algorithm", ["none", "None", "RS256", "ES256", "PS256", "HS1"])
def test_only_hmac_sha2_algorithms_can_be_configured(algorithm: str) -> None:
    with pytest.raises(ValidationError, match="ALGORITHM"):
        settings(ALGORITHM=algorithm)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOKEN_LEEWAY_SECONDS", -1),
        ("TOKEN_LEEWAY_SECONDS", 301),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", 0),
        ("SIGNIN_MAX_FAILURES_PER_USERNAME", 0),
        ("SIGNIN_MAX_FAILURES_PER_ADDRESS", 0),
        ("SIGNIN_FAILURE_WINDOW_SECONDS", 0),
    ],
)
def test_out_of_range_security_settings_are_refused(name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        settings(**{name: value})


def test_documented_defaults() -> None:
    defaults = settings()
    assert defaults.algorithm == "HS256"
    assert defaults.access_token_expire_minutes == 30
    assert defaults.token_leeway_seconds == 10
    assert (
        defaults.signin_max_failures_per_username,
        defaults.signin_max_failures_per_address,
        defaults.signin_failure_window_seconds,
    ) == (5, 20, 900)


# CORS (backend.api.main:app; under Reflex, Reflex's own CORS layer also applies: rxconfig.py)


@pytest.fixture
def http() -> TestClient:
    return TestClient(app)


def test_an_allowed_origin_gets_cors_headers(http: TestClient) -> None:
    origin = get_settings().cors_origins[0]
    response = http.get("/api/users/me", headers={"Origin": origin})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-credentials" not in response.headers  # bearer tokens, never cookies

    preflight = http.options(
        "/api/projects",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://localhost:3001", "http://localhost:3000.evil.example", "null"],
)
def test_a_disallowed_origin_gets_none(http: TestClient, origin: str) -> None:
    assert origin not in get_settings().cors_origins
    response = http.get("/api/users/me", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers

    preflight = http.options(
        "/api/projects",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_come_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["https://board.example.com"]')
    configured = settings()
    assert configured.cors_origins == ["https://board.example.com"]
