"""Domain errors → HTTP answers, in one place."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from backend.schemas import ErrorPublic, ValidationErrorsPublic
from backend.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    TooManyAttempts,
)

log = structlog.get_logger(__name__)

STATUS_FOR = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidCredentials: status.HTTP_401_UNAUTHORIZED,
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    TooManyAttempts: status.HTTP_429_TOO_MANY_REQUESTS,
}


async def domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    code = next(code for kind, code in STATUS_FOR.items() if isinstance(exc, kind))
    body: dict[str, object] = {"detail": exc.detail}
    if isinstance(exc, Conflict) and exc.current is not None:
        body["current"] = exc.current
    headers = None
    if isinstance(exc, InvalidCredentials):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(body, status_code=code, headers=headers)


# What a client is told to wait before trying again while the database cannot answer.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5


async def database_unavailable_handler(_: Request, exc: Exception) -> JSONResponse:
    """The database down, restarting, out of connections or breaking a deadlock: nothing was stored, and
    the same request may well succeed in a moment. That is a 503 to retry, not a 500."""
    log.warning("database_unavailable", error=type(exc).__name__, detail=str(exc).splitlines()[0][:200])
    return JSONResponse(
        {"detail": "The database is not answering right now; nothing was changed. Try again in a moment"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


# A 422 repeats at most this much of what was sent: a megabyte title is not echoed back whole.
ECHO_MAX_CHARS = 200


def _shortened(error: dict[str, Any]) -> dict[str, Any]:
    value = error.get("input")
    if isinstance(value, str) and len(value) > ECHO_MAX_CHARS:
        return {**error, "input": value[:ECHO_MAX_CHARS] + "…"}
    if isinstance(value, dict | list) and len(json.dumps(value, default=str)) > ECHO_MAX_CHARS:
        return {key: item for key, item in error.items() if key != "input"}
    return error


async def validation_error_handler(_: Request, exc: Exception) -> Response:
    """FastAPI's 422 with long inputs cut short, and one that cannot itself fail: the `input` it echoes may
    hold what JSON cannot carry (NaN or Infinity from `1e400`), which would turn the 422 into a 500."""
    assert isinstance(exc, RequestValidationError)
    errors = [_shortened(error) for error in jsonable_encoder(exc.errors())]
    try:
        body = json.dumps({"detail": errors}, allow_nan=False)
    except ValueError:
        errors = [{k: v for k, v in error.items() if k != "input"} for error in errors]
        body = json.dumps({"detail": errors}, allow_nan=False, default=str)
    return Response(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(OperationalError, database_unavailable_handler)
    app.add_exception_handler(PoolTimeout, database_unavailable_handler)


# OpenAPI declarations of the error answers, so that clients (and schemathesis) know every status a route
# can give. Routes list the ones they can answer besides their success and 422.

_DESCRIPTIONS: dict[int, str] = {
    status.HTTP_400_BAD_REQUEST: "Malformed: a body that is not UTF-8, or If-Match not a version number",
    status.HTTP_401_UNAUTHORIZED: "Not signed in, or the token does not verify",
    status.HTTP_403_FORBIDDEN: "Your role in the project does not allow this",
    status.HTTP_404_NOT_FOUND: "No such resource, or not one you can see",
    status.HTTP_409_CONFLICT: "The request clashes with the current state",
    status.HTTP_422_UNPROCESSABLE_CONTENT: "The input is invalid",
    status.HTTP_429_TOO_MANY_REQUESTS: "Too many failed sign-in attempts; wait Retry-After seconds",
}
_HEADERS: dict[int, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "WWW-Authenticate": {"description": "Always `Bearer`", "required": True, "schema": {"type": "string"}}
    },
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "Retry-After": {
            "description": "Seconds to wait",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def error_responses(
    *codes: int, conflict: type[BaseModel] = ErrorPublic, validates: bool = True
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its body model (and headers). 422 (unless the route takes
    no input) is either pydantic's list of errors or a single message from a service."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *([status.HTTP_422_UNPROCESSABLE_CONTENT] if validates else [])}):
        model: Any = {
            status.HTTP_409_CONFLICT: conflict,
            status.HTTP_422_UNPROCESSABLE_CONTENT: ValidationErrorsPublic | ErrorPublic,
        }.get(code, ErrorPublic)
        declared[code] = {"model": model, "description": _DESCRIPTIONS[code]}
        if code in _HEADERS:
            declared[code]["headers"] = _HEADERS[code]
    return declared
