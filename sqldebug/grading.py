"""Comparing results: the one comparison every grade goes through, and the progress score.

The rules (docs/grading.md states them for task authors):

* Results compare as **bags**: duplicates count, row order is ignored, unless the task's
  ``order_matters`` is true, in which case rows compare position by position.
* **Columns compare by position**: column ``i`` of the result must hold the reference's values for
  column ``i`` (every intent states its columns in order). Names are ignored. A task may opt in to
  ``column_order: any``, where a result matches when some permutation of its columns does. The
  number of columns must match either way.
* Numbers compare by value whatever their storage class (``3 == 3.0``), floats within a relative
  tolerance of 1e-6 (absolute 1e-9 near zero), so ``SUM`` and ``AVG`` rounding does not decide a
  grade. Text never equals a number (``'3' != 3``) and never equals a blob. NULL equals NULL.

How it stays fast: each result is canonicalised once (:class:`Canon`: floats rounded to nine
significant digits, finer than the tolerance, so values that hash alike are always within it, and
values that are merely close usually hash alike too) and compared as a
``Counter`` of row tuples, O(rows). Only rows left unmatched are compared again with
``math.isclose``, which settles values that fall on either side of a rounding edge. The expected
side of every comparison is canonicalised once per instance and cached by the grader.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

from sqldebug.instances import Instance, table_rows
from sqldebug.reward import Score
from sqldebug.sandbox import QueryError, Result, check_text
from sqldebug.spec import Task

Row = Sequence[Any]

REL_TOL = 1e-6
ABS_TOL = 1e-9


_NAN = float("nan")  # one NaN object, so NaN rows match themselves in bags


def _round(value: float) -> float:
    if math.isnan(value):
        return _NAN
    return value if value.is_integer() or not math.isfinite(value) else float(f"{value:.9g}")


def _canon_cell(value: Any) -> Any:
    if type(value) is float:
        return _round(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _cells_close(a: Any, b: Any) -> bool:
    """Equality with the float tolerance; types as the rules say."""
    if type(a) is float or type(b) is float:
        if not (isinstance(a, int | float) and isinstance(b, int | float)):
            return False
        return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(a == b) and (type(a) is type(b) or (isinstance(a, int) and isinstance(b, int)))


def _rows_close(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(_cells_close(x, y) for x, y in zip(a, b, strict=True))


_PLAIN = frozenset({int, str, bytes, type(None)})  # cell types that are already canonical


class Canon:
    """A result in canonical form: row tuples, their bag, and (lazily) per-column value bags."""

    __slots__ = ("_bag", "_columns", "has_float", "rows", "width")
    # _columns: per column, its signature: the column's value bag as a frozenset of
    # (value, count), so comparing two columns is one C-level equality.

    def __init__(self, rows: Sequence[Row], width: int | None = None) -> None:
        kinds = set(map(type, chain.from_iterable(rows)))  # one C-speed pass over every cell
        if kinds <= _PLAIN:
            self.rows = [r if type(r) is tuple else tuple(r) for r in rows]
        else:
            self.rows = [tuple(_canon_cell(v) for v in r) for r in rows]
        self.width = width if width is not None else (len(self.rows[0]) if self.rows else 0)
        self.has_float = float in kinds
        self._bag: Counter[tuple[Any, ...]] | None = None
        self._columns: list[frozenset[tuple[Any, int]]] | None = None

    @property
    def bag(self) -> Counter[tuple[Any, ...]]:
        """The rows as a multiset (built on first use: equal results in the same order never
        need it)."""
        if self._bag is None:
            self._bag = Counter(self.rows)
        return self._bag

    @property
    def columns(self) -> list[frozenset[tuple[Any, int]]]:
        if self._columns is None:
            self._columns = [
                frozenset(Counter(map(itemgetter(i), self.rows)).items()) for i in range(self.width)
            ]
        return self._columns

    def permuted(self, order: Sequence[int]) -> Canon:
        moved = Canon.__new__(Canon)
        moved.rows = [tuple(r[j] for j in order) for r in self.rows]
        moved.width, moved.has_float = self.width, self.has_float
        moved._bag = None
        moved._columns = [self.columns[j] for j in order] if self._columns is not None else None
        return moved


def _same(e: Canon, a: Canon, ordered: bool) -> bool:
    if len(e.rows) != len(a.rows):
        return False
    if ordered:
        if e.rows == a.rows:
            return True
        floats = e.has_float or a.has_float
        return floats and all(
            x == y or _rows_close(x, y) for x, y in zip(e.rows, a.rows, strict=True)
        )
    if e.rows == a.rows or dict.__eq__(
        e.bag, a.bag
    ):  # Counter.__eq__ is Python code; the bags hold no zero counts
        return True
    if not (e.has_float or a.has_float):
        return False
    # values within tolerance across a rounding edge: match the leftover rows pairwise
    left = list((a.bag - e.bag).elements())
    for row in (e.bag - a.bag).elements():
        for i, cand in enumerate(left):
            if _rows_close(row, cand):
                del left[i]
                break
        else:
            return False
    return not left


def _matching_order(e: Canon, a: Canon, ordered: bool) -> tuple[int, ...] | None:
    """A permutation of ``a``'s columns under which ``a`` equals ``e``, or None.

    Backtracking over column assignments, pruned by the rows projected onto the columns placed so
    far (their bags, or their sequences when order matters, must already agree). Only columns with
    the same value bag are candidates, so the search is tiny unless many columns look alike; it
    stops after a bounded number of nodes rather than explode on a pathological result.
    """
    w = e.width
    if w <= 1 or w != a.width or sorted(map(hash, e.columns)) != sorted(map(hash, a.columns)):
        return None  # no permutation can match unless the columns' value bags do
    options = [[j for j in range(w) if a.columns[j] == e.columns[i]] for i in range(w)]
    if any(not o for o in options):
        return None
    budget = [4096]

    def project(rows: list[tuple[Any, ...]], cols: Sequence[int]) -> Any:
        picked = [tuple(r[c] for c in cols) for r in rows]
        return picked if ordered else Counter(picked)

    def extend(prefix: tuple[int, ...]) -> tuple[int, ...] | None:
        if len(prefix) == w:
            return prefix
        i = len(prefix)
        for j in options[i]:
            if j in prefix or budget[0] <= 0:
                continue
            budget[0] -= 1
            candidate = (*prefix, j)
            if project(e.rows, range(i + 1)) == project(a.rows, candidate):
                found = extend(candidate)
                if found is not None:
                    return found
        return None

    order = extend(())
    return None if order is None or order == tuple(range(w)) else order


def equal_canon(e: Canon, a: Canon, *, ordered: bool = False, any_order: bool = False) -> bool:
    """:func:`results_equal` on canonical results (the grader's fast path)."""
    if e.width != a.width:
        return False
    if _same(e, a, ordered):
        return True
    if not any_order or len(e.rows) != len(a.rows) or not e.rows:
        return False
    order = _matching_order(e, a, ordered)
    return order is not None and _same(e, a.permuted(order), ordered)


def progress_canon(e: Canon, a: Canon, *, ordered: bool = False, any_order: bool = False) -> float:
    """:func:`progress` on canonical results."""
    if equal_canon(e, a, ordered=ordered, any_order=any_order):
        return 1.0
    if not e.width:
        return 0.0
    f1 = 0.0
    a_sigs: dict[frozenset[tuple[Any, int]], int] = {}
    if any_order:
        # columns: share of expected columns whose whole value bag is some column of the result
        if a.rows:
            a_sigs = {sig: j for j, sig in reversed(list(enumerate(a.columns)))}
        cols = sum(sig in a_sigs for sig in e.columns) / e.width if e.rows else 0.0
    else:
        # columns: share of expected columns whose value bag the result has in the same place
        same = zip(e.columns, a.columns, strict=False) if e.rows and a.rows else ()
        cols = sum(x == y for x, y in same) / e.width
    # rows: F1 of the row bags (with any_order, columns lined up where their value bags moved)
    if e.rows and a.rows and e.width == a.width:
        order = _aligned_order(e, a, a_sigs) if any_order else None
        moved = a if order is None else a.permuted(order)
        small, large = (e.bag, moved.bag) if len(e.bag) <= len(moved.bag) else (moved.bag, e.bag)
        overlap = sum(min(n, large.get(row, 0)) for row, n in small.items())
        f1 = 2 * overlap / (len(e.rows) + len(a.rows))
        if f1 == 1.0 and cols == 1.0:
            return 0.9  # the right rows in the wrong order
    return min(0.3 * cols + 0.7 * f1, 0.95)


def _aligned_order(
    e: Canon, a: Canon, a_sigs: dict[frozenset[tuple[Any, int]], int]
) -> tuple[int, ...] | None:
    """A column order for ``a`` that puts each column whose value bag equals an expected column's
    in that column's place (other columns keep their order); None when nothing moved."""
    w = e.width
    order: list[int | None] = [None] * w
    used: set[int] = set()
    for i, sig in enumerate(e.columns):
        j = i if a.columns[i] == sig else a_sigs.get(sig)
        if j is not None and j not in used:
            order[i] = j
            used.add(j)
    rest = iter(j for j in range(w) if j not in used)
    final = tuple(j if j is not None else next(rest) for j in order)
    return None if final == tuple(range(w)) else final


def _width(rows: Sequence[Row], columns: Sequence[str] | None) -> int:
    if columns is not None:
        return len(columns)
    return len(rows[0]) if rows else 0


def results_equal(
    expected: Sequence[Row],
    actual: Sequence[Row],
    *,
    ordered: bool = False,
    any_order: bool = False,
    expected_columns: Sequence[str] | None = None,
    actual_columns: Sequence[str] | None = None,
) -> bool:
    """The one comparison: do two results answer the same (see the module rules)?"""
    return equal_canon(
        Canon(expected, _width(expected, expected_columns)),
        Canon(actual, _width(actual, actual_columns)),
        ordered=ordered,
        any_order=any_order,
    )


def progress(
    expected: Sequence[Row],
    actual: Sequence[Row],
    *,
    ordered: bool = False,
    any_order: bool = False,
    expected_columns: Sequence[str] | None = None,
    actual_columns: Sequence[str] | None = None,
) -> float:
    """How near a result is to the expected one, in [0, 1]; 1.0 exactly when ``results_equal``.

    0.3 for the columns (share of expected columns whose whole value bag the result has in the same
    position, or anywhere with ``any_order``) and 0.7 for the rows (F1 of the row bags; with
    ``any_order`` under the column order that lines up best).
    The right bag in the wrong order gets 0.9; anything incorrect at most 0.95. Only results count:
    nothing about the SQL text.
    """
    return progress_canon(
        Canon(expected, _width(expected, expected_columns)),
        Canon(actual, _width(actual, actual_columns)),
        ordered=ordered,
        any_order=any_order,
    )


# --- grading a submission over instances ---------------------------------------------------------


@dataclass
class Outcome:
    """What one submission did: its score, what the visible instance returned, or why it failed."""

    score: Score
    result: Result | None = None
    error: QueryError | None = None
    per_instance: list[float] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.score.correct == 1.0


#: What a statement leaves behind: a query's result, or a mutation's graded tables (by name).
Answer = dict[str, tuple[Result, Canon]]
_QUERY = ""  # the key of a query's result in an Answer


@functools.lru_cache(maxsize=4096)
def _top_level_order_by(solution: str) -> bool:
    import sqlglot  # imported here: a task that states order_matters never pays for it
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(solution, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return False  # an unparseable solution is reported by validation, not here
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def order_matters(task: Task) -> bool:
    """Whether row order is graded for ``task``: its ``order_matters``, or when the file leaves it
    out, whether the solution has a top-level ORDER BY (an ORDER BY inside a subquery, a CTE or a
    window does not count)."""
    if task.order_matters is not None:
        return task.order_matters
    return task.kind == "query" and _top_level_order_by(task.solution)


#: How many instance sets' baselines a grader keeps (seeds come from clients: bounded).
BASELINES = 1024


@dataclass(frozen=True)
class Baseline:
    """The broken query on one episode's instances: its score (where reward for improvement
    starts) and whether some hidden instance exposes the bug (see :meth:`Grader.exposes`)."""

    score: Score
    exposes: bool


class Grader:
    """Grades submissions for one task; the solution's answer on an instance is computed once and
    kept on the instance (so graders of tasks with one solution share it, and it goes when the
    instance is evicted)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.ordered = order_matters(task)
        self.any_order = task.column_order == "any"
        self._key = (task.kind, tuple(task.tables), task.solution)
        self._baselines: OrderedDict[tuple[str, ...], Baseline] = OrderedDict()
        self._lock = threading.Lock()

    def expected(self, inst: Instance) -> Answer:
        """The solution's answer on ``inst`` (raises QueryError if the solution fails there)."""
        answer: Answer | None = inst.answers.get(self._key)
        if answer is None:
            answer = inst.answers[self._key] = self.run(inst, self.task.solution)
        return answer

    def same_answer(self, a: Answer, b: Answer) -> bool:
        """Whether two answers (say, the solution's on two instances) are equal under this task's
        rules."""
        return a.keys() == b.keys() and all(
            equal_canon(
                a[key][1],
                b[key][1],
                ordered=self.ordered and key == _QUERY,
                any_order=self.any_order,
            )
            for key in a
        )

    def baseline(self, instances: list[Instance]) -> Baseline:
        """The broken query on these instances (visible first), computed once per instance set."""
        key = tuple(i.key for i in instances)
        with self._lock:
            found = self._baselines.get(key)
            if found is not None:
                self._baselines.move_to_end(key)
                return found
        outcome = self.grade(self.task.broken, instances)
        found = Baseline(outcome.score, self.exposes(instances, outcome))
        with self._lock:
            self._baselines[key] = found
            while len(self._baselines) > BASELINES:
                self._baselines.popitem(last=False)
        return found

    def exposes(self, instances: list[Instance], broken: Outcome) -> bool:
        """Whether some hidden instance both fails the broken query and has another answer than
        the visible one. Then neither the broken query, nor the visible answer typed out, nor any
        mix of the two chosen by telling the visible instance apart passes on every instance."""
        scores = broken.per_instance or [0.0] * len(instances)  # empty: it did not run at all
        visible = self.expected(instances[0])
        return any(
            score < 1.0 and not self.same_answer(self.expected(inst), visible)
            for inst, score in zip(instances[1:], scores[1:], strict=True)
        )

    def run(
        self, inst: Instance, sql: str, *, checked: bool = False, deadline: float | None = None
    ) -> Answer:
        """Run ``sql`` on ``inst`` as this task runs statements; raises QueryError."""
        if self.task.kind == "query":
            res = inst.reader().run(sql, checked=checked, deadline=deadline)
            return {_QUERY: (res, Canon(res.rows, len(res.columns)))}
        box = inst.writer(self.task.tables)
        try:
            box.run_script(sql, checked=checked, deadline=deadline)
            answer = {}
            for table in self.task.tables:
                res = table_rows(box.conn, table)
                answer[table] = (res, Canon(res.rows, len(res.columns)))
            return answer
        finally:
            box.conn.close()

    def _progress(self, expected: Answer, actual: Answer) -> float:
        scores = []
        for key, (_, exp_canon) in expected.items():
            act_res, act_canon = actual[key]
            if act_res.truncated:
                scores.append(0.0)
                continue
            ordered = self.ordered and key == _QUERY
            scores.append(
                progress_canon(exp_canon, act_canon, ordered=ordered, any_order=self.any_order)
            )
        return sum(scores) / len(scores)

    def grade(self, sql: str, instances: list[Instance], *, valid: bool | None = None) -> Outcome:
        """Run ``sql`` on every instance (the visible one first) and score it.

        ``valid`` is the reviewer's verdict when it ran; without it, SQLite's: the statement
        parsed and bound unless its error says otherwise.
        """
        # one deadline for the whole submission: k+1 instances never take k+1 deadlines
        deadline = time.monotonic() + instances[0].limits.deadline_s
        try:
            check_text(sql, instances[0].limits)
            first = self.run(instances[0], sql, checked=True, deadline=deadline)
        except QueryError as exc:
            ok = exc.kind not in ("syntax", "binding") and valid is not False
            return Outcome(Score(valid=float(ok)), error=exc)
        scores = [self._progress(self.expected(instances[0]), first)]
        for inst in instances[1:]:
            try:
                answer = self.run(inst, sql, checked=True, deadline=deadline)
                scores.append(self._progress(self.expected(inst), answer))
            except QueryError as exc:
                if exc.kind == "budget":  # over the submission's budget: it did not finish
                    return Outcome(Score(valid=0.0 if valid is False else 1.0), error=exc)
                scores.append(0.0)
        shown = first[_QUERY if _QUERY in first else self.task.tables[0]][0]
        correct = all(s == 1.0 for s in scores)
        score = Score(
            correct=float(correct),
            executes=1.0,
            valid=1.0 if valid is None else float(valid),
            # progress shapes from what the agent can see: the visible instance only. Hidden
            # instances decide `correct` and nothing else, so a submission learns one bit about
            # them (an average over instances told, to six decimals, which instances a probe
            # predicate held on). 1.0 exactly when correct.
            progress=scores[0] if correct else min(scores[0], 0.95),
        )
        return Outcome(score, result=shown, per_instance=scores)
