"""Latency of the local AI engine on a 10,000-task project: quick-add parsing and autocomplete (p50, p99).

    .venv/bin/python benchmarks/ai_local.py [--tasks 10000] [--runs 2000]

Autocomplete is measured twice: the title index alone, and the whole use case as the API runs it
(membership check and the project's event_seq from PostgreSQL, then the cached index). The project, its
owner and its tasks are written to the configured database (DATABASE_URL, or the POSTGRES_* settings)
inside one transaction that is rolled back at the end: nothing is left behind.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from backend.ai.autocomplete import TitleIndex
from backend.ai.quickadd import parse_quick_add
from backend.ai.service import suggest_titles
from backend.db.models import Column, Project, ProjectMember, Role, Task, User
from backend.db.session import get_engine

VERBS = ["Fix", "Update", "Write", "Review", "Deploy", "Test", "Plan", "Design", "Refactor", "Migrate"]
THINGS = [
    "login page", "release notes", "staging server", "billing export", "onboarding email", "search filter",
    "mobile app", "dashboard metrics", "payment webhook", "user settings", "API docs", "database backup",
    "cache layer", "invoice template", "security audit", "team meeting", "quarterly report", "error alerts",
    "dark theme", "CSV import",
]  # fmt: skip
DETAILS = ["for Acme", "on iOS", "before launch", "for Q3", "with Anna", "in Safari", "v2", "for the demo"]
QUICK_ADD = [
    "Call Bob tomorrow at 5pm *sales !high @anna",
    "Deploy the release next monday +Ops",
    "Water the plants every 2 days",
    "Write release notes 27 jan",
    "The 9/11 Report due 10/12",
    "Lorem Ipsum in 5 days at 10:00",
    "Fix #123 crash #bug !urgent",
    "Quarterly review end of month",
    "Plain title with nothing to parse at all",
    "'quoted text tomorrow *label'",
]
QUERIES = [
    "d",
    "dep",
    "deploy rel",
    "fix log",
    "relase nots",
    "security",
    "q3",
    "onboarding em",
    "dark",
    "csv imp",
]


def make_titles(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(VERBS)} {rng.choice(THINGS)}"
        + (f" {rng.choice(DETAILS)}" if rng.random() < 0.6 else "")
        + (f" #{rng.randint(1, 999)}" if rng.random() < 0.2 else "")
        for _ in range(count)
    ]


def measure(label: str, runs: int, call: Callable[[int], object]) -> None:
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        call(run)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{label:48} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   ({runs} runs)")


def seed_project(session: Session, titles: list[str]) -> tuple[int, int]:
    owner = User(
        username=f"bench{time.time_ns()}", email="bench@example.com", display_name="", password_hash="x"
    )
    project = Project(name="Benchmark", event_seq=1)
    session.add_all([owner, project])
    session.flush()
    column = Column(project_id=project.id, name="To do", position=0)
    session.add_all([column, ProjectMember(project_id=project.id, user_id=owner.id, role=Role.owner)])
    session.flush()
    session.execute(
        insert(Task),
        [
            {"project_id": project.id, "column_id": column.id, "title": title, "position": i, "labels": []}
            for i, title in enumerate(titles)
        ],
    )
    return owner.id, project.id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2_000)
    args = parser.parse_args()
    titles = make_titles(args.tasks)
    now = datetime(2021, 6, 24, 12, 0)

    measure(
        "quick-add parse",
        args.runs,
        lambda run: parse_quick_add(QUICK_ADD[run % len(QUICK_ADD)], tz="Europe/Berlin", now=now),
    )

    started = time.perf_counter()
    index = TitleIndex(enumerate(titles, 1))
    build = (time.perf_counter() - started) * 1000
    print(f"{f'title index build ({len(titles)} tasks)':48} {build:7.1f} ms")
    measure(
        "autocomplete, index only", args.runs, lambda run: index.suggest(QUERIES[run % len(QUERIES)], limit=8)
    )

    with get_engine().connect() as connection:
        outer = connection.begin()
        try:
            with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
                user_id, project_id = seed_project(session, titles)

                def ask(run: int) -> object:
                    query = QUERIES[run % len(QUERIES)]
                    return suggest_titles(
                        session, user_id=user_id, project_id=project_id, query=query, limit=8
                    )

                started = time.perf_counter()
                ask(0)  # loads the titles and builds this project's index
                cold = (time.perf_counter() - started) * 1000
                print(f"{'autocomplete, first call (load + build)':48} {cold:7.1f} ms")
                measure("autocomplete, API use case (PostgreSQL + index)", args.runs, ask)
        finally:
            outer.rollback()


if __name__ == "__main__":
    main()
