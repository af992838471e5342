"""Benchmark of the write and event pipeline, against the raw services measured in the same run.

    .venv/bin/python -m benchmarks.pipeline [--ops 400] [--e2e 300] [--burst 600] [--clients 4]
                                            [--relay api|process] [--keep-db]

A real API process (uvicorn, running the outbox relay) and a real fan-out worker serve a database of their own
(`agorax_bench`, dropped and migrated at the start, dropped at the end) and a RabbitMQ namespace of their own
(`agorax-bench-<pid>-<random>`: its exchanges and queues are deleted at the end). The script signs up a user,
creates projects, and prints one table:

1. REST write latency (one client, sequential) for task create and move, next to a REST floor
   (GET /api/users/me) and raw PostgreSQL over psycopg: an INSERT of a task row + COMMIT, and the create's
   SQL typed out by hand (membership, project lock, column, count, insert, seq, outbox row) + COMMIT.
2. Event latency end to end: from the HTTP response (and from sending the request) to the envelope's arrival
   at a Redis subscriber on `agorax:project:<id>`, one write at a time, split at a tap queue bound to the
   namespace's exchange (so: relay part, worker part); next to the raw hops: PostgreSQL NOTIFY → LISTEN,
   RabbitMQ publish (persistent, with confirm) → consume, Redis PUBLISH → subscriber.
3. Burst: N task creates fired from a few concurrent clients, on one project and on one project per client;
   time until all N events reached the Redis subscriber, events/s.

`--relay process` runs the relay in a process of its own (the API with AGORAX_RUN_RELAY=false), to compare.

Figures, not assertions: nothing here passes or fails on a time. Every loop is bounded in count and time
(the whole run gives up after RUN_DEADLINE_SECONDS), all traffic goes to 127.0.0.1, and every process,
queue, exchange, Redis key and the database are removed in `finally` blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import httpx
import psycopg
import redis.asyncio as aioredis
from aio_pika.abc import AbstractIncomingMessage
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, make_url, text

from backend.config import get_settings
from backend.db.migrate import upgrade_database
from backend.events.bus import redis_channel
from backend.events.rabbitmq import Topology, declare_exchange
from backend.events.relay import FAULT_EXIT_BEFORE_PUBLISH, libpq_url
from backend.events.worker import delivery_key
from tests.processes import PYTHON, ApiProcess, ManagedProcess, WorkerProcess

BENCH_DATABASE = "agorax_bench"
RUN_DEADLINE_SECONDS = 150.0  # the whole measurement; a healthy run on 2 cores takes well under a minute
EVENT_TIMEOUT_SECONDS = 10.0  # one event, one raw round trip
BURST_TIMEOUT_SECONDS = 60.0  # all events of one burst
PROCESS_START_SECONDS = 60.0
WARMUP = 20
PASSWORD = "correct horse battery 1"
HOST = "127.0.0.1"

Key = Hashable
# time.time() - time.perf_counter(): turns the envelopes' wall-clock occurred_at into perf_counter readings
# (same machine, same clock; drift over a two-minute run is far below the millisecond resolution).
EPOCH_MINUS_PERF = time.time() - time.perf_counter()

E2E_FROM_RESPONSE = "event e2e: HTTP response → Redis subscriber"
E2E_FROM_COMMIT = "event e2e: occurred_at (just before COMMIT) → Redis subscriber"
RELAY_PART = "  of which COMMIT → out of RabbitMQ (relay; seen by a tap queue)"
WORKER_PART = "  of which out of RabbitMQ → Redis subscriber (worker)"
RAW_CONFIRM = "raw RabbitMQ publish (persistent) → confirm"
RAW_RABBIT = "raw RabbitMQ round trip: publish → confirmed and consumed"
RAW_REDIS = "raw Redis PUBLISH → subscriber"
RAW_NOTIFY = "raw PostgreSQL NOTIFY → LISTEN"
RAW_INSERT = "raw PG: INSERT task row + COMMIT"
RAW_BY_HAND = "raw PG: the create's SQL by hand + COMMIT"
REST_FLOOR = "GET /api/users/me (REST floor)"
REST_CREATE = "REST task create"
REST_MOVE = "REST task move (to a column's end)"


# -- figures ---------------------------------------------------------------------------------------------


@dataclass
class Series:
    """Latency samples (seconds) of one operation; `wall` is the time the whole loop took (for ops/s)."""

    label: str
    seconds: list[float] = field(default_factory=list)
    wall: float | None = None

    def ms(self, percent: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.seconds:
            return math.nan
        ordered = sorted(self.seconds)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def p50(self) -> float:
        return self.ms(50)

    @property
    def ops_per_second(self) -> float | None:
        return len(self.seconds) / self.wall if self.wall else None


@dataclass
class Burst:
    label: str
    writes: int
    clients: int
    write_seconds: float  # first request sent → last response received
    all_events_seconds: float  # first request sent → last event received
    write_latency: Series
    in_order: bool
    duplicates: int
    cpu_ms_per_write: dict[str, float]  # user + system CPU per write, by process

    @property
    def writes_per_second(self) -> float:
        return self.writes / self.write_seconds

    @property
    def events_per_second(self) -> float:
        return self.writes / self.all_events_seconds

    @property
    def lag_ms(self) -> float:
        return (self.all_events_seconds - self.write_seconds) * 1000


@dataclass
class Report:
    environment: str = ""
    sections: list[tuple[str, list[Series]]] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    by_label: dict[str, Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str, series: Iterable[Series]) -> None:
        items = list(series)
        self.sections.append((title, items))
        for item in items:
            self.by_label[item.label] = item

    def __getitem__(self, label: str) -> Series:
        return self.by_label[label]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RelayProcess(ManagedProcess):
    """The outbox relay alone, exactly what the API's lifespan runs (`build_relay(get_settings()).run()`), for
    `--relay process`: the API then runs with AGORAX_RUN_RELAY=false."""

    name = "relay"
    CLEAN_EXIT = frozenset({0, -signal.SIGTERM})
    CODE = (
        "import asyncio\n"
        "from backend.config import get_settings\n"
        "from backend.events.runtime import build_relay\n"
        "from backend.logging import configure_logging\n"
        "configure_logging()\n"
        "asyncio.run(build_relay(get_settings()).run())\n"
    )

    def argv(self) -> list[str]:
        return [PYTHON, "-c", self.CODE]


# -- arrivals --------------------------------------------------------------------------------------------


class Arrivals:
    """When each key (an event's (project_id, seq), a message number) first arrived (time.perf_counter()),
    as recorded by a consumer running on this event loop."""

    def __init__(self) -> None:
        self.first: dict[Key, float] = {}
        self.occurred: dict[Key, float] = {}  # an event's occurred_at, as time.perf_counter() would have read
        self.order: list[Key] = []
        self.duplicates = 0
        self._waiters: dict[Key, asyncio.Future[float]] = {}

    def record(self, key: Key, at: float, occurred: float | None = None) -> None:
        if key in self.first:
            self.duplicates += 1
            return
        self.first[key] = at
        if occurred is not None:
            self.occurred[key] = occurred
        self.order.append(key)
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(at)

    async def wait(self, key: Key, within: float = EVENT_TIMEOUT_SECONDS) -> float:
        if key in self.first:
            return self.first[key]
        waiter = self._waiters.get(key)
        if waiter is None:
            waiter = self._waiters[key] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), within)
        except TimeoutError:
            raise TimeoutError(f"{key!r} did not arrive within {within:.0f} s") from None

    async def wait_all(self, keys: Iterable[Key], within: float) -> float:
        """The arrival time of the last of `keys`."""
        deadline = time.perf_counter() + within
        last = 0.0
        for key in keys:
            last = max(last, await self.wait(key, max(0.001, deadline - time.perf_counter())))
        return last


def record_envelope(arrivals: Arrivals, body: bytes, at: float) -> None:
    """Record an event envelope's arrival under (project_id, seq), with its occurred_at (taken by the API just
    before its COMMIT; ISO 8601 with milliseconds, truncated) on the perf_counter scale."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return
    if not isinstance(envelope, dict):
        return
    project_id, seq = envelope.get("project_id"), envelope.get("seq")
    if type(project_id) is not int or type(seq) is not int:
        return
    occurred = None
    with contextlib.suppress(TypeError, ValueError):
        occurred = datetime.fromisoformat(envelope["occurred_at"]).timestamp() - EPOCH_MINUS_PERF
    arrivals.record((project_id, seq), at, occurred)


class RedisSubscriber:
    """One redis-py pub/sub connection on the given channels, handing each message and its arrival time to
    `on_message` (which must be quick: it runs on the reading task)."""

    def __init__(
        self, redis_url: str, channels: list[str], on_message: Callable[[bytes, float], None]
    ) -> None:
        self._client = aioredis.from_url(redis_url)
        self._pubsub = self._client.pubsub()
        self._channels = channels
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RedisSubscriber:
        await self._pubsub.subscribe(*self._channels)
        for _ in self._channels:  # from the confirmations on, nothing published can be missed
            confirmation = await self._pubsub.get_message(timeout=EVENT_TIMEOUT_SECONDS)
            if confirmation is None or confirmation["type"] != "subscribe":
                raise RuntimeError(f"no subscription confirmation from Redis: {confirmation!r}")
        self._task = asyncio.create_task(self._read(), name="bench-redis-reader")
        return self

    async def _read(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                self._on_message(message["data"], time.perf_counter())

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pubsub.aclose()
        await self._client.aclose()


class RabbitTap:
    """A private queue bound to the namespace's events exchange for the given projects: when the relay's
    publishes come out of RabbitMQ (the worker consumes its own copy from the shared queue meanwhile)."""

    def __init__(self, rabbitmq_url: str, exchange: str, project_ids: list[int], arrivals: Arrivals) -> None:
        self._url = rabbitmq_url
        self._exchange = exchange
        self._project_ids = project_ids
        self._arrivals = arrivals
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> RabbitTap:
        self._connection = await aio_pika.connect(self._url, timeout=EVENT_TIMEOUT_SECONDS)
        channel = await self._connection.channel()
        exchange = await declare_exchange(channel, self._exchange)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for project_id in self._project_ids:
            await queue.bind(exchange, routing_key=f"project.{project_id}.#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        record_envelope(self._arrivals, message.body, time.perf_counter())

    async def __aexit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            await self._connection.close()


# -- the API, as a user sees it -----------------------------------------------------------------------------


@dataclass
class Board:
    project_id: int
    columns: list[int]
    seq: int  # the last event seq this script caused (one writer per board, or counted after a burst)


class Client:
    def __init__(self, base_url: str, token: str = "") -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=EVENT_TIMEOUT_SECONDS, trust_env=False)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers=self.headers, **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def create_task(self, board: Board, title: str) -> dict[str, Any]:
        body = {"title": title, "description": "benchmark card", "priority": 3, "labels": ["bench"]}
        return await self.call("POST", f"/api/projects/{board.project_id}/tasks", 201, json=body)

    async def move_task(self, task_id: int, column_id: int, position: int | None) -> dict[str, Any]:
        body = {"column_id": column_id, "position": position}
        return await self.call("POST", f"/api/tasks/{task_id}/move", 200, json=body)

    async def new_board(self, name: str) -> Board:
        project = await self.call("POST", "/api/projects", 201, json={"name": name})
        columns = await self.call("GET", f"/api/projects/{project['id']}/columns", 200)
        ids = [column["id"] for column in sorted(columns, key=lambda column: column["position"])]
        if len(ids) < 2:
            raise RuntimeError(f"a new project should have its default columns, got {columns!r}")
        return Board(project_id=project["id"], columns=ids, seq=project["event_seq"])

    async def aclose(self) -> None:
        await self.http.aclose()


async def sign_up(base_url: str) -> tuple[str, int]:
    """A new user's access token and id."""
    anonymous = Client(base_url)
    try:
        name = f"bench{os.getpid()}x{uuid.uuid4().hex[:6]}"
        user = await anonymous.call(
            "POST",
            "/api/auth/register",
            201,
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        token = await anonymous.call(
            "POST", "/api/auth/token", 200, data={"username": name, "password": PASSWORD}
        )
    finally:
        await anonymous.aclose()
    return str(token["access_token"]), int(user["id"])


async def timed(series: Series, count: int, operation: Callable[[int], Awaitable[object]]) -> Series:
    """Run `operation(i)` for i < count, one after the other, recording each one's latency."""
    start = time.perf_counter()
    for i in range(count):
        before = time.perf_counter()
        await operation(i)
        series.seconds.append(time.perf_counter() - before)
    series.wall = time.perf_counter() - start
    return series


# -- raw baselines -------------------------------------------------------------------------------------------


def raw_postgres(conninfo: str, board: Board, user_id: int, count: int) -> tuple[Series, Series]:
    """Synchronous psycopg (run in a thread): an INSERT of a task row + COMMIT, then the create's SQL by hand.
    The outbox rows are written already published, so the relay has nothing to send for them (the outbox
    trigger's NOTIFY still wakes it, as a real write does)."""
    insert_sql = (
        "INSERT INTO tasks"
        " (project_id, column_id, title, description, priority, labels, position, created_by)"
        " VALUES (%s, %s, %s, 'benchmark card', 3, %s, %s, %s) RETURNING id"
    )
    column = board.columns[0]
    position = 0

    def insert_row(cur: psycopg.Cursor[Any], title: str) -> Any:
        nonlocal position
        cur.execute(insert_sql, (board.project_id, column, title, Jsonb(["bench"]), position, user_id))
        position += 1
        return cur.fetchone()

    def insert(cur: psycopg.Cursor[Any], i: int) -> None:
        insert_row(cur, f"raw insert {i}")

    def by_hand(cur: psycopg.Cursor[Any], i: int) -> None:
        cur.execute(
            "SELECT role FROM project_members WHERE project_id = %s AND user_id = %s",
            (board.project_id, user_id),
        )
        cur.execute("SELECT id FROM projects WHERE id = %s FOR UPDATE", (board.project_id,))
        cur.execute("SELECT id FROM columns WHERE id = %s AND project_id = %s", (column, board.project_id))
        cur.execute("SELECT count(*) FROM tasks WHERE column_id = %s", (column,))
        row = insert_row(cur, f"raw by hand {i}")
        cur.execute(
            "UPDATE projects SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq",
            (board.project_id,),
        )
        seq_row = cur.fetchone()
        assert row is not None and seq_row is not None
        event_id = uuid.uuid4()
        envelope = {
            "id": str(event_id),
            "type": "task.created",
            "project_id": board.project_id,
            "seq": seq_row[0],
            "actor_id": user_id,
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": {"id": row[0], "title": f"raw by hand {i}", "description": "benchmark card"},
        }
        cur.execute(
            "INSERT INTO outbox (id, project_id, seq, type, payload, published_at)"
            " VALUES (%s, %s, %s, 'task.created', %s, now())",
            (event_id, board.project_id, seq_row[0], Jsonb(envelope)),
        )

    results = []
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for label, step in (
            (RAW_INSERT, insert),
            (RAW_BY_HAND, by_hand),
        ):
            for i in range(WARMUP):
                step(cur, -i)
                conn.commit()
            series = Series(label)
            start = time.perf_counter()
            for i in range(count):
                before = time.perf_counter()
                step(cur, i)
                conn.commit()
                series.seconds.append(time.perf_counter() - before)
            series.wall = time.perf_counter() - start
            results.append(series)
    return results[0], results[1]


async def raw_notify(conninfo: str, count: int) -> Series:
    """PostgreSQL NOTIFY (autocommit) → a LISTENing connection: the relay's wake-up hop."""
    channel = f"agorax_bench_{uuid.uuid4().hex[:8]}"
    arrivals = Arrivals()
    listener = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    notifier = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)

    async def listen() -> None:
        async for notification in listener.notifies():
            arrivals.record(int(notification.payload), time.perf_counter())

    try:
        await listener.execute(f"LISTEN {channel}")
        reader = asyncio.create_task(listen(), name="bench-listen")
        try:

            async def notify(i: int) -> None:
                await notifier.execute("SELECT pg_notify(%s, %s)", (channel, str(i)))
                await arrivals.wait(i)

            for i in range(-WARMUP, 0):
                await notify(i)
            return await timed(Series(RAW_NOTIFY), count, notify)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        await notifier.close()
        await listener.close()


async def raw_rabbitmq(
    rabbitmq_url: str, queue_name: str, body: bytes, count: int
) -> tuple[Series, Series, Series]:
    """Publish persistent messages with confirms to a durable queue (as the relay does) and consume them on
    another connection with manual acks (as the worker does), one at a time."""
    arrivals = Arrivals()
    publisher = await aio_pika.connect(rabbitmq_url, timeout=EVENT_TIMEOUT_SECONDS)
    consumer = await aio_pika.connect(rabbitmq_url, timeout=EVENT_TIMEOUT_SECONDS)
    try:
        consume_channel = await consumer.channel()
        await consume_channel.set_qos(prefetch_count=100)
        queue = await consume_channel.declare_queue(queue_name, durable=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            arrivals.record(int(message.message_id or -1), time.perf_counter())
            await message.ack()

        await queue.consume(on_message)
        channel = await publisher.channel(publisher_confirms=True, on_return_raises=True)
        confirm = Series(RAW_CONFIRM)
        consume = Series("raw RabbitMQ publish → consumed")
        round_trip = Series(RAW_RABBIT)

        async def publish(i: int) -> None:
            before = time.perf_counter()
            message = aio_pika.Message(
                body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=str(i)
            )
            await channel.default_exchange.publish(
                message, routing_key=queue_name, mandatory=True, timeout=EVENT_TIMEOUT_SECONDS
            )
            confirmed = time.perf_counter()
            consumed = await arrivals.wait(i)
            if i >= 0:
                confirm.seconds.append(confirmed - before)
                consume.seconds.append(consumed - before)
                round_trip.seconds.append(max(confirmed, consumed) - before)

        for i in range(-WARMUP, 0):
            await publish(i)
        start = time.perf_counter()
        for i in range(count):
            await publish(i)
        round_trip.wall = time.perf_counter() - start
        return confirm, consume, round_trip
    finally:
        await publisher.close()
        await consumer.close()


async def raw_redis(redis_url: str, body: bytes, count: int) -> Series:
    """Redis PUBLISH → a redis-py subscriber on another connection, one at a time (the same subscriber code
    that measures the pipeline's events)."""
    channel = f"agorax:bench:raw:{uuid.uuid4().hex[:8]}"  # not agorax:project:*, so no web process hears it
    arrivals = Arrivals()
    sent: dict[int, bytes] = {}

    def on_message(data: bytes, at: float) -> None:
        arrivals.record(int(data.split(b"|", 1)[0]), at)

    client = aioredis.from_url(redis_url)
    try:
        async with RedisSubscriber(redis_url, [channel], on_message):

            async def publish(i: int) -> None:
                sent[i] = f"{i}|".encode() + body
                await client.publish(channel, sent[i])
                await arrivals.wait(i)

            for i in range(-WARMUP, 0):
                await publish(i)
            return await timed(Series(RAW_REDIS), count, publish)
    finally:
        await client.aclose()


# -- the pipeline --------------------------------------------------------------------------------------------


async def rest_writes(client: Client, board: Board, count: int) -> list[Series]:
    """Sequential writes from one client, not waiting for their events (which flow meanwhile)."""
    created: list[int] = []

    async def whoami(_: int) -> None:
        await client.call("GET", "/api/users/me", 200)

    async def create(i: int) -> None:
        created.append((await client.create_task(board, f"Bench card {i}"))["id"])
        board.seq += 1

    floor = await timed(Series(REST_FLOOR), count, whoami)
    creates = await timed(Series(REST_CREATE), count, create)
    # Moves take the last card of the first column (nothing there shifts) to the second column: first to its
    # end (nothing shifts either), then to its top, which shifts every card already there.
    tail = list(reversed(created))
    half = count // 2
    target = board.columns[1]

    async def move(task_id: int, position: int | None) -> None:
        await client.move_task(task_id, target, position)
        board.seq += 1

    to_end = await timed(Series(REST_MOVE), half, lambda i: move(tail[i], None))
    to_top = await timed(
        Series(f"REST task move (to the top of a {half} to {2 * half - 1} card column)"),
        half,
        lambda i: move(tail[half + i], 0),
    )
    return [floor, creates, to_end, to_top]


async def end_to_end(
    client: Client, board: Board, arrivals: Arrivals, tapped: Arrivals, count: int
) -> list[Series]:
    """One write at a time (a create, then a move of that card to the end of the second column, ...), each
    waiting for its event at the Redis subscriber before the next. The pipeline starts at the COMMIT, before
    the response is even serialised, so the time from the response understates it; the time from the
    envelope's occurred_at (set just before the COMMIT) is the event's real journey."""
    from_response = Series(E2E_FROM_RESPONSE)
    from_commit = Series(E2E_FROM_COMMIT)
    relay_part = Series(RELAY_PART)
    worker_part = Series(WORKER_PART)
    from_send = Series("event e2e: request sent → Redis subscriber")
    rest = Series("  REST write latency meanwhile (create, move)")
    last_task = 0

    async def write(i: int) -> None:
        nonlocal last_task
        sent = time.perf_counter()
        if i % 2 == 0:
            last_task = (await client.create_task(board, f"E2E card {i}"))["id"]
        else:
            await client.move_task(last_task, board.columns[1], None)
        answered = time.perf_counter()
        board.seq += 1
        key = (board.project_id, board.seq)
        arrived = await arrivals.wait(key)
        out_of_rabbitmq = await tapped.wait(key)
        committed = arrivals.occurred.get(key)
        if committed is None:
            raise RuntimeError(f"event {key} has no readable occurred_at")
        if i >= 0:
            from_response.seconds.append(arrived - answered)
            from_commit.seconds.append(arrived - committed)
            relay_part.seconds.append(out_of_rabbitmq - committed)
            worker_part.seconds.append(arrived - out_of_rabbitmq)
            from_send.seconds.append(arrived - sent)
            rest.seconds.append(answered - sent)

    for i in range(-WARMUP, 0):
        await write(i)
    start = time.perf_counter()
    for i in range(count):
        await write(i)
    from_response.wall = from_send.wall = time.perf_counter() - start
    return [from_response, from_commit, relay_part, worker_part, from_send, rest]


async def burst(
    label: str,
    clients: list[Client],
    boards: list[Board],
    arrivals: Arrivals,
    writes: int,
    pids: dict[str, int],
) -> Burst:
    """`writes` creates fired by len(clients) concurrent clients (client i writes to boards[i % len(boards)]),
    each client sending its next request as soon as its previous one is answered."""
    expected: list[tuple[int, int]] = []
    per_board: dict[int, int] = {}
    shares = [writes // len(clients) + (1 if i < writes % len(clients) else 0) for i in range(len(clients))]
    for i, share in enumerate(shares):
        board = boards[i % len(boards)]
        per_board[board.project_id] = per_board.get(board.project_id, 0) + share
    for board in boards:
        expected += [(board.project_id, board.seq + n) for n in range(1, per_board[board.project_id] + 1)]
    latency = Series(f"{label}: REST create under load")
    already, duplicates_before = len(arrivals.order), arrivals.duplicates
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}

    async def fire(client: Client, board: Board, share: int) -> None:
        for n in range(share):
            before = time.perf_counter()
            await client.create_task(board, f"Burst card {n}")
            latency.seconds.append(time.perf_counter() - before)

    start = time.perf_counter()
    await asyncio.gather(
        *(
            fire(client, boards[i % len(boards)], share)
            for i, (client, share) in enumerate(zip(clients, shares, strict=True))
        )
    )
    written = time.perf_counter()
    last = await arrivals.wait_all(expected, BURST_TIMEOUT_SECONDS)
    for board in boards:
        board.seq += per_board[board.project_id]
    latency.wall = written - start
    # Events of one project must arrive in seq order (one worker never reorders).
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / writes for name, pid in pids.items()}
    wanted = set(expected)
    arrived = [key for key in arrivals.order[already:] if key in wanted]
    in_order = all(
        [seq for project, seq in arrived if project == board.project_id]
        == sorted(seq for project, seq in arrived if project == board.project_id)
        for board in boards
    )
    return Burst(
        label=label,
        writes=writes,
        clients=len(clients),
        write_seconds=written - start,
        all_events_seconds=last - start,
        write_latency=latency,
        in_order=in_order,
        duplicates=arrivals.duplicates - duplicates_before,
        cpu_ms_per_write=cpu,
    )


async def measure(
    api: ApiProcess, processes: list[ManagedProcess], bench_url: str, namespace: str, args: argparse.Namespace
) -> Report:
    """`processes`: every process serving the run (the API among them), for the CPU figures."""
    settings = get_settings()
    conninfo = libpq_url(bench_url)
    report = Report()
    report.environment = await describe_environment(conninfo, settings.redis_url, settings.rabbitmq_url)
    redis_started = time.time() - int((await redis_info(settings.redis_url))["uptime_in_seconds"])
    token, user_id = await sign_up(api.base_url)
    client = Client(api.base_url, token)
    extra_clients = [Client(api.base_url, token) for _ in range(args.clients)]
    try:
        board = await client.new_board("Bench board")
        baseline_board = await client.new_board("Raw baseline board")
        burst_boards = [await client.new_board(f"Burst board {i}") for i in range(args.clients)]
        watched = [board, *burst_boards]
        arrivals, tapped = Arrivals(), Arrivals()

        def on_event(data: bytes, at: float) -> None:
            record_envelope(arrivals, data, at)

        channels = [redis_channel(b.project_id, namespace=namespace) for b in watched]
        topology = Topology(namespace)
        async with (
            RedisSubscriber(settings.redis_url, channels, on_event),
            RabbitTap(settings.rabbitmq_url, topology.exchange, [b.project_id for b in watched], tapped),
        ):
            # Warm-up: the relay's broker connection, the worker, the API's connection pool and code paths.
            for i in range(WARMUP):
                await client.create_task(board, f"Warm-up card {i}")
                board.seq += 1
            await arrivals.wait_all([(board.project_id, seq) for seq in range(1, board.seq + 1)], 30)

            report.section("REST writes: one client, sequential", await rest_writes(client, board, args.ops))
            # Let the phase's events drain before measuring the raw services.
            await arrivals.wait_all([(board.project_id, seq) for seq in range(1, board.seq + 1)], 30)

            insert, by_hand = await asyncio.to_thread(
                raw_postgres, conninfo, baseline_board, user_id, args.ops
            )
            report.section("Raw PostgreSQL (psycopg, same database, same table)", [insert, by_hand])

            envelope = await client.call(
                "GET", f"/api/projects/{board.project_id}/events", 200, params={"after": board.seq - 1}
            )
            body = json.dumps(envelope["events"][0], separators=(",", ":")).encode()  # a real event's size
            notify = await raw_notify(conninfo, args.e2e)
            rabbit = await raw_rabbitmq(settings.rabbitmq_url, f"{namespace}.bench.raw", body, args.e2e)
            redis_rt = await raw_redis(settings.redis_url, body, args.e2e)
            report.section("Raw services, one message at a time", [notify, *rabbit, redis_rt])
            report.notes.append(f"event envelope size: {len(body)} bytes")

            report.section(
                "Event end to end, one write at a time (create, move, create, ...)",
                await end_to_end(client, board, arrivals, tapped, args.e2e),
            )

            pids = {process.name: process.pid for process in processes if process.pid is not None}
            for label, boards in (
                (f"{args.clients} clients, 1 project", [board]),
                (f"{args.clients} clients, 1 project each", burst_boards),
            ):
                report.bursts.append(await burst(label, extra_clients, boards, arrivals, args.burst, pids))
        if time.time() - int((await redis_info(settings.redis_url))["uptime_in_seconds"]) > redis_started + 5:
            report.notes.append("WARNING: Redis restarted during the run (something else on this machine)")
    finally:
        for each in (client, *extra_clients):
            await each.aclose()
    return report


async def redis_info(redis_url: str) -> dict[str, Any]:
    client = aioredis.from_url(redis_url)
    try:
        return dict(await client.info("server"))
    finally:
        await client.aclose()


async def describe_environment(conninfo: str, redis_url: str, rabbitmq_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cursor = await conn.execute("SHOW server_version")
        row = await cursor.fetchone()
        postgres = str(row[0]).split()[0] if row else "?"
    redis_version = str((await redis_info(redis_url)).get("redis_version", "?"))
    connection = await aio_pika.connect(rabbitmq_url, timeout=EVENT_TIMEOUT_SECONDS)
    try:
        properties = connection.transport.connection.server_properties if connection.transport else {}
        rabbit_version = properties.get("version", "?")
        if isinstance(rabbit_version, bytes):
            rabbit_version = rabbit_version.decode()
    finally:
        await connection.close()
    return (
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores, {platform.machine()},"
        f" Python {platform.python_version()}, PostgreSQL {postgres}, Redis {redis_version},"
        f" RabbitMQ {rabbit_version}"
    )


# -- output ----------------------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def render(report: Report, args: argparse.Namespace) -> str:
    lines = [
        "Agorax pipeline benchmark",
        f"  {report.environment}",
        (
            "  1 API process (uvicorn, running the outbox relay) + 1 fan-out worker"
            if args.relay == "api"
            else "  1 API process (uvicorn, AGORAX_RUN_RELAY=false) + 1 relay process + 1 fan-out worker"
        )
        + "; the clients, the Redis subscriber and the tap queue's consumer run in this process; all on"
        " 127.0.0.1",
        *(f"  {note}" for note in report.notes),
        "",
    ]
    width = 78
    lines.append(f"{'':{width}} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'ops/s':>7}")
    for title, items in report.sections:
        lines.append(title)
        for item in items:
            rate = f"{item.ops_per_second:7.0f}" if item.ops_per_second else ""
            lines.append(
                f"  {item.label:{width - 2}} {len(item.seconds):5d} {item.p50:8.2f} {item.ms(95):8.2f}"
                f" {item.ms(99):8.2f} {rate}".rstrip()
            )
    lines += [
        "",
        f"Burst: {args.burst} task creates from concurrent clients (each sends its next one when answered)",
        f"  {'':28} {'writes/s':>8} {'write p50':>10} {'write p99':>10} {'all events in':>14}"
        f" {'events/s':>9} {'lag':>7}  CPU ms per write, by process",
    ]
    for item in report.bursts:
        lag = item.lag_ms if abs(item.lag_ms) >= 0.5 else 0.0
        checks = "in seq order" if item.in_order else "OUT OF SEQ ORDER"
        if item.duplicates:
            checks += f", {item.duplicates} duplicates"
        lines.append(
            f"  {item.label:28} {item.writes_per_second:8.0f} {item.write_latency.p50:8.1f}ms"
            f" {item.write_latency.ms(99):8.1f}ms {item.all_events_seconds:13.2f}s"
            f" {item.events_per_second:9.0f} {lag:5.0f}ms  "
            + ", ".join(f"{name} {ms:.1f}" for name, ms in item.cpu_ms_per_write.items())
            + f"  ({checks})"
        )
    lines.append(
        "  lag: last event received - last response received; CPU: user+system time of each process per"
        " write (the API's includes its relay unless --relay process)"
    )

    floor, create, move = report[REST_FLOOR], report[REST_CREATE], report[REST_MOVE]
    insert, by_hand = report[RAW_INSERT], report[RAW_BY_HAND]
    e2e, e2e_commit = report[E2E_FROM_RESPONSE], report[E2E_FROM_COMMIT]
    relay_part, worker_part = report[RELAY_PART], report[WORKER_PART]
    rabbit, confirm, redis_rt, notify = (
        report[RAW_RABBIT],
        report[RAW_CONFIRM],
        report[RAW_REDIS],
        report[RAW_NOTIFY],
    )
    hops, hops99 = rabbit.p50 + redis_rt.p50, rabbit.ms(99) + redis_rt.ms(99)
    lines += [
        "",
        "Ratios (p50 unless said otherwise)",
        f"  task create {create.p50:.2f} ms = {ratio(create.p50, insert.p50)} raw INSERT+COMMIT"
        f" ({insert.p50:.2f} ms) = {ratio(create.p50, by_hand.p50)} its SQL by hand ({by_hand.p50:.2f} ms);"
        f" p99 {create.ms(99):.2f} ms = {ratio(create.ms(99), insert.ms(99))} raw p99",
        f"  task move   {move.p50:.2f} ms = {ratio(move.p50, insert.p50)} raw INSERT+COMMIT;"
        f" the REST floor (HTTP + auth, no write) is {floor.p50:.2f} ms",
        f"  event e2e from the response {e2e.p50:.2f} ms = {ratio(e2e.p50, hops)} raw RabbitMQ round trip"
        f" + Redis round trip ({rabbit.p50:.2f} + {redis_rt.p50:.2f} ms); p99 {e2e.ms(99):.2f} ms ="
        f" {ratio(e2e.ms(99), hops99)} their p99s",
        f"  event e2e from the COMMIT {e2e_commit.p50:.2f} ms = {ratio(e2e_commit.p50, hops)} the same"
        f" = {ratio(e2e_commit.p50, hops + notify.p50)} those + NOTIFY→LISTEN ({notify.p50:.2f} ms);"
        f" p99 {e2e_commit.ms(99):.2f} ms = {ratio(e2e_commit.ms(99), hops99 + notify.ms(99))} their p99s",
        f"    relay part {relay_part.p50:.2f} ms = {ratio(relay_part.p50, notify.p50 + rabbit.p50)} NOTIFY +"
        f" RabbitMQ round trip; worker part {worker_part.p50:.2f} ms = {ratio(worker_part.p50, redis_rt.p50)}"
        " Redis round trip",
    ]
    ceiling = 1000 / confirm.p50
    for item in report.bursts:
        lines.append(
            f"  burst, {item.label}: {item.events_per_second:.0f} events/s ="
            f" {ratio(item.events_per_second, 1000 / create.p50)} one client's sequential creates"
            f" ({1000 / create.p50:.0f}/s) = {ratio(item.events_per_second, ceiling)} the relay's ceiling of"
            f" one confirmed publish at a time ({ceiling:.0f}/s)"
        )
    return "\n".join(lines)


# -- set-up and clean-up -------------------------------------------------------------------------------------


def admin_execute(database_url: str, statement: str) -> None:
    admin = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def prepare_database(bench_url: str) -> None:
    """A fresh database built by the migrations, whose project ids no other database uses (so the Redis
    channels `agorax:project:<id>` of this run are its own)."""
    admin_execute(bench_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    upgrade_database(bench_url)
    start = 3 * 10**12 + random.randrange(10**9) * 1000
    with psycopg.connect(libpq_url(bench_url), autocommit=True) as conn:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('projects', 'id'), {start})")


async def delete_broker_state(rabbitmq_url: str, redis_url: str, namespace: str) -> None:
    topology = Topology(namespace)
    connection = await aio_pika.connect(rabbitmq_url, timeout=EVENT_TIMEOUT_SECONDS)
    async with connection:
        channel = await connection.channel()
        for queue in (topology.queue, topology.dead_letter_queue, f"{namespace}.bench.raw"):
            await channel.queue_delete(queue)
        for exchange in (topology.exchange, topology.dead_letter_exchange):
            await channel.exchange_delete(exchange)
    client = aioredis.from_url(redis_url)
    try:
        await client.delete(delivery_key(topology.queue))
    finally:
        await client.aclose()


def bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return number

    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=bounded(50, 1000), default=400, help="REST writes per kind (400)")
    parser.add_argument("--e2e", type=bounded(50, 1000), default=300, help="sequential e2e events (300)")
    parser.add_argument("--burst", type=bounded(50, 2000), default=600, help="writes per burst (600)")
    parser.add_argument("--clients", type=bounded(1, 16), default=4, help="concurrent burst clients (4)")
    parser.add_argument(
        "--relay",
        choices=("api", "process"),
        default="api",
        help="where the outbox relay runs: in the API process as deployed (default), or in its own process",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {BENCH_DATABASE} database")
    args = parser.parse_args()

    settings = get_settings()
    bench_url = (
        make_url(settings.database_url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    )
    for url in (bench_url, settings.redis_url, settings.rabbitmq_url):
        host = urlsplit(url).hostname
        if host not in (HOST, "localhost"):
            print(f"refusing to benchmark a service that is not on this machine: {host}", file=sys.stderr)
            return 2
    namespace = f"agorax-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env: dict[str, str | None] = {
        "DATABASE_URL": bench_url,
        "RABBITMQ_NAMESPACE": namespace,
        "AGORAX_RUN_RELAY": "true" if args.relay == "api" else "false",
        FAULT_EXIT_BEFORE_PUBLISH: None,
    }
    log_dir = Path(tempfile.mkdtemp(prefix="agorax-bench-"))
    worker = WorkerProcess(log_dir, env=env)
    api = ApiProcess(log_dir, env=env)
    processes: list[ManagedProcess] = [api, worker]
    if args.relay == "process":
        processes.insert(1, RelayProcess(log_dir, env={**env, "AGORAX_RUN_RELAY": "true"}))
    failed = True
    load = os.getloadavg()[0]
    print(f"preparing {BENCH_DATABASE} and starting the API and the worker (namespace {namespace}) ...")
    try:
        prepare_database(bench_url)
        for process in processes:
            process.spawn()
        for process in processes:
            process.wait_ready(PROCESS_START_SECONDS)

        async def run() -> Report:
            async with asyncio.timeout(RUN_DEADLINE_SECONDS):
                return await measure(api, processes, bench_url, namespace, args)

        started = time.perf_counter()
        report = asyncio.run(run())
        busy = load > 0.5 * (os.cpu_count() or 1)
        report.notes.insert(
            0,
            f"1-minute load average before the run: {load:.2f}"
            + (" - WARNING: other work on this machine inflates these figures" if busy else ""),
        )
        print(render(report, args))
        print(f"\nmeasured in {time.perf_counter() - started:.0f} s")
        failed = False
    finally:
        if failed:
            for process in processes:
                state = "running" if process.running else f"exited with status {process.returncode}"
                print(f"{process.name} (pid {process.pid}): {state}", file=sys.stderr)
        for process in processes:  # the API and the relay first: nothing is published once the worker goes
            if process.process is not None and process.running:
                process.stop()
        if failed:
            for process in processes:
                print(f"\n--- {process.name} log ({process.log_path}):\n{process.tail()}", file=sys.stderr)
        with contextlib.suppress(Exception):
            asyncio.run(delete_broker_state(settings.rabbitmq_url, settings.redis_url, namespace))
        if not args.keep_db:
            with contextlib.suppress(Exception):
                admin_execute(bench_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        if not failed:
            shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
