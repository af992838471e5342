"""Autocomplete from a project's own task titles, ranked, in a few milliseconds on 10,000 tasks.

Comparing the query with every title (rapidfuzz's WRatio takes ~50 ms on 10,000 titles) is too slow for a
keystroke, so each project gets a word index: the query's words are matched against the project's
vocabulary (by prefix, and with rapidfuzz for typos), and only the titles holding those words are scored.
Indexes are cached per process, keyed by the project's event_seq, which every change to the board bumps.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from backend.ai.schemas import Suggestion

# Typos are only looked for in words this long: shorter ones match too much.
FUZZY_MIN_LENGTH = 3
FUZZY_CUTOFF = 75.0
MIN_SCORE = 50.0
CACHED_PROJECTS = 256


@dataclass(frozen=True)
class _Entry:
    """One distinct title (compared case- and punctuation-blind) and its newest task."""

    title: str
    key: str
    task_id: int
    count: int


class TitleIndex:
    def __init__(self, rows: Iterable[tuple[int, str]]) -> None:
        grouped: dict[str, list[tuple[int, str]]] = {}
        for task_id, title in rows:
            key = default_process(title)
            if key:
                grouped.setdefault(key, []).append((task_id, title))
        self.entries = [
            _Entry(title=newest[1], key=key, task_id=newest[0], count=len(tasks))
            for key, tasks in grouped.items()
            for newest in [max(tasks)]
        ]
        postings: dict[str, list[int]] = {}
        for number, entry in enumerate(self.entries):
            for word in set(entry.key.split()):
                postings.setdefault(word, []).append(number)
        self.postings = postings
        self.vocabulary = sorted(postings)

    def __len__(self) -> int:
        return len(self.entries)

    def _word_matches(self, word: str, *, typing: bool) -> dict[str, float]:
        """Vocabulary words that `word` may stand for, with a weight in 0..1. The word being typed (the
        last one) is a prefix; the earlier ones are whole words, a prefix of one weighing a little less."""
        start = bisect.bisect_left(self.vocabulary, word)
        stop = bisect.bisect_left(self.vocabulary, word + "\uffff")
        matches = {known: 1.0 if typing or known == word else 0.9 for known in self.vocabulary[start:stop]}
        if len(word) >= FUZZY_MIN_LENGTH:
            # Against each word's beginning while typing ("depoly" finds "deployment").
            choices = [known[: len(word)] for known in self.vocabulary] if typing else self.vocabulary
            found = process.extract(
                word, choices, scorer=fuzz.ratio, processor=None, score_cutoff=FUZZY_CUTOFF, limit=None
            )
            for _, score, position in found:
                known = self.vocabulary[position]
                matches[known] = max(matches.get(known, 0.0), 0.9 * score / 100)
        return matches

    def suggest(self, query: str, *, limit: int) -> list[Suggestion]:
        key = default_process(query)
        words = key.split()
        if not words:
            return []
        # Per title, the mean over the query's words of the best weight among its words.
        totals: dict[int, float] = {}
        for position, word in enumerate(words):
            best: dict[int, float] = {}
            for known, weight in self._word_matches(word, typing=position == len(words) - 1).items():
                for number in self.postings[known]:
                    if weight > best.get(number, 0.0):
                        best[number] = weight
            for number, weight in best.items():
                totals[number] = totals.get(number, 0.0) + weight
        ranked = []
        for number, total in totals.items():
            entry = self.entries[number]
            # A title that starts with what was typed is the likeliest completion.
            score = 90 * total / len(words) + (10 if entry.key.startswith(key) else 0)
            if score >= MIN_SCORE:
                ranked.append((round(score, 1), entry.count, entry.task_id, entry))
        best_first = heapq.nlargest(limit, ranked, key=lambda item: item[:3])
        return [
            Suggestion(title=entry.title, task_id=entry.task_id, score=score)
            for score, *_, entry in best_first
        ]


class IndexCache:
    """Per-process LRU of title indexes, keyed by project and the project's event_seq."""

    def __init__(self, capacity: int = CACHED_PROJECTS) -> None:
        self._capacity = capacity
        self._indexes: OrderedDict[int, tuple[int, TitleIndex]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, project_id: int, version: int, load: Callable[[], Iterable[tuple[int, str]]]) -> TitleIndex:
        with self._lock:
            cached = self._indexes.get(project_id)
            if cached is not None and cached[0] == version:
                self._indexes.move_to_end(project_id)
                return cached[1]
        index = TitleIndex(load())  # outside the lock: other projects need not wait for this one
        with self._lock:
            self._indexes[project_id] = (version, index)
            self._indexes.move_to_end(project_id)
            while len(self._indexes) > self._capacity:
                self._indexes.popitem(last=False)
        return index


title_indexes = IndexCache()
