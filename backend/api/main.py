"""The FastAPI app: `backend.api.main:app`. Mounted into Reflex under /api, or served alone by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

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


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Agorax API",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
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
    install_error_handlers(app)
    api = APIRouter(prefix="/api")
    for module in (auth, projects, board, health, ai):
        api.include_router(module.router)
    app.include_router(api)
    return app


app = create_app()
