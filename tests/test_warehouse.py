"""The warehouse datasets (tasks-warehouse/): their size and shape, and an episode on each.

They live beside the bundled tasks, not among them: validating every warehouse task takes tens of
minutes on 2 cores (64 hidden variants of 39-82k rows each), which the full `tasks validate` of
the bundled folder, run by CI, cannot carry yet. `sqldebug tasks validate --tasks
tasks-warehouse` checks them all (docs/tasks.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import sqldebug
from sqldebug.database import generated_rows

WAREHOUSE = Path(__file__).resolve().parent.parent / "tasks-warehouse"
CATALOG = sqldebug.load_catalog(WAREHOUSE)


@pytest.mark.parametrize("dataset_id", sorted(CATALOG.datasets))
def test_a_warehouse_has_15_tables_and_20000_rows(dataset_id: str) -> None:
    ds = CATALOG.datasets[dataset_id]
    assert ds.generate is not None  # made by its script, not written out
    rows = generated_rows(ds.ddl, ds.rows, ds.generate)
    assert len(rows) >= 15
    assert sum(len(t) for t in rows.values()) >= 20_000
    tasks = [t for t in CATALOG.tasks.values() if t.dataset == dataset_id]
    assert len(tasks) >= 20 and {t.difficulty for t in tasks} == {
        "hard"
    }  # retail-dw: 20, subs-dw: 30
    assert any(t.split == "test" for t in tasks) and any(t.kind == "mutation" for t in tasks)


@pytest.mark.parametrize("dataset_id", sorted(CATALOG.datasets))
def test_an_episode_on_a_warehouse(dataset_id: str) -> None:
    task = min((t for t in CATALOG.tasks.values() if t.dataset == dataset_id), key=lambda t: t.id)
    env = sqldebug.make(task.id, tasks=WAREHOUSE)
    env.reset(seed=0)
    obs, *_ = env.step(task.broken)
    assert not obs.solved
    obs, *_ = env.step(task.solution)
    assert obs.solved
