"""Test set-up: a dedicated PostgreSQL database, migrated by Alembic, and per-test transactions that are
rolled back (SQLAlchemy's "join a session into an external transaction" recipe)."""

from __future__ import annotations

import os

# Settings are read once; point them at the test database before anything imports them.
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/agorax_test"
)
os.environ["DATABASE_URL"] = TEST_DATABASE_URL
os.environ["AGORAX_ENV"] = "test"
os.environ["AGORAX_RUN_RELAY"] = "false"
os.environ.pop("GEMINI_API_KEY", None)

from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from itertools import count  # noqa: E402

import bcrypt  # noqa: E402
import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from playwright.sync_api import Browser  # noqa: E402
from sqlalchemy import Connection, create_engine, make_url, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from backend.api.deps import get_session  # noqa: E402
from backend.api.main import app  # noqa: E402
from backend.db.migrate import upgrade_database  # noqa: E402
from backend.db.session import get_engine  # noqa: E402
from tests.browser_support import REFLEX_ENV, WebProcess, launch_chromium  # noqa: E402
from tests.processes import WorkerProcess  # noqa: E402

_names = count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> None:
    """A fresh test database for every run, built by the migrations exactly as production is."""
    url = make_url(TEST_DATABASE_URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()
    upgrade_database(TEST_DATABASE_URL)


@pytest.fixture
def connection(migrated_database: None) -> Iterator[Connection]:
    with get_engine().connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of one outer transaction that the test rolls back."""
    with Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


@pytest.fixture
def client(db: Session) -> Iterator[TestClient]:
    """The API on the test's transaction. Each request gets the session as a real request does its own:
    an empty identity map at the start, and whatever it left uncommitted (a refused write) dropped."""

    def request_session() -> Iterator[Session]:
        db.expunge_all()
        try:
            yield db
        finally:
            db.rollback()

    app.dependency_overrides[get_session] = request_session
    with TestClient(app) as test_client:
        yield test_client
    app.dependency_overrides.pop(get_session, None)


_gensalt = bcrypt.gensalt


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at 4 rounds for the accounts a test makes, where the cost factor is not under test."""
    monkeypatch.setattr(bcrypt, "gensalt", lambda rounds=4, prefix=b"2b": _gensalt(4, prefix))


@dataclass
class Account:
    id: int
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(client: TestClient, username: str | None = None, password: str = "correct horse 1") -> Account:
    name = username or unique("user")
    created = client.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    assert created.status_code == 201, created.text
    token = client.post("/api/auth/token", data={"username": name, "password": password})
    assert token.status_code == 200, token.text
    return Account(
        id=created.json()["id"], username=name, password=password, token=token.json()["access_token"]
    )


@pytest.fixture
def make_account(client: TestClient) -> Callable[..., Account]:
    return lambda username=None: register(client, username)


# Browser tests: each module gets its own web process (and worker), and one Chromium.


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """Production-like: session state in Redis, so several web worker processes share the sessions."""
    logs = tmp_path_factory.mktemp("web-logs")
    redis_state = os.environ.get("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/1")
    worker = WorkerProcess(logs).start()
    server = WebProcess(logs, env={**REFLEX_ENV, "REFLEX_REDIS_URL": redis_state})
    try:
        server.start(timeout=240)
        yield server
    finally:
        server.stop()
        worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()
