"""The FastAPI app: `backend.api.main:app`. Mounted into Reflex under /api, or served alone by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.errors import install_error_handlers
from backend.api.routes import ai, auth, board, health, projects
from backend.config import get_settings
from backend.events.runtime import build_relay
from backend.logging import configure_logging

# The largest legitimate body (a task with a 20,000-character description, in UTF-8) is far below this;
# larger ones get 413 before anything reads them.
MAX_BODY_BYTES = 1024 * 1024


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Standalone (uvicorn) mode runs the outbox relay itself, so events flow without Reflex too."""
    settings = get_settings()
    configure_logging()
    relay_task = asyncio.create_task(build_relay(settings).run()) if settings.run_outbox_relay else None
    try:
        yield
    finally:
        if relay_task is not None:
            relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay_task


class BodySizeLimit:
    """Bodies over `max_bytes` get the API's JSON 413: a declared one (Content-Length) before anything runs,
    a streamed one as soon as reading it passes the limit. (FastAPI's own `max_body_size` answers a declared
    one in plain text, from outside our error handlers.)"""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self._detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status_code=413, detail=self._detail)  # answered by the API's handlers
            return message

        await self.app(scope, receive_within_limit, send)

    @property
    def _detail(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes"


def create_app() -> FastAPI:
    settings = get_settings()
    # The interactive docs' scripts come with fastapi-offline, so /api/docs works without a CDN.
    app = FastAPIOffline(
        title="Agorax API",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        static_url="/api/docs/assets",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        lifespan=lifespan,
    )
    # Browsers may call the API only from CORS_ORIGINS. It authenticates by the Authorization header, never
    # by cookies, so credentialed cross-origin requests are not allowed at all.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "If-Match"],
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    install_error_handlers(app)
    api = APIRouter(prefix="/api")
    for module in (auth, projects, board, health, ai):
        api.include_router(module.router)
    app.include_router(api)
    return app


app = create_app()
