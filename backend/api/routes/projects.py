from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from backend.api.deps import CurrentUser, SessionDep
from backend.api.errors import error_responses
from backend.schemas import (
    EventPage,
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
)
from backend.services import events, members, projects

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectId = Annotated[int, Path(ge=1, le=2**62)]
UserId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("", responses=error_responses(401, validates=False))
def list_projects(session: SessionDep, user: CurrentUser) -> list[ProjectPublic]:
    return projects.list_projects(session, user_id=user.id)


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 401))
def create_project(session: SessionDep, user: CurrentUser, data: ProjectCreate) -> ProjectPublic:
    return projects.create_project(session, user_id=user.id, data=data)


@router.get("/{project_id}", responses=error_responses(401, 404))
def get_project(session: SessionDep, user: CurrentUser, project_id: ProjectId) -> ProjectPublic:
    return projects.get_project(session, user_id=user.id, project_id=project_id)


@router.patch("/{project_id}", responses=error_responses(400, 401, 403, 404))
def update_project(
    session: SessionDep, user: CurrentUser, project_id: ProjectId, data: ProjectUpdate
) -> ProjectPublic:
    return projects.update_project(session, user_id=user.id, project_id=project_id, data=data)


@router.delete(
    "/{project_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404)
)
def delete_project(session: SessionDep, user: CurrentUser, project_id: ProjectId) -> None:
    projects.delete_project(session, user_id=user.id, project_id=project_id)


@router.get("/{project_id}/members", responses=error_responses(401, 404))
def list_members(session: SessionDep, user: CurrentUser, project_id: ProjectId) -> list[MemberPublic]:
    return members.list_members(session, user_id=user.id, project_id=project_id)


@router.post(
    "/{project_id}/members",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409),
)
def add_member(
    session: SessionDep, user: CurrentUser, project_id: ProjectId, data: MemberCreate
) -> MemberPublic:
    return members.add_member(session, user_id=user.id, project_id=project_id, data=data)


@router.patch("/{project_id}/members/{user_id}", responses=error_responses(400, 401, 403, 404, 409))
def change_role(
    session: SessionDep, user: CurrentUser, project_id: ProjectId, user_id: UserId, data: MemberUpdate
) -> MemberPublic:
    return members.change_role(
        session, user_id=user.id, project_id=project_id, member_user_id=user_id, data=data
    )


@router.delete(
    "/{project_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
def remove_member(session: SessionDep, user: CurrentUser, project_id: ProjectId, user_id: UserId) -> None:
    members.remove_member(session, user_id=user.id, project_id=project_id, member_user_id=user_id)


@router.get("/{project_id}/events", responses=error_responses(401, 404))
def list_events(
    session: SessionDep,
    user: CurrentUser,
    project_id: ProjectId,
    after: Annotated[int, Query(ge=0, le=2**62, description="Return events with a greater seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=events.EVENT_PAGE_MAX)] = events.EVENT_PAGE_MAX,
) -> EventPage:
    return events.list_events(session, user_id=user.id, project_id=project_id, after=after, limit=limit)
