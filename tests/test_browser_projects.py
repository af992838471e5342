"""Browser tests of the projects page and the sign-in page: Debian's Chromium, driven by Playwright, against
a real Agorax (Reflex in production mode on one port, with the fan-out worker) on the real PostgreSQL,
RabbitMQ and Redis. The project list follows membership and project changes without a reload."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser_support import PASSWORD, Client, WebProcess, sign_in
from tests.conftest import unique

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("AGORAX_SCREENSHOTS", "/tmp/proj"))


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def tile(page: Page, project_id: int) -> Locator:
    return page.locator(f"[data-project-id='{project_id}']")


def test_the_project_list_follows_membership_and_project_changes_live(
    web: WebProcess, browser: Browser
) -> None:
    rest = Client(web.base_url)
    owner, ben = unique("olive"), unique("ben")
    owner_headers = rest.register(owner)
    rest.register(ben)
    roadmap = rest.http.post("/api/projects", json={"name": "Roadmap"}, headers=owner_headers).json()
    for title in ("Plan", "Build"):
        rest.http.post(f"/api/projects/{roadmap['id']}/tasks", json={"title": title}, headers=owner_headers)
    members = f"/api/projects/{roadmap['id']}/members"

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, ben)
    expect(page.locator("#no-projects")).to_be_visible()
    expect(page.locator("#no-projects")).not_to_contain_text("README")
    screenshot(page, "projects-empty")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    # Added: the tile appears with his role and what is open.
    joined = rest.http.post(members, json={"username": ben, "role": "editor"}, headers=owner_headers)
    assert joined.status_code == 201, joined.text
    ben_id = joined.json()["user_id"]
    expect(tile(page, roadmap["id"])).to_be_visible(timeout=10_000)
    expect(tile(page, roadmap["id"]).locator(".project-role")).to_have_text("editor")
    expect(tile(page, roadmap["id"]).locator(".project-open-tasks")).to_have_text("2 open cards")

    # Role changed: the badge follows.
    lowered = rest.http.patch(f"{members}/{ben_id}", json={"role": "viewer"}, headers=owner_headers)
    assert lowered.status_code == 200, lowered.text
    expect(tile(page, roadmap["id"]).locator(".project-role")).to_have_text("viewer", timeout=10_000)

    # Renamed: the tile shows the new name.
    renamed = rest.http.patch(
        f"/api/projects/{roadmap['id']}", json={"name": "Roadmap 2027"}, headers=owner_headers
    )
    assert renamed.status_code == 200, renamed.text
    expect(tile(page, roadmap["id"]).locator(".project-name")).to_have_text("Roadmap 2027", timeout=10_000)
    screenshot(page, "projects-live")

    # Removed: the tile goes.
    removed = rest.http.delete(f"{members}/{ben_id}", headers=owner_headers)
    assert removed.status_code == 204, removed.text
    expect(tile(page, roadmap["id"])).to_have_count(0, timeout=10_000)
    expect(page.locator("#no-projects")).to_be_visible()

    # Added to another project that is then deleted: it comes and goes.
    doomed = rest.http.post("/api/projects", json={"name": "Doomed"}, headers=owner_headers).json()
    rest.http.post(
        f"/api/projects/{doomed['id']}/members",
        json={"username": ben, "role": "editor"},
        headers=owner_headers,
    )
    expect(tile(page, doomed["id"])).to_be_visible(timeout=10_000)
    assert rest.http.delete(f"/api/projects/{doomed['id']}", headers=owner_headers).status_code == 204
    expect(tile(page, doomed["id"])).to_have_count(0, timeout=10_000)
    assert navigations == []  # all of it without a reload


def test_sign_in_fields_are_labelled_and_sign_up_speaks_plainly(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    user = unique("lena")
    rest.register(user)
    page = browser.new_context().new_page()
    page.goto(f"{web.base_url}/login")
    expect(page.locator("#sign-in-button")).to_be_enabled(timeout=30_000)
    screenshot(page, "sign-in")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text(user, timeout=30_000)
    page.get_by_role("button", name="Sign out").click()

    expect(page.locator("#sign-in-button")).to_be_enabled(timeout=30_000)
    page.get_by_role("tab", name="Sign up").click()
    newcomer = unique("nina")
    page.get_by_label("Username").fill(newcomer)
    page.get_by_label("Email").fill(f"{newcomer}@example.com")
    page.get_by_label("Display name (optional)").fill("Nina")
    page.get_by_label("Password (8 or more characters)").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#auth-error")).to_have_text("Password must be at least 8 characters", timeout=10_000)
    screenshot(page, "sign-up-error")


def test_favicon_and_a_non_members_board_header(web: WebProcess, browser: Browser) -> None:
    icon = httpx.get(f"{web.base_url}/favicon.ico", timeout=10)
    assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file

    rest = Client(web.base_url)
    owner, stranger = unique("omar"), unique("sam")
    owner_headers = rest.register(owner)
    rest.register(stranger)
    private = rest.http.post("/api/projects", json={"name": "Private"}, headers=owner_headers).json()
    page = browser.new_context().new_page()
    sign_in(page, web.base_url, stranger)
    page.goto(f"{web.base_url}/board/{private['id']}")
    expect(page.locator("#board-closed")).to_be_visible(timeout=30_000)
    expect(page.locator("#board-name")).to_be_hidden()
    expect(page.locator("#top-bar")).not_to_contain_text("/", use_inner_text=True)
    screenshot(page, "board-not-a-member")
