from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika
import redis.asyncio as aioredis
from fastapi import APIRouter, Response, status
from sqlalchemy import func, select, text

from backend.api.deps import SettingsDep
from backend.db.models import OutboxEvent
from backend.db.session import get_sessionmaker

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 2.0


def _check_database() -> dict[str, Any]:
    with get_sessionmaker()() as session:
        session.execute(text("SELECT 1"))
        backlog, oldest = session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.published_at.is_(None))
        ).one()
    age = 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())
    return {"state": "up", "outbox_backlog": backlog, "oldest_unpublished_seconds": round(age, 3)}


async def _check_redis(url: str) -> dict[str, Any]:
    client = aioredis.from_url(url, socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await client.ping()
        return {"state": "up"}
    finally:
        await client.aclose()


async def _check_rabbitmq(url: str) -> dict[str, Any]:
    connection = await aio_pika.connect(url, timeout=CHECK_TIMEOUT_SECONDS)
    await connection.close()
    return {"state": "up"}


async def _guarded(check: Any) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(check, timeout=CHECK_TIMEOUT_SECONDS + 0.5)
    except Exception as exc:
        return {"state": "down", "error": type(exc).__name__}


@router.get("/health")
async def health(settings: SettingsDep, response: Response) -> dict[str, Any]:
    database, redis_state, rabbitmq_state = await asyncio.gather(
        _guarded(asyncio.to_thread(_check_database)),
        _guarded(_check_redis(settings.redis_url)),
        _guarded(_check_rabbitmq(settings.rabbitmq_url)),
    )
    checks = {"database": database, "redis": redis_state, "rabbitmq": rabbitmq_state}
    healthy = all(check["state"] == "up" for check in checks.values())
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ok" if healthy else "degraded", **checks}
