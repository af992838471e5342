"""Imports from other tools: each makes one new project, written in one transaction (all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.db.models import Column, Comment, Project, ProjectMember, Role, Task
from backend.events.outbox import record_event
from backend.importers.trello import BoardPlan, CommentPlan
from backend.schemas import YEAR_MAX, YEAR_MIN, ProjectCreate
from backend.services.errors import InvalidInput, NotFound
from backend.services.members import member_public
from backend.services.users import find_user_by_username


@dataclass(frozen=True, slots=True)
class ImportSummary:
    project_id: int
    project_name: str
    owner_username: str
    columns: int
    open_tasks: int
    archived_tasks: int
    comments: int
    labels: int
    checklists: int
    skipped_cards: tuple[tuple[str, int], ...]
    skipped_comments: int
    missing_comments: int
    dropped_due_dates: int

    def describe(self) -> str:
        skipped = f"skipped {_count(sum(n for _, n in self.skipped_cards), 'card')} in closed lists"
        if self.skipped_cards:
            skipped += " (" + ", ".join(f"{name}: {n}" for name, n in self.skipped_cards) + ")"
        if self.skipped_comments:
            skipped += f" and {_count(self.skipped_comments, 'comment')} on cards not imported"
        counts = ", ".join(
            [
                _count(self.columns, "column"),
                _count(self.open_tasks, "open task"),
                _count(self.archived_tasks, "archived task"),
                _count(self.comments, "comment"),
                _count(self.labels, "label"),
                _count(self.checklists, "checklist"),
            ]
        )
        notes = [counts, skipped]
        if self.missing_comments:
            notes.append(
                f"the file lacks {_count(self.missing_comments, 'older comment')} that its cards count "
                "(Trello exports only the newest 1000 actions)"
            )
        if self.dropped_due_dates:
            dropped = _count(self.dropped_due_dates, "due date")
            notes.append(f"left out {dropped} outside the years {YEAR_MIN} to {YEAR_MAX}")
        return (
            f'Imported "{self.project_name}" as project {self.project_id} for {self.owner_username}: '
            + "; ".join(notes)
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def import_trello_board(
    session: Session, *, owner_username: str, board: BoardPlan, name: str | None = None
) -> ImportSummary:
    """The owner gets a new project holding the board's open lists as columns and their cards as tasks.
    Nobody can be watching a project that did not exist, so the import emits no events (event_seq stays 0)."""
    owner = find_user_by_username(session, username=owner_username)
    if owner is None:
        raise NotFound(f'There is no user named "{owner_username}"')
    try:
        data = ProjectCreate(name=board.name if name is None else name, description=board.description)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid project name: {exc.errors()[0]['msg']}") from None

    project = Project(name=data.name, description=data.description)
    session.add(project)
    session.flush()
    membership = ProjectMember(project_id=project.id, user_id=owner.id, role=Role.owner)
    session.add(membership)
    session.flush()
    # The owner's open project list shows the new board at once (it follows its user's member events).
    record_event(
        session, project_id=project.id, type="member.added", actor_id=owner.id, data=member_public(membership)
    )

    columns = [
        Column(project_id=project.id, name=column.name, position=position, is_done=column.is_done)
        for position, column in enumerate(board.columns)
    ]
    session.add_all(columns)
    session.flush()

    imported: list[tuple[Task, tuple[CommentPlan, ...]]] = []
    for column, plan in zip(columns, board.columns, strict=True):
        for position, task in enumerate(plan.tasks):
            row = Task(
                project_id=project.id,
                column_id=column.id,
                title=task.title,
                description=task.description,
                due_at=task.due_at,
                labels=list(task.labels),
                position=position,
                archived=task.archived,
                created_by=owner.id,
            )
            imported.append((row, task.comments))
    session.add_all([row for row, _ in imported])
    session.flush()
    # The original author and date live in the body; the row keeps the original time so the order holds.
    session.add_all(
        Comment(task_id=row.id, author_id=owner.id, body=comment.body, created_at=comment.posted_at)
        for row, comments in imported
        for comment in comments
    )
    session.commit()

    tasks = [task for column in board.columns for task in column.tasks]
    return ImportSummary(
        project_id=project.id,
        project_name=data.name,
        owner_username=owner.username,
        columns=len(columns),
        open_tasks=sum(not task.archived for task in tasks),
        archived_tasks=sum(task.archived for task in tasks),
        comments=sum(len(task.comments) for task in tasks),
        labels=len({label for task in tasks for label in task.labels}),
        checklists=sum(task.checklists for task in tasks),
        skipped_cards=board.skipped_cards,
        skipped_comments=board.skipped_comments,
        missing_comments=board.missing_comments,
        dropped_due_dates=board.dropped_due_dates,
    )
