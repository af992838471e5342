"""Membership checks shared by every service: who may see and change what (DESIGN.md role table)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Column, Project, ProjectMember, Role, Task
from backend.services.errors import Forbidden, NotFound

ROLE_RANK = {Role.viewer: 0, Role.editor: 1, Role.owner: 2}

InProject = TypeVar("InProject", Task, Column)


def membership(session: Session, *, project_id: int, user_id: int) -> ProjectMember | None:
    # Re-read even if this session holds the row already: a role changed since then must count.
    return session.scalar(
        select(ProjectMember)
        .where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id)
        .execution_options(populate_existing=True)
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


def lock_for_role(session: Session, *, project_id: int, user_id: int, minimum: Role) -> Project:
    """The project row, locked until commit, once the caller's role allows `minimum`. The role is read after
    the lock is taken, so a demotion or removal that committed meanwhile counts: no write slips through."""
    # Checked before the lock too, so that callers without the role never wait on (or hold) the lock.
    require_role(session, project_id=project_id, user_id=user_id, minimum=minimum)
    project = lock_project(session, project_id=project_id)
    require_role(session, project_id=project_id, user_id=user_id, minimum=minimum)
    return project


def locked_in_reach(
    session: Session, *, model: type[InProject], row_id: int, user_id: int, minimum: Role
) -> InProject:
    """A task or column to change: its project locked first, then the row and the caller's role re-read,
    so that a delete or a demotion committed while this waited for the lock gives NotFound or Forbidden."""
    missing = f"{model.__name__} not found"
    project_id = session.scalar(select(model.project_id).where(model.id == row_id))
    if project_id is None:
        raise NotFound(missing)
    try:
        # Checked before the lock too, so that callers without the role never wait on (or hold) the lock.
        require_role(session, project_id=project_id, user_id=user_id, minimum=minimum)
        lock_project(session, project_id=project_id)
        row = session.get(model, row_id, populate_existing=True)
        if row is None:
            raise NotFound(missing)
        require_role(session, project_id=project_id, user_id=user_id, minimum=minimum)
    except NotFound:
        # Gone meanwhile, or in a project the caller cannot see: the same answer, so neither is revealed.
        raise NotFound(missing) from None
    return row


def task_in_reach(session: Session, *, user_id: int, task_id: int, minimum: Role) -> Task:
    """A task the caller may read with `minimum`; tasks of projects they cannot see are NotFound. Writers use
    locked_in_reach."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("Task not found")
    try:
        require_role(session, project_id=task.project_id, user_id=user_id, minimum=minimum)
    except NotFound:
        raise NotFound("Task not found") from None
    return task
