"""RabbitMQ side of the bus: the broker the outbox relay publishes to (publisher confirms)."""

from __future__ import annotations

import json

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from backend.events.bus import EXCHANGE_NAME, Envelope, routing_key

PUBLISH_TIMEOUT_SECONDS = 10


async def declare_exchange(channel: aio_pika.abc.AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(EXCHANGE_NAME, aio_pika.ExchangeType.TOPIC, durable=True)


class RabbitMQBroker:
    def __init__(self, connection: AbstractRobustConnection, exchange: AbstractExchange) -> None:
        self._connection = connection
        self._exchange = exchange

    @classmethod
    async def connect(cls, url: str) -> RabbitMQBroker:
        connection = await aio_pika.connect_robust(url, timeout=5)
        channel = await connection.channel(publisher_confirms=True)
        return cls(connection, await declare_exchange(channel))

    async def publish(self, envelope: Envelope) -> None:
        message = aio_pika.Message(
            body=json.dumps(envelope, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope["id"],
            type=envelope["type"],
        )
        await self._exchange.publish(
            message, routing_key=routing_key(envelope), timeout=PUBLISH_TIMEOUT_SECONDS
        )

    async def close(self) -> None:
        await self._connection.close()
