"""Browser tests: Debian's Chromium, driven by Playwright, against a real Agorax (Reflex in production
mode on one port, with the fan-out worker) on the real PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.conftest import unique
from tests.processes import PYTHON, REPO_ROOT, ManagedProcess, WorkerProcess, free_port

pytestmark = pytest.mark.browser

GOCD_EXPORT = REPO_ROOT.parent / "shared" / "data" / "trello" / "gocd-test-drive.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-pw"


class WebProcess(ManagedProcess):
    """`reflex run --env prod` serving pages, websocket and /api on one free port."""

    name = "web"

    def __init__(self, log_dir: Path, *, env: dict[str, str | None]) -> None:
        super().__init__(log_dir, env=env)
        self.port = free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        port = str(self.port)
        reflex = str(Path(PYTHON).with_name("reflex"))
        return [
            reflex,
            "run",
            "--env",
            "prod",
            "--single-port",
            "--frontend-port",
            port,
            "--backend-port",
            port,
        ]

    def is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/api/health", timeout=5.0).status_code in (200, 503)
        except httpx.TransportError:
            return False


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    logs = tmp_path_factory.mktemp("web-logs")
    env: dict[str, str | None] = {
        "AGORAX_RUN_RELAY": "true",
        "REFLEX_REDIS_URL": os.environ.get("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/1"),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
        "REFLEX_USE_SYSTEM_BUN": "1",
    }
    worker = WorkerProcess(logs).start()
    server = WebProcess(logs, env=env)
    try:
        server.start(timeout=240)
        yield server
    finally:
        server.stop()
        worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Client:
    """A third client talking REST to the same server."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def register(self, username: str) -> dict[str, str]:
        response = self.http.post(
            "/api/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        assert response.status_code == 201, response.text
        token = self.http.post("/api/auth/token", data={"username": username, "password": PASSWORD})
        return {"Authorization": f"Bearer {token.json()['access_token']}"}


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.locator("#username-input").fill(username)
    page.locator("#password-input").fill(PASSWORD)
    page.locator("#sign-in-button").click()
    expect(page.locator("#signed-in-as")).to_have_text(username, timeout=30_000)


def open_board(page: Page, base_url: str, project_id: int) -> None:
    page.goto(f"{base_url}/board/{project_id}")
    expect(page.locator("#board-ready")).to_be_attached(timeout=30_000)


def column(page: Page, name: str) -> Locator:
    return page.locator(f"[data-column-name='{name}']")


def import_gocd(rest: Client, owner: str, headers: dict[str, str]) -> int:
    result = subprocess.run(
        [str(Path(PYTHON).with_name("agorax")), "import-trello", str(GOCD_EXPORT), "--owner", owner],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    projects = rest.http.get("/api/projects", headers=headers).json()
    assert len(projects) == 1, projects
    return projects[0]["id"]


def test_two_users_see_each_others_moves_live_on_the_imported_gocd_board(
    web: WebProcess, browser: Browser
) -> None:
    rest = Client(web.base_url)
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    alice_headers = rest.register(alice)
    rest.register(bob)
    carol_headers = rest.register(carol)
    project_id = import_gocd(rest, alice, alice_headers)
    for member in (bob, carol):
        added = rest.http.post(
            f"/api/projects/{project_id}/members",
            json={"username": member, "role": "editor"},
            headers=alice_headers,
        )
        assert added.status_code == 201, added.text

    columns = rest.http.get(f"/api/projects/{project_id}/columns", headers=alice_headers).json()
    tasks = rest.http.get(f"/api/projects/{project_id}/tasks", headers=alice_headers).json()
    assert len(columns) == 6 and len(tasks) == 44
    first, last = columns[0], columns[-1]
    moving = next(task for task in tasks if task["column_id"] == first["id"])

    page_a = browser.new_context().new_page()
    page_b = browser.new_context().new_page()
    for page, user in ((page_a, alice), (page_b, bob)):
        sign_in(page, web.base_url, user)
        open_board(page, web.base_url, project_id)
        expect(page.locator("[data-column-name]")).to_have_count(6)
        expect(page.locator("[data-card-title]")).to_have_count(44)
    expect(column(page_b, first["name"]).locator(f"#card-{moving['id']}")).to_be_visible()

    # Alice moves the card in her browser; Bob's board follows without a reload.
    page_a.locator(f"#card-{moving['id']} [aria-label='Move card']").click()
    page_a.get_by_role("option", name=last["name"]).click()
    expect(column(page_a, last["name"]).locator(f"#card-{moving['id']}")).to_be_visible()
    expect(column(page_b, last["name"]).locator(f"#card-{moving['id']}")).to_be_visible(timeout=10_000)
    expect(column(page_b, first["name"]).locator(f"#card-{moving['id']}")).to_have_count(0)
    stored = rest.http.get(f"/api/tasks/{moving['id']}", headers=alice_headers).json()
    assert stored["column_id"] == last["id"]

    # A third client renames it over REST; both browsers show the new title.
    renamed = rest.http.patch(
        f"/api/tasks/{moving['id']}", json={"title": "Renamed over REST ✓"}, headers=carol_headers
    )
    assert renamed.status_code == 200, renamed.text
    for page in (page_a, page_b):
        expect(page.locator(f"#card-{moving['id']} .card-title")).to_have_text(
            "Renamed over REST ✓", timeout=10_000
        )


def test_a_refused_edit_rolls_back_visibly(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    dana = unique("dana")
    headers = rest.register(dana)
    project = rest.http.post("/api/projects", json={"name": "Rollback"}, headers=headers).json()
    task = rest.http.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "Keep me"}, headers=headers
    ).json()

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, dana)
    open_board(page, web.base_url, project["id"])
    page.locator(f"#card-{task['id']} [aria-label='Edit title']").click()
    field = page.locator(f"#card-{task['id']} input[aria-label='Card title']")
    field.fill("x" * 501)
    field.press("Enter")
    expect(page.get_by_text("Title not saved")).to_be_visible(timeout=10_000)
    expect(page.locator(f"#card-{task['id']} .card-title")).to_have_text("Keep me")
    assert rest.http.get(f"/api/tasks/{task['id']}", headers=headers).json()["title"] == "Keep me"
