"""A mutation task takes a data fix of several statements; a query task takes one statement."""

from __future__ import annotations

import sqlite3

import pytest

import sqldebug
from sqldebug.sandbox import Limits, QueryError, Sandbox, split_statements

WAIVE = "bank/waive-new-customer-fees"
# the reference fix of WAIVE in two statements: the amounts first, then the descriptions
WAIVE_IN_TWO = """
UPDATE transactions SET amount_cents = 0
WHERE kind = 'fee' AND posted_at >= '2024-03-01' AND posted_at < '2024-04-01'
  AND account_id IN (SELECT a.id FROM accounts a JOIN customers c ON c.id = a.customer_id
                     WHERE c.joined_on >= '2024-01-01' AND c.joined_on < '2025-01-01');
UPDATE transactions SET description = 'Fee waived'  -- a ';' in a comment splits nothing
WHERE kind = 'fee' AND posted_at >= '2024-03-01' AND posted_at < '2024-04-01' AND 'a;b' = 'a;b'
  AND account_id IN (SELECT a.id FROM accounts a JOIN customers c ON c.id = a.customer_id
                     WHERE c.joined_on >= '2024-01-01' AND c.joined_on < '2025-01-01');
"""


def box(limits: Limits | None = None) -> Sandbox:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    conn.execute("CREATE TABLE other (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, i) for i in range(1, 201)])
    return Sandbox(conn, limits or Limits(), writable=["t"])


def test_split_on_tokens_keeps_semicolons_in_strings_and_comments() -> None:
    script = "UPDATE t SET v = ';' WHERE id = 1; -- ; here\nDELETE FROM t WHERE id = 2;;"
    assert split_statements(script) == [
        "UPDATE t SET v = ';' WHERE id = 1",
        "DELETE FROM t WHERE id = 2",
    ]
    assert split_statements("SELECT 'unterminated") is None


@pytest.mark.parametrize("review", [False, True])
def test_a_mutation_task_is_solved_by_a_script(review: bool) -> None:
    env = sqldebug.make(WAIVE)
    env.reset(seed=3)
    obs, reward, term, _, _ = env.step({"type": "submit", "sql": WAIVE_IN_TWO, "review": review})
    assert obs.error is None, obs.error
    assert term and obs.solved
    env.reset(seed=3)
    assert env.step({"type": "submit", "sql": env.task.solution, "review": review})[1] == reward
    assert "multiple-statements" not in [f.code for f in obs.findings]


def test_the_statements_run_in_order() -> None:
    sandbox = box()
    sandbox.run_script("UPDATE t SET v = 0 WHERE id = 1; UPDATE t SET v = v + 7 WHERE id = 1")
    sandbox.run_script("UPDATE t SET v = v + 7 WHERE id = 2; UPDATE t SET v = 0 WHERE id = 2")
    assert sandbox.conn.execute("SELECT v FROM t WHERE id IN (1, 2) ORDER BY id").fetchall() == [
        (7,),
        (0,),
    ]


def test_a_query_task_still_takes_one_statement() -> None:
    task = next(t for t in sqldebug.load_catalog().tasks.values() if t.kind == "query")
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    obs, *_ = env.step(f"{task.solution.rstrip().rstrip(';')};\nSELECT 1;")
    assert obs.error is not None and obs.error.kind == "blocked" and not obs.solved
    obs, *_ = env.step({"type": "submit", "sql": "SELECT 1; SELECT 2", "review": True})
    assert "multiple-statements" in [f.code for f in obs.findings] and not obs.solved


def test_error_names_the_statement_and_earlier_writes_stay_in_the_throwaway_copy() -> None:
    sandbox = box()
    with pytest.raises(QueryError) as err:
        sandbox.run_script("UPDATE t SET v = 0 WHERE id < 5; DELETE FROM other WHERE id > 0;")
    assert err.value.kind == "blocked"
    assert err.value.message.startswith("statement 2 (DELETE FROM other")
    assert sandbox.conn.execute("SELECT count(*) FROM t WHERE v = 0").fetchone() == (4,)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE t SET v = 0 WHERE id = 1; COMMIT; UPDATE t SET v = 1 WHERE id = 2",
        "UPDATE t SET v = 0 WHERE id = 1; SAVEPOINT s; UPDATE t SET v = 1 WHERE id = 2",
        "UPDATE t SET v = 0 WHERE id = 1; ATTACH ':memory:' AS x",
        "UPDATE t SET v = 0 WHERE id = 1; CREATE TABLE x (a)",
        "UPDATE t SET v = 0 WHERE id = 1; PRAGMA writable_schema = 1",
    ],
)
def test_a_script_gets_no_more_power_than_a_statement(sql: str) -> None:
    with pytest.raises(QueryError) as err:
        box().run_script(sql)
    assert err.value.kind == "blocked" and err.value.message.startswith("statement 2")


def test_the_statements_share_one_vm_budget() -> None:
    # each statement alone needs ~60% of the budget: one runs, two in a script do not
    costly = "UPDATE t SET v = (SELECT count(*) FROM t a, t b WHERE a.v + b.v > t.id) WHERE id = 1"
    probe = box(Limits(vm_steps=10**9, tick=1000))
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1000
        return 0

    probe.conn.set_progress_handler(count, 1000)
    probe.conn.execute(costly)
    limits = Limits(vm_steps=steps * 10 // 6, tick=1000)
    box(limits).run(costly)
    box(limits).run_script(costly + ";")
    with pytest.raises(QueryError) as err:
        box(limits).run_script(f"{costly}; {costly.replace('id = 1', 'id = 2')}")
    assert err.value.kind == "budget" and err.value.message.startswith("statement 2")


def test_at_most_max_statements() -> None:
    limits = Limits(max_statements=3)
    box(limits).run_script("UPDATE t SET v = 0 WHERE id = 1;" * 3)
    with pytest.raises(QueryError) as err:
        box(limits).run_script("UPDATE t SET v = 0 WHERE id = 1;" * 4)
    assert err.value.kind == "blocked" and "4 statements; at most 3" in err.value.message
    env = sqldebug.make(WAIVE)
    env.reset(seed=0)
    many = "UPDATE transactions SET amount_cents = 0 WHERE id = 1;" * 21
    obs, *_ = env.step({"type": "submit", "sql": many, "review": True})
    assert "too-many-statements" in [f.code for f in obs.findings] and obs.error is not None
    obs, *_ = env.step(many)
    assert obs.error is not None and "21 statements; at most 20" in obs.error.message
