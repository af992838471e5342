"""RabbitMQ side of the bus: the topology, and the broker the outbox relay publishes to (with confirms)."""

from __future__ import annotations

import json

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue

from backend.events.bus import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EXCHANGE_NAME,
    FANOUT_QUEUE,
    Envelope,
    routing_key,
)

CONNECT_TIMEOUT_SECONDS = 5
PUBLISH_TIMEOUT_SECONDS = 10


async def declare_exchange(channel: AbstractChannel, name: str = EXCHANGE_NAME) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_topology(
    channel: AbstractChannel, queue_name: str = FANOUT_QUEUE
) -> tuple[AbstractExchange, AbstractQueue]:
    """The events exchange, the fan-out workers' shared queue bound to it, and the dead-letter queue that
    takes what a worker rejects. Declared by both sides (idempotent), so that events published before any
    worker ever ran wait in the queue instead of being dropped as unroutable.

    Another `queue_name` declares a private queue with the same dead-lettering that is NOT bound to the
    exchange: it gets only what is published to it directly (replays, isolated tests)."""
    exchange = await declare_exchange(channel)
    dead_exchange = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True)
    await dead_queue.bind(dead_exchange)
    queue = await channel.declare_queue(
        queue_name, durable=True, arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
    )
    if queue_name == FANOUT_QUEUE:
        await queue.bind(exchange, routing_key="project.#")
    return exchange, queue


class RabbitMQBroker:
    """An `EventBroker`. A plain (not robust) connection: the relay owns reconnection, and a publish on a
    dead connection must fail fast rather than wait for a background reconnect."""

    def __init__(self, connection: AbstractConnection, exchange: AbstractExchange) -> None:
        self._connection = connection
        self._exchange = exchange

    @classmethod
    async def connect(cls, url: str, *, exchange_name: str = EXCHANGE_NAME) -> RabbitMQBroker:
        """`exchange_name` other than the standard one is for isolated set-ups (tests); only the standard
        exchange gets the fan-out topology."""
        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            # on_return_raises: a message the broker could not route to any queue is a failed publish,
            # not a confirmed one (the default hands it back as a "result" and it would be lost).
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            if exchange_name == EXCHANGE_NAME:
                exchange, _ = await declare_topology(channel)
            else:
                exchange = await declare_exchange(channel, exchange_name)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, exchange)

    async def publish(self, envelope: Envelope) -> None:
        message = aio_pika.Message(
            body=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope["id"],
            type=envelope["type"],
        )
        await self._exchange.publish(
            message, routing_key=routing_key(envelope), mandatory=True, timeout=PUBLISH_TIMEOUT_SECONDS
        )

    async def close(self) -> None:
        await self._connection.close()
