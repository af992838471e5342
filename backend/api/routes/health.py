"""GET /api/health: the state of each dependency, and how far behind the event path is.

    {"status": "ok" | "degraded",
     "database": {"state": "up"}, "redis": {"state": "up"}, "rabbitmq": {"state": "up"},
     "relay": {"backlog": 0, "oldest_unpublished_seconds": 0.0},
     "workers": {"state": "up", "queue": "agorax.fanout", "consumers": 2, "queue_depth": 0,
                 "lag_seconds": 0.0, "last_delivery": {...}, "last_delivery_seconds_ago": 1.5}}

The answer is 503 when this process cannot serve (PostgreSQL, Redis or RabbitMQ is down; writes still
succeed without RabbitMQ, but events then wait in the outbox). Workers that are missing or behind make the
status "degraded" and are reported, but do not make this web process unhealthy (they are other processes).

- relay: events committed but not yet handed to RabbitMQ (the outbox backlog) and the age of the oldest.
- workers: the fan-out queue's consumers and the messages waiting in it (ready, not yet taken by a worker;
  from a passive declare), and the last delivery a worker recorded in Redis. `lag_seconds` is 0 when the
  queue is empty; otherwise the time since the last delivered event occurred, an upper bound on the age of
  the oldest waiting event that keeps growing while the workers are stalled (None when no delivery was ever
  recorded). Messages a worker holds unacked (at most its prefetch) do not count as waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from aiormq.exceptions import ChannelNotFoundEntity
from fastapi import APIRouter, Response, status
from sqlalchemy import func, select, text

from backend.ai.engine import engine_for_loop
from backend.api.deps import SettingsDep
from backend.db.models import OutboxEvent
from backend.db.session import get_sessionmaker
from backend.events.rabbitmq import Topology, connect
from backend.events.worker import delivery_key

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 2.0
# A check that has not answered by then is "down" (each check also bounds its own steps).
GUARD_TIMEOUT_SECONDS = CHECK_TIMEOUT_SECONDS + 1.0
DEPENDENCIES = ("database", "redis", "rabbitmq")


def _check_database() -> dict[str, Any]:
    with get_sessionmaker()() as session:
        session.execute(text("SELECT 1"))
        backlog, oldest = session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.published_at.is_(None))
        ).one()
    age = 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())
    return {"state": "up", "relay": {"backlog": backlog, "oldest_unpublished_seconds": round(age, 3)}}


async def _check_redis(url: str, key: str) -> dict[str, Any]:
    client = aioredis.from_url(url, socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=2)
    try:
        await client.ping()
        raw = await client.get(key)
    finally:
        await client.aclose()
    record = None
    with contextlib.suppress(TypeError, ValueError, RecursionError):
        record = json.loads(raw) if raw is not None else None
    return {"state": "up", "last_delivery": record if isinstance(record, dict) else None}


async def _check_rabbitmq(url: str, queue_name: str) -> dict[str, Any]:
    connection = await connect(url, connect_timeout=CHECK_TIMEOUT_SECONDS)  # closes what it half-opened
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(queue_name, passive=True)
            except ChannelNotFoundEntity:  # no relay or worker has declared it yet
                return {"state": "up", "queue": None}
            declared = queue.declaration_result
            return {
                "state": "up",
                "queue": {"depth": declared.message_count, "consumers": declared.consumer_count},
            }
    finally:
        # Shielded: even when the caller gives up on this check, the connection is closed, not leaked.
        await asyncio.shield(connection.close())


async def _guarded(check: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(check, timeout=GUARD_TIMEOUT_SECONDS)
    except Exception as exc:
        return {"state": "down", "error": type(exc).__name__}


def _seconds_since(timestamp: Any, now: float) -> float | None:
    try:
        return round(max(0.0, now - datetime.fromisoformat(timestamp).timestamp()), 3)
    except (TypeError, ValueError):
        return None


def _workers(queue_name: str, rabbitmq: dict[str, Any], redis_state: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    last = redis_state.get("last_delivery")
    workers: dict[str, Any] = {
        "state": "unknown",
        "queue": queue_name,
        "consumers": None,
        "queue_depth": None,
        "lag_seconds": None,
        "last_delivery": last,
        "last_delivery_seconds_ago": _seconds_since(last.get("delivered_at"), now) if last else None,
    }
    queue = rabbitmq.get("queue")
    if rabbitmq["state"] == "up":
        depth = queue["depth"] if queue else 0
        consumers = queue["consumers"] if queue else 0
        workers.update(state="up" if consumers > 0 else "down", consumers=consumers, queue_depth=depth)
        if depth == 0:
            workers["lag_seconds"] = 0.0
        elif last:
            workers["lag_seconds"] = _seconds_since(last.get("occurred_at"), now)
    return workers


@router.get("/health")
async def health(settings: SettingsDep, response: Response) -> dict[str, Any]:
    queue_name = Topology(settings.rabbitmq_namespace).queue
    database, redis_state, rabbitmq_state, gemini = await asyncio.gather(
        _guarded(asyncio.to_thread(_check_database)),
        _guarded(_check_redis(settings.redis_url, delivery_key(queue_name))),
        _guarded(_check_rabbitmq(settings.rabbitmq_url, queue_name)),
        _guarded(engine_for_loop(settings).breaker_state()),
    )
    relay = database.pop("relay", {"backlog": None, "oldest_unpublished_seconds": None})
    workers = _workers(queue_name, rabbitmq_state, redis_state)
    redis_state.pop("last_delivery", None)
    rabbitmq_state.pop("queue", None)
    checks = {"database": database, "redis": redis_state, "rabbitmq": rabbitmq_state}
    serving = all(checks[name]["state"] == "up" for name in DEPENDENCIES)
    if not serving:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    healthy = serving and workers["state"] == "up"
    # The AI layer never takes the app down (the local engine answers), so its breaker is reported only.
    return {
        "status": "ok" if healthy else "degraded",
        **checks,
        "relay": relay,
        "workers": workers,
        "gemini": gemini,
    }
