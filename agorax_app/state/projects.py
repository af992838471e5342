"""The signed-in user's project list, and creating a project. The list is live: while a session is on
the projects page the fan-out reloads it when the user joins, leaves or changes role in a project, or a
project it shows is renamed or deleted."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from pydantic import ValidationError

from agorax_app import fanout
from agorax_app.backend_calls import call_service
from agorax_app.state.auth import AuthState
from backend.schemas import ProjectCreate, ProjectOverview
from backend.services import projects
from backend.services.errors import DomainError


@dataclass
class ProjectCard:
    id: int
    name: str
    description: str
    role: str
    open_tasks: int


class ProjectsState(AuthState):
    projects: list[ProjectCard] = []
    create_error: str = ""

    @rx.event
    async def load_projects(self):
        user_id = self.current_user_id()
        token = self.router.session.client_token
        if user_id is None:
            fanout.unwatch_list(token)
            return
        # Registered first: a change committed while the list is read is either in it or reloads it after.
        fanout.watch_list(token, user_id)
        found = await call_service(projects.list_project_overviews, user_id=user_id)
        self.show_projects(found)
        fanout.list_shows(token, {project.id for project in found})

    @rx.event
    def leave_projects(self):
        """on_load of the other pages: the list is no longer kept live for this session."""
        fanout.unwatch_list(self.router.session.client_token)

    def show_projects(self, found: list[ProjectOverview]) -> None:
        self.projects = [
            ProjectCard(
                id=p.id, name=p.name, description=p.description, role=p.role.value, open_tasks=p.open_tasks
            )
            for p in found
        ]

    @rx.event
    async def create_project(self, form: dict[str, str]):
        user_id = self.current_user_id()
        if user_id is None:
            return rx.redirect("/login")
        try:
            data = ProjectCreate(name=form.get("name", ""), description=form.get("description", ""))
        except ValidationError:
            self.create_error = "A project needs a name of 1 to 200 characters"
            return None
        try:
            created = await call_service(projects.create_project, user_id=user_id, data=data)
        except DomainError as exc:
            self.create_error = exc.detail
            return None
        self.create_error = ""
        return rx.redirect(f"/board/{created.id}")
