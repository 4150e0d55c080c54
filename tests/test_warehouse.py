"""The warehouse datasets (subs-dw, retail-dw): their size and shape, their hard tier, and an
episode on each. Every task of theirs is checked by `sqldebug tasks validate` over the bundled
set (tests/test_cli_tasks.py); the per-task engine tests sample them (tests/conftest.py)."""

from __future__ import annotations

import pytest

import sqldebug
from sqldebug.instances import generated_rows

CATALOG = sqldebug.load_catalog()
WAREHOUSES = sorted(d for d, ds in CATALOG.datasets.items() if ds.generate is not None)


def test_the_bundled_set_has_two_warehouses_and_a_hard_tier_of_60() -> None:
    assert WAREHOUSES == ["retail-dw", "subs-dw"]
    hard = [t for t in CATALOG.tasks.values() if t.dataset in WAREHOUSES]
    assert len(hard) >= 60 and {t.difficulty for t in hard} == {"hard"}
    assert sum(t.split == "test" for t in hard) >= 15


@pytest.mark.parametrize("dataset_id", WAREHOUSES)
def test_a_warehouse_has_15_tables_and_20000_rows(dataset_id: str) -> None:
    ds = CATALOG.datasets[dataset_id]
    assert ds.generate is not None  # made by its script, not written out
    rows = generated_rows(ds.ddl, ds.rows, ds.generate)
    assert len(rows) >= 15
    assert sum(len(t) for t in rows.values()) >= 20_000
    tasks = [t for t in CATALOG.tasks.values() if t.dataset == dataset_id]
    assert len(tasks) >= 30
    assert any(t.split == "test" for t in tasks) and any(t.kind == "mutation" for t in tasks)


@pytest.mark.parametrize("dataset_id", WAREHOUSES)
def test_an_episode_on_a_warehouse(dataset_id: str) -> None:
    task = min((t for t in CATALOG.tasks.values() if t.dataset == dataset_id), key=lambda t: t.id)
    env = sqldebug.make(task.id)
    obs, _ = env.reset(seed=0)
    assert "## About the data" in obs.prompt  # the warehouse's conventions reach the agent
    obs, *_ = env.step(task.broken)
    assert not obs.solved
    obs, *_ = env.step(task.solution)
    assert obs.solved


@pytest.mark.parametrize("dataset_id", WAREHOUSES)
def test_a_warehouse_statement_gets_the_datasets_budget_and_deadline(dataset_id: str) -> None:
    from sqldebug.runtime import get_runtime

    limits = get_runtime().pool(dataset_id).visible.limits
    assert limits.deadline_s == CATALOG.datasets[dataset_id].deadline_s == 3
    assert limits.vm_steps >= 1_000 * 20_000  # STEPS_PER_ROW per visible row
