"""The invariants every task must hold, checked by execution (``sqldebug tasks validate``).

For each task: its dataset builds; the solution runs on the visible instance and on a sample of
hidden variants (those that the first :data:`SAMPLE_SEEDS` seeds draw), with a non-empty result (a
changed table, for mutation tasks); the solution is graded correct and the oracle solves it within
``max_steps``; the broken query is graded incorrect and the bug shows on the visible instance; on
at least :data:`EXPOSE_SHARE` of the sampled variants the answer differs from the visible one (so a
typed-out answer fails there: ``no-constant-answer``) and, on as many, the broken query is wrong
(the bug is exercised on most hidden data: ``hidden-exposes-bug``); and every sampled seed draws
an instance set where one instance does both, so that "the typed-out answer on the visible data,
the broken query elsewhere" fails (see :meth:`sqldebug.runtime.Runtime.episode`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from sqldebug.env import EnvConfig, SQLDebugEnv
from sqldebug.errors import SQLDebugError
from sqldebug.grading import results_equal
from sqldebug.runtime import Runtime
from sqldebug.sandbox import QueryError, Result
from sqldebug.spec import Task


@dataclass(frozen=True)
class Problem:
    """One broken invariant of one task."""

    task_id: str
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.task_id}: {self.reason}"


def constant_answer(result: Result) -> str:
    """The typed-out answer: a query returning exactly ``result``'s rows, whatever the data."""
    if not result.rows:
        return "SELECT NULL WHERE 0"
    values = exp.values([tuple(exp.convert(v) for v in row) for row in result.rows], alias="t")
    return exp.select("*").from_(values).sql(dialect="sqlite")


#: Seeds whose first draws make the sample of hidden variants that validation checks.
SAMPLE_SEEDS = 16
#: The share of sampled hidden variants on which the bug must show (broken query wrong, and an
#: answer other than the visible one).
EXPOSE_SHARE = 0.5


def check_task(runtime: Runtime, task: Task, *, k: int = 4) -> list[str]:
    """The reasons ``task`` breaks an invariant (empty when it holds them all)."""
    return [message for _, message in failed_invariants(runtime, task, k=k)]


#: The invariants by short name, as :func:`failed_invariants` reports them (the generator counts
#: its rejections by these names).
INVARIANTS = (
    "dataset-builds",
    "solution-runs",
    "solution-not-empty",
    "solution-changes-something",
    "bug-visible",
    "broken-not-blocked",
    "no-constant-answer",
    "hidden-exposes-bug",
    "broken-graded-wrong",
    "oracle-solves",
)


def failed_invariants(
    runtime: Runtime,
    task: Task,
    *,
    k: int = 4,
    solution_checked: bool = False,
    oracle: bool = True,
) -> list[tuple[str, str]]:
    """``(invariant, reason)`` for each invariant of :data:`INVARIANTS` that ``task`` breaks.

    The task generator checks the invariants that concern the solution alone once per seed
    query (``oracle=False``), then skips them for each task made from it (``solution_checked``).
    """
    try:
        pool = runtime.pool(task.dataset)
    except SQLDebugError as exc:
        return [("dataset-builds", f"dataset does not build: {exc}")]
    grader = runtime.grader(task)
    sample = pool.sample(SAMPLE_SEEDS, k)
    instances = [pool.visible, *(pool.variant(i) for i in sample)]
    reasons: list[tuple[str, str]] = []
    expected = []
    for inst in instances:
        try:
            value = grader.expected(inst)
        except QueryError as exc:
            return [
                (
                    "solution-runs",
                    f"the solution does not run on instance {inst.key}: {exc.kind}: {exc.message}",
                )
            ]
        expected.append(value)
        if task.kind == "query" and not value[""][0].rows:
            reasons.append(
                ("solution-not-empty", f"the solution returns no rows on instance {inst.key}")
            )
    if reasons:
        return reasons
    visible = [pool.visible]
    if task.kind == "mutation" and not solution_checked:
        before = {t: pool.visible.rows(t).rows for t in task.tables}
        after = expected[0]
        if all(results_equal(before[t], after[t][0].rows) for t in task.tables):
            reasons.append(
                (
                    "solution-changes-something",
                    "the solution changes nothing on the visible instance",
                )
            )
    broken = grader.grade(task.broken, visible)
    if broken.error is not None and broken.error.kind == "blocked":
        reasons.append(
            (
                "broken-not-blocked",
                f"the sandbox blocks the broken query itself ({broken.error.message}): an agent "
                "could not run it or resubmit it, so the bug would be the sandbox's rule",
            )
        )
    if broken.correct:
        reasons.append(
            (
                "bug-visible",
                "the broken query gives the solution's answer on the visible instance "
                "(the bug does not show)",
            )
        )
        if solution_checked:
            return reasons  # the generator only wants the first reason, and fast
    hidden = len(instances) - 1
    differs = [not grader.same_answer(r, expected[0]) for r in expected[1:]]
    if sum(differs) < EXPOSE_SHARE * hidden:
        reasons.append(
            (
                "no-constant-answer",
                f"{hidden - sum(differs)} of {hidden} sampled hidden variants have the visible "
                f"answer, so a typed-out answer passes there (at most {1 - EXPOSE_SHARE:.0%} may)",
            )
        )
    if solution_checked and reasons:
        return reasons
    outcome = grader.grade(task.broken, instances)
    scores = outcome.per_instance or [0.0] * len(instances)
    wrong = sum(score < 1.0 for score in scores[1:])
    if wrong < EXPOSE_SHARE * hidden:
        reasons.append(
            (
                "hidden-exposes-bug",
                f"the broken query is wrong on {wrong} of {hidden} sampled hidden variants; it "
                f"must be on at least {EXPOSE_SHARE:.0%}",
            )
        )
    elif not reasons:
        # the sample is the first draws of these seeds: their verdicts are already in hand, and
        # only a seed whose first draw exposes nothing is drawn again, as a reset would
        exposing = {
            index
            for index, score, other in zip(sample, scores[1:], differs, strict=True)
            if score < 1.0 and other
        }
        stuck = [
            seed
            for seed in range(SAMPLE_SEEDS)
            if not exposing.intersection(pool.draw(seed, k))
            and not runtime.episode(task, seed, k)[1].exposes
        ]
        if stuck:
            reasons.append(
                (
                    "hidden-exposes-bug",
                    f"seeds {stuck} draw no hidden instance where the broken query is wrong and "
                    "the answer is not the visible one",
                )
            )
    env = SQLDebugEnv(runtime, [task], EnvConfig(k=k, pool_size=pool.size, limits=runtime.limits))
    for seed in (0, 1) if oracle else ():
        env.reset(seed=seed)
        if env.step(task.broken)[0].solved:
            reasons.append(
                ("broken-graded-wrong", f"the broken query is graded correct (seed {seed})")
            )
        env.reset(seed=seed)
        obs, *_ = env.step(task.solution)
        if not obs.solved:
            reasons.append(
                ("oracle-solves", f"the oracle does not solve it (seed {seed}): {obs.message}")
            )
    return reasons


def normal_form(sql: str) -> str | None:
    """``sql`` normalised by sqlglot (identifiers lower-cased, layout and comments dropped), or
    None when it does not parse: two queries with one normal form are the same query."""
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite", normalize=True)
    except sqlglot.errors.SqlglotError:
        return None


def near_duplicates(tasks: list[Task]) -> list[str]:
    """Warnings for tasks on the same dataset whose solutions are the same query once normalised
    by sqlglot (identifiers lower-cased, layout and comments dropped): likely the same bug twice.
    Generated tasks are left out: many bugs in one seed query is how they are made."""

    seen: dict[tuple[str, str], str] = {}
    warnings = []
    for task in tasks:
        if task.provenance is not None:
            continue
        shape = normal_form(task.solution)
        if shape is None:
            continue  # an unparseable solution is reported by check_task
        key = (task.dataset, shape)
        if key in seen:
            warnings.append(
                f"{task.id} and {seen[key]} have the same solution: the same bug twice?"
            )
        else:
            seen[key] = task.id
    return warnings


def validate(
    runtime: Runtime,
    task_ids: list[str] | None = None,
    *,
    k: int = 4,
    on_task: Callable[[Task], None] | None = None,
) -> list[Problem]:
    """Every broken invariant of the catalog's tasks (or of ``task_ids``), in id order.

    ``on_task(task)`` is called before each task is checked (the command line shows progress).
    """
    tasks = (
        runtime.catalog.filter(ids=task_ids) if task_ids else list(runtime.catalog.tasks.values())
    )
    problems = []
    # a dataset at a time, its sample of variants kept built while its tasks are checked
    for dataset in sorted({t.dataset for t in tasks}):
        try:
            pool = runtime.pool(dataset)
        except SQLDebugError:  # each of its tasks reports it (dataset-builds)
            held: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        else:
            held = pool.holding(len(pool.sample(SAMPLE_SEEDS, k)))
        with held:
            for task in (t for t in tasks if t.dataset == dataset):
                if on_task is not None:
                    on_task(task)
                for reason in check_task(runtime, task, k=k):
                    problems.append(Problem(task.id, runtime.catalog.source(task.id), reason))
    return sorted(problems, key=lambda p: p.task_id)
