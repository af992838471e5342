"""Domain errors → HTTP answers, in one place."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from backend.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
)

STATUS_FOR = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidCredentials: status.HTTP_401_UNAUTHORIZED,
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


async def domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    code = next(code for kind, code in STATUS_FOR.items() if isinstance(exc, kind))
    body: dict[str, object] = {"detail": exc.detail}
    if isinstance(exc, Conflict) and exc.current is not None:
        body["current"] = exc.current
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, InvalidCredentials) else None
    return JSONResponse(body, status_code=code, headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, except that it cannot itself fail: the `input` it echoes may hold what JSON cannot carry
    (NaN or Infinity from `1e400`, lone surrogates from `"\\ud800"`), which would turn the 422 into a 500."""
    assert isinstance(exc, RequestValidationError)
    try:
        return await request_validation_exception_handler(request, exc)
    except ValueError:
        errors = [
            {k: v for k, v in error.items() if k != "input"} for error in jsonable_encoder(exc.errors())
        ]
        body = json.dumps({"detail": errors}, ensure_ascii=True, allow_nan=False, default=str)
        return Response(
            body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json"
        )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
