"""Rule-based task analysis: priority, labels, due date, subtasks, and likely duplicates among open tasks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from backend.ai.dates import Clock
from backend.ai.quickadd import parse_quick_add
from backend.ai.schemas import Duplicate
from backend.schemas import LABEL_MAX, LABELS_MAX, TITLE_MAX

# Highest first: the first rule whose words appear sets the priority.
PRIORITY_RULES: tuple[tuple[int, re.Pattern[str]], ...] = (
    (5, re.compile(r"\b(asap|immediately|right now|emergency|outage|p0|sev ?1)\b")),
    (4, re.compile(r"\b(urgent|critical|blocker|blocking|security|vulnerability|data loss|hotfix|p1)\b")),
    (3, re.compile(r"\b(bug|crash(es|ed|ing)?|broken|errors?|fail(s|ed|ing|ure)?|regression|important)\b")),
    (1, re.compile(r"\b(someday|maybe|nice to have|idea|low priority|eventually|whenever)\b")),
)
LABEL_RULES: dict[str, re.Pattern[str]] = {
    "bug": re.compile(r"\b(bugs?|crash(es|ed|ing)?|broken|errors?|regression|fails?|failing)\b"),
    "docs": re.compile(r"\b(docs?|documentation|documents?|readme|guide|tutorial)\b"),
    "design": re.compile(r"\b(design|ui|ux|mockups?|wireframes?|layout)\b"),
    "testing": re.compile(r"\b(tests?|testing|qa|coverage)\b"),
    "security": re.compile(r"\b(security|vulnerability|cve|xss|csrf|auth|password|permissions?)\b"),
    "performance": re.compile(r"\b(slow|performance|latency|speed up|optimi[sz]e|memory leak)\b"),
    "meeting": re.compile(r"\b(meeting|call|sync|standup|1:1|interview)\b"),
}
# Lines of a list in a description: "- x", "* x", "1. x", "- [ ] x".
LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+(?:\[[ xX]?\]\s*)?(?P<item>\S.*)$", re.MULTILINE)
# Parts of a title joined by "and", "then" or ";", each of two words at least ("Buy salt and pepper" stays).
TITLE_PARTS = re.compile(r"\s*(?:;|,? then |,? and )\s*", re.IGNORECASE)
SUBTASKS_MAX = 10
DUPLICATES_MAX = 5
DUPLICATE_CUTOFF = 85.0


@dataclass
class LocalAnalysis:
    priority: int | None = None
    labels: list[str] = field(default_factory=list)
    due_at: datetime | None = None
    subtasks: list[str] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)


def similar_open_tasks(
    title: str,
    open_tasks: list[tuple[int, str]],
    *,
    cutoff: float = DUPLICATE_CUTOFF,
    limit: int = DUPLICATES_MAX,
) -> list[Duplicate]:
    """Open tasks whose titles say the same thing, best first. token_set_ratio finds reworded and
    extended titles; a one-word title would match every title holding that word, so a title shorter than
    three words must also match in word order (token_sort_ratio)."""
    if not open_tasks:
        return []
    titles = [task_title for _, task_title in open_tasks]
    found = process.extract(
        title, titles, scorer=fuzz.token_set_ratio, processor=default_process, score_cutoff=cutoff, limit=50
    )
    short = len(default_process(title).split()) < 3
    duplicates = []
    for candidate, score, position in found:
        if short:
            score = fuzz.token_sort_ratio(title, candidate, processor=default_process)
            if score < cutoff:
                continue
        duplicates.append(Duplicate(task_id=open_tasks[position][0], title=candidate, score=round(score, 1)))
    duplicates.sort(key=lambda duplicate: (-duplicate.score, -duplicate.task_id))
    return duplicates[:limit]


def _subtasks(title: str, description: str) -> list[str]:
    items = [match["item"].strip() for match in LIST_ITEM.finditer(description)]
    if not items:
        parts = [part.strip(" .") for part in TITLE_PARTS.split(title)]
        if len(parts) > 1 and all(len(part.split()) >= 2 for part in parts):
            items = parts
    return [item[0].upper() + item[1:TITLE_MAX] for item in items if item][:SUBTASKS_MAX]


def _labels(text: str, explicit: list[str], labels_in_use: list[str]) -> list[str]:
    """Explicit markers, then labels already used in the project that the text names, then categories
    (spelled as the project spells them when it has that label)."""
    known = {label.casefold(): label for label in labels_in_use}
    found = {label.casefold(): label for label in explicit}
    words = set(default_process(text).split())
    for folded, label in known.items():
        if folded in words or (" " in folded and folded in text):
            found.setdefault(folded, label)
    for category, pattern in LABEL_RULES.items():
        if pattern.search(text):
            found.setdefault(category, known.get(category, category))
    return [label[:LABEL_MAX] for label in found.values()][:LABELS_MAX]


def analyze_locally(
    *,
    title: str,
    description: str,
    labels_in_use: list[str],
    open_tasks: list[tuple[int, str]],
    clock: Clock,
) -> LocalAnalysis:
    parsed = parse_quick_add(title, tz=clock.zone.key, now=clock.now)
    text = f"{parsed.title}\n{description}".lower()
    priority = parsed.priority
    if priority is None:
        priority = next((level for level, pattern in PRIORITY_RULES if pattern.search(text)), None)
    return LocalAnalysis(
        priority=priority,
        labels=_labels(text, parsed.labels, labels_in_use),
        due_at=parsed.due_at,
        subtasks=_subtasks(parsed.title, description),
        duplicates=similar_open_tasks(parsed.title, open_tasks),
    )
