"""The Gemini path: the real google-genai SDK pointed (GEMINI_BASE_URL) at a local fake Gemini server, the
real tenacity retries, and the circuit breaker in the real Redis. The fake server is the only fake.

Every failure mode (429, 500/503, a hang, malformed or invalid JSON, a refused connection) must give the
local answer within the deadline plus 50 ms; after N failures nothing goes upstream until the reset time,
then exactly one probe, even when several requests arrive together; the breaker's state is shared by
processes through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis

from backend.ai.engine import AIEngine, AnalysisSubject
from backend.config import Settings, get_settings
from tests.processes import REPO_ROOT, free_port

DEADLINE = 0.6
SLACK = 0.05  # the bound: the local answer within the deadline + 50 ms
# The breaker tests fail many calls: a shorter deadline keeps them quick.
BREAKER_DEADLINE = 0.25
FAILURES = 3
RESET = 0.5
NOW = datetime(2021, 6, 24, 12, 0)

GOOD_TASK = {
    "title": "Water the plants",
    "due_at": "2021-06-25T09:00",
    "priority": 2,
    "labels": ["home"],
    "assignees": [],
    "project": None,
    "repeat_every": 2,
    "repeat_unit": "days",
}


class FakeGemini:
    """A local stand-in for generativelanguage.googleapis.com. `replies` is consumed one per request
    (then `mode` answers): "ok" (the `answer` object as the model's JSON text), "429", "500", "503",
    "400", "hang", "malformed" (model text that is not JSON), "invalid" (JSON that breaks the schema),
    "garbage" (an HTTP body that is not JSON). `delay` postpones every answer. Counts requests."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.replies: list[str] = []
        self.answer: dict[str, Any] = dict(GOOD_TASK)
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.arrived = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with fake._lock:
                    fake.requests.append({"path": self.path, "body": body})
                    reply = fake.replies.pop(0) if fake.replies else fake.mode
                fake.arrived.set()
                if fake.delay:
                    fake._released.wait(fake.delay)
                if reply == "hang":
                    fake._released.wait(30)
                    return
                status, payload = fake._payload(reply)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _payload(self, reply: str) -> tuple[int, bytes]:
        if reply.isdigit():
            error = {"error": {"code": int(reply), "message": "fake failure", "status": "UNAVAILABLE"}}
            return int(reply), json.dumps(error).encode()
        if reply == "garbage":
            return 200, b"<html>not json"
        text = {
            "ok": json.dumps(self.answer),
            "malformed": '{"title": "Water the plants", "due_at": ',
            "invalid": json.dumps({**self.answer, "priority": 9}),
        }[reply]
        candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        return 200, json.dumps({"candidates": [candidate]}).encode()

    def close(self) -> None:
        self._released.set()  # ends hanging handlers
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini()
    yield server
    server.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own, removed afterwards."""
    name = f"test:ai:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(get_settings().redis_url)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


def settings_for(base_url: str, **changes: Any) -> Settings:
    return get_settings().model_copy(
        update={
            "gemini_api_key": "test-key",
            "gemini_base_url": base_url,
            "model_name": "gemini-2.5-flash",
            "ai_deadline_seconds": DEADLINE,
            "ai_breaker_failures": FAILURES,
            "ai_breaker_reset_seconds": RESET,
            **changes,
        }
    )


@pytest.fixture
async def engine(fake: FakeGemini, prefix: str) -> AsyncIterator[AIEngine]:
    built = AIEngine.from_settings(settings_for(fake.url), key_prefix=prefix)
    yield built
    await built.aclose()


@pytest.fixture
async def quick_engine(fake: FakeGemini, prefix: str) -> AsyncIterator[AIEngine]:
    built = AIEngine.from_settings(
        settings_for(fake.url, ai_deadline_seconds=BREAKER_DEADLINE), key_prefix=prefix
    )
    yield built
    await built.aclose()


async def timed_parse(engine: AIEngine, text: str = "Water plants tomorrow at 9 *home") -> tuple[Any, float]:
    started = time.perf_counter()
    result = await engine.parse(text, tz="Europe/Berlin", now=NOW)
    return result, time.perf_counter() - started


# Answers


async def test_a_good_answer_is_used(engine: AIEngine, fake: FakeGemini) -> None:
    result, _ = await timed_parse(engine, "water the plants every other day from tomorrow 9am")
    assert result.source == "gemini"
    assert result.title == "Water the plants"
    assert result.due_at.isoformat() == "2021-06-25T09:00:00+02:00"
    assert (result.priority, result.labels) == (2, ["home"])
    assert result.repeat.model_dump() == {"every": 2, "unit": "days"}
    assert fake.count == 1
    request = fake.requests[0]
    assert request["path"].endswith("/models/gemini-2.5-flash:generateContent")
    config = request["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "title" in config["responseJsonSchema"]["properties"]
    assert json.loads(request["body"]["contents"][0]["parts"][0]["text"])["now"].startswith(
        "2021-06-24T12:00"
    )


async def test_explicit_markers_win_over_gemini(engine: AIEngine) -> None:
    result, _ = await timed_parse(engine, "Water plants !4 *garden +Home @anna")
    assert result.source == "gemini"
    assert (result.priority, result.labels, result.project, result.assignees) == (
        4,
        ["garden"],
        "Home",
        ["anna"],
    )


async def test_quoted_text_is_not_sent(engine: AIEngine, fake: FakeGemini) -> None:
    result, _ = await timed_parse(engine, '"buy milk tomorrow !2"')
    assert (result.source, result.title, fake.count) == ("local", "buy milk tomorrow !2", 0)


async def test_transient_errors_are_retried_then_the_answer_is_used(
    engine: AIEngine, fake: FakeGemini
) -> None:
    fake.replies = ["503", "429"]  # backoff waits at most 0.1 s then 0.2 s: well inside the deadline
    result, elapsed = await timed_parse(engine)
    assert result.source == "gemini"
    assert fake.count == 3
    assert elapsed <= DEADLINE + SLACK


async def test_a_client_error_is_not_retried(engine: AIEngine, fake: FakeGemini) -> None:
    fake.mode = "400"
    result, _ = await timed_parse(engine)
    assert (result.source, fake.count) == ("local", 1)


@pytest.mark.parametrize("mode", ["429", "500", "503", "hang", "malformed", "invalid", "garbage"])
async def test_every_failure_gives_the_local_answer_within_the_deadline(
    engine: AIEngine, fake: FakeGemini, mode: str
) -> None:
    fake.mode = mode
    result, elapsed = await timed_parse(engine)
    assert result.source == "local"
    assert result.title == "Water plants"
    assert result.due_at.isoformat() == "2021-06-25T09:00:00+02:00"
    assert result.labels == ["home"]
    assert elapsed <= DEADLINE + SLACK, f"{mode}: answered after {elapsed:.3f} s"
    assert result.elapsed_ms <= (DEADLINE + SLACK) * 1000
    if mode in ("429", "500", "503"):
        assert fake.count > 1, "transient errors are retried"
    else:
        assert fake.count == 1, "a hang ends at the deadline; an answer that does not validate is not retried"


async def test_a_refused_connection_gives_the_local_answer_within_the_deadline(prefix: str) -> None:
    engine = AIEngine.from_settings(settings_for(f"http://127.0.0.1:{free_port()}"), key_prefix=prefix)
    try:
        result, elapsed = await timed_parse(engine)
    finally:
        await engine.aclose()
    assert result.source == "local"
    assert elapsed <= DEADLINE + SLACK


async def test_without_a_key_nothing_is_called(fake: FakeGemini) -> None:
    # A Redis URL where nothing listens, too: the local engine needs neither Gemini nor Redis.
    settings = settings_for(fake.url, gemini_api_key=None, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    engine = AIEngine.from_settings(settings)
    result, elapsed = await timed_parse(engine)
    assert (result.source, fake.count, engine.gemini) == ("local", 0, None)
    assert elapsed < 0.05
    assert await engine.breaker_state() == {"state": "disabled"}


async def test_cancellation_is_not_retried_and_not_counted(engine: AIEngine, fake: FakeGemini) -> None:
    fake.mode = "hang"
    call = asyncio.ensure_future(engine.parse("Water plants", tz="UTC", now=NOW))
    assert await asyncio.to_thread(fake.arrived.wait, 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0.2)
    assert fake.count == 1
    assert (await engine.breaker_state())["failures"] == 0


async def test_gemini_analysis_is_validated_against_the_offered_duplicates(
    engine: AIEngine, fake: FakeGemini
) -> None:
    subject = AnalysisSubject(
        title="Fix the login page crash",
        description="",
        labels_in_use=["bug"],
        open_tasks=[(11, "Login page crashes on submit"), (12, "Write release notes")],
    )
    fake.answer = {
        "priority": 4,
        "labels": ["bug"],
        "due_at": None,
        "subtasks": ["Reproduce the crash", "Fix the handler"],
        "duplicate_task_ids": [11],
    }
    analysis = await engine.analyze(subject, tz="UTC", now=NOW)
    assert analysis.source == "gemini"
    assert (analysis.priority, analysis.subtasks) == (4, ["Reproduce the crash", "Fix the handler"])
    assert [duplicate.task_id for duplicate in analysis.duplicates] == [11]
    offered = json.loads(fake.requests[0]["body"]["contents"][0]["parts"][0]["text"])["open_tasks"]
    assert {"id": 11, "title": "Login page crashes on submit"} in offered

    fake.answer = {**fake.answer, "duplicate_task_ids": [999]}  # an id it was never shown
    analysis = await engine.analyze(subject, tz="UTC", now=NOW)
    assert analysis.source == "local"
    assert analysis.priority == 3


# The circuit breaker


async def trip(engine: AIEngine, fake: FakeGemini) -> None:
    fake.mode = "503"
    for _ in range(FAILURES):
        result, _ = await timed_parse(engine)
        assert result.source == "local"
    assert (await engine.breaker_state())["state"] == "open"


@pytest.mark.parametrize("mode", ["malformed", "invalid"])
async def test_answers_that_never_validate_open_the_breaker(
    quick_engine: AIEngine, fake: FakeGemini, mode: str
) -> None:
    fake.mode = mode
    for _ in range(FAILURES):
        assert (await timed_parse(quick_engine))[0].source == "local"
    assert (await quick_engine.breaker_state())["state"] == "open"
    sent = fake.count
    await timed_parse(quick_engine)
    assert fake.count == sent


async def test_an_open_breaker_sends_nothing_upstream_until_the_reset_time(
    quick_engine: AIEngine, fake: FakeGemini
) -> None:
    await trip(quick_engine, fake)
    fake.mode = "ok"
    sent = fake.count
    for _ in range(5):
        result, elapsed = await timed_parse(quick_engine)
        assert result.source == "local"
        assert elapsed < SLACK, "an open breaker answers at once"
    assert fake.count == sent
    state = await quick_engine.breaker_state()
    assert 0 < state["retry_in_seconds"] <= RESET


async def test_after_the_reset_exactly_one_probe_goes_up_even_when_requests_arrive_together(
    quick_engine: AIEngine, fake: FakeGemini, prefix: str
) -> None:
    # A second engine with its own Redis connection asks at the same moment too.
    other = AIEngine.from_settings(
        settings_for(fake.url, ai_deadline_seconds=BREAKER_DEADLINE), key_prefix=prefix
    )
    try:
        # Either engine may become the probe: both open their HTTP and Redis connections first, so that
        # the probe's deadline is not spent on a cold client.
        for engine in (quick_engine, other):
            assert (await timed_parse(engine))[0].source == "gemini"
        await trip(quick_engine, fake)
        await asyncio.sleep(RESET + 0.05)
        fake.mode, fake.delay = "ok", 0.1  # the probe is still in flight when the others ask
        sent = fake.count
        calls = [engine.parse("Water plants", tz="UTC", now=NOW) for engine in (quick_engine, other) * 5]
        results = await asyncio.gather(*calls)
        assert fake.count == sent + 1
        assert sorted(result.source for result in results) == ["gemini"] + ["local"] * 9
        # The probe succeeded: closed for both, and calls go up again.
        assert (await other.breaker_state())["state"] == "closed"
        fake.delay = 0
        result, _ = await timed_parse(quick_engine)
        assert (result.source, fake.count) == ("gemini", sent + 2)
    finally:
        await other.aclose()


async def test_a_failed_probe_opens_the_breaker_again(quick_engine: AIEngine, fake: FakeGemini) -> None:
    await trip(quick_engine, fake)
    await asyncio.sleep(RESET + 0.05)
    sent = fake.count
    result, _ = await timed_parse(quick_engine)  # the probe: 503 until its deadline
    assert result.source == "local"
    assert fake.count > sent
    assert (await quick_engine.breaker_state())["state"] == "open"
    sent = fake.count
    await timed_parse(quick_engine)
    assert fake.count == sent


async def test_a_success_resets_the_failure_count(quick_engine: AIEngine, fake: FakeGemini) -> None:
    fake.mode = "503"
    for _ in range(FAILURES - 1):
        await timed_parse(quick_engine)
    fake.mode = "ok"
    assert (await timed_parse(quick_engine))[0].source == "gemini"
    fake.mode = "503"
    for _ in range(FAILURES - 1):
        await timed_parse(quick_engine)
    assert (await quick_engine.breaker_state())["state"] == "closed"


OTHER_PROCESS = """
import asyncio, json, sys
from datetime import datetime
from backend.ai.engine import AIEngine
from backend.config import get_settings

async def main() -> None:
    base_url, prefix, failures, deadline, calls = sys.argv[1:6]
    settings = get_settings().model_copy(update={
        "gemini_api_key": "test-key", "gemini_base_url": base_url, "model_name": "gemini-2.5-flash",
        "ai_breaker_failures": int(failures), "ai_breaker_reset_seconds": 60.0,
        "ai_deadline_seconds": float(deadline),
    })
    engine = AIEngine.from_settings(settings, key_prefix=prefix)
    sources = []
    for _ in range(int(calls)):
        sources.append((await engine.parse("Water plants", tz="UTC", now=datetime(2021, 6, 24, 12))).source)
    state = await engine.breaker_state()
    await engine.aclose()
    print(json.dumps({"sources": sources, "state": state["state"]}))

asyncio.run(main())
"""


async def test_processes_share_the_breaker(fake: FakeGemini, prefix: str) -> None:
    """Another Python process, with its own engine and Redis connection, trips the breaker; this one then
    sends nothing upstream."""
    fake.mode = "503"
    args = [fake.url, prefix, str(FAILURES), str(BREAKER_DEADLINE), str(FAILURES)]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", OTHER_PROCESS, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "AGORAX_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "sources": ["local"] * FAILURES,
        "state": "open",
    }
    fake.mode = "ok"
    sent = fake.count
    engine = AIEngine.from_settings(settings_for(fake.url, ai_breaker_reset_seconds=60.0), key_prefix=prefix)
    try:
        assert (await engine.breaker_state())["state"] == "open"
        result, _ = await timed_parse(engine)
    finally:
        await engine.aclose()
    assert (result.source, fake.count) == ("local", sent)
