"""Hostile SQL: each answered as an observation with a clear error class, the process unharmed.

No timing assertions here (docs/performance.md has the figures): a statement that hung would hang
the test run, which is the failure this file guards against.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import sqldebug
from sqldebug.instances import Instance, build
from sqldebug.sandbox import Limits, QueryError, Sandbox

TASK = "shop/top-products-ties"  # a query task on the shop dataset
MUTATION = "shop/cancel-stale-pending-orders"

HOSTILE = {
    "runaway-recursion": (
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r) SELECT count(*) FROM r",
        "budget",
    ),
    "six-way-cross-join": (
        "SELECT count(*) FROM " + ", ".join(f"order_items t{i}" for i in range(6)),
        "budget",
    ),
    "huge-blob": ("SELECT randomblob(2000000000)", "budget"),
    "huge-string": ("SELECT length(zeroblob(5000000))", "budget"),
    "attach": ("ATTACH 'x.db' AS x", "blocked"),
    "detach": ("DETACH main", "blocked"),
    "load-extension": ("SELECT load_extension('x')", "blocked"),
    "writable-schema": ("PRAGMA writable_schema=1", "blocked"),
    "query-only-off": ("PRAGMA query_only=0", "blocked"),
    "drop": ("DROP TABLE orders", "blocked"),
    "delete": ("DELETE FROM orders", "blocked"),
    "update": ("UPDATE orders SET status = 'paid'", "blocked"),
    "insert": ("INSERT INTO customers(id, name) VALUES (999, 'x')", "blocked"),
    "create-temp": ("CREATE TEMP TABLE t(x)", "blocked"),
    "vacuum-into": ("VACUUM INTO 'stolen.db'", "blocked"),
    "transaction": ("BEGIN", "blocked"),
    "nested-parentheses": ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "budget"),
    "ten-megabytes": ("SELECT '" + "a" * 10_000_000 + "'", "budget"),
    "nul-byte": ("SELECT 1\x00; DROP TABLE orders", "syntax"),
    "several-statements": ("SELECT 1; SELECT 2", "blocked"),
    "empty": ("   ", "syntax"),
    "deep-expression": ("SELECT " + " + ".join(["1"] * 3000), "budget"),
    "compound-bomb": (" UNION ALL ".join(["SELECT 1"] * 600), "budget"),
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # any file a statement managed to create would land here


@pytest.mark.parametrize("review", [False, True], ids=["plain", "review"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_sql_is_an_observation(name: str, review: bool, tmp_path: Path) -> None:
    sql, kind = HOSTILE[name]
    env = sqldebug.make(TASK, review=review)
    env.reset(seed=0)
    for action in ({"type": "submit", "sql": sql}, {"type": "probe", "sql": sql}):
        obs, reward, terminated, _, _ = env.step(action)
        assert obs.error is not None, name
        # the reviewer may stop a statement before SQLite would (a runaway CTE is blocked unrun)
        assert obs.error.kind == kind or (review and obs.error.kind == "blocked"), (name, obs.error)
        assert obs.error.message and not terminated
        assert reward < 0
        assert len(obs.prompt) < 20_000  # a 10 MB paste is not echoed back whole
    assert list(tmp_path.iterdir()) == []  # nothing written to disk
    # the process and the shared instances are unharmed: the task still solves
    env.reset(seed=0)
    assert env.step(env.task.solution)[0].solved


def test_hostile_sql_on_a_mutation_task_cannot_touch_other_tables() -> None:
    env = sqldebug.make(MUTATION)
    env.reset(seed=0)
    for sql in (
        "DROP TABLE orders",
        "DELETE FROM customers",
        "CREATE TABLE x(y)",
        "ATTACH 'a.db' AS a",
    ):
        obs, *_ = env.step(sql)
        assert obs.error is not None and obs.error.kind == "blocked", sql
    env.reset(seed=0)
    assert env.step(env.task.solution)[0].solved


def test_budget_is_instructions_not_time() -> None:
    conn = build("CREATE TABLE t(x INTEGER);", {"t": [[i] for i in range(100)]})
    cheap = Sandbox(conn, Limits(vm_steps=1_000_000, tick=1000))
    assert cheap.run("SELECT count(*) FROM t a, t b").rows == [(10_000,)]
    tight = Sandbox(conn, Limits(vm_steps=20_000, tick=1000))
    with pytest.raises(QueryError) as info:
        tight.run("SELECT count(*) FROM t a, t b")
    assert info.value.kind == "budget"
    # the budget is re-armed for every statement
    assert tight.run("SELECT count(*) FROM t").rows == [(100,)]


def test_row_cap_truncates() -> None:
    conn = build("CREATE TABLE t(x INTEGER);", {"t": [[i] for i in range(50)]})
    box = Sandbox(conn, Limits(max_rows=10))
    res = box.run("SELECT x FROM t")
    assert len(res.rows) == 10 and res.truncated
    assert not box.run("SELECT x FROM t LIMIT 10").truncated


def test_readers_are_per_thread_and_read_only() -> None:
    import threading

    conn = build("CREATE TABLE t(x INTEGER);", {"t": [[1], [2]]})
    inst = Instance("visible", conn, Limits())
    seen: list[int] = []

    def read() -> None:
        seen.append(id(inst.reader().conn))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 3
    with pytest.raises(QueryError) as info:
        inst.reader().run("UPDATE t SET x = 0")
    assert info.value.kind == "blocked"
    writer = inst.writer(["t"])
    writer.run("UPDATE t SET x = 0")
    assert inst.reader().run("SELECT sum(x) FROM t").rows == [(3,)]  # the template is untouched


def test_no_file_is_created_by_attach_even_without_the_engine(tmp_path: Path) -> None:
    conn = build("CREATE TABLE t(x);", {})
    box = Sandbox(conn, Limits())
    target = tmp_path / "evil.db"
    with pytest.raises(QueryError):
        box.run(f"ATTACH '{target}' AS evil")
    with pytest.raises(QueryError):
        box.run(f"VACUUM INTO '{target}'")
    assert not target.exists()
    assert not os.path.exists("evil.db")
    assert isinstance(conn, sqlite3.Connection)
