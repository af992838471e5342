"""One typed settings object, read once from the environment (or .env) and validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that must never sign tokens outside development.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret"})
# 64 characters, as HS512 wants: development and tests sign with any ALGORITHM without a weak-key warning.
DEV_SECRET_KEY = "dev-only-insecure-signing-key-do-not-use-in-production-ever-0064"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="AGORAX_ENV"
    )

    postgres_user: str = Field(default="postgres", validation_alias="POSTGRES_USER")
    postgres_password: str = Field(default="", validation_alias="POSTGRES_PASSWORD")
    postgres_db: str = Field(default="agorax", validation_alias="POSTGRES_DB")
    postgres_host: str = Field(default="127.0.0.1", validation_alias="POSTGRES_HOST")
    postgres_port: int = Field(default=5432, validation_alias="POSTGRES_PORT")
    database_url_override: str | None = Field(default=None, validation_alias="DATABASE_URL")

    secret_key: str = Field(default=DEV_SECRET_KEY, validation_alias="SECRET_KEY")
    algorithm: Literal["HS256", "HS384", "HS512"] = Field(default="HS256", validation_alias="ALGORITHM")
    access_token_expire_minutes: int = Field(
        default=30, ge=1, le=60 * 24 * 30, validation_alias="ACCESS_TOKEN_EXPIRE_MINUTES"
    )
    # Seconds of clock skew tolerated when checking `exp` and `iat`.
    token_leeway_seconds: int = Field(default=10, ge=0, le=300, validation_alias="TOKEN_LEEWAY_SECONDS")

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    rabbitmq_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", validation_alias="RABBITMQ_URL")
    # Prefix of the exchange and queue names ("<ns>.events", "<ns>.fanout", and their ".dead" pair), so that
    # several deployments (or test runs) can share one broker without consuming each other's events.
    rabbitmq_namespace: str = Field(
        default="agorax",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        validation_alias="RABBITMQ_NAMESPACE",
    )

    gemini_api_key: str | None = Field(default=None, validation_alias="GEMINI_API_KEY")
    model_name: str = Field(default="gemini-2.5-flash", validation_alias="MODEL_NAME")
    # Where the SDK sends requests; unset is Google's endpoint (tests point it at a local fake server).
    gemini_base_url: str | None = Field(default=None, validation_alias="GEMINI_BASE_URL")
    # One deadline for an interactive AI answer, retries included; past it the local engine answers.
    ai_deadline_seconds: float = Field(default=3.0, gt=0, le=60, validation_alias="AI_DEADLINE_SECONDS")
    # The shared circuit breaker: open after this many failed calls within a minute, probe after the reset.
    ai_breaker_failures: int = Field(default=5, ge=1, le=1000, validation_alias="AI_BREAKER_FAILURES")
    ai_breaker_reset_seconds: float = Field(
        default=30.0, gt=0, le=3600, validation_alias="AI_BREAKER_RESET_SECONDS"
    )

    # How long published outbox rows stay readable through GET /api/projects/{id}/events.
    outbox_retention_hours: int = Field(default=72, ge=1, validation_alias="OUTBOX_RETENTION_HOURS")
    # Seconds between outbox polls when no NOTIFY arrives (the fallback wake-up).
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60, validation_alias="OUTBOX_POLL_SECONDS")
    # Whether the FastAPI app's lifespan runs the outbox relay (the web process does; tests may not).
    run_outbox_relay: bool = Field(default=True, validation_alias="AGORAX_RUN_RELAY")

    cors_origins: list[str] = Field(
        default=["http://localhost:3000", "http://127.0.0.1:3000"], validation_alias="CORS_ORIGINS"
    )

    # Sign-in throttling (counted in Redis at REDIS_URL): after this many failed sign-ins within the window
    # for one username (any case), or from one client address (an IPv6 client's /64), sign-in answers 429
    # with Retry-After until the oldest failure leaves the window. Successful sign-ins do not count.
    signin_max_failures_per_username: int = Field(
        default=5, ge=1, le=1000, validation_alias="SIGNIN_MAX_FAILURES_PER_USERNAME"
    )
    signin_max_failures_per_address: int = Field(
        default=20, ge=1, le=100_000, validation_alias="SIGNIN_MAX_FAILURES_PER_ADDRESS"
    )
    signin_failure_window_seconds: int = Field(
        default=15 * 60, ge=1, le=24 * 60 * 60, validation_alias="SIGNIN_FAILURE_WINDOW_SECONDS"
    )

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        password = f":{self.postgres_password}" if self.postgres_password else ""
        return (
            f"postgresql+psycopg://{self.postgres_user}{password}"
            f"@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
        )

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        # RFC 7518 3.2: an HMAC key at least as long as the hash (32, 48 or 64 bytes).
        minimum = {"HS256": 32, "HS384": 48, "HS512": 64}[self.algorithm]
        if self.environment == "production" and (
            self.secret_key.strip().lower() in PLACEHOLDER_SECRETS
            or self.secret_key == DEV_SECRET_KEY
            or len(self.secret_key.encode()) < minimum
        ):
            raise ValueError(
                f"SECRET_KEY is missing, a placeholder or shorter than {minimum} characters"
                f" (for {self.algorithm}); set a random one"
                " (python -c 'import secrets; print(secrets.token_urlsafe(64))')"
            )
        if not self.secret_key.strip():  # `SECRET_KEY=` (as in .env.example): never sign with an empty key
            self.secret_key = DEV_SECRET_KEY
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
