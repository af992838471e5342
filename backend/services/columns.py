"""Board columns: create, rename, reorder, mark as done column, delete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Column, Role, Task
from backend.events.outbox import record_event
from backend.schemas import ColumnCreate, ColumnPublic, ColumnUpdate
from backend.services import ordering
from backend.services.access import lock_project, require_role
from backend.services.errors import Conflict, NotFound


def list_columns(session: Session, *, user_id: int, project_id: int) -> list[ColumnPublic]:
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    columns = session.scalars(
        select(Column).where(Column.project_id == project_id).order_by(Column.position, Column.id)
    )
    return [ColumnPublic.model_validate(column) for column in columns]


def create_column(session: Session, *, user_id: int, project_id: int, data: ColumnCreate) -> ColumnPublic:
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.editor)
    lock_project(session, project_id=project_id)
    position = ordering.open_slot(
        session, model=Column, scope=Column.project_id == project_id, position=data.position
    )
    column = Column(project_id=project_id, name=data.name, position=position, is_done=data.is_done)
    session.add(column)
    session.flush()
    public = ColumnPublic.model_validate(column)
    record_event(session, project_id=project_id, type="column.created", actor_id=user_id, data=public)
    session.commit()
    return public


def _column_for(session: Session, *, user_id: int, column_id: int, minimum: Role) -> Column:
    column = session.get(Column, column_id)
    if column is None:
        raise NotFound("Column not found")
    require_role(session, project_id=column.project_id, user_id=user_id, minimum=minimum)
    lock_project(session, project_id=column.project_id)
    session.refresh(column)
    return column


def update_column(session: Session, *, user_id: int, column_id: int, data: ColumnUpdate) -> ColumnPublic:
    column = _column_for(session, user_id=user_id, column_id=column_id, minimum=Role.editor)
    scope = Column.project_id == column.project_id
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "position" in changes and changes["position"] != column.position:
        ordering.close_slot(session, model=Column, scope=scope, position=column.position)
        column.position = ordering.open_slot(
            session, model=Column, scope=scope & (Column.id != column.id), position=changes.pop("position")
        )
    changes.pop("position", None)
    for field, value in changes.items():
        setattr(column, field, value)
    session.flush()
    public = ColumnPublic.model_validate(column)
    record_event(session, project_id=column.project_id, type="column.updated", actor_id=user_id, data=public)
    session.commit()
    return public


def delete_column(session: Session, *, user_id: int, column_id: int) -> None:
    """Deletes an empty column. One that still holds cards (archived ones included) is refused, so that
    no card is ever lost as a side effect: move or delete them first."""
    column = _column_for(session, user_id=user_id, column_id=column_id, minimum=Role.editor)
    held = ordering.count_in_scope(session, model=Task, scope=Task.column_id == column.id)
    if held:
        raise Conflict(
            f"The column still holds {held} card(s), archived ones included; move or delete them first"
        )
    public = ColumnPublic.model_validate(column)
    session.delete(column)
    session.flush()
    ordering.close_slot(
        session, model=Column, scope=Column.project_id == column.project_id, position=column.position
    )
    record_event(session, project_id=column.project_id, type="column.deleted", actor_id=user_id, data=public)
    session.commit()
