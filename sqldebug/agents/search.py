"""The ``search`` agent: repairs the broken query by trying sqlglot edits, steered by feedback.

A non-model baseline. On reset it generates candidate fixes (one edit, then pairs of edits among
the most promising) with the families of :mod:`sqldebug.agents.edits`, and ranks them without
spending a step:

- **a local dry run.** The observation's DDL and sample rows make a small in-memory SQLite
  database; a candidate that fails there (a syntax or binding error) goes to the back of the
  queue, and the broken query's own local error says which repairs come first (syntax repairs,
  or the closest column for ``no such column``). Five rows a table are too few to judge results,
  so the dry run only vets that a candidate runs;
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

import contextlib
import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlglot

from sqldebug.agents.base import BaseAgent
from sqldebug.agents.edits import (
    DIALECT,
    Edit,
    Node,
    Schema,
    identifier_repairs,
    render,
    single_edits,
    syntax_repairs,
)
from sqldebug.models import Action, Observation

#: edit family -> intent phrases that make it likelier (whole words; each hit adds 50%, two at most)
CUES: dict[str, tuple[str, ...]] = {
    "left-join": ("every", "without", "none", "including", "with no", "0 for", "null for", "even"),
    "join-filter": ("every", "without", "including", "with no", "0 for", "null for"),
    "count-col": ("0 for", "with no", "none", "without"),
    "count-distinct": ("different", "distinct", "unique", "once", "each one once"),
    "distinct": ("distinct", "once", "duplicate", "duplicates", "exactly once"),
    "group-by": ("duplicate", "duplicates", "same", "whatever"),
    "limit-rank": ("tie", "ties", "tied", "all of them"),
    "window-rank": ("tie", "ties", "tied", "share the top", "all of them"),
    "window-order": ("running", "cumulative", "one at a time"),
    "window-frame": ("running", "cumulative", "up to and including"),
    "window-partition": ("within", "per", "own", "for each", "each"),
    "int-division": ("share", "ratio", "fraction", "percent", "proportion", "decimals"),
    "date-range": ("month", "day", "days", "time of day", "any time", "inclusive", "through"),
    "cmp-lte": ("at most", "or fewer", "or less", "up to", "no more than", "or earlier", "until"),
    "cmp-gte": ("at least", "or more", "no fewer than", "no less than", "or later", "since"),
    "cmp-lt": ("less than", "fewer than", "below", "under", "before", "earlier than"),
    "cmp-gt": ("more than", "greater than", "above", "over", "after", "exceeds", "later than"),
    "null": ("null", "no coupon", "missing", "nobody", "no one", "unknown", "without any"),
    "coalesce": ("0 for", "0 when", "unknown", "null"),
    "precedence": ("either", "or"),
    "fanout": ("once per", "counted once", "per order"),
    "agg-sum": ("total", "sum", "summed"),
    "agg-avg": ("average", "mean"),
    "agg-max": ("highest", "maximum", "largest", "latest", "most recent"),
    "agg-min": ("lowest", "minimum", "smallest", "earliest"),
    "order": ("highest first", "lowest first", "most expensive first", "cheapest first",
              "latest first", "newest first", "oldest first", "descending", "ascending"),
    "string-match": ("case", "capitalisation", "capitalization", "upper", "lower", "spaces"),
}  # fmt: skip
SYNTAX_WEIGHT = 3.0  # a statement that does not parse has to be repaired before anything else
NEIGHBOUR_BONUS = 3.0  # neighbours of a candidate that earned a gain go first ...
NEIGHBOUR_TRIES = 3  # ... for this many misses in a row, then they compete on their priors
FAILS_LOCALLY = 0.02  # a candidate that fails on the sample data is kept, far back
PAIR_FACTOR = 0.6  # a pair of edits ranks below each of its halves
PAIRED = 6  # pairs are the neighbours of this many of the best single edits
WORK = 24_000  # tree nodes copied per reset, at most: max_candidates for a query of ~120 nodes


@dataclass
class Candidate:
    """A full SQL statement to submit, where it came from, and how promising it looks."""

    sql: str
    tree: Node | None
    family: str
    note: str
    prior: float  # the edit's weight times its intent cues (a pair: the weaker half's, reduced)
    parents: set[str] = field(default_factory=set)  # statements this one is a single edit from
    runs: bool = True  # prepared and ran on the local sample data
    tiebreak: float = 0.0


class LocalDB:
    """An in-memory SQLite built from the observation's DDL and sample rows, for dry runs.

    It answers one question for free: does a statement prepare and run here? A step costs the
    episode; this costs microseconds. If the DDL or rows cannot be loaded, it vouches for nothing
    and everything counts as runnable.
    """

    def __init__(self, obs: Observation) -> None:
        self.runs = 0
        # autocommit: the only transactions are the dry runs' own savepoints
        self.conn: sqlite3.Connection | None = sqlite3.connect(":memory:", isolation_level=None)
        try:
            self.conn.executescript(obs.schema_sql)
            for table, sample in obs.sample_rows.items():
                marks = ", ".join("?" for _ in sample.columns)
                for row in sample.rows:
                    try:
                        self.conn.execute(f'INSERT INTO "{table}" VALUES ({marks})', row)
                    except sqlite3.Error:
                        continue  # a row that breaks a constraint here: leave it out
        except (sqlite3.Error, ValueError):  # DDL SQLite cannot run here: no dry runs at all
            self.conn.close()
            self.conn = None

    def error(self, sql: str) -> str | None:
        """SQLite's message when ``sql`` fails here, or None when it runs (writes are undone)."""
        if self.conn is None:
            return None
        self.runs += 1
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
    """Family -> how much the intent's wording raises its edits' priors."""
    words = _words(intent)
    return {fam: 0.5 * min(2, sum(f" {p} " in words for p in cues)) for fam, cues in CUES.items()}


class SearchAgent(BaseAgent):
    """Edits the broken query with sqlglot and lets the environment's grades choose among them.

    ``max_candidates`` caps the queue built at reset; ``seed`` only orders candidates of equal
    score, from a ``random.Random`` re-seeded at every reset, so the same observations always
    give the same actions. Works on queries and on mutations (UPDATE/DELETE) alike.
    """

    name = "search"

    def __init__(self, max_candidates: int = 200, seed: int = 0) -> None:
        self.max_candidates = max_candidates
        self.seed = seed
        self._queue: list[Candidate] = []
        self._tried: set[str] = set()
        self._queued: dict[str, Candidate] = {}
        self._last: Candidate | None = None
        self._best: Candidate | None = None
        self._misses = 0  # neighbours of the best tried since its gain, without a new gain
        self._local: LocalDB | None = None
        self._schema = Schema({})
        self._boosts: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._fallback = ""
        self._limit = max_candidates

    # -- the protocol ---------------------------------------------------------------------------

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        """Build the candidate queue for this episode; nothing here costs a step."""
        self._rng = random.Random(self.seed)  # same observation, same actions, in any run order
        self._queue, self._tried, self._queued = [], set(), {}
        self._last, self._best, self._misses = None, None, 0
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
        if self._local is None:  # act() without reset(): start the episode now
            self.reset(obs, {})
        with contextlib.suppress(Exception):  # feedback is a bonus: never fail a step over it
            self._learn(obs)
        untried = [c for c in self._queue if c.sql not in self._tried]
        if not untried:  # out of ideas: the best so far again (or the broken query)
            self._last = None
            return self._best.sql if self._best is not None else self._fallback
        cand = min(untried, key=lambda c: (-self._score(c), c.tiebreak))
        self._queue.remove(cand)
        self._tried.add(cand.sql)
        self._last = cand
        return cand.sql

    def usage(self) -> dict[str, Any]:
        """What this episode's search spent: candidates built and local dry runs."""
        return {"candidates": len(self._queued), "dry_runs": self._local.runs if self._local else 0}

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None

    # -- search ---------------------------------------------------------------------------------

    def _plan(self, broken: str) -> None:
        """The repairs the local dry run calls for, every single edit, then pairs of edits."""
        self._tried.add(broken.strip())
        tree = self._parse(broken)
        if tree is not None:
            self._tried.add(render(tree) or broken)
        error = self._local.error(broken) if self._local else None
        if error is not None and (tree is None or "syntax error" in error or "incomplete" in error):
            for note, text in syntax_repairs(broken, self._schema):
                self._add(Candidate(text, self._parse(text), "syntax", note, SYNTAX_WEIGHT))
        if tree is None:
            return
        if error is not None:
            self._add_edits(identifier_repairs(tree, self._schema, error))
        # each candidate copies, renders and dry-runs the whole tree: a big query gets fewer
        size = sum(1 for _ in tree.walk())
        self._limit = min(self.max_candidates, max(PAIRED, WORK // max(size, 1)))
        firsts = self._add_edits(single_edits(tree, self._schema), limit=self._limit)
        pairs = [
            (PAIR_FACTOR * min(first.prior, self._prior(edit)), first, edit)
            for first in sorted(firsts, key=lambda c: -self._score(c))[:PAIRED]
            for edit in (single_edits(first.tree, self._schema) if first.tree else [])
        ]
        for prior, first, edit in sorted(pairs, key=lambda p: -p[0]):
            if len(self._queue) >= self._limit:
                break
            self._add_edit(edit, prior, {first.sql}, f"{first.note}; {edit.note}")

    def _learn(self, obs: Observation) -> None:
        """A gain means the last candidate beat every earlier submission: search around it."""
        last = self._last
        if last is None or obs.last_action is None or obs.last_action.sql != last.sql:
            return
        rb = obs.reward_breakdown
        if obs.error is None and rb.correct + rb.executes + rb.valid + rb.progress > 1e-9:
            self._best, self._misses = last, 0
            neighbours = single_edits(last.tree, self._schema) if last.tree else []
            self._add_edits(neighbours, last.sql, limit=self._limit)
            return
        if self._best is not None and self._best.sql in last.parents:
            self._misses += 1
        if obs.error is not None and last.tree is not None:
            self._add_edits(identifier_repairs(last.tree, self._schema, obs.error.message))

    def _score(self, cand: Candidate) -> float:
        """The prior, cut for a candidate that fails locally, raised near the best so far."""
        score = cand.prior * (1.0 if cand.runs else FAILS_LOCALLY)
        near_best = self._best is not None and self._best.sql in cand.parents
        return score + (NEIGHBOUR_BONUS if near_best and self._misses < NEIGHBOUR_TRIES else 0.0)

    def _prior(self, edit: Edit) -> float:
        return edit.weight * (1.0 + self._boosts.get(edit.family, 0.0))

    def _add_edits(
        self, edits: Iterable[Edit], parent: str | None = None, limit: int | None = None
    ) -> list[Candidate]:
        """Queue the ``limit`` most promising edits (rendering and dry runs are the costly part,
        so a huge query is cut to size before them)."""
        parents = {parent} if parent else set()
        ranked = sorted(((self._prior(e), e) for e in edits), key=lambda pe: -pe[0])[:limit]
        added = [self._add_edit(e, prior, parents, e.note) for prior, e in ranked]
        return [c for c in added if c is not None]

    def _add_edit(self, edit: Edit, prior: float, parents: set[str], note: str) -> Candidate | None:
        sql = render(edit.tree)
        if sql is None:
            return None
        return self._add(Candidate(sql, edit.tree, edit.family, note, prior, set(parents)))

    def _add(self, cand: Candidate) -> Candidate | None:
        """Queue a new candidate (dry-run first); one seen again keeps its best prior and learns
        its new parent. Returns the candidate when it is new."""
        if cand.sql in self._tried:
            return None
        queued = self._queued.get(cand.sql)
        if queued is not None:
            queued.prior = max(queued.prior, cand.prior)
            queued.parents |= cand.parents
            return None
        self._queued[cand.sql] = cand
        cand.runs = self._local is None or self._local.error(cand.sql) is None
        cand.tiebreak = self._rng.random()
        self._queue.append(cand)
        return cand

    @staticmethod
    def _parse(sql: str) -> Node | None:
        try:
            return sqlglot.parse_one(sql, read=DIALECT)
        except Exception:
            return None
