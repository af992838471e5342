"""Tasks: create, list, get, update, move, delete. Every change bumps `version` (If-Match concurrency)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from backend.db.models import Column, Role, Task
from backend.events.outbox import record_event
from backend.schemas import TaskCreate, TaskFilters, TaskMove, TaskPublic, TaskUpdate
from backend.services import ordering
from backend.services.access import lock_for_role, locked_in_reach, membership, require_role, task_in_reach
from backend.services.errors import Conflict, InvalidInput

NOT_NULLABLE = ("title", "description", "labels", "archived")


def _column_scope(column_id: int) -> ColumnElement[bool]:
    return Task.column_id == column_id


def _target_column(session: Session, *, project_id: int, column_id: int | None) -> Column:
    if column_id is None:
        column = session.scalar(
            select(Column).where(Column.project_id == project_id).order_by(Column.position).limit(1)
        )
        if column is None:
            raise InvalidInput("The project has no columns; create one first")
        return column
    column = session.get(Column, column_id)
    if column is None or column.project_id != project_id:
        raise InvalidInput(f"Column {column_id} is not in this project")
    return column


def _has_label(session: Session, label: str) -> ColumnElement[bool]:
    # Labels are distinct case-blind (schemas._distinct_labels), so the filter matches case-blind too; SQL's
    # lower() misses only casefold's few extra foldings (ß = ss).
    if session.get_bind().dialect.name == "postgresql":
        each = func.jsonb_array_elements_text(type_coerce(Task.labels, JSONB)).table_valued("value")
    else:
        each = func.json_each(Task.labels).table_valued("value")
    return exists(select(1).select_from(each).where(func.lower(each.c.value) == func.lower(label)))


def _check_assignee(session: Session, *, project_id: int, assignee_id: int | None) -> None:
    if assignee_id is not None and membership(session, project_id=project_id, user_id=assignee_id) is None:
        raise InvalidInput(f"User {assignee_id} is not a member of this project and cannot be assigned")


def _check_version(task: Task, expected: int | None) -> None:
    if expected is not None and expected != task.version:
        raise Conflict(
            f"The task changed since version {expected}; it is now at version {task.version}",
            current=TaskPublic.model_validate(task).model_dump(mode="json"),
        )


def list_tasks(session: Session, *, user_id: int, project_id: int, filters: TaskFilters) -> list[TaskPublic]:
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    query = select(Task).where(Task.project_id == project_id)
    if not filters.include_archived:
        query = query.where(Task.archived.is_(False))
    if filters.column_id is not None:
        query = query.where(Task.column_id == filters.column_id)
    if filters.assignee_id is not None:
        query = query.where(Task.assignee_id == filters.assignee_id)
    if filters.label is not None:
        query = query.where(_has_label(session, filters.label))
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(Task.title.ilike(pattern, escape="\\"), Task.description.ilike(pattern, escape="\\"))
        )
    tasks = session.scalars(
        query.order_by(Task.column_id, Task.position, Task.id).limit(filters.limit).offset(filters.offset)
    )
    return [TaskPublic.model_validate(task) for task in tasks]


def get_task(session: Session, *, user_id: int, task_id: int) -> TaskPublic:
    task = task_in_reach(session, user_id=user_id, task_id=task_id, minimum=Role.viewer)
    return TaskPublic.model_validate(task)


def _task_for(session: Session, *, user_id: int, task_id: int) -> Task:
    return locked_in_reach(session, model=Task, row_id=task_id, user_id=user_id, minimum=Role.editor)


def create_task(session: Session, *, user_id: int, project_id: int, data: TaskCreate) -> TaskPublic:
    lock_for_role(session, project_id=project_id, user_id=user_id, minimum=Role.editor)
    column = _target_column(session, project_id=project_id, column_id=data.column_id)
    _check_assignee(session, project_id=project_id, assignee_id=data.assignee_id)
    position = ordering.open_slot(session, model=Task, scope=_column_scope(column.id), position=data.position)
    task = Task(
        project_id=project_id,
        column_id=column.id,
        title=data.title,
        description=data.description,
        priority=data.priority,
        due_at=data.due_at,
        assignee_id=data.assignee_id,
        labels=data.labels,
        position=position,
        created_by=user_id,
    )
    session.add(task)
    session.flush()
    public = TaskPublic.model_validate(task)
    record_event(session, project_id=project_id, type="task.created", actor_id=user_id, data=public)
    session.commit()
    return public


def update_task(
    session: Session, *, user_id: int, task_id: int, data: TaskUpdate, expected_version: int | None = None
) -> TaskPublic:
    task = _task_for(session, user_id=user_id, task_id=task_id)
    _check_version(task, expected_version)
    changes = data.model_dump(exclude_unset=True)
    for field in NOT_NULLABLE:
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null")
    changed = {field: value for field, value in changes.items() if getattr(task, field) != value}
    # Only a new assignee must be a member: echoing back the current one is no change.
    if "assignee_id" in changed:
        _check_assignee(session, project_id=task.project_id, assignee_id=changed["assignee_id"])
    if not changed:
        return TaskPublic.model_validate(task)
    for field, value in changed.items():
        setattr(task, field, value)
    task.version += 1
    session.flush()
    public = TaskPublic.model_validate(task)
    record_event(session, project_id=task.project_id, type="task.updated", actor_id=user_id, data=public)
    session.commit()
    return public


def move_task(
    session: Session, *, user_id: int, task_id: int, data: TaskMove, expected_version: int | None = None
) -> TaskPublic:
    task = _task_for(session, user_id=user_id, task_id=task_id)
    _check_version(task, expected_version)
    target = _target_column(session, project_id=task.project_id, column_id=data.column_id)
    ordering.close_slot(session, model=Task, scope=_column_scope(task.column_id), position=task.position)
    task.position = ordering.open_slot(
        session,
        model=Task,
        scope=_column_scope(target.id) & (Task.id != task.id),
        position=data.position,
    )
    task.column_id = target.id
    task.version += 1
    session.flush()
    public = TaskPublic.model_validate(task)
    record_event(session, project_id=task.project_id, type="task.moved", actor_id=user_id, data=public)
    session.commit()
    return public


def unassign_member(session: Session, *, project_id: int, member_user_id: int, actor_id: int) -> None:
    """Part of removing a member: their tasks in the project are unassigned, each as an update of its own
    (new version, `task.updated`), so boards and pending If-Match writes see it. The caller commits."""
    assigned = session.scalars(
        select(Task)
        .where(Task.project_id == project_id, Task.assignee_id == member_user_id)
        .order_by(Task.id)
    ).all()
    for task in assigned:
        task.assignee_id = None
        task.version += 1
    session.flush()
    for task in assigned:
        public = TaskPublic.model_validate(task)
        record_event(session, project_id=project_id, type="task.updated", actor_id=actor_id, data=public)


def delete_task(session: Session, *, user_id: int, task_id: int, expected_version: int | None = None) -> None:
    task = _task_for(session, user_id=user_id, task_id=task_id)
    _check_version(task, expected_version)
    public = TaskPublic.model_validate(task)
    session.delete(task)
    session.flush()
    ordering.close_slot(session, model=Task, scope=_column_scope(task.column_id), position=task.position)
    record_event(session, project_id=task.project_id, type="task.deleted", actor_id=user_id, data=public)
    session.commit()
