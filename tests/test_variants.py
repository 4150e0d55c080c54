"""Hidden instances: deterministic, constraint-keeping neighbours that move the data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sqldebug import instances, variants
from sqldebug.catalog import load_catalog
from sqldebug.errors import TaskFileError
from sqldebug.instances import build, table_rows
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


def _in_storage_order(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    names = [
        n
        for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name")
    ]
    return {n: table_rows(conn, n).rows for n in names}


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_sampled_variant_copied_and_patched_equals_one_built_whole(
    dataset: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse's variant is the visible database with each big table's sample replaced
    (instances.replace_rows); it must hold the very rows, in the very order, of the variant built
    from scratch. Sampling is forced on a small dataset by lowering the threshold."""
    monkeypatch.setattr(variants, "SAMPLE_ROWS", 4)
    ds = runtime.catalog.datasets[dataset]
    patched = InstancePool(ds.id, ds.ddl, ds.rows)
    whole = InstancePool(ds.id, ds.ddl, ds.rows)
    whole._rowids.clear()  # no rowids to replace by: every row goes in again
    sampled = 0
    for i in range(6):
        _, _, picked = variants.variant_rows(patched.shapes, patched._visible_rows, ds.id, i)
        sampled += len(picked)
        one, two = patched.variant(i).template, whole.variant(i).template
        assert _in_storage_order(one) == _in_storage_order(two)
        assert one.execute("PRAGMA foreign_key_check").fetchall() == []
    assert sampled  # the patched path was taken


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_lenient_insert_in_one_pass_equals_the_row_by_row_one(
    dataset: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Variant rows go in with INSERT OR IGNORE, each followed by its spare: exactly what
    inserting row by row and falling back to the spare on a refusal gives."""
    ds = runtime.catalog.datasets[dataset]
    fast = InstancePool(ds.id, ds.ddl, ds.rows)
    fast_dumps = [_in_storage_order(fast.variant(i).template) for i in range(8)]
    monkeypatch.setattr(instances, "_insert_or_ignore", lambda *a: False)
    slow = InstancePool(ds.id, ds.ddl, ds.rows)
    assert fast_dumps == [_in_storage_order(slow.variant(i).template) for i in range(8)]


def test_a_held_pool_keeps_its_sample_whatever_its_bytes(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = runtime.catalog.datasets["shop"]
    monkeypatch.setattr(variants, "CACHED_BYTES", 1)  # every variant is over the byte budget
    pool = InstancePool(ds.id, ds.ddl, ds.rows)
    with pool.holding(5):
        first = [pool.variant(i) for i in range(5)]
        assert [pool.variant(i) for i in range(5)] == first  # the same objects: none rebuilt
    pool.variant(9)
    assert len(pool._variants) == 1  # let go: back within the budget


def test_a_small_pool_keeps_every_variant_and_validation_checks_them_all(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = runtime.catalog.datasets["shop"]
    monkeypatch.setattr(variants, "CACHED_BYTES", 1)  # every variant is over the byte budget
    pool = InstancePool(ds.id, ds.ddl, ds.rows, size=16)
    assert pool.sample(16, 4) == list(range(16))  # validation: every hidden instance there is
    first = [pool.variant(i) for i in range(16)]
    assert [pool.variant(i) for i in range(16)] == first  # none rebuilt
    big = InstancePool(ds.id, ds.ddl, ds.rows)
    assert len(big.sample(16, 4)) <= 64


def test_a_datasets_variants_key_sets_its_pool(tmp_path: Path) -> None:
    from tests.conftest import copy_small_tasks

    root = copy_small_tasks(tmp_path / "tasks")
    shop = root / "datasets" / "shop.yaml"
    shop.write_text(shop.read_text().replace("id: shop\n", "id: shop\nvariants: 24\n", 1))
    rt = Runtime(load_catalog(root))
    assert rt.pool("shop").size == 24 and rt.pool("hr").size == variants.SPACE
    shop.write_text(shop.read_text().replace("variants: 24", "variants: 2"))
    with pytest.raises(TaskFileError, match="variants"):
        load_catalog(root)
