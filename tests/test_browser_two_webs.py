"""Scale-out: two web processes (each `reflex run --env prod`, several workers, session state in Redis) and
two fan-out workers on the same PostgreSQL, RabbitMQ and Redis. Every open board, whichever process holds
its socket, shows every card written through either process exactly once, in the server's order."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from backend.config import get_settings
from tests.browser_support import REFLEX_ENV, Client, WebProcess, open_board, sign_in
from tests.conftest import unique
from tests.processes import WorkerProcess, delete_namespace, private_namespace
from tests.test_browser_faults import report_counts

pytestmark = pytest.mark.browser

WRITES_PER_PROCESS = 20


@dataclass
class Cluster:
    webs: tuple[WebProcess, WebProcess]
    workers: tuple[WorkerProcess, WorkerProcess]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("two-webs-logs")
    redis_state = os.environ.get("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/1")
    # A queue of the cluster's own: another Agorax running on this machine has workers on the default one.
    namespace = private_namespace("two-webs")
    env = {**REFLEX_ENV, "REFLEX_REDIS_URL": redis_state, "RABBITMQ_NAMESPACE": namespace}
    workers = (WorkerProcess(logs, env=env), WorkerProcess(logs, env=env))
    webs = (WebProcess(logs, env=env), WebProcess(logs, env=env))
    for web in webs:  # either process's pages and API answer the other's origin too
        web.env["CORS_ORIGINS"] = f'["{webs[0].base_url}", "{webs[1].base_url}"]'
    started: list[WorkerProcess | WebProcess] = []
    try:
        for worker in workers:
            started.append(worker.start())
        # One after the other: both compile the same frontend (Reflex serialises that with a file lock).
        for web in webs:
            started.append(web.start(timeout=300))
        yield Cluster(webs=webs, workers=workers)
    finally:
        for process in reversed(started):
            process.stop()
        asyncio.run(delete_namespace(get_settings().rabbitmq_url, namespace))


def test_every_board_on_either_web_process_gets_every_event_once_in_order(
    cluster: Cluster, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = (Client(web.base_url) for web in cluster.webs)
    health = first.http.get("/api/health").json()
    assert health["workers"]["consumers"] == 2, health
    owner, editor = unique("gil"), unique("hana")
    owner_headers = first.register(owner)
    editor_headers = second.register(editor)
    project = first.http.post("/api/projects", json={"name": "Two webs"}, headers=owner_headers).json()
    added = first.http.post(
        f"/api/projects/{project['id']}/members",
        json={"username": editor, "role": "editor"},
        headers=owner_headers,
    )
    assert added.status_code == 201, added.text

    # Four sessions: each user on each web process.
    sessions: dict[str, Page] = {}
    for index, web in enumerate(cluster.webs, start=1):
        for user in (owner, editor):
            page = browser.new_context().new_page()
            sign_in(page, web.base_url, user)
            open_board(page, web.base_url, project["id"])
            sessions[f"{user}@web{index}"] = page

    # Both users write at once, each through a different process's API (and so its relay).
    def write(client: Client, headers: dict[str, str], who: str) -> list[int]:
        statuses = []
        for n in range(WRITES_PER_PROCESS):
            response = client.http.post(
                f"/api/projects/{project['id']}/tasks", json={"title": f"{who} {n}"}, headers=headers
            )
            statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [
            pool.submit(write, first, owner_headers, "Owner via web1"),
            pool.submit(write, second, editor_headers, "Editor via web2"),
        ]
        assert all(status == 201 for result in results for status in result.result())

    stored = first.http.get(f"/api/projects/{project['id']}/tasks", headers=owner_headers).json()
    written = [task["title"] for task in sorted(stored, key=lambda task: task["position"])]
    assert len(written) == 2 * WRITES_PER_PROCESS
    for name, page in sessions.items():
        titles = page.locator("[data-column-name='To do'] .card-title")
        expect(titles).to_have_count(len(written), timeout=15_000)
        shown = titles.all_inner_texts()
        report_counts(capsys, f"two-webs-two-workers session={name}", written, shown)
        assert shown == written, name
