"""A generated set of 1,000 tasks, as the generator issue asks: every task valid, every operator
used, the oracle solves all, noop none, search some."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqldebug.bench import BenchSpec, run_bench
from sqldebug.catalog import load_catalog
from sqldebug.generation import OPERATORS, Generator, Stats, write_tasks
from sqldebug.runtime import Runtime, get_runtime
from sqldebug.spec import Task
from sqldebug.validate import validate

pytestmark = pytest.mark.slow

Generated = tuple[Path, list[Task], Stats]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    out = tmp_path_factory.mktemp("generated")
    tasks, stats = Generator(get_runtime()).generate(1000, seed=0)
    write_tasks(tasks, out, get_runtime())
    return out, tasks, stats


def test_a_thousand_tasks_are_made_and_all_validate(generated: Generated) -> None:
    out, tasks, stats = generated
    assert len(tasks) == stats.kept == 1000
    runtime = Runtime(load_catalog(out))  # as `sqldebug tasks validate --tasks OUT` loads them
    assert len(runtime.catalog.tasks) == 1000
    assert validate(runtime) == []


def test_every_operator_is_used(generated: Generated) -> None:
    _, tasks, _ = generated
    used = {op for t in tasks if t.provenance for op in t.provenance.operators}
    assert used == set(OPERATORS)


def test_every_difficulty_and_many_categories(generated: Generated) -> None:
    _, tasks, _ = generated
    assert {t.difficulty for t in tasks} == {"easy", "medium", "hard"}
    assert len({t.category for t in tasks}) >= 14
    small = {d for d, ds in get_runtime().catalog.datasets.items() if ds.generate is None}
    assert {t.dataset for t in tasks} == small  # the generator's default: the small datasets


def _rate(agent: str, out: Path, ids: list[str] | None = None) -> float:
    summary = run_bench(BenchSpec(agent=agent, tasks=str(out), task_ids=ids))
    return float(summary["success_rate"])


def test_oracle_solves_all_and_noop_none(generated: Generated) -> None:
    out, _, _ = generated
    assert _rate("oracle", out) == 1.0
    assert _rate("noop", out) == 0.0


def test_search_solves_some_but_not_all(generated: Generated) -> None:
    out, tasks, _ = generated
    rate = _rate("search", out, [t.id for t in tasks[:120]])
    assert 0.0 < rate < 1.0


def test_hygiene_holds_over_a_thousand_tasks(generated: Generated) -> None:
    from sqldebug.generation.generator import TRIVIAL, TRIVIAL_SHARE

    _, tasks, stats = generated
    assert sum(t.category in TRIVIAL for t in tasks) <= TRIVIAL_SHARE * len(tasks)
    assert stats.reprinted <= 0.02 * len(tasks)  # the seed's layout is kept (splice)
    assert stats.calibrated >= len(tasks)  # every task's difficulty was measured
    test_ids = {t.id for t in get_runtime().catalog.tasks.values() if t.split == "test"}
    for task in tasks:
        assert task.provenance and task.provenance.seed_query.removeprefix("task:") not in test_ids
        for name in OPERATORS:
            assert name not in task.id and name not in task.title and name not in task.tags
