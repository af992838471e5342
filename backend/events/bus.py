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
DEFAULT_NAMESPACE = "agorax"


def routing_key(envelope: Envelope) -> str:
    return f"project.{envelope['project_id']}.{envelope['type']}"


def redis_channel(project_id: int, *, namespace: str = DEFAULT_NAMESPACE) -> str:
    """ "agorax:project:<id>"; a deployment (or test run) with its own RABBITMQ_NAMESPACE has its own channels
    too, so that two of them on one Redis never see each other's project ids."""
    return f"{namespace}:project:{project_id}"


def redis_channel_pattern(*, namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"{namespace}:project:*"


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
