"""Delivery guarantees through failures (issue #3): no event lost, none applied twice, always in order.

Each test breaks something for real (RabbitMQ's broker app, the worker, the API process, a second API and
worker) and watches "sessions": subscribers on Redis `agorax:project:<id>` that feed a real
`agorax_app.board_model.BoardModel` with the browser's rules (a seq already applied is dropped as a
duplicate; a gap is filled from GET /api/projects/{id}/events?after=<last_seq> over REST). Every test prints
one count line per project, e.g.

    fault=worker-sigkill written=500 delivered=500 lost=0 applied_twice=0 out_of_order=0 dropped_duplicates=3

and asserts 0 lost, 0 applied twice, 0 out of order. Every service stopped here is started again in a
`finally`, and every loop is bounded in count and time.

Isolation from other test runs on the same services: the processes here use their own RabbitMQ namespace
(RABBITMQ_NAMESPACE: their own exchange and queues, deleted at the end), so no other run's worker takes
these events; and the projects get ids far above any other database's, so their Redis channels are ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg.rows import dict_row

from agorax_app.board_model import BoardModel, ColumnItem, Outcome, TaskItem
from backend.config import Settings, get_settings
from backend.events.bus import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EXCHANGE_NAME,
    FANOUT_QUEUE,
    redis_channel,
)
from backend.events.rabbitmq import RabbitMQBroker, Topology, cancelled_from_outside
from backend.events.relay import FAULT_EXIT_BEFORE_PUBLISH, FAULT_EXIT_STATUS, OutboxRelay, libpq_url
from backend.events.worker import PREFETCH
from tests.conftest import TEST_DATABASE_URL, Account, unique
from tests.processes import ApiProcess, WorkerProcess, delete_namespace, private_namespace

RABBITMQ_URL = get_settings().rabbitmq_url
REDIS_URL = get_settings().redis_url
NAMESPACE = private_namespace("faults")
TOPOLOGY = Topology(NAMESPACE)
ENV: dict[str, str | None] = {
    "AGORAX_RUN_RELAY": "true",
    "DATABASE_URL": TEST_DATABASE_URL,
    "RABBITMQ_NAMESPACE": NAMESPACE,
    "OUTBOX_POLL_SECONDS": "1",
    FAULT_EXIT_BEFORE_PUBLISH: None,
}
WAIT = 30.0  # the longest any one wait may take; only a broken path gets near it
WRITE_LATENCY_LIMIT = 2.0  # seconds: the bound on a write while RabbitMQ is down
MAX_CATCH_UP_PAGES = 20


# -- services --------------------------------------------------------------------------------------------


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=90)


def unacked_messages(queue: str) -> int:
    """How many of the queue's messages consumers hold without having acked them."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "--no-table-headers", "name", "messages_unacknowledged"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    for line in listing.splitlines():
        name, _, count = line.rpartition("\t")
        if name == queue:
            return int(count)
    raise AssertionError(f"queue {queue} not listed: {listing!r}")


def rabbitmq_answers() -> bool:
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "await_startup", "--timeout", "5"],
            check=True,
            capture_output=True,
            timeout=20,
        )
    except (subprocess.SubprocessError, OSError):
        return False
    return True


async def until(condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.02)


async def until_async(probe: Callable[[], Awaitable[bool]], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.1)


async def outbox_rows(project_id: int) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(
        libpq_url(TEST_DATABASE_URL), row_factory=dict_row
    ) as conn:
        cursor = await conn.execute(
            "SELECT seq, published_at FROM outbox WHERE project_id = %s ORDER BY seq", (project_id,)
        )
        return await cursor.fetchall()


# -- a browser session, minus the browser ----------------------------------------------------------------


@dataclass
class Tally:
    applied: list[int] = field(default_factory=list)  # seqs in the order the model applied them
    live: set[int] = field(default_factory=set)  # seqs that arrived over Redis (possibly more than once)
    duplicates: int = 0
    fetched: int = 0  # events applied from the REST history
    gap_fetches: int = 0
    reloads: int = 0  # history gone, the browser would reload the board (never expected here)
    reconnects: int = 0


class BoardSession:
    """A session looking at one project: Redis subscription → BoardModel, with the browser's gap rules."""

    def __init__(self, base_url: str, account: Account, project_id: int) -> None:
        self.base_url = base_url
        self.account = account
        self.project_id = project_id
        self.tally = Tally()
        self.model: BoardModel | None = None
        self.start_seq = 0
        self._http = httpx.AsyncClient(base_url=base_url, headers=account.headers, timeout=10)
        self._redis = aioredis.from_url(REDIS_URL)
        self._pubsub = self._redis.pubsub()
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def __aenter__(self) -> BoardSession:
        await self._subscribe()
        # Subscribed first, then the board: nothing committed after the snapshot can be missed.
        self.model = await self._load()
        self.start_seq = self.model.last_seq
        self._task = asyncio.create_task(self._pump(), name=f"session-{self.project_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        await self._redis.aclose()
        await self._http.aclose()

    async def _subscribe(self) -> None:
        await self._pubsub.subscribe(redis_channel(self.project_id, namespace=NAMESPACE))
        confirmation = await self._pubsub.get_message(timeout=10)
        assert confirmation is not None and confirmation["type"] == "subscribe", confirmation

    async def _get(self, path: str, **params: Any) -> Any:
        """GET with retries while the API is away (a restart under the session), as a browser would."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                response = await self._http.get(path, params=params)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
                continue
            assert response.status_code == 200, response.text
            return response.json()

    async def _load(self) -> BoardModel:
        project = await self._get(f"/api/projects/{self.project_id}")
        columns = await self._get(f"/api/projects/{self.project_id}/columns")
        tasks = await self._get(f"/api/projects/{self.project_id}/tasks")
        return BoardModel(
            project_id=self.project_id,
            project_name=project["name"],
            user_id=self.account.id,
            role=project["role"],
            last_seq=project["event_seq"],
            columns={
                c["id"]: ColumnItem(id=c["id"], name=c["name"], position=c["position"], is_done=c["is_done"])
                for c in columns
            },
            tasks={t["id"]: TaskItem.from_public(t) for t in tasks},
        )

    @property
    def last_seq(self) -> int:
        assert self.model is not None
        return self.model.last_seq

    def _apply(self, envelope: dict[str, Any]) -> Outcome:
        assert self.model is not None
        outcome = self.model.apply(envelope)
        if outcome is Outcome.DUPLICATE:
            self.tally.duplicates += 1
        elif outcome is not Outcome.GAP:
            self.tally.applied.append(envelope["seq"])
        return outcome

    async def _fetch_missed(self, through: int | None) -> None:
        """The browser's catch-up: apply the history after the last applied seq, up to `through`."""
        self.tally.gap_fetches += 1
        for _ in range(MAX_CATCH_UP_PAGES):
            page = await self._get(f"/api/projects/{self.project_id}/events", after=self.last_seq)
            if not page["complete"]:
                self.tally.reloads += 1
                return
            for missed in page["events"]:
                if self._apply(missed) is not Outcome.DUPLICATE:
                    self.tally.fetched += 1
            target = through if through is not None else page["last_seq"]
            if self.last_seq >= target or not page["events"]:
                return

    async def _pump(self) -> None:
        try:
            while True:
                try:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except (aioredis.RedisError, OSError):
                    # Redis went away (another run may restart it): resubscribe, then catch up, like the app.
                    self.tally.reconnects += 1
                    await self._resubscribe()
                    await self._fetch_missed(None)
                    continue
                if message is None:
                    continue
                envelope = json.loads(message["data"])
                self.tally.live.add(envelope["seq"])
                if self._apply(envelope) is Outcome.GAP:
                    await self._fetch_missed(envelope["seq"])
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # surfaced by wait_for_seq
            self.error = exc
            raise

    async def _resubscribe(self) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._redis.pubsub()
            try:
                await self._subscribe()
                return
            except (aioredis.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def wait_for_seq(self, seq: int, within: float = WAIT) -> None:
        deadline = time.monotonic() + within
        while self.last_seq < seq:
            if self.error is not None:
                raise AssertionError(f"session {self.project_id} failed") from self.error
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"session {self.project_id} applied up to seq {self.last_seq}, not {seq}, "
                    f"within {within:.0f} s"
                )
            await asyncio.sleep(0.02)

    def counts(self, fault: str, written: int) -> dict[str, int]:
        """The counts for the events written during the test (seqs start_seq+1 .. start_seq+written)."""
        wanted = set(range(self.start_seq + 1, self.start_seq + written + 1))
        applied = [seq for seq in self.tally.applied if seq in wanted]
        times = Counter(applied)
        previous = self.start_seq
        out_of_order = 0
        for seq in self.tally.applied:
            out_of_order += seq != previous + 1
            previous = seq
        return {
            "written": written,
            "delivered": len(times),
            "lost": len(wanted - set(times)),
            "applied_twice": sum(n - 1 for n in times.values()),
            "out_of_order": out_of_order,
            "dropped_duplicates": self.tally.duplicates,
            "live": len(self.tally.live & wanted),
            "gap_fetched": self.tally.fetched,
            "reloads": self.tally.reloads,
            "redis_reconnects": self.tally.reconnects,
        }


def count_line(fault: str, counts: dict[str, int], **extra: Any) -> str:
    fields = {"fault": fault, **extra, **counts}
    return " ".join(f"{key}={value}" for key, value in fields.items())


def assert_exactly_once_in_order(counts: dict[str, int], line: str) -> None:
    assert counts["lost"] == 0, line
    assert counts["applied_twice"] == 0, line
    assert counts["out_of_order"] == 0, line
    assert counts["reloads"] == 0, line
    assert counts["delivered"] == counts["written"], line


# -- REST ------------------------------------------------------------------------------------------------


async def sign_up(http: httpx.AsyncClient) -> Account:
    name, password = unique("fault"), "correct horse 1"
    created = await http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    assert created.status_code == 201, created.text
    token = await http.post("/api/auth/token", data={"username": name, "password": password})
    assert token.status_code == 200, token.text
    return Account(
        id=created.json()["id"], username=name, password=password, token=token.json()["access_token"]
    )


async def new_project(http: httpx.AsyncClient, owner: Account) -> int:
    project = await http.post("/api/projects", json={"name": unique("Faults ")}, headers=owner.headers)
    assert project.status_code == 201, project.text
    return int(project.json()["id"])


async def write_tasks(
    clients: list[httpx.AsyncClient],
    owner: Account,
    project_id: int,
    count: int,
    *,
    concurrency: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """`count` task creations spread over `clients` (round robin), `concurrency` at a time; each must be a
    201. Returns every write's latency in seconds."""
    latencies: list[float] = []
    next_index = 0

    async def writer() -> None:
        nonlocal next_index
        while next_index < count:
            index, next_index = next_index, next_index + 1
            client = clients[index % len(clients)]
            started = time.monotonic()
            response = await client.post(
                f"/api/projects/{project_id}/tasks", json={"title": f"task {index}"}, headers=owner.headers
            )
            latencies.append(time.monotonic() - started)
            assert response.status_code == 201, response.text
            if progress is not None:
                progress(len(latencies))

    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return latencies


async def current_seq(http: httpx.AsyncClient, owner: Account, project_id: int) -> int:
    response = await http.get(f"/api/projects/{project_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["event_seq"])


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-processes")


@pytest.fixture(scope="module", autouse=True)
def services(migrated_database: None) -> Iterator[None]:
    """Projects with ids no other database uses (so their Redis channels are ours alone), and this module's
    RabbitMQ exchanges and queues deleted at the end. RabbitMQ is left running whatever happened."""
    with psycopg.connect(libpq_url(TEST_DATABASE_URL), autocommit=True) as conn:
        start = 10**12 + random.randrange(10**9) * 1000
        conn.execute(f"SELECT setval(pg_get_serial_sequence('projects', 'id'), {start})")
    yield
    if not rabbitmq_answers():
        rabbitmqctl("start_app")
    asyncio.run(delete_namespace(RABBITMQ_URL, NAMESPACE))


@pytest.fixture(scope="module")
def processes(log_dir: Path) -> Iterator[tuple[ApiProcess, WorkerProcess]]:
    """One API (running its relay) and one worker on this module's namespace, booted side by side."""
    worker = WorkerProcess(log_dir, env=ENV)
    api = ApiProcess(log_dir, env=ENV)
    worker.spawn()
    try:
        api.start()
        worker.wait_ready()
        yield api, worker
    finally:
        for process in (api, worker):
            if process.running:
                process.stop()


@pytest.fixture
async def api(processes: tuple[ApiProcess, WorkerProcess]) -> ApiProcess:
    """The module's API, started again if an earlier test left it down (with the standard settings)."""
    process = processes[0]
    if not process.running or process.env.get(FAULT_EXIT_BEFORE_PUBLISH) is not None:
        if process.running:
            await process.astop()
        process.env.update(ENV)
        await process.astart()
    return process


@pytest.fixture
async def worker(processes: tuple[ApiProcess, WorkerProcess]) -> WorkerProcess:
    process = processes[1]
    if not process.running:
        await process.astart()
    return process


@pytest.fixture
async def http(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a count line to the terminal even without -s."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return emit


# -- a. RabbitMQ stopped --------------------------------------------------------------------------------


async def test_rabbitmq_stopped_writes_stay_fast_and_every_event_arrives_once_in_order(
    api: ApiProcess, worker: WorkerProcess, http: httpx.AsyncClient, report: Callable[[str], None]
) -> None:
    owner = await sign_up(http)
    project_id = await new_project(http, owner)
    written = 200
    worker_starts = worker.starts
    async with BoardSession(api.base_url, owner, project_id) as session:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        try:
            latencies = await write_tasks([http], owner, project_id, written, concurrency=2)
            health = await http.get("/api/health")
        finally:
            await asyncio.to_thread(rabbitmqctl, "start_app")
        assert max(latencies) < WRITE_LATENCY_LIMIT, f"slowest write {max(latencies):.3f} s"
        # The worker rode the outage out: the same process, not a restarted one.
        assert worker.running and worker.starts == worker_starts, worker.tail()
        # While it was down: the events waited in the outbox, and health said so.
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["rabbitmq"]["state"] == "down" and body["database"]["state"] == "up", body
        assert body["relay"]["backlog"] >= written, body
        assert body["workers"]["state"] == "unknown", body

        last = await current_seq(http, owner, project_id)
        assert last == session.start_seq + written
        await session.wait_for_seq(last)
        counts = session.counts("rabbitmq-stopped", written)
    line = count_line(
        "rabbitmq-stopped", counts, max_write_ms=round(max(latencies) * 1000), max_write_limit_ms=2000
    )
    report(line)
    assert_exactly_once_in_order(counts, line)
    if counts["redis_reconnects"] == 0:  # the pipeline itself lost nothing: every event came over Redis
        assert counts["live"] == written, line
    # The same worker process reconnected and declared its queue again; nothing leaked in the API.
    assert worker.running and worker.starts == worker_starts, worker.tail()
    assert worker.log().count(WorkerProcess.READY_LINE) >= 2, worker.tail()
    assert "never awaited" not in api.log(), api.tail()

    async def healthy() -> bool:
        return (await http.get("/api/health")).status_code == 200

    await until_async(healthy, "health to answer 200 again")


# -- b. the worker killed mid-stream ---------------------------------------------------------------------


async def test_worker_killed_mid_stream_and_restarted_delivers_every_event_once(
    api: ApiProcess, worker: WorkerProcess, http: httpx.AsyncClient, report: Callable[[str], None]
) -> None:
    """SIGKILL while the worker holds messages it has not acked: it is first stalled (SIGSTOP) so that
    RabbitMQ fills its prefetch, then killed; the rest of the 500 writes happen with no worker at all."""
    owner = await sign_up(http)
    project_id = await new_project(http, owner)
    written, stall_at, kill_at, restart_at = 500, 100, 200, 350
    done = 0
    unacked_at_kill = 0

    def progress(count: int) -> None:
        nonlocal done
        done = count

    async def faults() -> int:
        nonlocal unacked_at_kill
        await until(lambda: done >= stall_at, f"{stall_at} writes")
        worker.pause()
        await until(lambda: done >= kill_at, f"{kill_at} writes")
        unacked_at_kill = await asyncio.to_thread(unacked_messages, TOPOLOGY.queue)
        code = await asyncio.to_thread(worker.kill)
        await until(lambda: done >= restart_at, f"{restart_at} writes")
        await worker.astart()
        return code

    async with BoardSession(api.base_url, owner, project_id) as session:
        killer = asyncio.create_task(faults())
        try:
            await write_tasks([http], owner, project_id, written, concurrency=4, progress=progress)
            kill_status = await killer
        finally:
            killer.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await killer
        assert kill_status == -9  # SIGKILL: no chance to hand anything back
        assert 0 < unacked_at_kill <= PREFETCH  # it died with messages in hand, and no more than that
        last = await current_seq(http, owner, project_id)
        assert last == session.start_seq + written
        await session.wait_for_seq(last)
        counts = session.counts("worker-sigkill", written)
    line = count_line("worker-sigkill", counts, unacked_at_kill=unacked_at_kill)
    report(line)
    assert_exactly_once_in_order(counts, line)
    if counts["redis_reconnects"] == 0:
        assert counts["live"] == written, line


# -- c. the API process dies between commit and publish --------------------------------------------------


async def test_api_killed_after_commit_before_publish_delivers_after_restart(
    api: ApiProcess, worker: WorkerProcess, http: httpx.AsyncClient, report: Callable[[str], None]
) -> None:
    owner = await sign_up(http)
    project_id = await new_project(http, owner)
    async with BoardSession(api.base_url, owner, project_id) as session:
        await api.arestart(env={FAULT_EXIT_BEFORE_PUBLISH: "1"})
        try:
            created = await http.post(
                f"/api/projects/{project_id}/tasks", json={"title": "doomed relay"}, headers=owner.headers
            )
            assert created.status_code == 201, created.text  # committed and answered...
            await until(lambda: not api.running, "the API to die", within=15)
            exit_status, faulty_log = api.returncode, api.log()
            # ...and died holding the event, unpublished: nothing but the outbox has it now.
            rows = [row for row in await outbox_rows(project_id) if row["seq"] > session.start_seq]
            assert [(row["seq"], row["published_at"]) for row in rows] == [(session.start_seq + 1, None)]
        finally:
            await api.arestart(env={FAULT_EXIT_BEFORE_PUBLISH: None})
        assert exit_status == FAULT_EXIT_STATUS, faulty_log[-2000:]
        assert "fault_exit_before_publish" in faulty_log, faulty_log[-2000:]
        assert "Application shutdown" not in faulty_log  # it died, it did not stop
        await session.wait_for_seq(session.start_seq + 1)  # the restarted process's relay published it
        more = await write_tasks([http], owner, project_id, 2)
        last = await current_seq(http, owner, project_id)
        assert last == session.start_seq + 1 + len(more)
        await session.wait_for_seq(last)
        counts = session.counts("api-killed-before-publish", 1 + len(more))
    line = count_line("api-killed-before-publish", counts)
    report(line)
    assert_exactly_once_in_order(counts, line)


# -- e. two APIs and two workers -------------------------------------------------------------------------


async def test_two_apis_and_two_workers_deliver_every_event_once_in_order_per_project(
    api: ApiProcess,
    worker: WorkerProcess,
    http: httpx.AsyncClient,
    log_dir: Path,
    report: Callable[[str], None],
) -> None:
    second_api = ApiProcess(log_dir, env=ENV)
    second_worker = WorkerProcess(log_dir, env=ENV)
    second_worker.spawn()
    await second_api.astart()
    try:
        await asyncio.to_thread(second_worker.wait_ready)
        async with httpx.AsyncClient(base_url=second_api.base_url, timeout=30) as http2:
            health = (await http2.get("/api/health")).json()
            assert health["workers"]["consumers"] == 2, health
            owner = await sign_up(http)
            projects = [await new_project(http, owner) for _ in range(3)]
            per_project = 60
            async with contextlib.AsyncExitStack() as stack:
                sessions = [
                    await stack.enter_async_context(
                        BoardSession((api, second_api)[i % 2].base_url, owner, project_id)
                    )
                    for i, project_id in enumerate(projects)
                ]
                await asyncio.gather(
                    *(
                        write_tasks([http, http2], owner, project_id, per_project, concurrency=2)
                        for project_id in projects
                    )
                )
                for session in sessions:
                    last = await current_seq(http2, owner, session.project_id)
                    assert last == session.start_seq + per_project
                    await session.wait_for_seq(last)
                results = [session.counts("two-apis-two-workers", per_project) for session in sessions]
    finally:
        for process in (second_api, second_worker):
            if process.running:
                await process.astop()
    lines = [
        count_line("two-apis-two-workers", counts, project=index + 1) for index, counts in enumerate(results)
    ]
    for line in lines:
        report(line)
    for counts, line in zip(results, lines, strict=True):
        assert_exactly_once_in_order(counts, line)


# -- retention -------------------------------------------------------------------------------------------


async def test_relay_purges_published_events_past_retention_and_catch_up_then_says_incomplete(
    api: ApiProcess, worker: WorkerProcess, http: httpx.AsyncClient
) -> None:
    owner = await sign_up(http)
    project_id = await new_project(http, owner)
    start = await current_seq(http, owner, project_id)
    await write_tasks([http], owner, project_id, 6)

    async def all_published() -> bool:
        rows = await outbox_rows(project_id)
        return len(rows) == start + 6 and all(row["published_at"] is not None for row in rows)

    await until_async(all_published, "the six events to be published")

    async def connect_broker() -> RabbitMQBroker:
        return await RabbitMQBroker.connect(RABBITMQ_URL, topology=TOPOLOGY)

    # A relay with a one-hour window that purges five times a second (the real one: once a minute).
    relay = OutboxRelay(
        database_url=TEST_DATABASE_URL,
        connect_broker=connect_broker,
        retention=timedelta(hours=1),
        purge_interval_seconds=0.2,
    )
    database = libpq_url(TEST_DATABASE_URL)

    async def backdate(seqs: list[int]) -> None:
        """As if these events had been published (and written) two hours ago."""
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            await conn.execute(
                "UPDATE outbox SET published_at = published_at - interval '2 hours', "
                "created_at = created_at - interval '2 hours' WHERE project_id = %s AND seq = ANY(%s)",
                (project_id, seqs),
            )

    async def kept_from(first: int) -> bool:
        return [row["seq"] for row in await outbox_rows(project_id)] == list(range(first, start + 7))

    running = asyncio.create_task(relay.run())
    try:
        # Expired: everything up to start+4 but start+3 (as after a clock step). Only the prefix before the
        # first event that must stay goes; start+4 is kept, or the history would have a hole.
        await backdate([seq for seq in range(1, start + 5) if seq != start + 3])
        await until_async(lambda: kept_from(start + 3), "the expired prefix to be purged", within=15)
        await backdate([start + 3])
        await until_async(lambda: kept_from(start + 5), "the rest of the expired events to go", within=15)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    async def page(after: int) -> dict[str, Any]:
        response = await http.get(
            f"/api/projects/{project_id}/events", params={"after": after}, headers=owner.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    for after in (0, start + 3):  # the history from there is gone: the reader must reload
        gone = await page(after)
        assert gone["complete"] is False, gone
        assert [event["seq"] for event in gone["events"]] == [start + 5, start + 6]
    kept = await page(start + 4)  # from there on it is whole
    assert kept["complete"] is True
    assert [event["seq"] for event in kept["events"]] == [start + 5, start + 6]
    assert (await page(start + 6)) == {"events": [], "last_seq": start + 6, "complete": True}


# -- health ----------------------------------------------------------------------------------------------


async def test_health_reports_relay_backlog_and_worker_lag(
    api: ApiProcess, worker: WorkerProcess, http: httpx.AsyncClient
) -> None:
    owner = await sign_up(http)
    project_id = await new_project(http, owner)
    async with BoardSession(api.base_url, owner, project_id) as session:
        await write_tasks([http], owner, project_id, 1)
        await session.wait_for_seq(session.start_seq + 1)  # a delivery is recorded
    healthy = await http.get("/api/health")

    async def relay_done() -> bool:
        # The relay marks the row after the broker's confirm, which can come after the delivery itself.
        nonlocal healthy
        healthy = await http.get("/api/health")
        return bool(healthy.json()["relay"]["backlog"] == 0)

    await until_async(relay_done, "the relay to mark the event published")
    assert healthy.status_code == 200, healthy.text
    body = healthy.json()
    assert body["status"] == "ok", body
    assert {body[name]["state"] for name in ("database", "redis", "rabbitmq")} == {"up"}
    assert body["relay"]["backlog"] == 0 and body["relay"]["oldest_unpublished_seconds"] == 0.0
    workers = body["workers"]
    assert workers["state"] == "up" and workers["queue"] == TOPOLOGY.queue, workers
    assert workers["consumers"] == 1 and workers["queue_depth"] == 0 and workers["lag_seconds"] == 0.0
    assert workers["last_delivery"]["project_id"] == project_id, workers
    assert workers["last_delivery"]["seq"] == session.start_seq + 1, workers

    await worker.astop()
    try:
        await write_tasks([http], owner, project_id, 5)

        async def waiting() -> bool:
            workers = (await http.get("/api/health")).json()["workers"]
            return workers["queue_depth"] == 5

        await until_async(waiting, "the five events to wait in the queue")
        stalled = await http.get("/api/health")
        assert stalled.status_code == 200  # this web process still serves...
        body = stalled.json()
        assert body["status"] == "degraded", body  # ...but the events are not moving
        workers = body["workers"]
        assert workers["state"] == "down" and workers["consumers"] == 0, workers
        assert workers["lag_seconds"] > 0, workers
        assert body["relay"]["backlog"] == 0, body  # the relay did its part
    finally:
        await worker.astart()

    async def drained() -> bool:
        workers = (await http.get("/api/health")).json()["workers"]
        return workers["queue_depth"] == 0 and workers["consumers"] == 1

    await until_async(drained, "the worker to drain the queue")


def test_the_default_namespace_keeps_the_documented_names() -> None:
    default = Topology()
    assert (default.exchange, default.queue) == (EXCHANGE_NAME, FANOUT_QUEUE)
    dead = (default.dead_letter_exchange, default.dead_letter_queue)
    assert dead == (DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE)
    assert Settings.model_fields["rabbitmq_namespace"].default == default.namespace


async def test_a_cancelled_error_from_a_closed_connection_is_told_apart_from_a_stop() -> None:
    """The relay and the worker keep going when aiormq cancels a future they await because the connection
    closed (an ack or a publish in flight), and stop only when their own task is cancelled."""
    loop = asyncio.get_running_loop()

    async def await_future(future: asyncio.Future[None]) -> bool:
        try:
            await future
        except asyncio.CancelledError:
            return cancelled_from_outside()
        return False

    pending: asyncio.Future[None] = loop.create_future()
    waiting = asyncio.create_task(await_future(pending))
    await asyncio.sleep(0)
    pending.cancel()  # what aiormq does to its futures when the connection closes
    assert await waiting is False

    async def sleeper() -> bool:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            return cancelled_from_outside()
        return False

    stopped = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    stopped.cancel()  # a real stop
    assert await stopped is True
