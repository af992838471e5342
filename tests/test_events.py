"""The event path for real: REST write → outbox row → relay → RabbitMQ → worker → Redis PUBLISH.

Real PostgreSQL, RabbitMQ and Redis, real API and worker processes, no mocks. The relay must see committed
rows, so the data here is committed (unique names; the test database is recreated for every run).
RabbitMQ's queues and Redis channels are shared with other test runs, which may have left events for
projects with the same ids: every check picks this run's events by their ids from this run's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aio_pika
import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from aio_pika.exceptions import DeliveryError, PublishError
from psycopg.rows import dict_row

from backend.config import get_settings
from backend.db.session import session_scope
from backend.events.bus import DEAD_LETTER_QUEUE, EventBroker, redis_channel
from backend.events.rabbitmq import RabbitMQBroker, declare_exchange
from backend.events.redis_feed import RedisFeed
from backend.events.relay import BATCH_SIZE, DRAIN_LOCK_KEY, OutboxRelay, libpq_url
from backend.events.runtime import build_relay
from backend.schemas import ProjectCreate, TaskCreate, UserCreate
from backend.services import projects, tasks, users
from tests.conftest import TEST_DATABASE_URL, Account, unique
from tests.processes import ApiProcess, TcpProxy, WorkerProcess, free_port, private_namespace

T = TypeVar("T")

RABBITMQ_URL = get_settings().rabbitmq_url
REDIS_URL = get_settings().redis_url
RABBITMQ_PORT = urlsplit(RABBITMQ_URL).port or 5672
WAIT = 20.0  # generous: only a broken path takes this long
ENVELOPE_KEYS = {"id", "type", "project_id", "seq", "actor_id", "occurred_at", "data"}
# The API as deployed alone: it runs the relay. The poll fallback is a minute, so prompt delivery in these
# tests can only come from LISTEN/NOTIFY.
API_ENV = {"AGORAX_RUN_RELAY": "true", "DATABASE_URL": TEST_DATABASE_URL, "OUTBOX_POLL_SECONDS": "60"}


# -- helpers -----------------------------------------------------------------------------------------------


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str) -> T:
    """Poll `probe` until `ok` holds; fail after WAIT seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        value = await probe()
        if ok(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {WAIT:.0f} s: {what}; last value {value!r}")
        await asyncio.sleep(0.05)


async def outbox_rows(project_id: int) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(
        libpq_url(TEST_DATABASE_URL), row_factory=dict_row
    ) as conn:
        cursor = await conn.execute(
            "SELECT id, seq, type, payload, published_at FROM outbox WHERE project_id = %s ORDER BY seq",
            (project_id,),
        )
        return await cursor.fetchall()


def all_published(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(row["published_at"] is not None for row in rows)


async def outbox_listeners() -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(TEST_DATABASE_URL)) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query = 'LISTEN agorax_outbox'"
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


def seed_project() -> tuple[int, int]:
    """A committed user and project made by the services themselves: (project_id, user_id)."""
    with session_scope() as session:
        name = unique("relay")
        user = users.register_user(
            session, data=UserCreate(username=name, email=f"{name}@example.com", password="correct horse 1")
        )
        project = projects.create_project(session, user_id=user.id, data=ProjectCreate(name=name))
        return project.id, user.id


def add_tasks(project_id: int, user_id: int, count: int) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [
            tasks.create_task(
                session, user_id=user_id, project_id=project_id, data=TaskCreate(title=unique("task "))
            ).model_dump(mode="json")
            for _ in range(count)
        ]


def assert_envelope(envelope: dict[str, Any], *, project_id: int, seq: int, type: str, actor_id: int) -> None:
    assert set(envelope) == ENVELOPE_KEYS, envelope
    assert envelope["project_id"] == project_id
    assert envelope["seq"] == seq
    assert envelope["type"] == type
    assert envelope["actor_id"] == actor_id
    assert uuid.UUID(envelope["id"]).version == 4
    occurred = datetime.fromisoformat(envelope["occurred_at"])
    assert envelope["occurred_at"].endswith("Z") and occurred.utcoffset() == timedelta(0)


def unused_project_id() -> int:
    """A project id far beyond any database's, so that its Redis channel is this test's alone."""
    return 10**15 + uuid.uuid4().int % 10**12


def synthetic_envelope(project_id: int, seq: int = 1) -> dict[str, Any]:
    """A well-formed envelope for a project id no database uses (for workers on a private queue)."""
    return {
        "id": str(uuid.uuid4()),
        "type": "task.created",
        "project_id": project_id,
        "seq": seq,
        "actor_id": None,
        "occurred_at": "2026-12-03T18:00:00.123Z",
        "data": {"seq": seq},
    }


class Tap:
    """A private RabbitMQ queue bound to the events exchange for one project's routing keys: what the
    relay published, as RabbitMQ routed it."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id

    async def __aenter__(self) -> Tap:
        self._connection = await aio_pika.connect(RABBITMQ_URL)
        channel = await self._connection.channel()
        exchange = await declare_exchange(channel)
        self._queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await self._queue.bind(exchange, routing_key=f"project.{self.project_id}.#")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._connection.close()

    async def take(self, count: int) -> list[dict[str, Any]]:
        """Wait for `count` messages."""
        taken: list[dict[str, Any]] = []

        async def more() -> int:
            while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
                taken.append(json.loads(message.body))
            return len(taken)

        await eventually(more, lambda n: n >= count, f"{count} messages on the tap")
        return taken

    async def drain(self) -> list[dict[str, Any]]:
        """Everything in the queue right now."""
        taken = []
        while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
            taken.append(json.loads(message.body))
        return taken


class ProjectFeed:
    """A redis-py subscription to one project's channel, recording everything published on it."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.raw: list[bytes] = []
        self._client = aioredis.from_url(REDIS_URL)
        self._pubsub = self._client.pubsub()

    async def __aenter__(self) -> ProjectFeed:
        await self._pubsub.subscribe(redis_channel(self.project_id))
        # Wait for the confirmation: from here on nothing published on the channel can be missed.
        confirmation = await self._pubsub.get_message(timeout=WAIT)
        assert confirmation is not None and confirmation["type"] == "subscribe", confirmation
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pubsub.aclose()
        await self._client.aclose()

    def envelopes(self) -> list[dict[str, Any]]:
        parsed = []
        for body in self.raw:
            with contextlib.suppress(ValueError):
                envelope = json.loads(body)
                if isinstance(envelope, dict):
                    parsed.append(envelope)
        return parsed

    def with_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """This run's envelopes (picked by id), in the order they arrived."""
        wanted = set(ids)
        return [envelope for envelope in self.envelopes() if envelope.get("id") in wanted]

    async def receive(self, event_id: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not (found := self.with_ids([event_id])):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"event {event_id} never reached Redis channel {self.project_id}")
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(remaining, 1)
            )
            if message is not None:
                self.raw.append(message["data"])
        return found[0]


async def sign_up(http: httpx.AsyncClient) -> Account:
    name, password = unique("ev"), "correct horse 1"
    created = await http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    assert created.status_code == 201, created.text
    token = await http.post("/api/auth/token", data={"username": name, "password": password})
    assert token.status_code == 200, token.text
    return Account(
        id=created.json()["id"], username=name, password=password, token=token.json()["access_token"]
    )


async def new_project(http: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    project = await http.post("/api/projects", json={"name": unique("Events ")}, headers=owner.headers)
    assert project.status_code == 201, project.text
    return project.json()


async def expect_delivery(
    http: httpx.AsyncClient,
    feed: ProjectFeed,
    owner: Account,
    *,
    after: int,
    type: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The write just made is the project's next event, and it reached Redis as exactly that envelope."""
    page = await http.get(
        f"/api/projects/{feed.project_id}/events", params={"after": after}, headers=owner.headers
    )
    assert page.status_code == 200, page.text
    stored = page.json()["events"]
    assert [event["seq"] for event in stored] == [after + 1], stored
    received = await feed.receive(stored[0]["id"])
    assert received == stored[0]  # what catch-up serves is what was pushed
    assert_envelope(received, project_id=feed.project_id, seq=after + 1, type=type, actor_id=owner.id)
    assert received["data"] == data
    return received


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("event-processes")


@pytest.fixture(scope="module")
def worker_process(migrated_database: None, log_dir: Path) -> Iterator[WorkerProcess]:
    """The fan-out worker on the shared queue, spawned early so that it boots while the API does."""
    process = WorkerProcess(log_dir)
    process.spawn()
    yield process
    if process.running:
        process.stop()


@pytest.fixture
def worker(worker_process: WorkerProcess) -> WorkerProcess:
    worker_process.wait_ready()
    return worker_process


@pytest.fixture(scope="class")
def api(migrated_database: None, log_dir: Path, worker_process: WorkerProcess) -> Iterator[ApiProcess]:
    """The API as deployed alone, running the relay (class-scoped: tests outside the class need to be the
    only relay on the database)."""
    with ApiProcess(log_dir, env=API_ENV) as process:
        yield process


@pytest.fixture
async def http(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        yield client


def rabbitmq_broker(exchange_name: str | None = None) -> Callable[[], Awaitable[EventBroker]]:
    async def connect() -> EventBroker:
        if exchange_name is None:
            return await RabbitMQBroker.connect(RABBITMQ_URL)
        return await RabbitMQBroker.connect(RABBITMQ_URL, exchange_name=exchange_name)

    return connect


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- the relay alone (in this process; no other relay runs while these do) ---------------------------------


class TestRelay:
    async def test_drain_once_publishes_in_order_and_marks_rows_only_after_a_confirm(self) -> None:
        project_id, user_id = await asyncio.to_thread(seed_project)
        async with Tap(project_id) as tap:
            await asyncio.to_thread(add_tasks, project_id, user_id, 3)
            rows = await outbox_rows(project_id)
            assert [row["seq"] for row in rows] == [1, 2, 3]
            assert all(row["published_at"] is None for row in rows)

            # A broker that takes the message but cannot route it anywhere (an exchange with no queue) and one
            # that refuses it (basic.nack from a full reject-publish queue): no confirm, so nothing is marked.
            connection = await aio_pika.connect(RABBITMQ_URL)
            async with connection:
                channel = await connection.channel()
                unroutable = await declare_exchange(channel, unique("agorax.test.unroutable."))
                refusing = await declare_exchange(channel, unique("agorax.test.refusing."))
                full = await channel.declare_queue(
                    unique("agorax.test.full."),
                    exclusive=True,
                    arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
                )
                await full.bind(refusing, routing_key="#")
                try:
                    for exchange, error in ((unroutable, PublishError), (refusing, DeliveryError)):
                        relay = OutboxRelay(
                            database_url=TEST_DATABASE_URL, connect_broker=rabbitmq_broker(exchange.name)
                        )
                        try:
                            with pytest.raises(error):
                                await relay.drain_once()
                        finally:
                            await relay.close()
                finally:
                    await unroutable.delete()
                    await refusing.delete()
            assert all(row["published_at"] is None for row in await outbox_rows(project_id))

            relay = OutboxRelay(database_url=TEST_DATABASE_URL, connect_broker=rabbitmq_broker())
            try:
                while await relay.drain_once() == BATCH_SIZE:
                    pass
            finally:
                await relay.close()
            rows = await outbox_rows(project_id)
            assert all_published(rows)
            # Confirmed means routed: the events are already in the queue, each once, in seq order.
            assert await tap.drain() == [row["payload"] for row in rows]

    async def test_only_one_relay_drains_at_a_time(self) -> None:
        """Several web processes each run a relay; while one drains, the others publish nothing (else a
        second relay could publish seq 6 before the first has published seq 5)."""
        project_id, user_id = await asyncio.to_thread(seed_project)
        await asyncio.to_thread(add_tasks, project_id, user_id, 2)
        relay = OutboxRelay(database_url=TEST_DATABASE_URL, connect_broker=rabbitmq_broker())
        try:
            async with Tap(project_id) as tap:
                async with await psycopg.AsyncConnection.connect(libpq_url(TEST_DATABASE_URL)) as other:
                    async with other.transaction():  # another relay, mid-drain
                        await other.execute("SELECT pg_advisory_xact_lock(%s)", (DRAIN_LOCK_KEY,))
                        assert await relay.drain_once() == 0
                        assert all(row["published_at"] is None for row in await outbox_rows(project_id))
                    while await relay.drain_once() == BATCH_SIZE:
                        pass
                assert [event["seq"] for event in await tap.drain()] == [1, 2]
            assert all_published(await outbox_rows(project_id))
        finally:
            await relay.close()

    async def test_a_running_relay_is_woken_by_notify(self) -> None:
        relay = OutboxRelay(
            database_url=TEST_DATABASE_URL, connect_broker=rabbitmq_broker(), poll_seconds=3600
        )
        listening = await outbox_listeners()
        running = asyncio.create_task(relay.run())
        try:
            await eventually(outbox_listeners, lambda n: n > listening, "the relay to LISTEN")
            project_id, user_id = await asyncio.to_thread(seed_project)
            async with Tap(project_id) as tap:
                # The first event is served by whichever wake-up comes; after it, with a poll interval of an
                # hour, only NOTIFY can make the relay publish the next ones.
                await asyncio.to_thread(add_tasks, project_id, user_id, 1)
                assert [event["seq"] for event in await tap.take(1)] == [1]
                await asyncio.to_thread(add_tasks, project_id, user_id, 2)
                assert [event["seq"] for event in await tap.take(2)] == [2, 3]
            rows = await eventually(lambda: outbox_rows(project_id), all_published, "rows marked published")
            assert len(rows) == 3
            assert not running.done()
        finally:
            await stop(running)

    async def test_relay_keeps_retrying_an_unreachable_broker_and_delivers_when_it_is_back(self) -> None:
        target = {"url": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
        attempts = 0

        async def connect() -> EventBroker:
            nonlocal attempts
            attempts += 1
            return await RabbitMQBroker.connect(target["url"])

        async def attempts_so_far() -> int:
            return attempts

        project_id, user_id = await asyncio.to_thread(seed_project)
        async with Tap(project_id) as tap:
            await asyncio.to_thread(add_tasks, project_id, user_id, 2)
            relay = OutboxRelay(database_url=TEST_DATABASE_URL, connect_broker=connect, poll_seconds=3600)
            running = asyncio.create_task(relay.run())
            try:
                await eventually(attempts_so_far, lambda n: n >= 2, "a second connection attempt")
                assert not running.done()
                assert all(row["published_at"] is None for row in await outbox_rows(project_id))
                target["url"] = RABBITMQ_URL  # the broker is back
                assert [event["seq"] for event in await tap.take(2)] == [1, 2]
                await eventually(lambda: outbox_rows(project_id), all_published, "rows marked published")
            finally:
                await stop(running)

    async def test_relay_reconnects_when_rabbitmq_drops_the_connection(self) -> None:
        async with TcpProxy("127.0.0.1", RABBITMQ_PORT) as proxy:
            url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"

            async def connect() -> EventBroker:
                return await RabbitMQBroker.connect(url)

            project_id, user_id = await asyncio.to_thread(seed_project)
            relay = OutboxRelay(database_url=TEST_DATABASE_URL, connect_broker=connect, poll_seconds=3600)
            async with Tap(project_id) as tap:
                running = asyncio.create_task(relay.run())
                try:
                    await asyncio.to_thread(add_tasks, project_id, user_id, 1)
                    assert [event["seq"] for event in await tap.take(1)] == [1]
                    await proxy.cut()
                    await asyncio.to_thread(add_tasks, project_id, user_id, 1)
                    rows = await outbox_rows(project_id)
                    assert rows[1]["published_at"] is None  # no way to the broker now
                    await proxy.restore()
                    assert [event["seq"] for event in await tap.take(1)] == [2]
                    await eventually(lambda: outbox_rows(project_id), all_published, "rows marked published")
                    assert not running.done()
                finally:
                    await stop(running)


# -- end to end through the real processes ----------------------------------------------------------------


class TestEndToEnd:
    async def test_each_rest_write_reaches_redis_once_as_the_next_seq(
        self, worker: WorkerProcess, http: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(http)
        project = await new_project(http, owner)
        project_id, seq = project["id"], project["event_seq"]
        columns = (await http.get(f"/api/projects/{project_id}/columns", headers=owner.headers)).json()
        ids = []
        async with ProjectFeed(project_id) as feed:

            async def delivered(type: str, data: dict[str, Any]) -> None:
                nonlocal seq
                envelope = await expect_delivery(http, feed, owner, after=seq, type=type, data=data)
                ids.append(envelope["id"])
                seq += 1

            created = await http.post(
                f"/api/projects/{project_id}/tasks",
                json={"title": unique("Ship it ✨ "), "priority": 2, "labels": ["launch"]},
                headers=owner.headers,
            )
            assert created.status_code == 201, created.text
            task = created.json()
            await delivered("task.created", task)

            patched = await http.patch(
                f"/api/tasks/{task['id']}",
                json={"title": "Ship it — today", "priority": 5, "description": "ünïcode"},
                headers={**owner.headers, "If-Match": str(task["version"])},
            )
            assert patched.status_code == 200, patched.text
            await delivered("task.updated", patched.json())

            moved = await http.post(
                f"/api/tasks/{task['id']}/move",
                json={"column_id": columns[1]["id"], "position": 0},
                headers=owner.headers,
            )
            assert moved.status_code == 200, moved.text
            await delivered("task.moved", moved.json())

            comment = await http.post(
                f"/api/tasks/{task['id']}/comments", json={"body": "Looks good 👍"}, headers=owner.headers
            )
            assert comment.status_code == 201, comment.text
            await delivered("comment.created", comment.json())

            before = (await http.get(f"/api/tasks/{task['id']}", headers=owner.headers)).json()
            deleted = await http.delete(f"/api/tasks/{task['id']}", headers=owner.headers)
            assert deleted.status_code == 204, deleted.text
            await delivered("task.deleted", before)  # a 204 has no body: the event carries the last state

            # One more write: anything duplicated earlier in the (ordered) pipeline would have come before it.
            last = await http.post(
                f"/api/projects/{project_id}/tasks", json={"title": "x"}, headers=owner.headers
            )
            assert last.status_code == 201, last.text
            await delivered("task.created", last.json())

            arrived = feed.with_ids(ids)
            assert [event["seq"] for event in arrived] == list(range(project["event_seq"] + 1, seq + 1))
            assert [event["id"] for event in arrived] == ids

    async def test_writes_succeed_while_the_worker_is_stopped_and_arrive_once_it_runs(
        self, worker: WorkerProcess, http: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(http)
        project = await new_project(http, owner)
        project_id = project["id"]
        async with ProjectFeed(project_id) as feed:
            assert await worker.astop() == 0, worker.tail()  # SIGTERM: a clean exit, not a kill
            assert "worker_stopped" in worker.log() and "Traceback" not in worker.log(), worker.tail()
            try:
                created = await http.post(
                    f"/api/projects/{project_id}/tasks", json={"title": "while down"}, headers=owner.headers
                )
                assert created.status_code == 201, created.text
                # The write is committed and the relay handed it to RabbitMQ with no worker running.
                await eventually(lambda: outbox_rows(project_id), all_published, "the relay to publish")
            finally:
                await worker.astart()
            await expect_delivery(
                http, feed, owner, after=project["event_seq"], type="task.created", data=created.json()
            )


async def dead_letters(channel: aio_pika.abc.AbstractChannel, message_ids: set[str]) -> dict[str, Any]:
    """The headers of the given messages once all are in the dead-letter queue (which they leave: acked).
    Other messages found there are held unacked while scanning and then put back."""
    queue = await channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
    found: dict[str, Any] = {}

    async def scan() -> int:
        held = []
        while len(held) < 10_000 and (message := await queue.get(no_ack=False, fail=False)) is not None:
            if message.message_id in message_ids:
                found[message.message_id] = message.headers
                await message.ack()
            else:
                held.append(message)
        for message in held:
            await message.nack(requeue=True)
        return len(found)

    await eventually(scan, lambda n: n == len(message_ids), "the malformed messages in the dead-letter queue")
    return found


async def test_worker_dead_letters_malformed_messages_and_keeps_delivering(log_dir: Path) -> None:
    """Garbage goes to "agorax.fanout.dead" once (no redelivery loop) and valid events keep flowing.

    The shared queue may have consumers from other runs (even stale code), which could take the garbage
    first; so this worker process consumes a private queue of its own, fed directly."""
    queue_name = unique("agorax.test.fanout.")
    process = WorkerProcess(log_dir, queue=queue_name)
    await process.astart()
    project_id = unused_project_id()
    valid = synthetic_envelope(project_id)
    garbage = {
        str(uuid.uuid4()): body
        for body in (
            b"\xff\xfe not json",
            b'"a JSON string"',
            b"[" * 100_000,  # nesting deep enough to blow the JSON parser's recursion limit
            json.dumps({**valid, "project_id": str(project_id)}).encode(),
            json.dumps({**valid, "project_id": True}).encode(),
            json.dumps({**valid, "seq": None}).encode(),
        )
    }
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        async with ProjectFeed(project_id) as feed:
            channel = await connection.channel(publisher_confirms=True)
            for message_id, body in garbage.items():
                await channel.default_exchange.publish(
                    aio_pika.Message(body, message_id=message_id), routing_key=queue_name
                )
            dead = await dead_letters(channel, set(garbage))
            for message_id, headers in dead.items():
                (death,) = headers["x-death"]
                assert death["queue"] == queue_name and death["reason"] == "rejected", death
                assert death["count"] == 1, death  # rejected once, not redelivered in a loop
                assert process.log().count(message_id) == 1, process.tail()

            # Still alive and delivering what comes after the garbage.
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(valid).encode(), message_id=valid["id"]), routing_key=queue_name
            )
            assert await feed.receive(valid["id"]) == valid
            assert process.running
            assert feed.raw == [json.dumps(valid).encode()], "garbage reached Redis"
    finally:
        exit_code = await process.astop()
        channel = await connection.channel()
        await channel.queue_delete(queue_name)
        await connection.close()
    assert exit_code == 0, process.tail()


# -- failures of the surroundings ------------------------------------------------------------------------


async def test_worker_stops_cleanly_on_sigterm_while_waiting_for_rabbitmq(log_dir: Path) -> None:
    process = WorkerProcess(log_dir, env={"RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"})
    process.spawn()
    try:
        await process.await_log("worker_rabbitmq_unavailable", count=2)  # it retries rather than dying
        assert process.running
    finally:
        code = await process.astop()
    assert code == 0, process.tail()
    assert "worker_stopped" in process.log() and "Traceback" not in process.log(), process.tail()


async def test_worker_keeps_a_message_while_redis_is_unreachable(log_dir: Path) -> None:
    """Ack only after the Redis PUBLISH: with Redis unreachable the worker keeps retrying the message in
    hand, and on SIGTERM exits cleanly and hands it back to the queue, undelivered but not lost."""
    queue_name = unique("agorax.test.fanout.")
    process = WorkerProcess(
        log_dir, queue=queue_name, env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    )
    envelope = synthetic_envelope(unused_project_id())
    body = json.dumps(envelope).encode()
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        await process.astart()
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body, message_id=envelope["id"]), routing_key=queue_name
        )
        await process.await_log("worker_redis_unavailable", count=2)
        assert await process.astop() == 0, process.tail()
        queue = await channel.declare_queue(queue_name, passive=True)
        returned = await queue.get(no_ack=True, fail=False)
        assert returned is not None and returned.body == body and returned.redelivered
    finally:
        if process.running:
            process.stop()
        channel = await connection.channel()
        await channel.queue_delete(queue_name)
        await connection.close()


async def test_worker_reconnects_when_rabbitmq_drops_the_connection(log_dir: Path) -> None:
    queue_name = unique("agorax.test.fanout.")
    project_id = unused_project_id()
    first, second = synthetic_envelope(project_id, 1), synthetic_envelope(project_id, 2)
    async with TcpProxy("127.0.0.1", RABBITMQ_PORT) as proxy, ProjectFeed(project_id) as feed:
        process = WorkerProcess(
            log_dir, queue=queue_name, env={"RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
        )
        connection = await aio_pika.connect(RABBITMQ_URL)  # the test's own link does not go through the proxy
        try:
            await process.astart()
            channel = await connection.channel(publisher_confirms=True)
            for envelope in (first, second):
                if envelope is second:
                    await proxy.cut()  # RabbitMQ "goes away" for the worker
                    await process.await_log("worker_rabbitmq_unavailable")
                    await proxy.restore()
                await channel.default_exchange.publish(
                    aio_pika.Message(json.dumps(envelope).encode(), message_id=envelope["id"]),
                    routing_key=queue_name,
                )
                assert await feed.receive(envelope["id"]) == envelope
            assert process.log().count(WorkerProcess.READY_LINE) == 2  # consuming again on a new connection
            assert process.running
        finally:
            exit_code = await process.astop()
            channel = await connection.channel()
            await channel.queue_delete(queue_name)
            await connection.close()
    assert exit_code == 0, process.tail()


async def test_redis_feed_yields_envelopes_and_skips_junk() -> None:
    """The web side of the bus: one pattern subscription for every project of its namespace; junk on a
    channel is skipped and the feed goes on; another namespace's events (the same project id in another
    deployment) never reach it."""
    project_id = unused_project_id()
    namespace = private_namespace("feed")
    channel = redis_channel(project_id, namespace=namespace)
    yielded: asyncio.Queue[Any] = asyncio.Queue()

    async def consume() -> None:
        async for envelope in RedisFeed(REDIS_URL, namespace=namespace).listen():
            if not isinstance(envelope, dict) or envelope.get("project_id") == project_id:
                await yielded.put(envelope)

    probe = {"id": "probe", "project_id": project_id, "seq": 0}
    real = {"id": str(uuid.uuid4()), "type": "task.created", "project_id": project_id, "seq": 1, "data": {}}
    listening = asyncio.create_task(consume())
    client = aioredis.from_url(REDIS_URL)
    try:

        async def probe_once() -> Any:
            await client.publish(channel, json.dumps(probe))
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(yielded.get(), timeout=0.2)
            return None

        await eventually(probe_once, lambda item: item == probe, "the feed to be subscribed")
        for junk in (b"not json", b"[1, 2]", b'"a string"', b"[" * 100_000):
            await client.publish(channel, junk)
        foreign = {**real, "id": str(uuid.uuid4())}
        await client.publish(redis_channel(project_id), json.dumps(foreign))  # the default namespace's
        await client.publish(channel, json.dumps(real))
        while (item := await asyncio.wait_for(yielded.get(), timeout=WAIT)) == probe:
            pass
        assert item == real
        assert not listening.done()
    finally:
        await stop(listening)
        await client.aclose()


async def test_relay_survives_unreachable_rabbitmq_and_loses_nothing(
    worker: WorkerProcess, log_dir: Path
) -> None:
    """The API starts with RabbitMQ unreachable: writes still succeed, the outbox keeps the events, and the
    relay (re)started with the right address (`build_relay` with the real settings, exactly what the API's
    lifespan runs) delivers every one of them, in order."""
    down = ApiProcess(
        log_dir, env={**API_ENV, "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    )
    await down.astart()
    try:
        async with httpx.AsyncClient(base_url=down.base_url, timeout=30) as http:
            health = await http.get("/api/health")
            assert health.status_code == 503 and health.json()["rabbitmq"]["state"] == "down", health.text
            owner = await sign_up(http)
            project = await new_project(http, owner)
            project_id = project["id"]
            written = []
            for title in ("one", "two", "three"):
                response = await http.post(
                    f"/api/projects/{project_id}/tasks", json={"title": title}, headers=owner.headers
                )
                assert response.status_code == 201, response.text
                written.append(response.json())
            await down.await_log("outbox_relay_retry", count=2)  # it failed, and is still at it
            assert down.running
            rows = await outbox_rows(project_id)
            assert [row["seq"] for row in rows] == [1, 2, 3]
            assert all(row["published_at"] is None for row in rows)
            backlog = (await http.get("/api/health")).json()["relay"]["backlog"]
            assert backlog >= 3
    finally:
        await down.astop()
    assert down.exited_cleanly and "Application shutdown complete" in down.log(), down.tail()

    async with ProjectFeed(project_id) as feed:
        running = asyncio.create_task(build_relay(get_settings()).run())
        try:
            arrived = [await feed.receive(str(row["id"])) for row in rows]
            await eventually(lambda: outbox_rows(project_id), all_published, "rows marked published")
        finally:
            await stop(running)
    for envelope, row, task in zip(arrived, rows, written, strict=True):
        assert_envelope(
            envelope, project_id=project_id, seq=row["seq"], type="task.created", actor_id=owner.id
        )
        assert envelope["data"] == task
    assert [event["seq"] for event in feed.with_ids([str(row["id"]) for row in rows])] == [1, 2, 3]
