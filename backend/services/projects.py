"""Projects: list, create, rename, delete."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Column, Project, ProjectMember, Role, Task
from backend.events.outbox import record_event
from backend.schemas import ProjectCreate, ProjectOverview, ProjectPublic, ProjectUpdate
from backend.services.access import lock_for_role, require_role
from backend.services.errors import InvalidInput

DEFAULT_COLUMNS = (("To do", False), ("In progress", False), ("Done", True))


def project_public(project: Project, *, role: Role | None) -> ProjectPublic:
    return ProjectPublic(
        id=project.id,
        name=project.name,
        description=project.description,
        role=role,
        event_seq=project.event_seq,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def list_projects(session: Session, *, user_id: int) -> list[ProjectPublic]:
    rows = session.execute(
        select(Project, ProjectMember.role)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user_id)
        .order_by(Project.name, Project.id)
    ).all()
    return [project_public(project, role=role) for project, role in rows]


def list_project_overviews(session: Session, *, user_id: int) -> list[ProjectOverview]:
    """The user's projects with their role and open task count, in one query (for the projects page)."""
    open_tasks = (
        select(Task.project_id, func.count().label("open_tasks"))
        .join(Column, Column.id == Task.column_id)
        .join(ProjectMember, ProjectMember.project_id == Task.project_id)
        .where(ProjectMember.user_id == user_id, Task.archived.is_(False), Column.is_done.is_(False))
        .group_by(Task.project_id)
        .subquery()
    )
    rows = session.execute(
        select(Project, ProjectMember.role, func.coalesce(open_tasks.c.open_tasks, 0))
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .outerjoin(open_tasks, open_tasks.c.project_id == Project.id)
        .where(ProjectMember.user_id == user_id)
        .order_by(Project.name, Project.id)
    ).all()
    return [
        ProjectOverview(
            id=project.id, name=project.name, description=project.description, role=role, open_tasks=count
        )
        for project, role, count in rows
    ]


def get_project(session: Session, *, user_id: int, project_id: int) -> ProjectPublic:
    member = require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    project = session.get_one(Project, project_id)
    return project_public(project, role=member.role)


def create_project(
    session: Session, *, user_id: int, data: ProjectCreate, with_default_columns: bool = True
) -> ProjectPublic:
    """The creator becomes the owner. A new board starts with To do / In progress / Done, as users expect;
    nobody can be watching a project that did not exist, so creation emits no event."""
    project = Project(name=data.name, description=data.description)
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=user_id, role=Role.owner))
    if with_default_columns:
        for position, (name, is_done) in enumerate(DEFAULT_COLUMNS):
            session.add(Column(project_id=project.id, name=name, position=position, is_done=is_done))
    session.commit()
    session.refresh(project)
    return project_public(project, role=Role.owner)


def update_project(session: Session, *, user_id: int, project_id: int, data: ProjectUpdate) -> ProjectPublic:
    project = lock_for_role(session, project_id=project_id, user_id=user_id, minimum=Role.owner)
    requested = data.model_dump(exclude_unset=True)
    if any(value is None for value in requested.values()):
        raise InvalidInput("name and description cannot be null")
    changed = {field: value for field, value in requested.items() if getattr(project, field) != value}
    for field, value in changed.items():
        setattr(project, field, value)
    if changed:
        session.flush()
        session.refresh(project)
        # The envelope's own seq is the project's new event_seq; the data carries what users see.
        record_event(
            session,
            project_id=project_id,
            type="project.updated",
            actor_id=user_id,
            data=project_public(project, role=None).model_dump(mode="json", exclude={"role", "event_seq"}),
        )
    session.commit()
    session.refresh(project)
    return project_public(project, role=Role.owner)


def delete_project(session: Session, *, user_id: int, project_id: int) -> None:
    """Deletes the project and, through ON DELETE CASCADE, its members, columns, tasks and comments.
    The outbox has no foreign key to projects, so `project.deleted` survives to tell every viewer."""
    project = lock_for_role(session, project_id=project_id, user_id=user_id, minimum=Role.owner)
    record_event(
        session,
        project_id=project_id,
        type="project.deleted",
        actor_id=user_id,
        data={"id": project_id, "name": project.name},
    )
    session.delete(project)
    session.commit()
