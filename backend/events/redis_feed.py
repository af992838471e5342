"""Redis side of the bus: a web process's feed of every project's events (pattern subscription)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
import structlog

from backend.events.bus import REDIS_CHANNEL_PREFIX, Envelope

log = structlog.get_logger(__name__)


class RedisFeed:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url

    async def listen(self) -> AsyncIterator[Envelope]:
        backoff = 0.2
        while True:
            client = aioredis.from_url(self._redis_url, health_check_interval=5)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.psubscribe(f"{REDIS_CHANNEL_PREFIX}*")
                    backoff = 0.2
                    async for message in pubsub.listen():
                        try:
                            envelope = json.loads(message["data"])
                        except (TypeError, ValueError, RecursionError):
                            envelope = None
                        if not isinstance(envelope, dict):
                            log.warning("feed_bad_message", channel=message.get("channel"))
                            continue
                        yield envelope
            except (aioredis.RedisError, OSError) as exc:
                log.warning("feed_reconnect", error=repr(exc), backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                await client.aclose()
