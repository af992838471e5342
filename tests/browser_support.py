"""Shared pieces of the browser tests: a real Agorax web process, Debian's Chromium, and REST helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.processes import PYTHON, ManagedProcess, free_port

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
REFLEX_ENV: dict[str, str | None] = {
    "AGORAX_RUN_RELAY": "true",
    "REFLEX_TELEMETRY_ENABLED": "false",
    "REFLEX_CHECK_LATEST_VERSION": "false",
    "REFLEX_USE_SYSTEM_BUN": "1",
}


class WebProcess(ManagedProcess):
    """`reflex run --env prod` serving pages, websocket and /api on one free port."""

    name = "web"

    def __init__(self, log_dir: Path, *, env: dict[str, str | None]) -> None:
        super().__init__(log_dir, env=env)
        self.port = free_port()
        # The app admits only configured origins (API and websocket alike): this server's own.
        self.env.setdefault("CORS_ORIGINS", json.dumps([self.base_url, f"http://localhost:{self.port}"]))

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


def launch_chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
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
