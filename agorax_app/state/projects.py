"""The signed-in user's project list, and creating a project."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from pydantic import ValidationError

from agorax_app.backend_calls import call_service
from agorax_app.state.auth import AuthState
from backend.schemas import ProjectCreate
from backend.services import projects
from backend.services.errors import DomainError


@dataclass
class ProjectCard:
    id: int
    name: str
    description: str
    role: str


class ProjectsState(AuthState):
    projects: list[ProjectCard] = []
    create_error: str = ""

    @rx.event
    async def load_projects(self):
        user_id = self.current_user_id()
        if user_id is None:
            return
        found = await call_service(projects.list_projects, user_id=user_id)
        self.projects = [
            ProjectCard(id=p.id, name=p.name, description=p.description, role=p.role) for p in found
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
