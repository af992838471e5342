"""Project membership: list, add, change role, remove or leave. A project always keeps an owner."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import ProjectMember, Role
from backend.events.outbox import record_event
from backend.schemas import MemberCreate, MemberPublic, MemberUpdate
from backend.services.access import lock_for_role, membership, require_role
from backend.services.errors import Conflict, NotFound
from backend.services.tasks import unassign_member
from backend.services.users import find_user_by_username


def member_public(member: ProjectMember) -> MemberPublic:
    return MemberPublic(
        user_id=member.user_id,
        username=member.user.username,
        display_name=member.user.display_name,
        role=member.role,
    )


def _owner_count(session: Session, *, project_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ProjectMember)
            .where(ProjectMember.project_id == project_id, ProjectMember.role == Role.owner)
        )
        or 0
    )


def member_roles(session: Session, *, project_id: int) -> dict[int, Role]:
    """Who may currently see a project, for checks at event delivery (no caller to authorise)."""
    rows = session.execute(
        select(ProjectMember.user_id, ProjectMember.role).where(ProjectMember.project_id == project_id)
    )
    return {user_id: role for user_id, role in rows}


def list_members(session: Session, *, user_id: int, project_id: int) -> list[MemberPublic]:
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    members = session.scalars(
        select(ProjectMember).where(ProjectMember.project_id == project_id).order_by(ProjectMember.id)
    )
    return [member_public(member) for member in members]


def add_member(session: Session, *, user_id: int, project_id: int, data: MemberCreate) -> MemberPublic:
    lock_for_role(session, project_id=project_id, user_id=user_id, minimum=Role.owner)
    user = find_user_by_username(session, username=data.username)
    if user is None:
        raise NotFound(f"No user is called {data.username!r}")
    if membership(session, project_id=project_id, user_id=user.id) is not None:
        raise Conflict(f"{user.username} is already a member of this project")
    member = ProjectMember(project_id=project_id, user_id=user.id, role=data.role)
    session.add(member)
    session.flush()
    public = member_public(member)
    record_event(session, project_id=project_id, type="member.added", actor_id=user_id, data=public)
    session.commit()
    return public


def _target_member(session: Session, *, project_id: int, member_user_id: int) -> ProjectMember:
    member = membership(session, project_id=project_id, user_id=member_user_id)
    if member is None:
        raise NotFound("That user is not a member of this project")
    return member


def change_role(
    session: Session, *, user_id: int, project_id: int, member_user_id: int, data: MemberUpdate
) -> MemberPublic:
    lock_for_role(session, project_id=project_id, user_id=user_id, minimum=Role.owner)
    member = _target_member(session, project_id=project_id, member_user_id=member_user_id)
    if member.role == data.role:
        return member_public(member)
    if member.role == Role.owner and _owner_count(session, project_id=project_id) == 1:
        raise Conflict("A project must keep at least one owner; make someone else owner first")
    member.role = data.role
    session.flush()
    public = member_public(member)
    record_event(session, project_id=project_id, type="member.role_changed", actor_id=user_id, data=public)
    session.commit()
    return public


def remove_member(session: Session, *, user_id: int, project_id: int, member_user_id: int) -> None:
    """Owners remove anyone; every member may remove themselves (leave), except the last owner."""
    leaving = member_user_id == user_id
    lock_for_role(
        session, project_id=project_id, user_id=user_id, minimum=Role.viewer if leaving else Role.owner
    )
    member = _target_member(session, project_id=project_id, member_user_id=member_user_id)
    if member.role == Role.owner and _owner_count(session, project_id=project_id) == 1:
        raise Conflict("A project must keep at least one owner; make someone else owner first")
    public = member_public(member)
    # Unassigned first, so no event describes a task assigned to someone outside the project.
    unassign_member(session, project_id=project_id, member_user_id=member_user_id, actor_id=user_id)
    session.delete(member)
    record_event(session, project_id=project_id, type="member.removed", actor_id=user_id, data=public)
    session.commit()
