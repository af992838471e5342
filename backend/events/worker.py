"""Fan-out worker: RabbitMQ queue → Redis PUBLISH "agorax:project:<id>", acked only after the publish.

Run with `python -m backend.events.worker` (1..N of them; they share the queue "agorax.fanout"; `--queue NAME`
consumes a private, unbound queue instead, for replays and isolated tests). One worker hands messages to
Redis one at a time, in queue order, so a single worker never reorders a project's events. It retries
RabbitMQ and Redis until they are back, and on SIGTERM/SIGINT finishes the message in hand, returns the
rest to the queue and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal

import aio_pika
import redis.asyncio as aioredis
import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError
from aiormq.exceptions import AMQPError

from backend.config import get_settings
from backend.events.bus import FANOUT_QUEUE, redis_channel
from backend.events.rabbitmq import CONNECT_TIMEOUT_SECONDS, declare_topology
from backend.logging import configure_logging

log = structlog.get_logger(__name__)

PREFETCH = 100
MAX_BACKOFF_SECONDS = 5.0
# RabbitMQ went away (or never came): reconnect. ChannelInvalidStateError is an ack on a channel that closed.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    AMQPError,
    ChannelInvalidStateError,
    OSError,
    ConnectionError,
    TimeoutError,
)


def project_of(body: bytes) -> int:
    """The project id of a well-formed envelope; ValueError for anything else."""
    try:
        envelope = json.loads(body)
    except RecursionError as exc:  # absurdly nested JSON
        raise ValueError("not JSON an Agorax worker accepts") from exc
    if not isinstance(envelope, dict):
        raise ValueError("not an Agorax event envelope")
    project_id, seq = envelope.get("project_id"), envelope.get("seq")
    if (
        type(project_id) is not int
        or type(seq) is not int
        or not isinstance(envelope.get("id"), str)
        or not isinstance(envelope.get("type"), str)
    ):
        raise ValueError("not an Agorax event envelope")
    return project_id


class FanoutWorker:
    def __init__(self, *, rabbitmq_url: str, redis_url: str, queue_name: str = FANOUT_QUEUE) -> None:
        self._rabbitmq_url = rabbitmq_url
        self._queue_name = queue_name
        self._redis = aioredis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self._stopping = False
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    def request_stop(self) -> None:
        """Stop after the message in hand (at once when idle; a second request never waits)."""
        already = self._stopping
        self._stopping = True
        if self._task is not None and (already or not self._busy):
            self._task.cancel()

    async def handle(self, message: AbstractIncomingMessage) -> None:
        try:
            project_id = project_of(message.body)
        except ValueError as exc:  # malformed: park it in the dead-letter queue instead of looping
            log.error("worker_dead_letter", error=str(exc), message_id=message.message_id)
            await message.reject(requeue=False)
            return
        backoff = 0.2
        while True:
            try:
                await self._redis.publish(redis_channel(project_id), message.body)
                break
            except (aioredis.RedisError, OSError) as exc:
                if self._stopping:
                    await message.nack(requeue=True)
                    return
                # Keep the message (and the order behind it) and wait for Redis to come back.
                log.warning("worker_redis_unavailable", error=repr(exc), backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        await message.ack()

    async def run(self) -> None:
        """Consume until cancelled (see `request_stop`); reconnects to RabbitMQ whenever it goes away."""
        self._task = asyncio.current_task()
        backoff = 0.2
        try:
            while not self._stopping:
                try:
                    await self._consume()
                    backoff = 0.2
                except BROKER_ERRORS as exc:
                    log.warning("worker_rabbitmq_unavailable", error=repr(exc), backoff=backoff)
                if self._stopping:
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            await self._redis.aclose()

    async def _consume(self) -> None:
        """One connection's life: returns when the broker closes it."""
        connection = await aio_pika.connect(self._rabbitmq_url, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            _, queue = await declare_topology(channel, self._queue_name)
            async with queue.iterator() as messages:
                log.info("worker_started", queue=self._queue_name)
                async for message in messages:
                    self._busy = True
                    try:
                        await self.handle(message)
                    finally:
                        self._busy = False
                    if self._stopping:
                        return
            log.warning("worker_rabbitmq_closed")
        finally:
            with contextlib.suppress(Exception):
                await connection.close()


async def _main(queue_name: str) -> None:
    settings = get_settings()
    configure_logging()
    worker = FanoutWorker(
        rabbitmq_url=settings.rabbitmq_url, redis_url=settings.redis_url, queue_name=queue_name
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.request_stop)
    task = asyncio.create_task(worker.run(), name="fanout-worker")
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("worker_stopped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Agorax fan-out worker: RabbitMQ → Redis pub/sub")
    parser.add_argument("--queue", default=FANOUT_QUEUE, help=f"queue to consume (default {FANOUT_QUEUE})")
    asyncio.run(_main(parser.parse_args().queue))
