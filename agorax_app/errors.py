"""What a user is told when something fails: refusals and invalid input in plain words, and, for the
failures handlers do not expect, plain words instead of Reflex's "Contact the website administrator"."""

from __future__ import annotations

from collections.abc import Mapping

import reflex as rx
import structlog
from pydantic import ValidationError
from reflex.event import EventSpec
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = structlog.get_logger(__name__)

DATABASE_DOWN = "Agorax cannot reach its database right now. Nothing was changed: try again in a moment."
UNEXPECTED = "That did not work: the server ran into an error (it is logged). Try again, or reload the page."


# How fields are called on screen, where their name in the schema is not it.
FIELD_NAMES = {"due_at": "Due date", "display_name": "Display name", "assignee_id": "Assignee"}


def invalid_input(exc: ValidationError, *, rules: Mapping[str, str] | None = None) -> str:
    """The first problem with what was typed, as a person says it ("Title must be at most 500
    characters"), not pydantic's wording; `rules` replaces the message of a field whose rule is a pattern."""
    error = exc.errors()[0]
    field_key = str(error["loc"][0]) if error["loc"] else ""
    if rules and field_key in rules:
        return rules[field_key]
    field = FIELD_NAMES.get(field_key, field_key.replace("_", " ").capitalize() or "That")
    if len(error["loc"]) > 1 and field_key == "labels":
        field = "Each label"
    limits = error.get("ctx") or {}
    if error["type"] == "string_too_short":
        shortest = limits.get("min_length")
        return (
            f"{field} must not be empty"
            if shortest == 1
            else f"{field} must be at least {shortest} characters"
        )
    if error["type"] == "string_too_long":
        return f"{field} must be at most {limits.get('max_length')} characters"
    if error["type"] == "too_long":
        return f"{field} may have at most {limits.get('max_length')} entries"
    if error["type"] == "value_error":  # our own validators: "must be ..." / "must not ..."
        return f"{field} {str(limits.get('error', error['msg'])).removeprefix('Value error, ')}"
    return f"{field} is not valid"


def failure_message(exc: Exception) -> str:
    """For a failure that is not the user's doing (logged here: the user only learns that it failed)."""
    if isinstance(exc, OperationalError | PoolTimeout):
        log.warning("ui_database_unavailable", error=type(exc).__name__)
        return DATABASE_DOWN
    log.error("ui_action_failed", exc_info=exc)
    return UNEXPECTED


def backend_exception_handler(exception: Exception) -> EventSpec:
    return rx.toast.error(
        failure_message(exception), id="backend_error", position="top-center", duration=8000
    )
