"""The browser-side board replica: events applied in seq order reproduce the server's positions, the
user's own changes coming back are no-ops, and gaps, duplicates and lost access are recognised."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agorax_app.board_model import BoardModel, ColumnItem, Outcome, TaskItem


def board() -> BoardModel:
    model = BoardModel(project_id=1, project_name="P", user_id=7, role="editor", last_seq=10)
    model.columns = {c: ColumnItem(id=c, name=f"C{c}", position=c) for c in (1, 2)}
    for position, task_id in enumerate((11, 12, 13)):
        model.tasks[task_id] = TaskItem(
            id=task_id, column_id=1, title=f"t{task_id}", position=position, version=1
        )
    model.tasks[21] = TaskItem(id=21, column_id=2, title="t21", position=0, version=1)
    return model


def event(seq: int, kind: str, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": kind, "project_id": 1, "data": data}


def task_data(task_id: int, column_id: int, position: int, version: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "column_id": column_id,
        "position": position,
        "version": version,
        "title": f"t{task_id}",
    } | extra


def order(model: BoardModel, column_id: int) -> list[int]:
    return [task.id for task in model.visible_tasks(column_id)]


def positions(model: BoardModel, column_id: int) -> list[int]:
    return [task.position for task in model.visible_tasks(column_id)]


def test_move_event_closes_the_old_slot_and_opens_the_new_one() -> None:
    model = board()
    assert model.apply(event(11, "task.moved", **task_data(11, 2, 0))) is Outcome.APPLIED
    assert order(model, 1) == [12, 13] and positions(model, 1) == [0, 1]
    assert order(model, 2) == [11, 21] and positions(model, 2) == [0, 1]


def test_own_optimistic_move_coming_back_changes_nothing() -> None:
    model = board()
    moved = model.move_to_end(11, 2)
    before = dict(model.tasks)
    assert model.apply(event(11, "task.moved", **task_data(11, 2, moved.position))) is Outcome.APPLIED
    assert {k: replace(v, version=1) for k, v in model.tasks.items()} == before
    assert order(model, 2) == [21, 11]


def test_move_within_a_column() -> None:
    model = board()
    model.apply(event(11, "task.moved", **task_data(13, 1, 0)))
    assert order(model, 1) == [13, 11, 12] and positions(model, 1) == [0, 1, 2]


def test_delete_and_create_keep_positions_dense() -> None:
    model = board()
    model.apply(event(11, "task.deleted", **task_data(12, 1, 1)))
    assert order(model, 1) == [11, 13] and positions(model, 1) == [0, 1]
    model.apply(event(12, "task.created", **task_data(14, 1, 1)))
    assert order(model, 1) == [11, 14, 13] and positions(model, 1) == [0, 1, 2]


def test_duplicates_are_dropped_and_gaps_reported() -> None:
    model = board()
    assert model.apply(event(10, "task.deleted", **task_data(11, 1, 0))) is Outcome.DUPLICATE
    assert model.apply(event(12, "task.deleted", **task_data(11, 1, 0))) is Outcome.GAP
    assert 11 in model.tasks and model.last_seq == 10


def test_archived_tasks_hold_their_slot_but_are_hidden() -> None:
    model = board()
    model.apply(event(11, "task.updated", **task_data(12, 1, 1, archived=True)))
    assert order(model, 1) == [11, 13]
    model.apply(event(12, "task.moved", **task_data(11, 1, 2)))
    assert positions(model, 1) == [1, 2] and model.tasks[12].position == 0


def test_losing_access_or_the_project_closes_the_board() -> None:
    model = board()
    assert model.apply(event(11, "member.role_changed", user_id=7, role="viewer")) is Outcome.APPLIED
    assert model.role == "viewer"
    assert model.apply(event(12, "member.removed", user_id=8, role="editor")) is Outcome.APPLIED
    assert model.apply(event(13, "member.removed", user_id=7, role="viewer")) is Outcome.CLOSED
    assert board().apply(event(11, "project.deleted", id=1, name="P")) is Outcome.CLOSED


def test_columns_move_and_go_keeping_positions_dense() -> None:
    model = board()
    model.columns[3] = ColumnItem(id=3, name="C3", position=2)
    model.move_column(3, 0)
    assert [c.id for c in model.ordered_columns()] == [3, 1, 2]
    assert [c.position for c in model.ordered_columns()] == [0, 1, 2]
    model.move_column(3, 99)  # past the end is the end, as on the server
    assert [c.id for c in model.ordered_columns()] == [1, 2, 3]
    model.remove_column(1)
    assert [(c.id, c.position) for c in model.ordered_columns()] == [(2, 0), (3, 1)]
