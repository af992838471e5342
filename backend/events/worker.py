"""Fan-out worker: RabbitMQ queue → Redis PUBLISH "agorax:project:<id>", acked only after the publish.

Run with `python -m backend.events.worker` (1..N of them; they share the queue "<RABBITMQ_NAMESPACE>.fanout",
"agorax.fanout" by default; `--queue NAME` consumes a private, unbound queue instead, for replays and isolated
tests). One worker hands messages to Redis one at a time, in queue order, so a single worker never reorders a
project's events (several may: browsers put them back in order by seq). It retries RabbitMQ and Redis until
they are back, and on SIGTERM/SIGINT finishes the message in hand, returns the rest to the queue and exits
with status 0.

With each delivery the worker records, in the same Redis round trip, when it delivered which event (the
Redis key `delivery_key(queue)`), so that /api/health can tell how far behind the workers are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError
from aiormq.exceptions import AMQPError

from backend.config import get_settings
from backend.events.bus import redis_channel
from backend.events.rabbitmq import (
    DEFAULT_TOPOLOGY,
    Topology,
    cancelled_from_outside,
    connect,
    declare_topology,
)
from backend.logging import configure_logging

log = structlog.get_logger(__name__)

# Unacked messages a worker holds at most (the rest wait in the queue, for this worker or another).
PREFETCH = 100
# How long a delivery record stays in Redis when no worker writes a newer one.
DELIVERY_RECORD_TTL_SECONDS = 7 * 24 * 3600
MAX_BACKOFF_SECONDS = 5.0
# RabbitMQ went away (or never came): reconnect. ChannelInvalidStateError is an ack on a channel that closed.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    AMQPError,
    ChannelInvalidStateError,
    OSError,
    ConnectionError,
    TimeoutError,
)


def delivery_key(queue_name: str) -> str:
    """The Redis key holding the last delivery made from `queue_name` (JSON: project_id, seq, occurred_at,
    delivered_at)."""
    return f"agorax:fanout:last_delivery:{queue_name}"


def parse_envelope(body: bytes) -> dict[str, Any]:
    """A well-formed envelope; ValueError for anything else."""
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
    return envelope


class FanoutWorker:
    def __init__(
        self,
        *,
        rabbitmq_url: str,
        redis_url: str,
        topology: Topology = DEFAULT_TOPOLOGY,
        queue_name: str | None = None,
    ) -> None:
        self._rabbitmq_url = rabbitmq_url
        self._topology = topology
        self._queue_name = queue_name or topology.queue
        self._delivery_key = delivery_key(self._queue_name)
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
            envelope = parse_envelope(message.body)
        except ValueError as exc:  # malformed: park it in the dead-letter queue instead of looping
            log.error("worker_dead_letter", error=str(exc), message_id=message.message_id)
            await message.reject(requeue=False)
            return
        backoff = 0.2
        while True:
            try:
                await self._deliver(envelope, message.body)
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

    async def _deliver(self, envelope: dict[str, Any], body: bytes) -> None:
        """PUBLISH the event and record the delivery, in one round trip. Only a failed PUBLISH raises."""
        record = {
            "project_id": envelope["project_id"],
            "seq": envelope["seq"],
            "occurred_at": envelope.get("occurred_at"),
            "delivered_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.publish(redis_channel(envelope["project_id"], namespace=self._topology.namespace), body)
            pipe.set(self._delivery_key, json.dumps(record), ex=DELIVERY_RECORD_TTL_SECONDS)
            published, recorded = await pipe.execute(raise_on_error=False)
        if isinstance(published, BaseException):
            raise published
        if isinstance(recorded, BaseException):
            log.warning("worker_delivery_record_failed", error=repr(recorded))

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
                except asyncio.CancelledError:
                    if self._stopping or cancelled_from_outside():
                        raise
                    # Not a stop: aiormq cancels what was waiting on a connection that died (an ack, say).
                    log.warning("worker_rabbitmq_unavailable", error="connection lost", backoff=backoff)
                if self._stopping:
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            await self._redis.aclose()

    async def _consume(self) -> None:
        """One connection's life: returns when the broker closes it."""
        connection = await connect(self._rabbitmq_url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            _, queue = await declare_topology(channel, self._topology, self._queue_name)
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


async def _main(queue_name: str | None) -> None:
    settings = get_settings()
    configure_logging()
    worker = FanoutWorker(
        rabbitmq_url=settings.rabbitmq_url,
        redis_url=settings.redis_url,
        topology=Topology(settings.rabbitmq_namespace),
        queue_name=queue_name,
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
    parser.add_argument(
        "--queue", default=None, help="queue to consume (default: <RABBITMQ_NAMESPACE>.fanout)"
    )
    asyncio.run(_main(parser.parse_args().queue))
