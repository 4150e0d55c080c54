"""The ``search`` agent: repairs the broken query by trying sqlglot edits, steered by feedback.

A non-model baseline. On reset it generates candidate fixes (one edit, then pairs of edits among
the most promising) with the families of :mod:`sqldebug.agents.edits`, and ranks them without
spending a step:

- **a local dry run.** The observation's DDL and sample rows make a small in-memory SQLite
  database; a candidate that does not prepare there (a syntax or binding error) is dropped, and
  the broken query's own local error says what kind of repair comes first. Five rows a table is
  too few to judge results, so the dry run only vets that a candidate runs;
- **priors.** Each edit carries the weight its family gives it from the query's shape (``= NULL``,
  a BETWEEN of date strings, a non-aggregate test in HAVING), and simple keyword cues in the
  intent ('ties', 'share', 'without', 'running') raise the families they point at.

Then each step submits the best untried candidate and reads the graded feedback: a submission
that earns a gain in the reward breakdown beat everything before it, so it becomes the new base
and its own one-edit neighbours go to the front of the queue (second-order search); an error
message from SQLite adds identifier repairs. Probing costs a step like a submission but tells
less (a submission returns the same result *and* a grade), so the agent never probes. Out of
ideas, it resubmits the best candidate so far. It never reads a task's solution: everything it
uses is in the :class:`~sqldebug.models.Observation`.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from sqldebug.agents.base import BaseAgent
from sqldebug.agents.edits import (
    DIALECT,
    Edit,
    Schema,
    identifier_repairs,
    render,
    single_edits,
    syntax_repairs,
)
from sqldebug.models import Action, Observation

#: intent phrases -> the edit families they make more likely (matched on whole words)
CUES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("every", "all", "without", "none", "including", "with no", "0 for", "null for"),
        ("left-join", "join-filter", "count-col"),
    ),
    (
        ("different", "distinct", "unique", "once", "duplicate", "duplicates"),
        ("count-distinct", "distinct", "group-by"),
    ),
    (("tie", "ties", "tied", "share the top", "all of them"), ("limit-rank", "window")),
    (
        ("share", "ratio", "fraction", "percent", "percentage", "proportion", "rate"),
        ("int-division",),
    ),
    (
        ("month", "day", "days", "time of day", "any time", "through", "inclusive"),
        ("date-range", "comparison"),
    ),
    (
        ("null", "unknown", "no coupon", "missing", "nobody", "no one", "whom nobody"),
        ("null", "coalesce"),
    ),
    (("either", "or"), ("precedence",)),
    (("running", "cumulative", "one at a time", "up to and including"), ("window",)),
    (("once per", "counted once", "per order"), ("fanout",)),
)
SYNTAX_WEIGHT = 3.0
NEIGHBOUR_BONUS = 3.0
FAILS_LOCALLY = 0.02


@dataclass
class Candidate:
    """A full SQL statement to submit, where it came from, and how promising it looks."""

    sql: str
    tree: exp.Expression | None
    family: str
    note: str
    score: float
    tiebreak: float


class LocalDB:
    """An in-memory SQLite built from the observation's DDL and sample rows, for dry runs.

    It answers one question for free: does a statement prepare and run here? A step costs the
    episode; this costs microseconds. If the DDL or rows cannot be loaded, it vouches for nothing
    and everything counts as runnable.
    """

    def __init__(self, obs: Observation) -> None:
        self.conn: sqlite3.Connection | None = sqlite3.connect(":memory:")
        try:
            self.conn.executescript(obs.schema_sql)
            for table, sample in obs.sample_rows.items():
                marks = ", ".join("?" for _ in sample.columns)
                for row in sample.rows:
                    try:
                        self.conn.execute(f'INSERT INTO "{table}" VALUES ({marks})', row)
                    except sqlite3.Error:
                        continue  # a row that breaks a constraint here: leave it out
        except (sqlite3.Error, ValueError):
            self.conn = None

    def error(self, sql: str) -> str | None:
        """SQLite's message when ``sql`` fails here, or None when it runs (writes are undone)."""
        if self.conn is None:
            return None
        steps = 0

        def budget() -> int:
            nonlocal steps
            steps += 1
            return 1 if steps > 2000 else 0  # called every 1000 VM steps: stop runaway queries

        self.conn.set_progress_handler(budget, 1000)
        try:
            self.conn.execute("SAVEPOINT dry_run")
            try:
                self.conn.execute(sql).fetchmany(100)
            finally:
                self.conn.execute("ROLLBACK TO dry_run")
                self.conn.execute("RELEASE dry_run")
        except (sqlite3.Error, ValueError) as exc:  # ValueError: a NUL byte, say
            return str(exc) if "interrupted" not in str(exc) else None
        finally:
            self.conn.set_progress_handler(None, 0)
        return None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _words(text: str) -> str:
    """The intent as ' word word ... ' in lower case, for whole-word phrase lookups."""
    return " " + " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) + " "


def _cue_boosts(intent: str) -> dict[str, float]:
    words = _words(intent)
    boosts: dict[str, float] = {}
    for phrases, families in CUES:
        hits = sum(f" {p} " in words for p in phrases)
        for family in families:
            boosts[family] = boosts.get(family, 0.0) + min(hits, 2) * 0.5
    return boosts


class SearchAgent(BaseAgent):
    """Edits the broken query with sqlglot and lets the environment's grades choose among them."""

    name = "search"

    def __init__(self, max_candidates: int = 200, seed: int = 0) -> None:
        self.max_candidates = max_candidates
        self.seed = seed
        self._queue: list[Candidate] = []
        self._tried: set[str] = set()
        self._queued: dict[str, Candidate] = {}
        self._last: Candidate | None = None
        self._best: Candidate | None = None
        self._local: LocalDB | None = None
        self._schema = Schema({})
        self._boosts: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._fallback = ""

    # -- the protocol ---------------------------------------------------------------------------

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        """Build the candidate queue for this episode; nothing here costs a step."""
        self._rng = random.Random(self.seed)  # same observation, same actions, in any run order
        self._queue, self._tried, self._last, self._best = [], set(), None, None
        self._queued: dict[str, Candidate] = {}
        self._fallback = obs.broken_query
        self._schema = Schema.from_ddl(obs.schema_sql)
        self._boosts = _cue_boosts(obs.intent)
        if self._local is not None:
            self._local.close()
        self._local = LocalDB(obs)
        try:
            self._plan(obs.broken_query)
        except Exception:  # never let a strange query stop the episode: fall back to resubmits
            self._queue = []

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        """Read the last submission's feedback, then submit the best untried candidate."""
        if not self._queue and self._local is None:  # act() without reset(): start now
            self.reset(obs, {})
        try:
            self._learn(obs)
        except Exception:
            pass
        self._queue.sort(key=lambda c: (-c.score, c.tiebreak))
        while self._queue:
            cand = self._queue.pop(0)
            if cand.sql not in self._tried:
                self._tried.add(cand.sql)
                self._last = cand
                return cand.sql
        self._last = None
        return self._best.sql if self._best is not None else self._fallback

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None

    # -- search ---------------------------------------------------------------------------------

    def _plan(self, broken: str) -> None:
        """First-order candidates, the repairs the local dry run calls for, then pairs."""
        self._tried.add(broken.strip())
        tree = self._parse(broken)
        if tree is not None:
            self._tried.add(render(tree) or broken)
        error = self._local.error(broken) if self._local else None
        if error is not None and (
            "syntax error" in error or "incomplete input" in error or tree is None
        ):
            for note, text in syntax_repairs(broken, self._schema):
                self._add(Candidate(text, self._parse(text), "syntax", note, SYNTAX_WEIGHT, 0.0))
        if tree is None:
            return
        if error is not None:
            self._add_edits(identifier_repairs(tree, self._schema, error), bonus=0.0)
        firsts = self._add_edits(single_edits(tree, self._schema), bonus=0.0)
        firsts.sort(key=lambda c: -c.score)
        for first in firsts[:6]:
            if first.tree is None or len(self._queue) >= self.max_candidates:
                break
            for edit in single_edits(first.tree, self._schema):
                score = first.score * self._prior(edit) * 0.5
                self._add_tree(edit, score, f"{first.note}; {edit.note}")
        self._queue.sort(key=lambda c: (-c.score, c.tiebreak))
        del self._queue[self.max_candidates :]

    def _learn(self, obs: Observation) -> None:
        """A gain means the last candidate beat every earlier submission: search around it."""
        last = self._last
        if last is None or obs.last_action is None or obs.last_action.sql != last.sql:
            return
        rb = obs.reward_breakdown
        gain = rb.correct + rb.executes + rb.valid + rb.progress
        if obs.error is None and gain > 1e-9:
            self._best = last
            if last.tree is not None:
                self._add_edits(single_edits(last.tree, self._schema), bonus=NEIGHBOUR_BONUS)
        elif obs.error is not None and obs.error.kind in ("binding", "syntax") and last.tree:
            repairs = identifier_repairs(last.tree, self._schema, obs.error.message)
            self._add_edits(repairs, bonus=NEIGHBOUR_BONUS)

    def _prior(self, edit: Edit) -> float:
        return edit.weight * (1.0 + self._boosts.get(edit.family, 0.0))

    def _add_edits(self, edits: Any, bonus: float) -> list[Candidate]:
        added = []
        for edit in edits:
            cand = self._add_tree(edit, self._prior(edit) + bonus, edit.note)
            if cand is not None:
                added.append(cand)
        return added

    def _add_tree(self, edit: Edit, score: float, note: str) -> Candidate | None:
        sql = render(edit.tree)
        if sql is None:
            return None
        return self._add(Candidate(sql, edit.tree, edit.family, note, score, 0.0))

    def _add(self, cand: Candidate) -> Candidate | None:
        """Queue a candidate unless it was seen before or does not run on the local data."""
        if cand.sql in self._tried:
            return None
        queued = self._queued.get(cand.sql)
        if queued is not None:  # found again, from a better base: it may move up
            queued.score = max(queued.score, cand.score)
            return None
        self._queued[cand.sql] = cand
        if self._local is not None and self._local.error(cand.sql) is not None:
            cand.score *= FAILS_LOCALLY  # kept, far back: the local data may be what is wrong
        cand.tiebreak = self._rng.random()
        self._queue.append(cand)
        return cand

    @staticmethod
    def _parse(sql: str) -> exp.Expression | None:
        try:
            return sqlglot.parse_one(sql, read=DIALECT)
        except Exception:
            return None
