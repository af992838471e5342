"""The card dialog's state and the board's column editing, driven directly (no browser) against the real test
database: what the dialog shows, edits that carry the version they began from (stale ones are refused and
never overwrite), comments, live events while the dialog is open, and column changes rolled back visibly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agorax_app.board_model import Outcome
from agorax_app.card_model import Draft, draft_changes, due_from_inputs, due_inputs, is_overdue, parse_labels
from agorax_app.state.card import CARD_CONFLICT, CARD_GONE, READ_ONLY, CardState
from backend.schemas import CommentCreate, MemberCreate, MemberUpdate, ProjectCreate, TaskCreate, TaskUpdate
from backend.services import columns, comments, events, members, projects, tasks, users
from tests.test_ui_state import (  # noqa: F401  (fixtures)
    Project,
    make_user,
    new_root,
    no_watches,
    service,
    steps,
    substate,
    titles,
    toasts,
)

# 1. The dialog's pure logic


def test_due_inputs_are_in_the_users_zone_and_round_trip() -> None:
    stored = "2030-03-31T22:30:00Z"
    assert due_inputs(stored, "Europe/Berlin") == ("2030-04-01", "00:30")
    assert due_from_inputs("2030-04-01", "00:30", "Europe/Berlin") == datetime(
        2030, 3, 31, 22, 30, tzinfo=UTC
    )
    # No time: due that day (local midnight), shown without a time.
    midnight = due_from_inputs("2030-04-01", "", "Europe/Berlin")
    assert midnight is not None and due_inputs(midnight.isoformat(), "Europe/Berlin") == ("2030-04-01", "")
    assert due_from_inputs("", "10:00", "UTC") is None
    with pytest.raises(ValueError):
        due_from_inputs("1 April", "", "UTC")


def test_a_draft_changes_only_what_the_user_changed() -> None:
    task = {
        "title": "T",
        "description": "- [ ] one",
        "due_at": "2030-01-02T09:00:00Z",
        "priority": 2,
        "labels": ["Bug", "ui"],
        "assignee_id": None,
        "version": 3,
    }
    same = Draft.of(task, "UTC")
    assert draft_changes(task, same, "UTC") == {}
    # Re-spaced labels are the same labels.
    assert draft_changes(task, Draft(**{**same.__dict__, "labels": "Bug,ui "}), "UTC") == {}
    edited = Draft(
        **{**same.__dict__, "description": "- [x] one", "due_date": "", "priority": "none", "assignee": "7"}
    )
    assert draft_changes(task, edited, "UTC") == {
        "description": "- [x] one",
        "due_at": None,
        "priority": None,
        "assignee_id": 7,
    }
    with pytest.raises(ValueError):
        draft_changes(task, Draft(**{**same.__dict__, "assignee": "²"}), "UTC")
    assert parse_labels(" a, ,b ,") == ["a", "b"]


def test_overdue_means_past_and_not_done() -> None:
    now = datetime(2030, 1, 2, 12, tzinfo=UTC)
    assert is_overdue("2030-01-02T11:59:00Z", now=now, done=False)
    assert not is_overdue("2030-01-02T11:59:00Z", now=now, done=True)
    assert not is_overdue("2030-01-02T12:01:00Z", now=now, done=False)
    assert not is_overdue(None, now=now, done=False)


# 2. The dialog against the database


@pytest.fixture
def project(cheap_password_hashing: None) -> Project:
    owner_id, token = make_user()
    created = service(projects.create_project, user_id=owner_id, data=ProjectCreate(name="Cards"))
    column_ids = [c.id for c in service(columns.list_columns, user_id=owner_id, project_id=created.id)]
    task = service(
        tasks.create_task, user_id=owner_id, project_id=created.id, data=TaskCreate(title="Existing")
    )
    return Project(owner_id, token, created.id, column_ids, task.id)


async def open_card(project: Project, *, token: str = "card-1", access_token: str | None = None) -> CardState:
    card = substate(
        new_root(token=token, access_token=access_token or project.owner_token, route_id=str(project.id)),
        CardState,
    )
    await card.load_board()
    assert card.closed_reason == ""
    await steps(card.open_card(project.task_id))
    assert card.card_open and card.card.id == project.task_id
    return card


async def test_the_dialog_shows_the_card_and_its_comments(project: Project) -> None:
    service(
        tasks.update_task,
        user_id=project.owner_id,
        task_id=project.task_id,
        data=TaskUpdate(
            description="**Steps**\n- [ ] a", labels=["ui"], priority=4, assignee_id=project.owner_id
        ),
    )
    service(
        comments.add_comment,
        user_id=project.owner_id,
        task_id=project.task_id,
        data=CommentCreate(body="first"),
    )
    card = await open_card(project)
    owner = service(users.get_user, user_id=project.owner_id)
    assert card.card.description == "**Steps**\n- [ ] a" and card.card.labels == ["ui"]
    assert card.card.priority == 4 and card.card.assignee == owner.display_name
    assert card.card.creator == owner.display_name and card.card.column == "To do"
    assert [(c.author, c.body) for c in card.comments] == [(owner.display_name, "first")]
    assert [m.label for m in card.member_choices] == [owner.display_name]


async def test_an_edit_is_saved_with_its_version_and_shown_on_the_board(project: Project) -> None:
    card = await open_card(project)
    card.tz = "Europe/Berlin"
    card.start_card_edit()
    await steps(
        card.save_card(
            {
                **card.draft.__dict__,
                "description": "new",
                "due_date": "2030-05-01",
                "due_time": "14:30",
                "labels": "x, y",
            }
        )
    )
    stored = service(tasks.get_task, user_id=project.owner_id, task_id=project.task_id)
    assert stored.description == "new" and stored.labels == ["x", "y"] and stored.version == 2
    assert stored.due_at == datetime(2030, 5, 1, 14, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert card.card.description == "new" and card.card.version == 2 and card.card_error == ""
    [shown] = [c for column in card.columns for c in column.cards if c.id == project.task_id]
    assert shown.labels == ["x", "y"] and shown.due == "01 May 2030 14:30"


async def test_a_stale_edit_is_refused_and_the_dialog_shows_the_current_card(project: Project) -> None:
    card = await open_card(project)
    card.start_card_edit()
    # Someone else changes the card after the edit began.
    service(
        tasks.update_task,
        user_id=project.owner_id,
        task_id=project.task_id,
        data=TaskUpdate(description="theirs"),
    )
    events = await steps(card.save_card({**card.draft.__dict__, "description": "mine"}))
    assert toasts(events) == [CARD_CONFLICT]
    assert card.card_error == CARD_CONFLICT and card.card.description == "theirs" and not card.card_editing
    stored = service(tasks.get_task, user_id=project.owner_id, task_id=project.task_id)
    assert stored.description == "theirs"


async def test_a_viewer_cannot_edit_or_comment(project: Project) -> None:
    viewer_id, viewer_token = make_user()
    name = service(users.get_user, user_id=viewer_id).username
    service(
        members.add_member,
        user_id=project.owner_id,
        project_id=project.id,
        data=MemberCreate(username=name, role="viewer"),
    )
    card = await open_card(project, access_token=viewer_token)
    card.start_card_edit()
    assert not card.card_editing
    await steps(card.save_card({"description": "sneaky"}))
    await steps(card.add_comment({"body": "sneaky"}))
    assert service(tasks.get_task, user_id=project.owner_id, task_id=project.task_id).description == ""
    assert service(comments.list_comments, user_id=project.owner_id, task_id=project.task_id) == []


async def test_a_form_left_open_by_an_editor_made_viewer_says_why_it_is_not_saved(project: Project) -> None:
    editor_id, editor_token = make_user()
    name = service(users.get_user, user_id=editor_id).username
    service(
        members.add_member,
        user_id=project.owner_id,
        project_id=project.id,
        data=MemberCreate(username=name, role="editor"),
    )
    card = await open_card(project, access_token=editor_token)
    card.start_card_edit()
    assert card.card_editing
    seq = card._model.last_seq  # type: ignore[union-attr]
    service(
        members.change_role,
        user_id=project.owner_id,
        project_id=project.id,
        member_user_id=editor_id,
        data=MemberUpdate(role="viewer"),
    )
    missed = service(events.events_after, project_id=project.id, after=seq)
    await card.apply_events([envelope.model_dump(mode="json") for envelope in missed.events])
    assert card.role == "viewer"
    assert not card.card_editing
    assert card.card_error == f"Editing stopped: {READ_ONLY}"

    # A save sent before the form went (the browser had it open) is refused with the same reason.
    await steps(card.save_card({"description": "typed before the demotion"}))
    assert card.card_error == f"Not saved: {READ_ONLY}"
    await steps(card.add_comment({"body": "also too late"}))
    assert card.card_error == f"Comment not added: {READ_ONLY}"
    assert service(tasks.get_task, user_id=project.owner_id, task_id=project.task_id).description == ""
    assert service(comments.list_comments, user_id=project.owner_id, task_id=project.task_id) == []


async def test_a_comment_is_added_and_a_refused_one_taken_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = await open_card(project)
    await steps(card.add_comment({"body": "  looks good  "}))
    assert [c.body for c in card.comments] == ["looks good"]

    def refused(*_: Any, **__: Any) -> None:
        raise TimeoutError("pool")

    monkeypatch.setattr(comments, "add_comment", refused)
    events = await steps(card.add_comment({"body": "lost"}))
    assert [c.body for c in card.comments] == ["looks good"]
    assert [m.split(":")[0] for m in toasts(events)] == ["Comment not added"]


async def test_live_events_reach_the_open_dialog(project: Project) -> None:
    card = await open_card(project)
    seq = card._model.last_seq  # type: ignore[union-attr]
    updated = service(
        tasks.update_task,
        user_id=project.owner_id,
        task_id=project.task_id,
        data=TaskUpdate(description="live"),
    )
    comment = service(
        comments.add_comment, user_id=project.owner_id, task_id=project.task_id, data=CommentCreate(body="hi")
    )
    await card.apply_events(
        [
            {
                "seq": seq + 1,
                "type": "task.updated",
                "project_id": project.id,
                "data": updated.model_dump(mode="json"),
            },
            {
                "seq": seq + 2,
                "type": "comment.created",
                "project_id": project.id,
                "data": comment.model_dump(mode="json"),
            },
        ]
    )
    assert card.card.description == "live" and [c.body for c in card.comments] == ["hi"]
    # The same comment again (the user's own, coming back) is not shown twice.
    await card.follow_events(
        [{"type": "comment.created", "data": comment.model_dump(mode="json")}], Outcome.APPLIED
    )
    assert len(card.comments) == 1

    service(tasks.delete_task, user_id=project.owner_id, task_id=project.task_id)
    await card.apply_events(
        [
            {
                "seq": seq + 3,
                "type": "task.deleted",
                "project_id": project.id,
                "data": updated.model_dump(mode="json"),
            }
        ]
    )
    assert not card.card_open and card.card_id == 0 and card.card_notice.startswith(CARD_GONE)


async def test_a_card_deleted_before_it_opens_says_so(project: Project) -> None:
    card = substate(
        new_root(token="card-9", access_token=project.owner_token, route_id=str(project.id)), CardState
    )
    await card.load_board()
    service(tasks.delete_task, user_id=project.owner_id, task_id=project.task_id)
    events = await steps(card.open_card(project.task_id))
    assert not card.card_open and toasts(events) == [CARD_GONE]


# 3. Columns


async def test_columns_are_added_renamed_moved_and_marked_done(project: Project) -> None:
    card = await open_card(project)
    board = card
    await steps(board.add_column({"name": "Later"}))
    await board._reload(project.owner_id)
    assert [c.name for c in board.columns][-1] == "Later"
    later = board.columns[-1].id
    board.start_column_rename(later, "Later")
    board.column_name_text = "Someday"
    await steps(board.save_column_rename())
    await steps(board.toggle_column_done(later))
    await steps(board.move_column(later, -1))
    await board._reload(project.owner_id)
    names = [c.name for c in board.columns]
    assert names.index("Someday") == len(names) - 2 and board.columns[-2].is_done


async def test_a_column_that_holds_cards_is_not_deleted_and_says_why(project: Project) -> None:
    board = await open_card(project)
    shown = titles(board)
    holding = project.column_ids[0]
    board.ask_delete_column(holding)
    assert board.confirming_column_delete_id == holding
    events = await steps(board.delete_column(holding))
    assert titles(board) == shown and board.confirming_column_delete_id == 0
    [message] = toasts(events)
    assert message.startswith("Column not deleted: The column still holds 1 card(s)")
    empty = project.column_ids[-1]
    await steps(board.delete_column(empty))
    assert empty not in titles(board)
    await board._reload(project.owner_id)
    assert empty not in titles(board)


async def test_overdue_cards_stand_out_on_the_board_unless_done(project: Project) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    service(
        tasks.update_task, user_id=project.owner_id, task_id=project.task_id, data=TaskUpdate(due_at=past)
    )
    done_column = project.column_ids[-1]
    service(
        tasks.create_task,
        user_id=project.owner_id,
        project_id=project.id,
        data=TaskCreate(title="Finished late", column_id=done_column, due_at=past),
    )
    board = await open_card(project)
    overdue = {card.title: card.overdue for column in board.columns for card in column.cards}
    assert overdue == {"Existing": True, "Finished late": False}
