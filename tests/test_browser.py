"""Browser tests: Debian's Chromium, driven by Playwright, against a real Agorax (Reflex in production
mode on one port, with the fan-out worker) on the real PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from backend.config import get_settings
from backend.security import create_access_token, decode_access_token
from tests.browser_support import Client, WebProcess, column, open_board, sign_in
from tests.conftest import unique
from tests.processes import PYTHON, REPO_ROOT, wait_until

pytestmark = pytest.mark.browser

GOCD_EXPORT = REPO_ROOT.parent / "shared" / "data" / "trello" / "gocd-test-drive.json"


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

    # Bob adds a card and renames it in his browser; Alice sees both without a reload.
    column(page_b, first["name"]).get_by_label("New card title").fill("Added in the browser")
    column(page_b, first["name"]).get_by_label("New card title").press("Enter")
    added = column(page_a, first["name"]).locator("[data-card-title='Added in the browser']")
    expect(added).to_be_visible(timeout=10_000)
    new_id = added.get_attribute("id")
    page_b.locator(f"#{new_id} [aria-label='Edit title']").click()
    page_b.locator(f"#{new_id} input[aria-label='Card title']").fill("Renamed in the browser")
    page_b.locator(f"#{new_id} input[aria-label='Card title']").press("Enter")
    expect(page_a.locator(f"#{new_id} .card-title")).to_have_text("Renamed in the browser", timeout=10_000)
    stored = rest.http.get(f"/api/tasks/{new_id.removeprefix('card-')}", headers=alice_headers).json()
    assert stored["title"] == "Renamed in the browser" and stored["created_by"] is not None

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


def test_a_demoted_then_removed_member_loses_the_board_live(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    owner, member = unique("olga"), unique("gus")
    owner_headers = rest.register(owner)
    member_headers = rest.register(member)
    project = rest.http.post("/api/projects", json={"name": "Access"}, headers=owner_headers).json()
    task = rest.http.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "Shared"}, headers=owner_headers
    ).json()
    membership = f"/api/projects/{project['id']}/members"
    joined = rest.http.post(membership, json={"username": member, "role": "editor"}, headers=owner_headers)
    assert joined.status_code == 201
    member_id = joined.json()["user_id"]

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, member)
    open_board(page, web.base_url, project["id"])
    expect(page.get_by_label("New card title").first).to_be_visible()

    # Lowered to viewer: the open board goes read-only with a message; the API agrees.
    lowered = rest.http.patch(f"{membership}/{member_id}", json={"role": "viewer"}, headers=owner_headers)
    assert lowered.status_code == 200
    expect(page.locator("#board-notice")).to_contain_text("read-only", timeout=10_000)
    expect(page.get_by_label("New card title")).to_have_count(0)
    expect(page.locator(f"#card-{task['id']} [aria-label='Move card']")).to_have_count(0)
    refused = rest.http.patch(f"/api/tasks/{task['id']}", json={"title": "Mine"}, headers=member_headers)
    assert refused.status_code == 403

    # Removed: the board closes at once and shows nothing more of the project.
    removed = rest.http.delete(f"{membership}/{member_id}", headers=owner_headers)
    assert removed.status_code == 204
    expect(page.locator("#board-closed")).to_contain_text("no longer a member", timeout=10_000)
    rest.http.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "After removal"}, headers=owner_headers
    )
    expect(page.locator("[data-card-title]")).to_have_count(0)
    assert rest.http.get(f"/api/projects/{project['id']}", headers=member_headers).status_code == 404


def test_an_owner_manages_members_in_the_members_dialog(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    owner, teammate = unique("hana"), unique("ivan")
    owner_headers = rest.register(owner)
    rest.register(teammate)
    project = rest.http.post("/api/projects", json={"name": "Team"}, headers=owner_headers).json()
    members_url = f"/api/projects/{project['id']}/members"

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, owner)
    open_board(page, web.base_url, project["id"])
    page.locator("#open-members").click()
    expect(page.locator(f"[data-member='{owner}']")).to_be_visible(timeout=10_000)
    page.locator("#member-username").fill(teammate)
    page.locator("#add-member").click()
    expect(page.locator(f"[data-member='{teammate}']")).to_be_visible(timeout=10_000)
    roles = {m["username"]: m["role"] for m in rest.http.get(members_url, headers=owner_headers).json()}
    assert roles == {owner: "owner", teammate: "editor"}

    page.locator("#member-username").fill("nobody-is-called-this")
    page.locator("#add-member").click()
    expect(page.locator("#members-error")).to_contain_text("nobody-is-called-this")

    page.locator(f"[data-member='{teammate}'] [aria-label='Remove member']").click()
    expect(page.locator(f"[data-member='{teammate}']")).to_have_count(0, timeout=10_000)
    assert [m["username"] for m in rest.http.get(members_url, headers=owner_headers).json()] == [owner]


def test_quick_add_understands_free_text_in_the_users_time_zone(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    user = unique("jo")
    headers = rest.register(user)
    project = rest.http.post("/api/projects", json={"name": "Quick add"}, headers=headers).json()
    rest.http.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "Write release notes"}, headers=headers
    )

    page = browser.new_context(timezone_id="Europe/Berlin").new_page()
    sign_in(page, web.base_url, user)
    open_board(page, web.base_url, project["id"])
    box = page.get_by_label("Quick add")
    box.press_sequentially("Review PR tomorrow 5pm !3 *backend", delay=20)
    expect(page.locator("#quick-title")).to_have_text("Review PR", timeout=10_000)
    expect(page.locator("[data-chip='priority']")).to_have_text("!3")
    expect(page.locator("[data-chip='label']")).to_have_text("backend")
    expect(page.locator("[data-chip='due']")).to_contain_text("17:00")
    expect(page.locator("#quick-local")).to_be_visible()  # no GEMINI_API_KEY here: the local engine
    box.press("Enter")
    expect(page.locator("[data-card-title='Review PR']")).to_be_visible(timeout=10_000)

    berlin = ZoneInfo("Europe/Berlin")
    tomorrow_5pm = datetime.combine(datetime.now(berlin).date() + timedelta(days=1), time(17), tzinfo=berlin)

    def stored() -> list[dict]:
        found = rest.http.get(f"/api/projects/{project['id']}/tasks", headers=headers).json()
        return [task for task in found if task["title"] == "Review PR"]

    wait_until(lambda: bool(stored()), timeout=10, what="the quick-added task to be stored")
    [created] = stored()
    assert created["priority"] == 3 and created["labels"] == ["backend"]
    assert datetime.fromisoformat(created["due_at"]) == tomorrow_5pm

    # Autocomplete from the project's own titles, typos forgiven.
    box.press_sequentially("relase not", delay=20)
    expect(page.locator("[data-suggestion='Write release notes']")).to_be_visible(timeout=10_000)


def test_a_rename_begun_before_someone_elses_change_is_refused_not_an_overwrite(
    web: WebProcess, browser: Browser
) -> None:
    rest = Client(web.base_url)
    user = unique("kai")
    headers = rest.register(user)
    project = rest.http.post("/api/projects", json={"name": "Conflict"}, headers=headers).json()
    task = rest.http.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "Original"}, headers=headers
    ).json()

    page = browser.new_context().new_page()
    sign_in(page, web.base_url, user)
    open_board(page, web.base_url, project["id"])
    page.locator(f"#card-{task['id']} [aria-label='Edit title']").click()
    field = page.locator(f"#card-{task['id']} input[aria-label='Card title']")
    field.fill("Mine")
    # Someone else renames the card while the box is open.
    theirs = rest.http.patch(f"/api/tasks/{task['id']}", json={"title": "Theirs"}, headers=headers)
    assert theirs.status_code == 200
    field.press("Enter")
    expect(page.get_by_text("someone else changed this card")).to_be_visible(timeout=10_000)
    expect(page.locator(f"#card-{task['id']} .card-title")).to_have_text("Theirs", timeout=10_000)
    assert rest.http.get(f"/api/tasks/{task['id']}", headers=headers).json()["title"] == "Theirs"


def test_an_expired_session_says_so_and_a_used_one_is_renewed(web: WebProcess, browser: Browser) -> None:
    rest = Client(web.base_url)
    user = unique("lea")
    headers = rest.register(user)
    user_id = rest.http.get("/api/users/me", headers=headers).json()["id"]
    project = rest.http.post("/api/projects", json={"name": "Sessions"}, headers=headers).json()
    settings = get_settings()
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)

    def token_issued_ago(age: timedelta) -> str:
        return create_access_token(user_id=user_id, settings=settings, now=datetime.now(UTC) - age)

    context = browser.new_context()
    board, other_tab = context.new_page(), context.new_page()
    sign_in(board, web.base_url, user)
    open_board(board, web.base_url, project["id"])
    other_tab.goto(f"{web.base_url}/login")

    def give_the_board(token: str) -> None:
        # Written in another tab, the token reaches the open board as a storage event does in real life.
        other_tab.evaluate("token => localStorage.setItem('agorax_token', token)", token)

    # Past half its lifetime, the token is swapped for a fresh one on the next change.
    worn = token_issued_ago(lifetime * 0.75)
    give_the_board(worn)
    board.wait_for_timeout(500)
    box = board.get_by_label("New card title").first
    box.fill("Still signed in")
    box.press("Enter")
    expect(board.locator("[data-card-title='Still signed in']")).to_be_visible(timeout=10_000)
    wait_until(
        lambda: board.evaluate("localStorage.getItem('agorax_token')") not in (worn, None),
        timeout=10,
        what="the renewed token in the browser",
    )
    assert decode_access_token(board.evaluate("localStorage.getItem('agorax_token')"), settings=settings)

    # Expired: the change is refused with a message and the browser goes to sign-in.
    give_the_board(token_issued_ago(lifetime * 2))
    board.wait_for_timeout(500)
    box.fill("Never stored")
    box.press("Enter")
    expect(board.get_by_text("Your session expired")).to_be_visible(timeout=10_000)
    expect(board).to_have_url(f"{web.base_url}/login", timeout=10_000)
    titles = [
        t["title"] for t in rest.http.get(f"/api/projects/{project['id']}/tasks", headers=headers).json()
    ]
    assert titles == ["Still signed in"]


def test_a_card_is_deleted_on_the_second_click_and_goes_from_every_board(
    web: WebProcess, browser: Browser
) -> None:
    rest = Client(web.base_url)
    owner, editor = unique("max"), unique("nia")
    owner_headers = rest.register(owner)
    rest.register(editor)
    project = rest.http.post("/api/projects", json={"name": "Deleting"}, headers=owner_headers).json()
    joined = rest.http.post(
        f"/api/projects/{project['id']}/members",
        json={"username": editor, "role": "editor"},
        headers=owner_headers,
    )
    assert joined.status_code == 201
    task = rest.http.post(
        f"/api/projects/{project['id']}/tasks", json={"title": "Doomed"}, headers=owner_headers
    ).json()
    card = f"#card-{task['id']}"

    pages = []
    for user in (owner, editor):
        page = browser.new_context().new_page()
        sign_in(page, web.base_url, user)
        open_board(page, web.base_url, project["id"])
        pages.append(page)
    deleting, watching = pages

    deleting.locator(f"{card} [aria-label='Delete card']").click()
    deleting.get_by_role("button", name="Keep").click()  # changed their mind: nothing happens
    expect(deleting.locator(f"{card} [aria-label='Delete card']")).to_be_visible()
    assert rest.http.get(f"/api/tasks/{task['id']}", headers=owner_headers).status_code == 200

    deleting.locator(f"{card} [aria-label='Delete card']").click()
    deleting.locator(f"{card} [aria-label='Confirm delete']").click()
    expect(deleting.locator(card)).to_have_count(0)
    expect(watching.locator(card)).to_have_count(0, timeout=10_000)
    assert rest.http.get(f"/api/tasks/{task['id']}", headers=owner_headers).status_code == 404


def test_a_bad_board_address_says_so_and_a_board_left_sends_nothing_more(
    web: WebProcess, browser: Browser
) -> None:
    rest = Client(web.base_url)
    user = unique("omar")
    headers = rest.register(user)
    project = rest.http.post("/api/projects", json={"name": "Leaving"}, headers=headers).json()
    tasks_url = f"/api/projects/{project['id']}/tasks"

    page = browser.new_context().new_page()
    received: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: received.append(str(frame))))
    sign_in(page, web.base_url, user)
    # "²" passes str.isdigit(); the other is past the database's bigint.
    for address in ("%C2%B2", "99999999999999999999"):
        page.goto(f"{web.base_url}/board/{address}")
        expect(page.locator("#board-closed")).to_contain_text("There is no such board", timeout=30_000)

    open_board(page, web.base_url, project["id"])
    rest.http.post(tasks_url, json={"title": "Pushed while open"}, headers=headers)
    expect(page.locator("[data-card-title='Pushed while open']")).to_be_visible(timeout=10_000)

    # Back to the projects page: the session no longer gets the board's changes.
    page.get_by_role("link", name="Agorax").click()
    expect(page.locator("#board-name")).to_have_count(0, timeout=10_000)
    page.wait_for_timeout(1_000)
    rest.http.post(tasks_url, json={"title": "Made after leaving"}, headers=headers)
    page.wait_for_timeout(3_000)  # pushes arrive well within this (the tests above wait for them)
    assert any("Pushed while open" in frame for frame in received)
    assert not any("Made after leaving" in frame for frame in received)
