"""Columns, tasks and comments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from backend.api.deps import CurrentUser, IfMatch, SessionDep
from backend.api.errors import error_responses
from backend.schemas import (
    ColumnCreate,
    ColumnPublic,
    ColumnUpdate,
    CommentCreate,
    CommentPublic,
    TaskConflictPublic,
    TaskCreate,
    TaskFilters,
    TaskMove,
    TaskPublic,
    TaskUpdate,
)
from backend.services import columns, comments, tasks

router = APIRouter(tags=["board"])

Id = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/projects/{project_id}/columns", responses=error_responses(401, 404))
def list_columns(session: SessionDep, user: CurrentUser, project_id: Id) -> list[ColumnPublic]:
    return columns.list_columns(session, user_id=user.id, project_id=project_id)


@router.post(
    "/projects/{project_id}/columns",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404),
)
def create_column(session: SessionDep, user: CurrentUser, project_id: Id, data: ColumnCreate) -> ColumnPublic:
    return columns.create_column(session, user_id=user.id, project_id=project_id, data=data)


@router.patch("/columns/{column_id}", responses=error_responses(400, 401, 403, 404))
def update_column(session: SessionDep, user: CurrentUser, column_id: Id, data: ColumnUpdate) -> ColumnPublic:
    return columns.update_column(session, user_id=user.id, column_id=column_id, data=data)


@router.delete(
    "/columns/{column_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
def delete_column(session: SessionDep, user: CurrentUser, column_id: Id) -> None:
    columns.delete_column(session, user_id=user.id, column_id=column_id)


@router.get("/projects/{project_id}/tasks", responses=error_responses(401, 404))
def list_tasks(
    session: SessionDep, user: CurrentUser, project_id: Id, filters: Annotated[TaskFilters, Query()]
) -> list[TaskPublic]:
    return tasks.list_tasks(session, user_id=user.id, project_id=project_id, filters=filters)


@router.post(
    "/projects/{project_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404),
)
def create_task(session: SessionDep, user: CurrentUser, project_id: Id, data: TaskCreate) -> TaskPublic:
    return tasks.create_task(session, user_id=user.id, project_id=project_id, data=data)


@router.get("/tasks/{task_id}", responses=error_responses(401, 404))
def get_task(session: SessionDep, user: CurrentUser, task_id: Id) -> TaskPublic:
    return tasks.get_task(session, user_id=user.id, task_id=task_id)


@router.patch(
    "/tasks/{task_id}", responses=error_responses(400, 401, 403, 404, 409, conflict=TaskConflictPublic)
)
def update_task(
    session: SessionDep, user: CurrentUser, task_id: Id, data: TaskUpdate, if_match: IfMatch
) -> TaskPublic:
    return tasks.update_task(session, user_id=user.id, task_id=task_id, data=data, expected_version=if_match)


@router.post(
    "/tasks/{task_id}/move", responses=error_responses(400, 401, 403, 404, 409, conflict=TaskConflictPublic)
)
def move_task(
    session: SessionDep, user: CurrentUser, task_id: Id, data: TaskMove, if_match: IfMatch
) -> TaskPublic:
    return tasks.move_task(session, user_id=user.id, task_id=task_id, data=data, expected_version=if_match)


@router.delete(
    "/tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 401, 403, 404, 409, conflict=TaskConflictPublic),
)
def delete_task(session: SessionDep, user: CurrentUser, task_id: Id, if_match: IfMatch) -> None:
    tasks.delete_task(session, user_id=user.id, task_id=task_id, expected_version=if_match)


@router.get("/tasks/{task_id}/comments", responses=error_responses(401, 404))
def list_comments(session: SessionDep, user: CurrentUser, task_id: Id) -> list[CommentPublic]:
    return comments.list_comments(session, user_id=user.id, task_id=task_id)


@router.post(
    "/tasks/{task_id}/comments",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404),
)
def add_comment(session: SessionDep, user: CurrentUser, task_id: Id, data: CommentCreate) -> CommentPublic:
    return comments.add_comment(session, user_id=user.id, task_id=task_id, data=data)
