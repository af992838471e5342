"""The UI's last-resort answer to a failed event handler: plain words, and the database case told apart."""

from __future__ import annotations

import json

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from agorax_app.errors import DATABASE_DOWN, UNEXPECTED, backend_exception_handler
from tests.processes import free_port


def _toast_text(exception: Exception) -> str:
    spec = backend_exception_handler(exception)
    return json.dumps([str(value) for _, value in spec.args])


def test_a_database_that_does_not_answer_is_named_as_such() -> None:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        refused = exc
    else:
        raise AssertionError("nothing listens on a free port")
    assert isinstance(refused.orig, psycopg.OperationalError)
    assert DATABASE_DOWN in _toast_text(refused)


def test_other_failures_get_the_general_message_without_internals() -> None:
    shown = _toast_text(KeyError("secret internal detail"))
    assert UNEXPECTED in shown
    assert "secret internal detail" not in shown
