"""The signed-in user's projects."""

from __future__ import annotations

import reflex as rx

from agorax_app.components import top_bar
from agorax_app.state.projects import ProjectCard, ProjectsState


def _project_card(project: ProjectCard) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading(project.name, size="4"),
                    rx.spacer(),
                    rx.badge(project.role, variant="soft"),
                    width="100%",
                ),
                rx.text(project.description, size="2", color_scheme="gray", trim="both", max_height="3.6em"),
                spacing="2",
            ),
            width="280px",
            height="110px",
        ),
        href=f"/board/{project.id}",
        underline="none",
        custom_attrs={"data-project": project.name},
    )


def projects_page() -> rx.Component:
    return rx.box(
        top_bar(),
        rx.vstack(
            rx.heading("Your projects", size="6"),
            rx.form(
                rx.hstack(
                    rx.input(
                        name="name", placeholder="New project name", id="new-project-name", width="280px"
                    ),
                    rx.button("Create project", type="submit", id="create-project"),
                ),
                on_submit=ProjectsState.create_project,
                reset_on_submit=True,
            ),
            rx.cond(
                ProjectsState.create_error != "", rx.text(ProjectsState.create_error, color_scheme="red")
            ),
            rx.cond(
                ProjectsState.projects.length() > 0,
                rx.flex(rx.foreach(ProjectsState.projects, _project_card), wrap="wrap", spacing="4"),
                rx.text("No projects yet: create one above, or import a Trello board (see the README)."),
            ),
            spacing="5",
            padding="24px",
        ),
    )
