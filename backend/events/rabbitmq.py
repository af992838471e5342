"""RabbitMQ side of the bus: the topology, and the broker the outbox relay publishes to (with confirms)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue

from backend.events.bus import DEFAULT_NAMESPACE, EXCHANGE_NAME, Envelope, routing_key

CONNECT_TIMEOUT_SECONDS = 5
PUBLISH_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Topology:
    """The names of the exchange and queues one Agorax deployment uses on a broker.

    The default namespace "agorax" gives exactly the names in `backend.events.bus` ("agorax.events",
    "agorax.fanout", "agorax.events.dead", "agorax.fanout.dead"); another namespace (RABBITMQ_NAMESPACE)
    lets several deployments, or test runs, share one broker without taking each other's events."""

    namespace: str = DEFAULT_NAMESPACE

    @property
    def exchange(self) -> str:
        return f"{self.namespace}.events"

    @property
    def queue(self) -> str:
        return f"{self.namespace}.fanout"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dead"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead"


DEFAULT_TOPOLOGY = Topology()


def cancelled_from_outside() -> bool:
    """Whether the current task is being cancelled (task.cancel()), as opposed to a CancelledError raised by
    aiormq into whatever awaited a future of a connection or channel that just closed."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def connect(url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> AbstractConnection:
    """`aio_pika.connect`, except that a connection that fails (or is cancelled) half-way is closed here.
    aio_pika drops it unclosed, and its finaliser then schedules a close that may never run ("coroutine
    'Connection.close' was never awaited")."""
    connection = aio_pika.Connection(aio_pika.connection.make_url(url))
    try:
        await connection.connect(timeout=connect_timeout)
    except BaseException:
        await connection.close()
        raise
    return connection


async def declare_exchange(channel: AbstractChannel, name: str = EXCHANGE_NAME) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_topology(
    channel: AbstractChannel, topology: Topology = DEFAULT_TOPOLOGY, queue_name: str | None = None
) -> tuple[AbstractExchange, AbstractQueue]:
    """The events exchange, the fan-out workers' shared queue bound to it, and the dead-letter queue that
    takes what a worker rejects. Declared by both sides (idempotent), so that events published before any
    worker ever ran wait in the queue instead of being dropped as unroutable.

    Another `queue_name` declares a private queue with the same dead-lettering that is NOT bound to the
    exchange: it gets only what is published to it directly (replays, isolated tests)."""
    queue_name = queue_name or topology.queue
    exchange = await declare_exchange(channel, topology.exchange)
    dead_exchange = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(topology.dead_letter_queue, durable=True)
    await dead_queue.bind(dead_exchange)
    queue = await channel.declare_queue(
        queue_name, durable=True, arguments={"x-dead-letter-exchange": topology.dead_letter_exchange}
    )
    if queue_name == topology.queue:
        await queue.bind(exchange, routing_key="project.#")
    return exchange, queue


class RabbitMQBroker:
    """An `EventBroker`. A plain (not robust) connection: the relay owns reconnection, and a publish on a
    dead connection must fail fast rather than wait for a background reconnect."""

    def __init__(self, connection: AbstractConnection, exchange: AbstractExchange) -> None:
        self._connection = connection
        self._exchange = exchange

    @classmethod
    async def connect(
        cls, url: str, *, topology: Topology = DEFAULT_TOPOLOGY, exchange_name: str | None = None
    ) -> RabbitMQBroker:
        """Publishes to the topology's exchange, declaring the whole topology. An `exchange_name` other than
        the topology's is for isolated set-ups (tests): only that exchange is declared."""
        connection = await connect(url)
        try:
            # on_return_raises: a message the broker could not route to any queue is a failed publish,
            # not a confirmed one (the default hands it back as a "result" and it would be lost).
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            if exchange_name is None or exchange_name == topology.exchange:
                exchange, _ = await declare_topology(channel, topology)
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
