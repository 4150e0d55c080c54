"""Hidden instances: deterministic, constraint-keeping neighbours that move the data."""

from __future__ import annotations

import sqlite3

import pytest

from sqldebug.database import build, table_rows
from sqldebug.runtime import Runtime
from sqldebug.variants import InstancePool

DATASETS = ["shop", "hr"]


def _dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    names = [
        n
        for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name")
    ]
    return {n: sorted(table_rows(conn, n).rows, key=repr) for n in names}


@pytest.mark.parametrize("dataset", DATASETS)
def test_variants_are_deterministic(dataset: str, runtime: Runtime) -> None:
    ds = runtime.catalog.datasets[dataset]
    one = InstancePool(ds.id, ds.ddl, ds.rows, size=3)
    two = InstancePool(ds.id, ds.ddl, ds.rows, size=3)
    for i in range(3):
        assert _dump(one.variant(i).template) == _dump(two.variant(i).template)
    assert _dump(one.variant(0).template) != _dump(one.variant(1).template)


@pytest.mark.parametrize("dataset", DATASETS)
def test_variants_keep_every_constraint(dataset: str, runtime: Runtime) -> None:
    pool = runtime.pool(dataset)
    for i in pool.sample(8, 4):
        conn = pool.variant(i).template
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # re-inserting every row into a fresh strict build re-checks NOT NULL, CHECK, UNIQUE, keys
        rows = {s.name: [list(r) for r in table_rows(conn, s.name).rows] for s in pool.shapes}
        build(pool.ddl, rows).close()


@pytest.mark.parametrize("dataset", DATASETS)
def test_variants_move_the_data_where_bugs_hide(dataset: str, runtime: Runtime) -> None:
    pool = runtime.pool(dataset)
    visible = _dump(pool.visible.template)
    changed_tables = set()
    nulls_added = 0
    sample = pool.sample(8, 4)
    for i in sample:
        dump = _dump(pool.variant(i).template)
        changed_tables |= {t for t in dump if dump[t] != visible[t]}
        nulls_added += sum(v is None for rows in dump.values() for r in rows for v in r) > sum(
            v is None for rows in visible.values() for r in rows for v in r
        )
        for table, rows in dump.items():
            assert rows, f"variant {i} left {table} empty"
    assert changed_tables == set(visible)  # every table moves in some variant
    assert nulls_added > len(sample) // 2  # most variants add NULLs where the schema allows


def test_a_seed_draws_distinct_variants(runtime: Runtime) -> None:
    pool = runtime.pool("shop")
    for seed in range(50):
        drawn = pool.draw(seed, 4)
        assert len(set(drawn)) == 4 and all(0 <= i < pool.size for i in drawn)
        assert pool.draw(seed, 4) == drawn
