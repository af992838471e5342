"""Domain errors → HTTP answers, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
