"""Wiring the relay to the configured broker; used by the FastAPI lifespan and by the Reflex app."""

from __future__ import annotations

from datetime import timedelta

from backend.config import Settings
from backend.events.bus import EventBroker
from backend.events.rabbitmq import RabbitMQBroker, Topology
from backend.events.relay import OutboxRelay


def topology(settings: Settings) -> Topology:
    return Topology(settings.rabbitmq_namespace)


def build_relay(settings: Settings) -> OutboxRelay:
    names = topology(settings)

    async def connect_broker() -> EventBroker:
        return await RabbitMQBroker.connect(settings.rabbitmq_url, topology=names)

    return OutboxRelay(
        database_url=settings.database_url,
        connect_broker=connect_broker,
        poll_seconds=settings.outbox_poll_seconds,
        retention=timedelta(hours=settings.outbox_retention_hours),
    )
