"""The signed-in user's projects."""

from __future__ import annotations

import reflex as rx

from agorax_app.components import top_bar
from agorax_app.state.auth import AuthState
from agorax_app.state.projects import ProjectCard, ProjectsState


def _open_tasks(project: ProjectCard) -> rx.Component:
    return rx.text(
        rx.match(
            project.open_tasks,
            (0, "No open cards"),
            (1, "1 open card"),
            f"{project.open_tasks} open cards",
        ),
        size="2",
        color_scheme="gray",
        high_contrast=True,
        class_name="project-open-tasks",
    )


def _project_card(project: ProjectCard) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading(project.name, size="4", trim="both", class_name="project-name"),
                    rx.spacer(),
                    rx.badge(project.role, variant="soft", class_name="project-role"),
                    width="100%",
                    align="start",
                ),
                _open_tasks(project),
                rx.cond(
                    project.description != "",
                    rx.text(
                        project.description, size="2", color_scheme="gray", trim="both", max_height="2.8em"
                    ),
                ),
                spacing="2",
                overflow="hidden",
                height="100%",
            ),
            width="280px",
            min_height="96px",
            max_height="130px",
        ),
        href=f"/board/{project.id}",
        underline="none",
        custom_attrs={"data-project": project.name, "data-project-id": project.id},
    )


def _no_projects() -> rx.Component:
    return rx.vstack(
        rx.text("No projects yet: create one above, or ask a project's owner to add you."),
        rx.text(
            "To bring in a Trello board, export it as JSON and have whoever runs this server import it: ",
            rx.code(f"agorax import-trello board.json --owner {AuthState.username}"),
            size="2",
            color_scheme="gray",
        ),
        spacing="2",
        id="no-projects",
    )


def projects_page() -> rx.Component:
    return rx.box(
        top_bar(),
        rx.vstack(
            rx.heading("Your projects", size="6"),
            rx.form(
                rx.hstack(
                    rx.input(
                        name="name",
                        placeholder="New project name",
                        id="new-project-name",
                        width="280px",
                        aria_label="New project name",
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
                rx.flex(
                    rx.foreach(ProjectsState.projects, _project_card),
                    wrap="wrap",
                    spacing="4",
                    id="project-list",
                ),
                _no_projects(),
            ),
            spacing="5",
            padding="24px",
        ),
    )
