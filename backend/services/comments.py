"""Comments on tasks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Comment, Role, Task
from backend.events.outbox import record_event
from backend.schemas import CommentCreate, CommentPublic
from backend.services.access import locked_in_reach, task_in_reach


def list_comments(session: Session, *, user_id: int, task_id: int) -> list[CommentPublic]:
    task_in_reach(session, user_id=user_id, task_id=task_id, minimum=Role.viewer)
    comments = session.scalars(
        select(Comment).where(Comment.task_id == task_id).order_by(Comment.created_at, Comment.id)
    )
    return [CommentPublic.model_validate(comment) for comment in comments]


def add_comment(session: Session, *, user_id: int, task_id: int, data: CommentCreate) -> CommentPublic:
    # Locked like every write: a comment must not land on a task that is being deleted.
    task = locked_in_reach(session, model=Task, row_id=task_id, user_id=user_id, minimum=Role.editor)
    comment = Comment(task_id=task.id, author_id=user_id, body=data.body)
    session.add(comment)
    session.flush()
    public = CommentPublic.model_validate(comment)
    record_event(session, project_id=task.project_id, type="comment.created", actor_id=user_id, data=public)
    session.commit()
    return public
