"""Dense 0-based positions inside one scope (a project's columns, a column's tasks).

Callers hold the project row lock (access.lock_project), so positions never interleave between writers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session


def count_in_scope(session: Session, *, model: Any, scope: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(scope)) or 0


def open_slot(session: Session, *, model: Any, scope: Any, position: int | None) -> int:
    """Make room at `position` (clamped; None = the end) and return the position to use."""
    size = count_in_scope(session, model=model, scope=scope)
    target = size if position is None else min(position, size)
    if target == size:  # appending: nothing to shift
        return target
    session.execute(
        update(model)
        .where(scope, model.position >= target)
        .values(position=model.position + 1)
        .execution_options(synchronize_session=False)
    )
    return target


def close_slot(session: Session, *, model: Any, scope: Any, position: int) -> None:
    """Shift everything after a removed item back by one."""
    session.execute(
        update(model)
        .where(scope, model.position > position)
        .values(position=model.position - 1)
        .execution_options(synchronize_session=False)
    )
