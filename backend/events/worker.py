"""Fan-out worker: RabbitMQ queue → Redis PUBLISH "agorax:project:<id>", acked only after the publish.

Run with `python -m backend.events.worker` (1..N of them; they share the queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

import aio_pika
import redis.asyncio as aioredis
import structlog
from aio_pika.abc import AbstractIncomingMessage

from backend.config import get_settings
from backend.events.bus import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    FANOUT_QUEUE,
    redis_channel,
)
from backend.events.rabbitmq import declare_exchange
from backend.logging import configure_logging

log = structlog.get_logger(__name__)

PREFETCH = 100


def project_of(body: bytes) -> int:
    """The project id of a well-formed envelope; ValueError for anything else."""
    envelope = json.loads(body)
    project_id = envelope.get("project_id") if isinstance(envelope, dict) else None
    if not isinstance(project_id, int) or not isinstance(envelope.get("seq"), int):
        raise ValueError("not an Agorax event envelope")
    return project_id


async def declare_topology(channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractQueue:
    exchange = await declare_exchange(channel)
    dead_exchange = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True)
    await dead_queue.bind(dead_exchange)
    queue = await channel.declare_queue(
        FANOUT_QUEUE, durable=True, arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
    )
    await queue.bind(exchange, routing_key="project.#")
    return queue


class FanoutWorker:
    def __init__(self, *, rabbitmq_url: str, redis_url: str) -> None:
        self._rabbitmq_url = rabbitmq_url
        self._redis = aioredis.from_url(redis_url)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        try:
            project_id = project_of(message.body)
        except ValueError as exc:  # malformed: park it in the dead-letter queue instead of looping
            log.error("worker_dead_letter", error=str(exc), message_id=message.message_id)
            await message.reject(requeue=False)
            return
        try:
            await self._redis.publish(redis_channel(project_id), message.body)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("worker_redis_unavailable", error=repr(exc))
            await message.nack(requeue=True)
            await asyncio.sleep(0.5)
            return
        await message.ack()

    async def run(self) -> None:
        connection = await aio_pika.connect_robust(self._rabbitmq_url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            queue = await declare_topology(channel)
            await queue.consume(self.handle)
            log.info("worker_started", queue=FANOUT_QUEUE)
            await asyncio.Future()  # consume until cancelled
        finally:
            await connection.close()
            await self._redis.aclose()


async def _main() -> None:
    settings = get_settings()
    configure_logging()
    worker = FanoutWorker(rabbitmq_url=settings.rabbitmq_url, redis_url=settings.redis_url)
    task = asyncio.create_task(worker.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    asyncio.run(_main())
