"""The UI's last-resort answer to a failed event handler: plain words, and the database case told apart."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from agorax_app.errors import DATABASE_DOWN, UNEXPECTED, backend_exception_handler, invalid_input
from backend.schemas import TaskCreate
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


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"title": "x" * 501}, "Title must be at most 500 characters"),
        ({"title": "   "}, "Title must not be empty"),
        (
            {"title": "Ok", "due_at": "3000-01-01T00:00:00Z"},
            "Due date must be a time between the years 1900 and 2999",
        ),
        ({"title": "Ok", "labels": ["fine", "y" * 51]}, "Each label must be at most 50 characters"),
    ],
)
def test_invalid_input_is_said_in_plain_words(fields: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TaskCreate.model_validate(fields)
    assert invalid_input(refused.value) == said
