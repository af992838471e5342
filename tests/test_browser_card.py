"""Browser tests of the card dialog and of column editing: two users on one board in Debian's Chromium,
against a real Agorax (Reflex in production mode, with the fan-out worker) on the real PostgreSQL,
RabbitMQ and Redis. Set AGORAX_SCREENSHOTS to a folder to keep screenshots of the dialog and the board."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser_support import Client, WebProcess, column, open_board, sign_in
from tests.conftest import unique

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("AGORAX_SCREENSHOTS")
DESCRIPTION = "Ship it **soon**.\n\n- [ ] write the notes\n- [x] tag the build"


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def shared_project(rest: Client, owner: dict[str, str], *others: tuple[str, str]) -> int:
    project = rest.http.post("/api/projects", json={"name": "Release board"}, headers=owner).json()
    for username, role in others:
        joined = rest.http.post(
            f"/api/projects/{project['id']}/members", json={"username": username, "role": role}, headers=owner
        )
        assert joined.status_code == 201, joined.text
    return project["id"]


def board_page(browser: Browser, base_url: str, user: str, project_id: int) -> Page:
    page = browser.new_context(
        timezone_id="Europe/Berlin", viewport={"width": 1280, "height": 900}
    ).new_page()
    sign_in(page, base_url, user)
    open_board(page, base_url, project_id)
    return page


def open_card(page: Page, task_id: int) -> None:
    page.locator(f"#card-{task_id} .card-title").click()
    expect(page.locator("#card-dialog")).to_be_visible(timeout=10_000)
    expect(page.locator("#card-creator")).not_to_be_empty(timeout=10_000)


def test_two_users_edit_and_comment_a_card_live_and_a_stale_edit_is_refused(
    web: WebProcess, browser: Browser
) -> None:
    rest = Client(web.base_url)
    alice, bob = unique("alice"), unique("bob")
    alice_headers = rest.register(alice)
    bob_headers = rest.register(bob)
    project_id = shared_project(rest, alice_headers, (bob, "editor"))
    task = rest.http.post(
        f"/api/projects/{project_id}/tasks",
        json={"title": "Plan the release", "description": DESCRIPTION},
        headers=alice_headers,
    ).json()
    card = f"#card-{task['id']}"

    page_a = board_page(browser, web.base_url, alice, project_id)
    page_b = board_page(browser, web.base_url, bob, project_id)
    for page in (page_a, page_b):
        open_card(page, task["id"])
        expect(page.locator("#card-title")).to_have_text("Plan the release")
        # Markdown, with the checklist as a task list.
        expect(page.locator("#card-description strong")).to_have_text("soon")
        expect(page.locator("#card-description input[type='checkbox']")).to_have_count(2)
        expect(page.locator("#card-creator")).to_have_text(alice)
    shot(page_a, "card-dialog-read")

    # Alice edits description, due date, labels and priority.
    page_a.locator("#edit-card").click()
    dialog = page_a.locator("#card-dialog")
    dialog.locator("textarea[name='description']").fill("Now with a **new plan**\n\n- [x] write the notes")
    page_a.locator("#card-due-date").fill("2030-05-01")
    page_a.locator("#card-due-time").fill("14:30")
    dialog.locator("input[name='labels']").fill("release, docs")
    dialog.locator("[aria-label='Priority']").click()
    page_a.get_by_role("option", name="4").click()
    shot(page_a, "card-dialog-edit")
    page_a.locator("#save-card").click()
    expect(page_a.locator("#card-labels")).to_contain_text("docs", timeout=10_000)

    # Bob's open dialog and board follow without a reload.
    expect(page_b.locator("#card-description strong")).to_have_text("new plan", timeout=10_000)
    expect(page_b.locator("#card-due")).to_contain_text("01 May 2030 14:30")
    expect(page_b.locator("#card-labels")).to_contain_text("release")
    expect(page_b.locator("#card-priority")).to_contain_text("4")
    expect(page_b.locator(card)).to_contain_text("release")
    stored = rest.http.get(f"/api/tasks/{task['id']}", headers=alice_headers).json()
    assert stored["labels"] == ["release", "docs"] and stored["priority"] == 4
    assert datetime.fromisoformat(stored["due_at"]) == datetime(2030, 5, 1, 12, 30, tzinfo=UTC)

    # A comment from Alice appears in Bob's dialog, with her name.
    page_a.locator("#card-comment").fill("Looks good to me")
    page_a.locator("#add-comment").click()
    expect(page_a.locator("[data-comment='Looks good to me']")).to_be_visible(timeout=10_000)
    expect(page_a.locator("#card-comment")).to_have_value("")
    comment_b = page_b.locator("[data-comment='Looks good to me']")
    expect(comment_b).to_contain_text(alice, timeout=10_000)
    shot(page_b, "card-dialog-live")

    # Bob begins an edit; Alice changes the card meanwhile: Bob's save is refused, not an overwrite.
    page_b.locator("#edit-card").click()
    page_b.locator("#card-dialog textarea[name='description']").fill("Bob's version")
    theirs = rest.http.patch(
        f"/api/tasks/{task['id']}", json={"description": "Alice's later"}, headers=alice_headers
    )
    assert theirs.status_code == 200
    expect(page_b.locator("#card-stale")).to_be_visible(timeout=10_000)
    page_b.locator("#save-card").click()
    expect(page_b.locator("#card-error")).to_contain_text("someone else changed this card", timeout=10_000)
    expect(page_b.locator("#card-description")).to_have_text("Alice's later")
    shot(page_b, "card-dialog-conflict")
    assert (
        rest.http.get(f"/api/tasks/{task['id']}", headers=bob_headers).json()["description"]
        == "Alice's later"
    )

    # The card is deleted elsewhere: Bob's dialog closes and says so.
    assert rest.http.delete(f"/api/tasks/{task['id']}", headers=alice_headers).status_code == 204
    expect(page_b.locator("#card-dialog")).to_have_count(0, timeout=10_000)
    expect(page_b.locator("#card-notice")).to_contain_text("deleted")
    expect(page_b.locator(card)).to_have_count(0)


def test_a_viewer_sees_the_card_read_only(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    owner, viewer = unique("olga"), unique("vic")
    owner_headers = rest.register(owner)
    rest.register(viewer)
    project_id = shared_project(rest, owner_headers, (viewer, "viewer"))
    task = rest.http.post(
        f"/api/projects/{project_id}/tasks",
        json={"title": "Read me", "description": DESCRIPTION, "labels": ["ops"], "priority": 2},
        headers=owner_headers,
    ).json()
    rest.http.post(
        f"/api/tasks/{task['id']}/comments", json={"body": "From the owner"}, headers=owner_headers
    )

    page = board_page(browser, web.base_url, viewer, project_id)
    open_card(page, task["id"])
    expect(page.locator("#card-labels")).to_contain_text("ops")
    expect(page.locator("#card-description strong")).to_have_text("soon")
    expect(page.locator("[data-comment='From the owner']")).to_contain_text(owner)
    expect(page.locator("#card-dialog")).to_contain_text("read-only")
    expect(page.locator("#edit-card")).to_have_count(0)
    expect(page.locator("#card-comment")).to_have_count(0)
    shot(page, "card-dialog-viewer")


def test_columns_are_added_renamed_moved_and_deleted_live(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    owner, editor = unique("max"), unique("nia")
    owner_headers = rest.register(owner)
    rest.register(editor)
    project_id = shared_project(rest, owner_headers, (editor, "editor"))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    late = rest.http.post(
        f"/api/projects/{project_id}/tasks",
        json={"title": "Late", "due_at": yesterday},
        headers=owner_headers,
    ).json()

    page_a = board_page(browser, web.base_url, owner, project_id)
    page_b = board_page(browser, web.base_url, editor, project_id)
    # Past due and not done: it stands out.
    expect(page_b.locator(f"#card-{late['id']} .card-due")).to_have_attribute("data-overdue", "true")

    def names(page: Page) -> list[str]:
        return page.locator("[data-column-name]").evaluate_all("els => els.map(e => e.dataset.columnName)")

    def actions(page: Page, name: str, item: str) -> None:
        # A live re-render of the board can close a menu that was just opening: like a user, click again.
        for _ in range(3):
            column(page, name).locator("[aria-label='Column actions']").click()
            entry = page.get_by_role("menuitem", name=item)
            try:
                entry.wait_for(state="visible", timeout=5_000)
            except PlaywrightTimeoutError:
                page.keyboard.press("Escape")
                continue
            entry.click()
            return
        raise AssertionError(f"the {name!r} column's menu never showed {item!r}")

    page_a.get_by_label("New column name").fill("Review")
    page_a.get_by_label("New column name").press("Enter")
    expect(column(page_b, "Review")).to_be_visible(timeout=10_000)

    actions(page_a, "Review", "Rename")
    page_a.get_by_label("Column name", exact=True).fill("QA")
    page_a.get_by_label("Column name", exact=True).press("Enter")
    expect(column(page_b, "QA")).to_be_visible(timeout=10_000)
    expect(column(page_b, "Review")).to_have_count(0)

    actions(page_a, "QA", "Move left")
    expect(page_b.locator("[data-column-name]")).to_have_count(4)
    page_b.wait_for_function(
        "() => [...document.querySelectorAll('[data-column-name]')].map(e => e.dataset.columnName)"
        ".join('|') === 'To do|In progress|QA|Done'",
        timeout=10_000,
    )
    assert names(page_a) == ["To do", "In progress", "QA", "Done"]

    actions(page_a, "QA", "Mark as done")
    expect(column(page_b, "QA").locator(".column-done")).to_be_visible(timeout=10_000)
    expect(column(page_a, "QA").locator(".column-done")).to_be_visible(timeout=10_000)
    shot(page_a, "board-columns")

    # Deleting takes a second click.
    actions(page_a, "QA", "Delete column…")
    column(page_a, "QA").get_by_role("button", name="Keep").click()
    expect(column(page_a, "QA")).to_be_visible()
    actions(page_a, "QA", "Delete column…")
    column(page_a, "QA").locator("[aria-label='Confirm column delete']").click()
    expect(column(page_b, "QA")).to_have_count(0, timeout=10_000)

    # A column with cards is refused, and says why; it stays on every board.
    actions(page_a, "To do", "Delete column…")
    column(page_a, "To do").locator("[aria-label='Confirm column delete']").click()
    expect(page_a.get_by_text("Column not deleted: The column still holds 1 card(s)")).to_be_visible(
        timeout=10_000
    )
    page_a.wait_for_timeout(600)  # the toast slides in
    shot(page_a, "board-column-refused")
    expect(column(page_a, "To do").locator(f"#card-{late['id']}")).to_be_visible()
    expect(column(page_b, "To do")).to_be_visible()
    listed = [
        c["name"] for c in rest.http.get(f"/api/projects/{project_id}/columns", headers=owner_headers).json()
    ]
    assert listed == ["To do", "In progress", "Done"]
