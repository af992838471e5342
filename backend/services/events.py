"""Reading a project's event history back from the outbox (catch-up after a gap or a reconnect)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import OutboxEvent, Project, Role
from backend.schemas import EventEnvelope, EventPage
from backend.services.access import require_role

EVENT_PAGE_MAX = 500


def list_events(
    session: Session, *, user_id: int, project_id: int, after: int, limit: int = EVENT_PAGE_MAX
) -> EventPage:
    require_role(session, project_id=project_id, user_id=user_id, minimum=Role.viewer)
    return events_after(session, project_id=project_id, after=after, limit=limit)


def events_after(session: Session, *, project_id: int, after: int, limit: int = EVENT_PAGE_MAX) -> EventPage:
    """Events with seq > after, oldest first. `complete` is False when some of them were already purged,
    in which case the reader must reload the board instead of replaying."""
    last_seq = session.scalar(select(Project.event_seq).where(Project.id == project_id)) or 0
    rows = session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.project_id == project_id, OutboxEvent.seq > after)
        .order_by(OutboxEvent.seq)
        .limit(limit)
    ).all()
    oldest_kept = session.scalar(
        select(func.min(OutboxEvent.seq)).where(OutboxEvent.project_id == project_id)
    )
    complete = after >= last_seq or (oldest_kept is not None and oldest_kept <= after + 1)
    return EventPage(
        events=[EventEnvelope.model_validate(row) for row in rows], last_seq=last_seq, complete=complete
    )
