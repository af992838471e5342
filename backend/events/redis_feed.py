"""Redis side of the bus: a web process's feed of every project's events (pattern subscription)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis
import structlog

from backend.events.bus import DEFAULT_NAMESPACE, Envelope, redis_channel_pattern

log = structlog.get_logger(__name__)

# Short: while the feed is away, browsers get nothing live.
MAX_BACKOFF_SECONDS = 2.0


class RedisFeed:
    def __init__(self, redis_url: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis_url = redis_url
        self._pattern = redis_channel_pattern(namespace=namespace)

    async def listen(
        self, *, on_resubscribed: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[Envelope]:
        backoff = 0.2
        subscribed_before = False
        while True:
            # The health check pings an idle connection, so a dead one is noticed within seconds.
            client = aioredis.from_url(self._redis_url, health_check_interval=2, socket_keepalive=True)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.psubscribe(self._pattern)
                    backoff = 0.2
                    if subscribed_before and on_resubscribed is not None:
                        # Pub/sub kept nothing while we were away: the readers fetch what they missed.
                        await on_resubscribed()
                    subscribed_before = True
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
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                await client.aclose()
