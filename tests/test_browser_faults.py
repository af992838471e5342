"""Failures under an open board: it must never go stale. Redis pub/sub keeps nothing for a subscriber
that is away, so after a Redis restart the fan-out reconnects and every open board fetches what it missed;
after the web process itself restarts, the browser reconnects, still signed in, on the same board."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from itertools import pairwise

import pytest
import redis
from playwright.sync_api import Browser, expect

from tests.browser_support import REFLEX_ENV, Client, WebProcess, open_board, sign_in
from tests.conftest import unique
from tests.processes import ApiProcess, WorkerProcess, wait_until

pytestmark = pytest.mark.browser

REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379"]
REDIS_START += ["--save", "", "--appendonly", "no"]


def redis_answers() -> bool:
    try:
        return bool(redis.Redis(socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """Session state in memory here (one web process), so that the restart hits only the event feed;
    production keeps Reflex state in a Redis that persists (compose.yaml: appendonly)."""
    logs = tmp_path_factory.mktemp("web-redis-logs")
    worker = WorkerProcess(logs).start()
    server = WebProcess(logs, env={**REFLEX_ENV, "REFLEX_REDIS_URL": None})
    try:
        server.start(timeout=240)
        yield server
    finally:
        server.stop()
        worker.stop()


def report_counts(
    capsys: pytest.CaptureFixture[str], fault: str, written: list[str], shown: list[str]
) -> None:
    """The fault tests' count line, from what the browser shows against what was written."""
    applied_twice = sum(shown.count(title) - 1 for title in set(shown))
    delivered = [title for title in written if title in shown]
    in_order = [title for title in shown if title in written]
    out_of_order = sum(1 for a, b in pairwise(in_order) if written.index(a) > written.index(b))
    with capsys.disabled():
        print(
            f"\nfault={fault} written={len(written)} delivered={len(delivered)} "
            f"lost={len(written) - len(delivered)} applied_twice={applied_twice} out_of_order={out_of_order}"
        )


def test_redis_restart_under_an_open_board(
    web: WebProcess, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    rest = Client(web.base_url)
    erin = unique("erin")
    headers = rest.register(erin)
    project = rest.http.post("/api/projects", json={"name": "Redis restart"}, headers=headers).json()
    first = rest.http.post(f"/api/projects/{project['id']}/tasks", json={"title": "Before"}, headers=headers)
    assert first.status_code == 201

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, erin)
    open_board(page, web.base_url, project["id"])
    expect(page.locator("[data-card-title='Before']")).to_be_visible()

    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, capture_output=True)
    try:
        wait_until(lambda: not redis_answers(), timeout=10, what="Redis to stop")
        missed = [
            rest.http.post(
                f"/api/projects/{project['id']}/tasks", json={"title": f"Missed {n}"}, headers=headers
            )
            for n in range(3)
        ]
        assert [response.status_code for response in missed] == [201, 201, 201]
    finally:
        subprocess.run(REDIS_START, check=True, capture_output=True)
        wait_until(redis_answers, timeout=20, what="Redis to start")

    # Events written after the restart arrive within 5 s (the feed reconnects within ~2 s)...
    later = rest.http.post(f"/api/projects/{project['id']}/tasks", json={"title": "After"}, headers=headers)
    assert later.status_code == 201
    expect(page.locator("[data-card-title='After']")).to_be_visible(timeout=5_000)
    # ...and the ones written while Redis was down are caught up, once each, in order.
    written = ["Before", "Missed 0", "Missed 1", "Missed 2", "After"]
    titles = page.locator("[data-column-name='To do'] .card-title")
    expect(titles).to_have_text(written)
    report_counts(capsys, "redis-restart-browser", written, titles.all_inner_texts())


def test_web_restart_under_an_open_board(
    web: WebProcess,
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rest = Client(web.base_url)
    fay = unique("fay")
    headers = rest.register(fay)
    project = rest.http.post("/api/projects", json={"name": "Web restart"}, headers=headers).json()
    rest.http.post(f"/api/projects/{project['id']}/tasks", json={"title": "Before"}, headers=headers)

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, fay)
    open_board(page, web.base_url, project["id"])
    expect(page.locator("[data-card-title='Before']")).to_be_visible()

    web.stop()
    # While the web process is down, a teammate keeps working through another API process.
    with ApiProcess(tmp_path_factory.mktemp("api-logs"), env={"AGORAX_RUN_RELAY": "true"}) as api:
        other = Client(api.base_url)
        made = other.http.post(
            f"/api/projects/{project['id']}/tasks", json={"title": "While down"}, headers=headers
        )
        assert made.status_code == 201
    web.start(timeout=240)

    # The page reconnects by itself: same board, still signed in, with what happened meanwhile.
    expect(page.locator("[data-card-title='While down']")).to_be_visible(timeout=60_000)
    assert page.url.endswith(f"/board/{project['id']}")
    expect(page.locator("#signed-in-as")).to_have_text(fay)
    later = rest.http.post(f"/api/projects/{project['id']}/tasks", json={"title": "After"}, headers=headers)
    assert later.status_code == 201
    expect(page.locator("[data-card-title='After']")).to_be_visible(timeout=5_000)
    written = ["Before", "While down", "After"]
    titles = page.locator("[data-column-name='To do'] .card-title")
    expect(titles).to_have_text(written)
    report_counts(capsys, "web-restart-browser", written, titles.all_inner_texts())
