"""Outbox relay: moves committed events from the outbox table to the broker, marking each published only
after the broker confirmed it. Woken by LISTEN/NOTIFY, with a polling fallback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from aiormq.exceptions import AMQPError
from psycopg.rows import dict_row
from sqlalchemy import make_url

from backend.events.bus import EventBroker
from backend.events.outbox import NOTIFY_CHANNEL

log = structlog.get_logger(__name__)

BATCH_SIZE = 200
MAX_BACKOFF_SECONDS = 10.0
# One relay drains at a time (transaction-scoped advisory lock), so that several web processes, each running
# a relay, cannot publish one project's events out of seq order (SKIP LOCKED alone lets a second relay take
# seq 6 while the first is still publishing seq 4 and 5).
DRAIN_LOCK_KEY = 0x61676F726178  # "agorax"
# Failures that mean "the database or the broker is not there right now": retried with a short log line.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    ConnectionError,
    psycopg.Error,
    AMQPError,
)


def libpq_url(database_url: str) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) → a plain libpq one for psycopg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxRelay:
    def __init__(
        self,
        *,
        database_url: str,
        connect_broker: Callable[[], Awaitable[EventBroker]],
        poll_seconds: float = 1.0,
    ) -> None:
        self._conninfo = libpq_url(database_url)
        self._connect_broker = connect_broker
        self._poll_seconds = poll_seconds
        self._broker: EventBroker | None = None
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Runs until cancelled; any failure (database or broker down) is retried with backoff."""
        listener = asyncio.create_task(self._listen(), name="outbox-listen")
        backoff = 0.5
        try:
            while True:
                try:
                    published = await self.drain_once()
                    backoff = 0.5
                except TRANSIENT_ERRORS as exc:
                    log.warning("outbox_relay_retry", error=repr(exc), backoff=backoff)
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                except Exception as exc:  # an unexpected error: keep relaying, never die silently
                    log.exception("outbox_relay_error", error=repr(exc))
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                if published < BATCH_SIZE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                    self._wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self.close()

    async def drain_once(self) -> int:
        """Publish one batch of unpublished events, in (project, seq) order; returns how many rows the batch
        held (0 also when another relay is draining right now). Rows are marked published only for events
        the broker confirmed; on a broker failure the confirmed prefix is marked and the error re-raised."""
        broker = await self._ensure_broker()
        conn = await self._ensure_connection()
        failure: BaseException | None = None
        async with conn.transaction():
            cursor = await conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS locked", (DRAIN_LOCK_KEY,))
            locked = await cursor.fetchone()
            if locked is None or not locked["locked"]:
                return 0
            cursor = await conn.execute(
                "SELECT id, payload FROM outbox WHERE published_at IS NULL "
                "ORDER BY project_id, seq LIMIT %s FOR UPDATE SKIP LOCKED",
                (BATCH_SIZE,),
            )
            rows = await cursor.fetchall()
            confirmed = []
            for row in rows:
                try:
                    await broker.publish(row["payload"])
                except Exception as exc:
                    failure = exc  # keep what was confirmed; the rest waits for the next attempt
                    break
                confirmed.append(row["id"])
            if confirmed:
                await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY(%s)", (confirmed,))
        if failure is not None:
            raise failure
        return len(rows)

    async def close(self) -> None:
        """Drop the broker and database connections (they are made again on the next drain)."""
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(Exception):
                await broker.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _ensure_broker(self) -> EventBroker:
        if self._broker is None:
            self._broker = await self._connect_broker()
        return self._broker

    async def _ensure_connection(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
            self._conn = await psycopg.AsyncConnection.connect(self._conninfo, row_factory=dict_row)
        return self._conn

    async def _listen(self) -> None:
        """Sets the wake-up event on every NOTIFY; reconnects when the database goes away."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._wake.set()  # catch anything committed while we were not listening
                    async for _ in conn.notifies():
                        self._wake.set()
            except (OSError, psycopg.Error) as exc:
                log.warning("outbox_listen_retry", error=repr(exc))
                await asyncio.sleep(1.0)
