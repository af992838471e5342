"""Transactional outbox: an event row is written in the same transaction as the change it describes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import OutboxEvent, Project

# The outbox's insert trigger (migration 0002) notifies this channel; the relay LISTENs on it.
NOTIFY_CHANNEL = "agorax_outbox"


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_event(
    session: Session,
    *,
    project_id: int,
    type: str,
    actor_id: int | None,
    data: BaseModel | dict[str, Any],
) -> dict[str, Any]:
    """Add one event to the current transaction and return its envelope.

    Taking the next seq with an UPDATE locks the project row until commit, so concurrent writers to one
    project commit in seq order and consumers see a gap-free, strictly increasing sequence.
    """
    seq = session.execute(
        update(Project)
        .where(Project.id == project_id)
        .values(event_seq=Project.event_seq + 1)
        .returning(Project.event_seq)
    ).scalar_one()
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    envelope = {
        "id": str(uuid.uuid4()),
        "type": type,
        "project_id": project_id,
        "seq": seq,
        "actor_id": actor_id,
        "occurred_at": format_timestamp(datetime.now(UTC)),
        "data": payload,
    }
    session.add(
        OutboxEvent(id=uuid.UUID(envelope["id"]), project_id=project_id, seq=seq, type=type, payload=envelope)
    )
    return envelope
