"""What a user is told when an event handler fails unexpectedly (handlers answer the failures they expect
themselves): plain words instead of Reflex's "Contact the website administrator"."""

from __future__ import annotations

import reflex as rx
import structlog
from reflex.event import EventSpec
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = structlog.get_logger(__name__)

DATABASE_DOWN = "Agorax cannot reach its database right now. Nothing was changed: try again in a moment."
UNEXPECTED = "That did not work: the server ran into an error (it is logged). Try again, or reload the page."


def backend_exception_handler(exception: Exception) -> EventSpec:
    if isinstance(exception, OperationalError | PoolTimeout):
        log.warning("ui_database_unavailable", error=type(exception).__name__)
        message = DATABASE_DOWN
    else:
        log.error("ui_handler_failed", exc_info=exception)
        message = UNEXPECTED
    return rx.toast.error(message, id="backend_error", position="top-center", duration=8000)
