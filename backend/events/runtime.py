"""Wiring the relay to the configured broker; used by the FastAPI lifespan and by the Reflex app."""

from __future__ import annotations

from backend.config import Settings
from backend.events.bus import EventBroker
from backend.events.rabbitmq import RabbitMQBroker
from backend.events.relay import OutboxRelay


def build_relay(settings: Settings) -> OutboxRelay:
    async def connect_broker() -> EventBroker:
        return await RabbitMQBroker.connect(settings.rabbitmq_url)

    return OutboxRelay(
        database_url=settings.database_url,
        connect_broker=connect_broker,
        poll_seconds=settings.outbox_poll_seconds,
    )
