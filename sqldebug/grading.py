"""Comparing results: the one comparison every grade goes through, and the progress score.

The rules (docs/grading.md states them for task authors):

* Results compare as **bags**: duplicates count, row order is ignored, unless the task's
  ``order_matters`` is true, in which case rows compare position by position.
* **Column names are ignored** and so is **column order**: a result matches when some permutation
  of its columns matches (``SELECT total, region`` answers "region and total" just as well). The
  number of columns must match.
* Numbers compare by value whatever their storage class (``3 == 3.0``), floats within a relative
  tolerance of 1e-6 (absolute 1e-9 near zero), so ``SUM`` and ``AVG`` rounding does not decide a
  grade. Text never equals a number (``'3' != 3``). NULL equals NULL.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import permutations
from typing import Any

Row = Sequence[Any]

REL_TOL = 1e-6
ABS_TOL = 1e-9
_DIGITS = 6  # significant digits of the canonical key; ties near a rounding edge use isclose


def _cell_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, int | float):
        f = float(value)
        if math.isnan(f):
            return (1, "nan")
        return (1, float(f"{f:.{_DIGITS}g}"))
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes | memoryview):
        return (3, bytes(value))
    return (4, repr(value))


def _row_key(row: Row) -> tuple[tuple[int, Any], ...]:
    return tuple(_cell_key(v) for v in row)


def _cells_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    num_a = isinstance(a, int | float) and not isinstance(a, bool)
    num_b = isinstance(b, int | float) and not isinstance(b, bool)
    if num_a and num_b:
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if num_a or num_b:
        return False
    if isinstance(a, memoryview):
        a = bytes(a)
    if isinstance(b, memoryview):
        b = bytes(b)
    return type(a) is type(b) and bool(a == b)


def _rows_equal(a: Row, b: Row) -> bool:
    return len(a) == len(b) and all(_cells_equal(x, y) for x, y in zip(a, b, strict=True))


def _same_rows(expected: Sequence[Row], actual: Sequence[Row], ordered: bool) -> bool:
    if len(expected) != len(actual):
        return False
    if ordered:
        return all(_rows_equal(e, a) for e, a in zip(expected, actual, strict=True))
    es = sorted(expected, key=_row_key)
    as_ = sorted(actual, key=_row_key)
    if all(_rows_equal(e, a) for e, a in zip(es, as_, strict=True)):
        return True
    # Canonical keys can split two values that are within tolerance across a rounding edge.
    return Counter(map(_row_key, expected)) == Counter(map(_row_key, actual)) or _greedy_match(es, as_)


def _greedy_match(expected: list[Row], actual: list[Row]) -> bool:
    left = list(actual)
    for row in expected:
        for i, cand in enumerate(left):
            if _rows_equal(row, cand):
                del left[i]
                break
        else:
            return False
    return True


def _column_signature(rows: Sequence[Row], index: int) -> tuple[tuple[int, Any], ...]:
    return tuple(sorted(_cell_key(r[index]) for r in rows))


def _candidate_orders(expected: Sequence[Row], actual: Sequence[Row], width: int) -> list[tuple[int, ...]]:
    """Column permutations of ``actual`` worth trying: columns whose value multisets match."""
    if width <= 1:
        return []
    exp_sig = [_column_signature(expected, i) for i in range(width)]
    act_sig = [_column_signature(actual, i) for i in range(width)]
    options = [[j for j in range(width) if act_sig[j] == exp_sig[i]] for i in range(width)]
    if any(not o for o in options):
        return []
    orders: list[tuple[int, ...]] = []

    def extend(prefix: tuple[int, ...]) -> None:
        if len(orders) >= 64:
            return
        if len(prefix) == width:
            orders.append(prefix)
            return
        for j in options[len(prefix)]:
            if j not in prefix:
                extend((*prefix, j))

    extend(())
    return [o for o in orders if o != tuple(range(width))]


def _width(rows: Sequence[Row], columns: Sequence[str] | None) -> int:
    if columns is not None:
        return len(columns)
    return len(rows[0]) if rows else 0


def results_equal(
    expected: Sequence[Row],
    actual: Sequence[Row],
    *,
    ordered: bool = False,
    expected_columns: Sequence[str] | None = None,
    actual_columns: Sequence[str] | None = None,
) -> bool:
    """The one comparison: do two results answer the same (see the module rules)?"""
    width = _width(expected, expected_columns)
    if width != _width(actual, actual_columns) and (expected or actual):
        return False
    if _same_rows(expected, actual, ordered):
        return True
    if len(expected) != len(actual) or not expected:
        return False
    for order in _candidate_orders(expected, actual, width):
        moved = [tuple(r[j] for j in order) for r in actual]
        if _same_rows(expected, moved, ordered):
            return True
    return False


def _bag_overlap(expected: Sequence[Row], actual: Sequence[Row]) -> int:
    return sum((Counter(map(_row_key, expected)) & Counter(map(_row_key, actual))).values())


def _column_overlap(expected: Sequence[Row], actual: Sequence[Row], e_width: int, a_width: int) -> float:
    """Share of expected columns whose values appear as a column of the actual result."""
    if not e_width:
        return 0.0
    act_sig = {_column_signature(actual, j) for j in range(a_width)} if actual else set()
    return sum(_column_signature(expected, i) in act_sig for i in range(e_width)) / e_width


def progress(
    expected: Sequence[Row],
    actual: Sequence[Row],
    *,
    ordered: bool = False,
    expected_columns: Sequence[str] | None = None,
    actual_columns: Sequence[str] | None = None,
) -> float:
    """How near a result is to the expected one, in [0, 1]; 1.0 exactly when ``results_equal``.

    0.3 for the columns (share of expected columns whose whole value multiset appears in the
    result) and 0.7 for the rows (F1 of the row multisets, under the best column order found). A
    right bag in the wrong order keeps 0.9. Only the results count: nothing about the SQL text.
    """
    if results_equal(expected, actual, ordered=ordered, expected_columns=expected_columns, actual_columns=actual_columns):
        return 1.0
    e_width = _width(expected, expected_columns)
    a_width = _width(actual, actual_columns)
    if not expected and not actual:
        return 0.0 if e_width != a_width else 1.0
    cols = _column_overlap(expected, actual, e_width, a_width)
    best = 0
    if e_width == a_width and expected and actual:
        best = _bag_overlap(expected, actual)
        for order in _candidate_orders_partial(expected, actual, e_width):
            best = max(best, _bag_overlap(expected, [tuple(r[j] for j in order) for r in actual]))
    f1 = 2 * best / (len(expected) + len(actual)) if (expected or actual) else 0.0
    score = 0.3 * cols + 0.7 * f1
    if f1 == 1.0 and cols == 1.0:
        score = 0.9  # same bag, wrong order
    return min(score, 0.95)


def _candidate_orders_partial(expected: Sequence[Row], actual: Sequence[Row], width: int) -> list[tuple[int, ...]]:
    """Column orders that line up columns whose value sets overlap best (for partial credit)."""
    if width <= 1 or width > 6:
        return []
    exp_sets = [set(_cell_key(r[i]) for r in expected) for i in range(width)]
    act_sets = [set(_cell_key(r[j]) for r in actual) for j in range(width)]
    scored = []
    for order in permutations(range(width)):
        score = sum(len(exp_sets[i] & act_sets[j]) for i, j in enumerate(order))
        scored.append((score, order))
    scored.sort(reverse=True)
    return [o for _, o in scored[:2] if o != tuple(range(width))]


# --- grading a submission over instances ---------------------------------------------------------

from dataclasses import dataclass, field  # noqa: E402

from sqldebug.database import Instance, QueryError, Result, table_rows  # noqa: E402
from sqldebug.reward import Score  # noqa: E402
from sqldebug.spec import Task  # noqa: E402


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


Expected = Result | dict[str, Result]


class Grader:
    """Grades submissions for one task: the solution's answers are computed once per instance."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.ordered = bool(task.order_matters)
        self._expected: dict[str, Expected] = {}
        self._baselines: dict[tuple[str, ...], Score] = {}

    def baseline(self, instances: list[Instance]) -> Score:
        """The broken query's own score on these instances: where reward for improvement starts."""
        key = tuple(i.key for i in instances)
        score = self._baselines.get(key)
        if score is None:
            score = self._baselines[key] = self.grade(self.task.broken, instances).score
        return score

    def expected(self, inst: Instance) -> Expected:
        value = self._expected.get(inst.key)
        if value is None:
            value = self._run(inst, self.task.solution)
            self._expected[inst.key] = value
        return value

    def _run(self, inst: Instance, sql: str) -> Expected:
        if self.task.kind == "query":
            return inst.reader().run(sql)
        box = inst.writer(self.task.tables)
        try:
            box.run(sql)
            return {t: table_rows(box.conn, t) for t in self.task.tables}
        finally:
            box.conn.close()

    def _compare(self, expected: Expected, actual: Expected) -> float:
        if isinstance(expected, Result) and isinstance(actual, Result):
            if actual.truncated:
                return 0.0
            return progress(expected.rows, actual.rows, ordered=self.ordered,
                            expected_columns=expected.columns, actual_columns=actual.columns)
        assert isinstance(expected, dict) and isinstance(actual, dict)
        scores = [progress(expected[t].rows, actual[t].rows) for t in self.task.tables]
        return sum(scores) / len(scores)

    def grade(self, sql: str, instances: list[Instance], *, valid: bool | None = None) -> Outcome:
        """Run ``sql`` on every instance (the visible one first) and score it.

        ``valid`` is the reviewer's verdict when it ran; otherwise SQLite's own (it parsed and
        bound unless the error says otherwise).
        """
        try:
            first = self._run(instances[0], sql)
        except QueryError as exc:
            ok = exc.kind not in ("syntax", "binding") and valid is not False
            return Outcome(Score(valid=float(ok)), error=exc)
        scores = [self._compare(self.expected(instances[0]), first)]
        for inst in instances[1:]:
            try:
                scores.append(self._compare(self.expected(inst), self._run(inst, sql)))
            except QueryError:
                scores.append(0.0)
        shown = first if isinstance(first, Result) else first[self.task.tables[0]]
        correct = all(s == 1.0 for s in scores)
        score = Score(
            correct=float(correct),
            executes=1.0,
            valid=1.0 if valid is None else float(valid),
            progress=sum(scores) / len(scores),
        )
        return Outcome(score, result=shown, per_instance=scores)
