"""Outbox relay: moves committed events from the outbox table to the broker, marking each published only
after the broker confirmed it. Woken by LISTEN/NOTIFY, with a polling fallback. It also purges published
events once they are older than the retention window (GET /api/projects/{id}/events then answers
`complete=false` for that range, and readers reload instead of replaying).

Test-only fault point: with the environment variable AGORAX_FAULT_EXIT_BEFORE_PUBLISH=1 the process exits
with status 137 (as if SIGKILLed) right after a drain has selected a non-empty batch and before it publishes
any of it, i.e. after the writes committed and before their events left. Unset (always, outside the fault
tests) it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
import structlog
from aio_pika.exceptions import ChannelInvalidStateError
from aiormq.exceptions import AMQPError
from psycopg.rows import dict_row
from sqlalchemy import make_url

from backend.events.bus import EventBroker
from backend.events.outbox import NOTIFY_CHANNEL
from backend.events.rabbitmq import cancelled_from_outside

log = structlog.get_logger(__name__)

BATCH_SIZE = 200
# Short enough that events flow again within seconds of the broker's return (the outage is what is long).
MAX_BACKOFF_SECONDS = 5.0
PURGE_BATCH_SIZE = 1000
# DELETEs per purge round; what is left (say, after retention was shortened) goes in the next rounds,
# between drains.
MAX_PURGE_BATCHES = 20
FAULT_EXIT_BEFORE_PUBLISH = "AGORAX_FAULT_EXIT_BEFORE_PUBLISH"
FAULT_EXIT_STATUS = 137
FAULT_EXIT_DELAY_SECONDS = 0.5
# One relay drains at a time (transaction-scoped advisory lock), so that several web processes, each running
# a relay, cannot publish one project's events out of seq order (SKIP LOCKED alone lets a second relay take
# seq 6 while the first is still publishing seq 4 and 5).
DRAIN_LOCK_KEY = 0x61676F726178  # "agorax"
# One relay purges at a time (the others skip the round).
PURGE_LOCK_KEY = DRAIN_LOCK_KEY + 1
# The projects whose oldest kept event is past the cutoff, with the range to delete: from that event to the
# first one that must stay (unpublished or younger), or to the end. A loose index scan over (project_id, seq)
# finds the projects, one probe each, so a purge round costs O(projects + rows deleted), never a scan of
# the whole table.
EXPIRED_HISTORIES_SQL = """
WITH RECURSIVE projects(project_id) AS (
    (SELECT project_id FROM outbox ORDER BY project_id LIMIT 1)
    UNION ALL
    SELECT (SELECT o.project_id FROM outbox o WHERE o.project_id > p.project_id ORDER BY o.project_id LIMIT 1)
    FROM projects p WHERE p.project_id IS NOT NULL
)
SELECT p.project_id, oldest.seq AS first_seq,
    (SELECT k.seq FROM outbox k
     WHERE k.project_id = p.project_id AND (k.published_at IS NULL OR k.published_at >= %(cutoff)s)
     ORDER BY k.seq LIMIT 1) AS keep_from,
    (SELECT max(m.seq) FROM outbox m WHERE m.project_id = p.project_id) AS last_seq
FROM projects p
CROSS JOIN LATERAL (
    SELECT o.seq, o.published_at FROM outbox o WHERE o.project_id = p.project_id ORDER BY o.seq LIMIT 1
) oldest
WHERE p.project_id IS NOT NULL AND oldest.published_at < %(cutoff)s
ORDER BY p.project_id
"""
# Failures that mean "the database or the broker is not there right now": retried with a short log line.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    ConnectionError,
    psycopg.Error,
    AMQPError,
    ChannelInvalidStateError,  # a publish on a channel the broker closed (it went away)
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
        retention: timedelta | None = None,
        purge_interval_seconds: float = 60.0,
    ) -> None:
        """`retention`: how long published events are kept (None keeps them for ever); the purge runs when
        the relay starts and then every `purge_interval_seconds`."""
        self._conninfo = libpq_url(database_url)
        self._connect_broker = connect_broker
        self._poll_seconds = poll_seconds
        self._retention = retention
        self._purge_interval = purge_interval_seconds
        self._broker: EventBroker | None = None
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._wake = asyncio.Event()
        self._exit_before_publish = os.environ.get(FAULT_EXIT_BEFORE_PUBLISH) == "1"

    async def run(self) -> None:
        """Runs until cancelled; any failure (database or broker down) is retried with backoff."""
        listener = asyncio.create_task(self._listen(), name="outbox-listen")
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        backoff = 0.5
        try:
            while True:
                if self._retention is not None and loop.time() >= next_purge:
                    more = await self._purge_round()
                    next_purge = loop.time() + (0.0 if more else self._purge_interval)
                try:
                    published = await self.drain_once()
                    backoff = 0.5
                except asyncio.CancelledError:
                    if cancelled_from_outside():
                        raise
                    # aiormq cancels what waited on a connection that closed: the broker went away.
                    log.warning("outbox_relay_retry", error="broker connection lost", backoff=backoff)
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
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
                    timeout = self._poll_seconds
                    if self._retention is not None:
                        timeout = max(0.0, min(timeout, next_purge - loop.time()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=timeout)
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
            if rows and self._exit_before_publish:
                await self._fault_exit(len(rows))
            confirmed = []
            for row in rows:
                try:
                    await broker.publish(row["payload"])
                except Exception as exc:
                    failure = exc  # keep what was confirmed; the rest waits for the next attempt
                    break
                except asyncio.CancelledError:
                    if cancelled_from_outside():
                        raise
                    # Not our cancellation: the broker connection closed under the publish.
                    failure = ConnectionError("the broker connection closed during a publish")
                    break
                confirmed.append(row["id"])
            if confirmed:
                # clock_timestamp(), not now() (the transaction's start): drains are serialised by the lock,
                # so published_at grows with seq within a project, and what expires is a prefix of a
                # project's history, which is what the purge removes.
                await conn.execute(
                    "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(%s)", (confirmed,)
                )
        if failure is not None:
            raise failure
        return len(rows)

    async def _purge(self, budget: int) -> tuple[int, bool]:
        """Delete, project by project, the expired prefix of each project's history: everything before the
        project's first event that is unpublished or younger than the cutoff. So a reader never meets a hole
        in a history (which `events_after` would call complete), whatever the clocks did. At most `budget`
        DELETEs of PURGE_BATCH_SIZE rows, each its own short transaction; returns (rows deleted, whether the
        budget ran out with more to delete)."""
        if self._retention is None:
            return 0, False
        conn = await self._ensure_connection()
        async with conn.transaction():
            cursor = await conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS locked", (PURGE_LOCK_KEY,))
            locked = await cursor.fetchone()
            if locked is None or not locked["locked"]:
                return 0, False
            cursor = await conn.execute("SELECT now() - %s AS cutoff", (self._retention,))
            cutoff_row = await cursor.fetchone()
            assert cutoff_row is not None
            cutoff = cutoff_row["cutoff"]
            cursor = await conn.execute(EXPIRED_HISTORIES_SQL, {"cutoff": cutoff})
            histories = await cursor.fetchall()
        total = 0
        for history in histories:
            end = history["keep_from"] if history["keep_from"] is not None else history["last_seq"] + 1
            lower = history["first_seq"]
            while lower < end:
                if budget == 0:
                    self._log_purged(total)
                    return total, True
                budget -= 1
                upper = min(end, lower + PURGE_BATCH_SIZE)  # seqs have no gaps: at most a batch of rows
                async with conn.transaction():
                    cursor = await conn.execute(
                        "DELETE FROM outbox WHERE project_id = %s AND seq >= %s AND seq < %s"
                        " AND published_at < %s",
                        (history["project_id"], lower, upper, cutoff),
                    )
                    total += cursor.rowcount
                lower = upper
        self._log_purged(total)
        return total, False

    def _log_purged(self, rows: int) -> None:
        if rows and self._retention is not None:
            log.info("outbox_purged", rows=rows, retention_hours=self._retention.total_seconds() / 3600)

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

    async def _purge_round(self) -> bool:
        """One purge round that never raises (a failed purge is retried at the next interval); True when it
        stopped at its batch limit with more to delete."""
        try:
            _, more = await self._purge(MAX_PURGE_BATCHES)
            return more
        except TRANSIENT_ERRORS as exc:
            log.warning("outbox_purge_retry", error=repr(exc))
            await self.close()
        except Exception as exc:
            log.exception("outbox_purge_error", error=repr(exc))
            await self.close()
        return False

    async def _fault_exit(self, batch: int) -> None:
        """The test-only fault point (see the module docstring). The short pause lets the HTTP response of the
        write that woke the relay go out first, so that the test sees its 201 before the process dies."""
        log.warning("fault_exit_before_publish", batch=batch)
        await asyncio.sleep(FAULT_EXIT_DELAY_SECONDS)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(FAULT_EXIT_STATUS)

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
