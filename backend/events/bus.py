"""The two small interfaces between Agorax and its message infrastructure.

A broker takes envelopes from the outbox relay (publish returns only once the broker holds the event);
a feed hands a web process the envelopes of every project as they arrive. `rabbitmq.py` + `redis_feed.py`
implement them on the real services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

Envelope = dict[str, Any]

EXCHANGE_NAME = "agorax.events"
FANOUT_QUEUE = "agorax.fanout"
DEAD_LETTER_EXCHANGE = "agorax.events.dead"
DEAD_LETTER_QUEUE = "agorax.fanout.dead"
REDIS_CHANNEL_PREFIX = "agorax:project:"


def routing_key(envelope: Envelope) -> str:
    return f"project.{envelope['project_id']}.{envelope['type']}"


def redis_channel(project_id: int) -> str:
    return f"{REDIS_CHANNEL_PREFIX}{project_id}"


class EventBroker(Protocol):
    async def publish(self, envelope: Envelope) -> None:
        """Return once the broker has confirmed the event; raise if it could not take it."""
        ...

    async def close(self) -> None: ...


class EventFeed(Protocol):
    def listen(
        self, *, on_resubscribed: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[Envelope]:
        """Every project's envelopes reaching this process, until cancelled. Reconnects by itself and
        then awaits `on_resubscribed`, since events published meanwhile were not kept for it."""
        ...
