"""One consistent read of a whole board, for a client that (re)loads it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Column, Project, Role, Task
from backend.schemas import ColumnPublic, ProjectPublic, TaskPublic
from backend.services.access import require_role
from backend.services.projects import project_public


@dataclass(frozen=True, kw_only=True)
class BoardSnapshot:
    project: ProjectPublic
    columns: list[ColumnPublic]
    tasks: list[TaskPublic]  # archived ones too: positions count them

    @property
    def seq(self) -> int:
        """The last event already reflected in this snapshot; apply only events after it."""
        return self.project.event_seq


def board_snapshot(session: Session, *, user_id: int, project_id: int) -> BoardSnapshot:
    # REPEATABLE READ: rows and event_seq come from one instant, so no event is missed or seen twice.
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    member = require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    project = session.get_one(Project, project_id)
    columns = session.scalars(
        select(Column).where(Column.project_id == project_id).order_by(Column.position, Column.id)
    )
    tasks = session.scalars(
        select(Task).where(Task.project_id == project_id).order_by(Task.position, Task.id)
    )
    return BoardSnapshot(
        project=project_public(project, role=member.role),
        columns=[ColumnPublic.model_validate(column) for column in columns],
        tasks=[TaskPublic.model_validate(task) for task in tasks],
    )
