"""The board as one browser session holds it, kept in step with the server by applying events in seq order.

Plain Python (no Reflex), so the replication rules are unit-tested on their own. Positions follow the
server's rules in backend/services/ordering.py: dense 0-based per column, a move closes the gap it leaves
and opens one where it lands. Applying an event that the board already reflects (the user's own optimistic
change coming back) leaves it unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # seq already applied: dropped
    GAP = "gap"  # events are missing before this one: fetch them, or reload
    RELOAD = "reload"  # applied, but the board layout changed enough to reload it
    CLOSED = "closed"  # the project is gone, or the user no longer has access


@dataclass(frozen=True, kw_only=True)
class TaskItem:
    id: int
    column_id: int
    title: str
    position: int
    version: int
    archived: bool = False
    priority: int | None = None
    due_at: str | None = None
    labels: tuple[str, ...] = ()
    assignee_id: int | None = None

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> TaskItem:
        return cls(
            id=data["id"],
            column_id=data["column_id"],
            title=data["title"],
            position=data["position"],
            version=data["version"],
            archived=data.get("archived", False),
            priority=data.get("priority"),
            due_at=data.get("due_at"),
            labels=tuple(data.get("labels") or ()),
            assignee_id=data.get("assignee_id"),
        )


@dataclass(frozen=True, kw_only=True)
class ColumnItem:
    id: int
    name: str
    position: int
    is_done: bool = False


@dataclass(kw_only=True)
class BoardModel:
    project_id: int
    project_name: str
    user_id: int
    role: str
    last_seq: int
    columns: dict[int, ColumnItem] = field(default_factory=dict)
    tasks: dict[int, TaskItem] = field(default_factory=dict)
    closed_reason: str = ""

    # Reading

    def ordered_columns(self) -> list[ColumnItem]:
        return sorted(self.columns.values(), key=lambda column: (column.position, column.id))

    def visible_tasks(self, column_id: int) -> list[TaskItem]:
        in_column = [t for t in self.tasks.values() if t.column_id == column_id and not t.archived]
        return sorted(in_column, key=lambda task: (task.position, task.id))

    def column_size(self, column_id: int, *, excluding: int | None = None) -> int:
        return sum(1 for t in self.tasks.values() if t.column_id == column_id and t.id != excluding)

    # Local edits (also used to apply events)

    def _shift(self, column_id: int, *, from_position: int, delta: int, excluding: int | None) -> None:
        for task_id, task in list(self.tasks.items()):
            if task.column_id == column_id and task.id != excluding and task.position >= from_position:
                self.tasks[task_id] = replace(task, position=task.position + delta)

    def put_moved(self, moved: TaskItem) -> None:
        """Place a task at (column_id, position), closing its old slot and opening the new one."""
        current = self.tasks.get(moved.id)
        if current is not None:
            self._shift(current.column_id, from_position=current.position + 1, delta=-1, excluding=moved.id)
        self._shift(moved.column_id, from_position=moved.position, delta=+1, excluding=moved.id)
        self.tasks[moved.id] = moved

    def remove_task(self, task_id: int) -> None:
        task = self.tasks.pop(task_id, None)
        if task is not None:
            self._shift(task.column_id, from_position=task.position + 1, delta=-1, excluding=task_id)

    def move_to_end(self, task_id: int, column_id: int) -> TaskItem:
        task = self.tasks[task_id]
        end = self.column_size(column_id, excluding=task_id)
        moved = replace(task, column_id=column_id, position=end)
        self.put_moved(moved)
        return moved

    # Columns (local edits; a column event from the server reloads the board)

    def move_column(self, column_id: int, position: int) -> None:
        """Put a column at `position` (clamped), renumbering all densely from 0 as the server does."""
        ordered = [column for column in self.ordered_columns() if column.id != column_id]
        position = max(0, min(position, len(ordered)))
        ordered.insert(position, self.columns[column_id])
        for index, column in enumerate(ordered):
            self.columns[column.id] = replace(column, position=index)

    def remove_column(self, column_id: int) -> None:
        self.columns.pop(column_id, None)
        for index, column in enumerate(self.ordered_columns()):
            self.columns[column.id] = replace(column, position=index)

    # Events

    def apply(self, envelope: dict[str, Any]) -> Outcome:
        seq = envelope["seq"]
        if seq <= self.last_seq:
            return Outcome.DUPLICATE
        if seq > self.last_seq + 1:
            return Outcome.GAP
        self.last_seq = seq
        return self._apply_type(envelope["type"], envelope["data"])

    def _apply_type(self, kind: str, data: dict[str, Any]) -> Outcome:
        if kind in ("task.created", "task.moved"):
            incoming = TaskItem.from_public(data)
            current = self.tasks.get(incoming.id)
            if kind == "task.created" and current is not None:
                self.tasks[incoming.id] = incoming  # our own optimistic create, confirmed
            else:
                self.put_moved(incoming)
        elif kind == "task.updated":
            # Updates never change column or position, so the server's record can be taken as it is.
            self.tasks[data["id"]] = TaskItem.from_public(data)
        elif kind == "task.deleted":
            self.remove_task(data["id"])
        elif kind.startswith("column."):
            return Outcome.RELOAD
        elif kind == "project.updated":
            self.project_name = data["name"]
        elif kind == "project.deleted":
            self.closed_reason = "The project was deleted"
            return Outcome.CLOSED
        elif kind in ("member.removed", "member.role_changed") and data["user_id"] == self.user_id:
            if kind == "member.removed":
                self.closed_reason = "You were removed from this project"
                return Outcome.CLOSED
            self.role = data["role"]
        return Outcome.APPLIED
