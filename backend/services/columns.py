"""Board columns: create, rename, reorder, mark as done column, delete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Column, Role, Task
from backend.events.outbox import record_event
from backend.schemas import ColumnCreate, ColumnPublic, ColumnUpdate
from backend.services import ordering
from backend.services.access import lock_for_role, locked_in_reach, require_role
from backend.services.errors import Conflict, InvalidInput


def list_columns(session: Session, *, user_id: int, project_id: int) -> list[ColumnPublic]:
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    columns = session.scalars(
        select(Column).where(Column.project_id == project_id).order_by(Column.position, Column.id)
    )
    return [ColumnPublic.model_validate(column) for column in columns]


def create_column(session: Session, *, user_id: int, project_id: int, data: ColumnCreate) -> ColumnPublic:
    lock_for_role(session, project_id=project_id, user_id=user_id, minimum=Role.editor)
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


def _column_for(session: Session, *, user_id: int, column_id: int) -> Column:
    return locked_in_reach(session, model=Column, row_id=column_id, user_id=user_id, minimum=Role.editor)


def update_column(session: Session, *, user_id: int, column_id: int, data: ColumnUpdate) -> ColumnPublic:
    """Renames, moves or (un)marks as done. A request that changes nothing records no event, so open boards
    do not reload for it."""
    column = _column_for(session, user_id=user_id, column_id=column_id)
    scope = Column.project_id == column.project_id
    requested = data.model_dump(exclude_unset=True)
    for field, value in requested.items():
        if value is None:
            raise InvalidInput(f"{field} cannot be null")
    if "position" in requested:
        # Past the end means the end: clamped here, so that moving the last column there is no change.
        last = ordering.count_in_scope(session, model=Column, scope=scope) - 1
        requested["position"] = min(requested["position"], last)
    changed = {field: value for field, value in requested.items() if getattr(column, field) != value}
    if not changed:
        return ColumnPublic.model_validate(column)
    if "position" in changed:
        ordering.close_slot(session, model=Column, scope=scope, position=column.position)
        column.position = ordering.open_slot(
            session, model=Column, scope=scope & (Column.id != column.id), position=changed.pop("position")
        )
    for field, value in changed.items():
        setattr(column, field, value)
    session.flush()
    public = ColumnPublic.model_validate(column)
    record_event(session, project_id=column.project_id, type="column.updated", actor_id=user_id, data=public)
    session.commit()
    return public


def delete_column(session: Session, *, user_id: int, column_id: int) -> None:
    """Deletes an empty column. One that still holds cards (archived ones included) is refused, so that
    no card is ever lost as a side effect: move or delete them first."""
    column = _column_for(session, user_id=user_id, column_id=column_id)
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
