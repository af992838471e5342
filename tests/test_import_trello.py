"""Trello import: the parser on the real exports and on edge cases, the service against PostgreSQL, and the
`agorax import-trello` command end to end (its commits are real, hence unique usernames)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from backend.cli import main
from backend.db.models import Column, Comment, OutboxEvent, Project, ProjectMember, Role, Task, User
from backend.db.session import session_scope
from backend.importers.trello import BoardPlan, ColumnPlan, TaskPlan, load_board, parse_board
from backend.services.errors import InvalidInput, NotFound
from backend.services.imports import import_trello_board
from tests.conftest import unique

TRELLO = Path(__file__).resolve().parents[2] / "shared" / "data" / "trello"
GOCD = TRELLO / "gocd-test-drive.json"
CLIPKIT = TRELLO / "clipkit.json"
AGORAX = Path(sys.executable).with_name("agorax")

GOCD_COLUMNS = ["Backlog/Future Work/Ideas", "To Do", "In Progress", "Ready to merge", "Ready for QA", "Done"]
CLIPKIT_COLUMNS = ["やりたいこと", "やること", "作業中", "クローズ"]
GOCD_SUMMARY = (
    "6 columns, 44 open tasks, 68 archived tasks, 84 comments, 7 labels, 14 checklists; "
    "skipped 10 cards in closed lists (Landing Page: 1, Loading Page: 3, Download/Install: 1, "
    "Dashboard Page: 5) and 9 comments on cards not imported; the file lacks 39 older comments that its "
    "cards count (Trello exports only the newest 1000 actions)"
)
CLIPKIT_SUMMARY = (
    "4 columns, 66 open tasks, 1 archived task, 4 comments, 2 labels, 0 checklists; "
    "skipped 0 cards in closed lists"
)


def add_user(session: Session) -> User:
    name = unique("trello")
    user = User(username=name, email=f"{name}@example.com", display_name=name, password_hash="-")
    session.add(user)
    session.commit()
    return user


def row_counts() -> dict[str, int]:
    """Committed rows per table, seen from a fresh session."""
    with session_scope() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Project, ProjectMember, Column, Task, Comment, OutboxEvent)
        }


def tasks_by_title(session: Session, project_id: int) -> dict[str, Task]:
    return {task.title: task for task in session.scalars(select(Task).where(Task.project_id == project_id))}


def comments_of(session: Session, task_id: int) -> list[Comment]:
    return list(session.scalars(select(Comment).where(Comment.task_id == task_id).order_by(Comment.id)))


def export(**board: Any) -> str:
    base: dict[str, Any] = {"name": "Board", "desc": "", "lists": [], "cards": []}
    return json.dumps(base | board)


def trello_list(
    list_id: str = "L1", name: str = "Todo", pos: float = 1, closed: bool = False
) -> dict[str, Any]:
    return {"id": list_id, "name": name, "pos": pos, "closed": closed}


def card(card_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": card_id, "idList": "L1", "name": card_id, "pos": 1, "closed": False} | fields


# The parser on the real files


def test_gocd_plan_matches_the_export() -> None:
    raw = json.loads(GOCD.read_text())
    open_lists = {item["id"] for item in raw["lists"] if not item["closed"]}
    open_cards = [c for c in raw["cards"] if c["idList"] in open_lists and not c["closed"]]
    assert (len(raw["lists"]), len(open_lists), len(raw["cards"]), len(open_cards)) == (18, 6, 122, 44)

    plan = load_board(GOCD)
    assert plan.name == "Test Drive" and plan.description == ""
    assert [column.name for column in plan.columns] == GOCD_COLUMNS
    assert [len(column.tasks) for column in plan.columns] == [28, 15, 8, 1, 0, 60]
    assert sum(not task.archived for column in plan.columns for task in column.tasks) == 44
    assert sum(count for _, count in plan.skipped_cards) == 10
    assert plan.skipped_comments == 9
    assert plan.missing_comments == 123 - 84  # the cards' comment badges against the comments in the file


def test_clipkit_plan_reads_the_older_format() -> None:
    raw = json.loads(CLIPKIT.read_text())
    assert "labels" not in raw  # the older format: labels only on cards, colour names in labelNames
    plan = load_board(CLIPKIT)
    assert plan.name == "Clipkit"
    assert [column.name for column in plan.columns] == CLIPKIT_COLUMNS
    assert sum(len(column.tasks) for column in plan.columns) == 67
    assert {label for column in plan.columns for task in column.tasks for label in task.labels} == {
        "機能",
        "バグ",
    }
    assert plan.skipped_cards == () and plan.skipped_comments == plan.missing_comments == 0
    assert [column.name for column in plan.columns if column.is_done] == ["クローズ"]  # "closed"


# The parser on edge cases


def test_titles_are_trimmed_truncated_or_named() -> None:
    plan = parse_board(
        export(
            lists=[trello_list()],
            cards=[
                card("a", name="  spaced  ", pos=1),
                card("b", name="x" * 600, pos=2),
                card("c", name="   ", pos=3),
                card("d", name="nul\x00byte", pos=4),
            ],
        )
    )
    titles = [task.title for task in plan.columns[0].tasks]
    assert titles[0] == "spaced"
    assert len(titles[1]) == 500 and titles[1].endswith("…")
    assert titles[2:] == ["(untitled card)", "nulbyte"]


def test_positions_follow_pos_with_archived_cards_and_ties_by_id() -> None:
    plan = parse_board(
        export(
            lists=[trello_list("L2", "Second", pos=2), trello_list("L1", "First", pos=1)],
            cards=[
                card("c3", pos=5),
                card("c2", pos=2.5, closed=True),
                card("c1", pos=2.5),
                card("c4", idList="L2", pos=0),
            ],
        )
    )
    assert [column.name for column in plan.columns] == ["First", "Second"]
    assert [(task.title, task.archived) for task in plan.columns[0].tasks] == [
        ("c1", False),
        ("c2", True),
        ("c3", False),
    ]


def test_labels_fall_back_to_label_names_then_colour_and_respect_limits() -> None:
    many = [{"id": f"l{i}", "name": f"label {i}", "color": "green"} for i in range(25)]
    plan = parse_board(
        export(
            labelNames={"red": "Bug", "sky": ""},
            labels=[{"id": "top", "name": "From board", "color": "blue"}],
            lists=[trello_list()],
            cards=[
                card(
                    "old",
                    pos=1,
                    labels=[
                        {"color": "red", "name": ""},
                        {"color": "sky", "name": ""},
                        {"color": "red", "name": "Bug"},
                        {"color": None, "name": "y" * 80},
                        {"color": None, "name": ""},
                    ],
                ),
                card("ids-only", pos=2, idLabels=["top", "gone"]),
                card("many", pos=3, labels=many),
            ],
        )
    )
    old, ids_only, crowded = plan.columns[0].tasks
    assert old.labels == ("Bug", "sky", "y" * 49 + "…")
    assert ids_only.labels == ("From board",)
    assert crowded.labels == tuple(f"label {i}" for i in range(20))


def test_due_dates_become_utc() -> None:
    plan = parse_board(
        export(
            lists=[trello_list()],
            cards=[
                card("z", pos=1, due="2019-04-26T19:00:00.000Z"),
                card("offset", pos=2, due="2019-04-26T21:00:00+02:00"),
                card("naive", pos=3, due="2019-04-26T19:00:00"),
                card("none", pos=4, due=None),
            ],
        )
    )
    due = [task.due_at for task in plan.columns[0].tasks]
    expected = datetime(2019, 4, 26, 19, tzinfo=UTC)
    assert due == [expected, expected, expected, None]
    assert all(moment.utcoffset().total_seconds() == 0 for moment in due[:3] if moment)


def test_due_dates_outside_the_api_range_are_left_out() -> None:
    kept = ["1900-01-01T00:00:00Z", "2999-12-31T23:59:59Z"]
    dropped = [
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ]
    plan = parse_board(
        export(
            lists=[trello_list()],
            cards=[
                card(f"c{i}", pos=i, desc="Body", due=due, labels=[{"name": "Later"}])
                for i, due in enumerate(kept + dropped)
            ],
        )
    )
    tasks = plan.columns[0].tasks
    assert [task.due_at for task in tasks] == [
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC),
        None,
        None,
        None,
        None,
    ]
    assert all((task.description, task.labels) == ("Body", ("Later",)) for task in tasks)
    assert plan.dropped_due_dates == 4


def test_lone_surrogates_are_dropped_like_nul() -> None:
    plan = parse_board(
        export(
            name="Board\ud800",
            desc="About\udfff",
            lists=[trello_list(name="To\udc00do")],
            cards=[
                card(
                    "c",
                    name="Fix\ud800 it\x00 \U0001f642",
                    desc="Des\udbffc",
                    labels=[{"name": "Bug\udc80"}],
                    badges={"comments": 1},
                )
            ],
            checklists=[{"idCard": "c", "name": "Li\ud83dst", "checkItems": [{"name": "it\ud83dem"}]}],
            actions=[
                {
                    "id": "a",
                    "type": "commentCard",
                    "date": "2019-05-02T10:00:00Z",
                    "data": {"text": "sa\ud83did", "card": {"id": "c"}},
                    "memberCreator": {"fullName": "Ann\ud83d"},
                }
            ],
        )  # json.dumps writes each lone surrogate as a JSON escape ("\\ud800"), as Trello would
    )
    (task,) = plan.columns[0].tasks
    assert (plan.name, plan.description, plan.columns[0].name) == ("Board", "About", "Todo")
    assert (task.title, task.labels) == ("Fix it \U0001f642", ("Bug",))
    assert task.description == "Desc\n\n### Checklist: List\n- [ ] item"
    assert [comment.body for comment in task.comments] == ["**Ann** (2019-05-02): said"]


def test_checklists_and_comments_are_attached_in_order() -> None:
    plan = parse_board(
        export(
            lists=[trello_list(), trello_list("L9", "Old", pos=9, closed=True)],
            cards=[card("c", desc="Body", pos=1, badges={"comments": 3}), card("gone", idList="L9")],
            checklists=[
                {
                    "idCard": "c",
                    "name": "Second",
                    "pos": 2,
                    "checkItems": [{"name": "only", "state": "incomplete", "pos": 1}],
                },
                {
                    "idCard": "c",
                    "name": "First",
                    "pos": 1,
                    "checkItems": [
                        {"name": "later", "state": "incomplete", "pos": 2},
                        {"name": "done\nitem", "state": "complete", "pos": 1},
                    ],
                },
            ],
            actions=[
                {"type": "updateCard", "data": {}},
                {
                    "id": "a2",
                    "type": "commentCard",
                    "date": "2019-05-03T10:00:00.000Z",
                    "data": {"text": " newer ", "card": {"id": "c"}},
                    "memberCreator": {"fullName": "Member 3"},
                },
                {
                    "id": "a1",
                    "type": "commentCard",
                    "date": "2019-05-02T10:00:00.000Z",
                    "data": {"text": "older", "card": {"id": "c"}},
                    "memberCreator": {"fullName": "", "username": "member4"},
                },
                {
                    "id": "a3",
                    "type": "commentCard",
                    "date": "2019-05-04T10:00:00.000Z",
                    "data": {"text": "on a skipped card", "card": {"id": "gone"}},
                },
            ],
        )
    )
    (task,) = plan.columns[0].tasks
    assert task.description == (
        "Body\n\n### Checklist: First\n- [x] done item\n- [ ] later\n\n### Checklist: Second\n- [ ] only"
    )
    assert task.checklists == 2
    assert [c.body for c in task.comments] == [
        "**member4** (2019-05-02): older",
        "**Member 3** (2019-05-03): newer",
    ]
    assert task.comments[0].posted_at == datetime(2019, 5, 2, 10, tzinfo=UTC)
    assert plan.skipped_cards == (("Old", 1),) and plan.skipped_comments == 1
    assert plan.missing_comments == 1  # the badge counts 3 comments, the file holds 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (b"{not json", "it is not JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "it is not JSON"),
        (b"[1, 2]", 'expected a JSON object with "lists" and "cards"'),
        (b'{"name": "x", "lists": []}', 'expected a JSON object with "lists" and "cards"'),
        (b'{"lists": {}, "cards": []}', 'expected a JSON object with "lists" and "cards"'),
        (b'{"lists": [], "cards": [{"name": "no id"}]}', "cards.0.id: Field required"),
        (b'{"lists": [], "cards": [{"id": "c", "idList": "nowhere"}]}', "not in the file"),
        (b'{"lists": [], "cards": [], "actions": 3}', "actions: Input should be a valid list"),
        (
            export(
                lists=[trello_list()],
                cards=[card("c")],
                actions=[
                    {
                        "id": "a",
                        "type": "commentCard",
                        "date": "0001-01-01T00:00:00+14:00",
                        "data": {"text": "early", "card": {"id": "c"}},
                    }
                ],
            ).encode(),
            "a date is out of range",
        ),
    ],
)
def test_non_exports_are_refused_with_a_clear_message(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_board(raw, source="board.json")
    assert caught.value.detail.startswith("board.json is not a Trello board export: ")
    assert message in caught.value.detail and "\n" not in caught.value.detail


# The service against PostgreSQL (rolled back per test)


def test_import_gocd_builds_the_board(db: Session) -> None:
    owner = add_user(db)
    summary = import_trello_board(db, owner_username=owner.username, board=load_board(GOCD))
    assert summary.describe() == (
        f'Imported "Test Drive" as project {summary.project_id} for {owner.username}: {GOCD_SUMMARY}'
    )
    project = db.get_one(Project, summary.project_id)
    assert (project.name, project.description, project.event_seq) == ("Test Drive", "", 1)
    members = db.scalars(select(ProjectMember).where(ProjectMember.project_id == project.id)).all()
    assert [(m.user_id, m.role) for m in members] == [(owner.id, Role.owner)]
    # One event: the owner joined (their open project list shows the board at once); the board itself is
    # read from its snapshot by whoever opens it.
    [event] = db.scalars(select(OutboxEvent).where(OutboxEvent.project_id == project.id)).all()
    assert (event.seq, event.type) == (1, "member.added")
    assert (event.payload["data"]["user_id"], event.payload["data"]["role"]) == (owner.id, "owner")

    columns = db.scalars(
        select(Column).where(Column.project_id == project.id).order_by(Column.position)
    ).all()
    assert [(c.name, c.position) for c in columns] == list(zip(GOCD_COLUMNS, range(6), strict=True))
    assert [c.name for c in columns if c.is_done] == ["Done"]
    tasks = db.scalars(select(Task).where(Task.project_id == project.id)).all()
    assert sum(not t.archived for t in tasks) == 44 and sum(t.archived for t in tasks) == 68
    for column in columns:  # dense 0-based positions, archived tasks included
        positions = sorted(t.position for t in tasks if t.column_id == column.id)
        assert positions == list(range(len(positions)))
    assert {t.created_by for t in tasks} == {owner.id} and {t.version for t in tasks} == {1}

    by_title = tasks_by_title(db, project.id)
    validate = by_title["Validate empty pipeline group"]
    assert validate.column_id == columns[5].id and validate.archived
    assert validate.labels == ["Research"]
    assert validate.due_at == datetime(2019, 4, 12, 19, tzinfo=UTC)
    assert validate.description.startswith(
        "Does having an empty pipeline group impact the user\u2019s journey"
    )
    assert [c.body for c in comments_of(db, validate.id)] == [
        "**Member 2** (2019-05-20): @member9 Do we need this card moved? Not sure if it matters"
    ]
    toggle = by_title["PaC - toggle between diagrams and config"]
    assert (toggle.column_id, toggle.archived) == (columns[0].id, False)
    assert toggle.labels == ["Pipelines as Code", "Add Pipeline"] and toggle.due_at is None
    events = by_title["Invision mockups for PAC work"]
    assert events.due_at == datetime(2019, 6, 4, 19, tzinfo=UTC) and events.column_id == columns[2].id
    bindings = by_title["Bind server error responses back to respective fields in the model"]
    assert "\n\n### Checklist: Checklist\n- [x] Top-level pipeline attributes\n" in bindings.description
    thread = comments_of(db, by_title["Support Task config: `working directory` - How?"].id)
    assert [c.body[:33] for c in thread] == [
        "**Member 6** (2019-05-22): @membe",
        "**Member 9** (2019-05-22): @membe",
        "**Member 9** (2019-05-22): or rat",
    ]
    assert thread[0].created_at == datetime(2019, 5, 22, 20, 2, 37, 651000, tzinfo=UTC)

    comments = db.scalars(select(Comment).join(Task).where(Task.project_id == project.id)).all()
    assert len(comments) == 84 and {c.author_id for c in comments} == {owner.id}


def test_import_clipkit_keeps_japanese_exactly(db: Session) -> None:
    owner = add_user(db)
    summary = import_trello_board(db, owner_username=owner.username, board=load_board(CLIPKIT))
    assert summary.describe().endswith(CLIPKIT_SUMMARY)

    raw = json.loads(CLIPKIT.read_text(encoding="utf-8"))
    columns = db.scalars(
        select(Column).where(Column.project_id == summary.project_id).order_by(Column.position)
    ).all()
    assert [c.name for c in columns] == CLIPKIT_COLUMNS
    list_ids = {item["name"]: item["id"] for item in raw["lists"]}
    for column in columns:
        expected = [
            c["name"].strip()
            for c in sorted(raw["cards"], key=lambda c: (c["pos"], c["id"]))
            if c["idList"] == list_ids[column.name]
        ]
        stored = db.scalars(select(Task.title).where(Task.column_id == column.id).order_by(Task.position))
        assert list(stored) == expected
    by_title = tasks_by_title(db, summary.project_id)
    assert len(by_title) == 67
    assert by_title["アイテムをストックへ保存するブックマークレット"].archived
    assert by_title["使用できるタグを固定できるようにする"].labels == ["機能"]
    bug = by_title["画像アイテムに長いURLを入れて下書き保存すると内部エラー"]
    texts = {
        a["date"]: a["data"]["text"]
        for a in raw["actions"]
        if a["type"] == "commentCard" and a["data"]["card"]["id"] == "54cca4d5424dfd3b515d88ad"
    }
    assert [c.body for c in comments_of(db, bug.id)] == [
        f"**Member 1** (2015-02-14): {texts[date]}" for date in sorted(texts)
    ]
    assert comments_of(db, bug.id)[1].body.endswith("Paperclipが元ファイル名で一時保存しようとしている\uff1f")


def test_owner_is_found_case_insensitively_and_name_can_be_chosen(db: Session) -> None:
    owner = add_user(db)
    summary = import_trello_board(
        db, owner_username=f"  {owner.username.upper()} ", board=load_board(CLIPKIT), name=" Clips "
    )
    assert summary.owner_username == owner.username and summary.project_name == "Clips"
    assert db.get_one(Project, summary.project_id).name == "Clips"


def test_unknown_owner_or_bad_name_stores_nothing(db: Session) -> None:
    owner = add_user(db)
    board = load_board(CLIPKIT)
    before = db.scalar(select(func.count()).select_from(Project))
    with pytest.raises(NotFound, match="no user named"):
        import_trello_board(db, owner_username=unique("nobody"), board=board)
    with pytest.raises(InvalidInput, match="Invalid project name"):
        import_trello_board(db, owner_username=owner.username, board=board, name="   ")
    assert db.scalar(select(func.count()).select_from(Project)) == before


def test_a_failure_midway_stores_nothing() -> None:
    """The import is one transaction: a task the database refuses undoes the project and columns too."""
    with session_scope() as session:
        owner = add_user(session)
    fine = TaskPlan(
        title="fine", description="", due_at=None, labels=(), archived=False, comments=(), checklists=0
    )
    # Built by hand to get past the parser, which would have truncated the title.
    broken = BoardPlan(
        name="Broken",
        description="",
        columns=(
            ColumnPlan(name="A", tasks=(fine,)),
            ColumnPlan(name="B", tasks=(fine, replace(fine, title="x" * 501))),
        ),
        skipped_cards=(),
        skipped_comments=0,
        missing_comments=0,
        dropped_due_dates=0,
    )
    before = row_counts()
    with session_scope() as session, pytest.raises(DataError):
        import_trello_board(session, owner_username=owner.username, board=broken)
    assert row_counts() == before


# The command


def test_cli_imports_gocd_in_a_real_process() -> None:
    with session_scope() as session:
        owner = add_user(session)
    before = row_counts()
    done = subprocess.run(
        [str(AGORAX), "import-trello", str(GOCD), "--owner", owner.username.upper()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    line = done.stdout.strip()
    assert line.startswith('Imported "Test Drive" as project ') and line.endswith(
        f" for {owner.username}: {GOCD_SUMMARY}"
    )
    project_id = int(line.removeprefix('Imported "Test Drive" as project ').split()[0])
    with session_scope() as session:
        columns = session.scalars(
            select(Column.name).where(Column.project_id == project_id).order_by(Column.position)
        ).all()
        assert columns == GOCD_COLUMNS
        open_tasks = select(func.count()).where(Task.project_id == project_id, Task.archived.is_(False))
        assert session.scalar(open_tasks) == 44
        owner_role = session.scalar(
            select(ProjectMember.role).where(
                ProjectMember.project_id == project_id, ProjectMember.user_id == owner.id
            )
        )
        assert owner_role == Role.owner
    after = row_counts()
    assert {table: after[table] - before[table] for table in after} == {
        "projects": 1,
        "project_members": 1,
        "columns": 6,
        "tasks": 112,
        "comments": 84,
        "outbox": 1,
    }


def test_cli_name_option(capsys: pytest.CaptureFixture[str]) -> None:
    with session_scope() as session:
        owner = add_user(session)
    assert main(["import-trello", str(CLIPKIT), "--owner", owner.username, "--name", "クリップキット"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('Imported "クリップキット" as project ') and out.endswith(f"{CLIPKIT_SUMMARY}\n")


def test_cli_imports_a_file_with_lone_surrogates_and_far_due_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with session_scope() as session:
        owner = add_user(session)
    path = tmp_path / "board.json"
    cards = [
        card("a", name="Lone \ud800surrogate", desc="in \udfffthe body", pos=1, due="2026-03-01T12:00:00Z"),
        card("b", name="Ancient", pos=2, due="0999-01-01T00:00:00Z", desc="kept"),
        card("c", name="Far", pos=3, due="3500-06-01T00:00:00Z"),
    ]
    path.write_text(export(name="Odd", lists=[trello_list()], cards=cards))

    assert main(["import-trello", str(path), "--owner", owner.username]) == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.endswith(
        "1 column, 3 open tasks, 0 archived tasks, 0 comments, 0 labels, 0 checklists; skipped 0 cards in "
        "closed lists; left out 2 due dates outside the years 1900 to 2999\n"
    )
    project_id = int(captured.out.removeprefix('Imported "Odd" as project ').split()[0])
    with session_scope() as session:
        rows = session.execute(
            select(Task.title, Task.description, Task.due_at)
            .where(Task.project_id == project_id)
            .order_by(Task.position)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("Lone surrogate", "in the body", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("Ancient", "kept", None),
        ("Far", "", None),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"cards": [card("c", idList="no\nwhere")]}, "card c is in list no\\nwhere, not in the file"),
        ({"labelNames": {"red\nline": 5}}, "labelNames.red\\nline: Input should be a valid string"),
        ({"name": "Board", "cli_name": "Bad \udcff name"}, "Invalid project name"),
    ],
)
def test_cli_messages_stay_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: dict[str, Any], message: str
) -> None:
    with session_scope() as session:
        owner = add_user(session)
    path = tmp_path / "line\nbreak.json"
    name = args.pop("cli_name", None)
    path.write_text(export(lists=[trello_list()], **args))
    before = row_counts()
    argv = ["import-trello", str(path), "--owner", owner.username, *(["--name", name] if name else [])]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("agorax import-trello: ") and message in captured.err
    assert row_counts() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"Board,List,Card\nTest Drive,To Do,Fix it\n", "it is not JSON"),
        (bytes(range(256)) * 4, "it is not JSON"),
        (b'[{"name": "Test Drive"}]', 'expected a JSON object with "lists" and "cards"'),
        (b'{"name": "Test Drive", "desc": ""}', 'expected a JSON object with "lists" and "cards"'),
    ],
)
def test_cli_refuses_what_is_not_an_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    with session_scope() as session:
        owner = add_user(session)
    path = tmp_path / "board.json"
    if content is not None:
        path.write_bytes(content)
    before = row_counts()
    assert main(["import-trello", str(path), "--owner", owner.username]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("agorax import-trello: ") and message in captured.err
    assert captured.err.count("\n") == 1
    assert row_counts() == before


def test_cli_exits_2_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "cards.json"
    path.write_text(json.dumps([{"name": "Card"}]))
    before = row_counts()
    done = subprocess.run(
        [str(AGORAX), "import-trello", str(path), "--owner", "whoever"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"agorax import-trello: {path} is not a Trello board export: "
        'expected a JSON object with "lists" and "cards"\n'
    )
    assert row_counts() == before


def test_cli_refuses_a_directory_and_an_unknown_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = row_counts()
    assert main(["import-trello", str(tmp_path), "--owner", "whoever"]) == 2
    assert "cannot read it" in capsys.readouterr().err
    nobody = unique("nobody")
    assert main(["import-trello", str(CLIPKIT), "--owner", nobody]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f'agorax import-trello: There is no user named "{nobody}"\n'
    assert row_counts() == before
