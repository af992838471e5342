"""Membership checks shared by every service: who may see and change what (DESIGN.md role table)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Project, ProjectMember, Role, Task
from backend.services.errors import Forbidden, NotFound

ROLE_RANK = {Role.viewer: 0, Role.editor: 1, Role.owner: 2}


def membership(session: Session, *, project_id: int, user_id: int) -> ProjectMember | None:
    return session.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id)
    )


def require_role(session: Session, *, project_id: int, user_id: int, minimum: Role) -> ProjectMember:
    """The caller's membership, if it allows `minimum`. Non-members get NotFound so that projects they
    cannot see do not even appear to exist."""
    member = membership(session, project_id=project_id, user_id=user_id)
    if member is None:
        raise NotFound("Project not found")
    if ROLE_RANK[member.role] < ROLE_RANK[minimum]:
        raise Forbidden(f"This needs the {minimum.value} role in the project; you are {member.role.value}")
    return member


def lock_project(session: Session, *, project_id: int) -> Project:
    """The project row, locked until commit, for changes that must not interleave (positions, owners)."""
    project = session.scalar(select(Project).where(Project.id == project_id).with_for_update())
    if project is None:
        raise NotFound("Project not found")
    return project


def task_in_reach(session: Session, *, user_id: int, task_id: int, minimum: Role) -> Task:
    """A task the caller may act on with `minimum`; tasks of projects they cannot see are NotFound."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("Task not found")
    try:
        require_role(session, project_id=task.project_id, user_id=user_id, minimum=minimum)
    except NotFound:
        raise NotFound("Task not found") from None
    return task
