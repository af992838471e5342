"""The Reflex app: pages, the REST API mounted under /api, and the background tasks of a web process."""

from __future__ import annotations

import reflex as rx

from agorax_app import fanout
from agorax_app.errors import backend_exception_handler
from agorax_app.pages.board import board_page
from agorax_app.pages.login import login_page
from agorax_app.pages.projects import projects_page
from agorax_app.state.auth import AuthState
from agorax_app.state.board import BoardState
from agorax_app.state.projects import ProjectsState
from backend.api.main import app as api
from backend.config import get_settings
from backend.events.runtime import build_relay
from backend.logging import configure_logging

configure_logging()
settings = get_settings()

app = rx.App(api_transformer=api, backend_exception_handler=backend_exception_handler)
# Every page that is not a board leaves the board the session had open, so it gets no more of its pushes;
# likewise every page but the projects page stops its live project list.
app.add_page(
    login_page,
    route="/login",
    title="Agorax · Sign in",
    on_load=[BoardState.leave_board, ProjectsState.leave_projects, AuthState.redirect_if_signed_in],
)
app.add_page(
    projects_page,
    route="/",
    title="Agorax · Projects",
    on_load=[BoardState.leave_board, AuthState.require_sign_in, ProjectsState.load_projects],
)
app.add_page(
    board_page,
    route="/board/[project_id]",
    title="Agorax · Board",
    on_load=[ProjectsState.leave_projects, AuthState.require_sign_in, BoardState.load_board],
)

# Mounted inside Reflex, the FastAPI lifespan does not run: the web process's tasks are registered here.
if settings.run_outbox_relay:
    app.register_lifespan_task(build_relay(settings).run)
app.register_lifespan_task(
    fanout.relay_events_to_sessions, board_state=BoardState, projects_state=ProjectsState
)
