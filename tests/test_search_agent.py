"""The search agent: whole episodes on the bundled tasks, and each edit family on a small query.

Episodes run against the real environment. The agent must never raise, never outlast the step
budget, act the same on the same observations, never read a solution, and solve clearly more than
the noop agent (which solves nothing). The per-family tests pin the rewrites themselves.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlglot

import sqldebug
from sqldebug.agents import edits, search
from sqldebug.agents.base import Agent
from sqldebug.agents.edits import Edit, Node, Schema
from sqldebug.agents.search import LocalDB, SearchAgent
from sqldebug.agents.simple import NoopAgent
from sqldebug.models import Action, Observation
from tests.conftest import ENGINE_TASKS

ids = [t.id for t in ENGINE_TASKS]
SEEDS = (0, 1, 2)
#: solved at seed 0 when this was written: all 17 bundled tasks; the floor leaves room to tune
SOLVED_FLOOR = 14


def play(
    agent: Agent, task_id: str, seed: int, wire: bool = False
) -> tuple[Observation, list[Any]]:
    """One episode: reset (the agent's hook gets obs and info), then act/step until it ends.
    With ``wire``, the agent only ever sees observations rebuilt from their JSON."""
    env = sqldebug.make(task_id)
    obs, info = env.reset(seed=seed)

    def seen(o: Observation) -> Observation:
        return Observation.model_validate_json(o.model_dump_json()) if wire else o

    agent.reset(seen(obs), info)
    actions: list[Any] = []
    done = False
    while not done:
        action = agent.act(seen(obs))
        actions.append(action.model_dump() if isinstance(action, Action) else action)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    assert len(actions) == obs.step <= obs.max_steps
    return obs, actions


@functools.cache
def episode(task_id: str, seed: int) -> tuple[bool, tuple[str, ...]]:
    obs, actions = play(SearchAgent(), task_id, seed)
    return obs.solved, tuple(map(str, actions))


# -- whole episodes -------------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ids)
def test_never_raises_and_submits_sql_within_the_budget(task_id: str) -> None:
    for seed in SEEDS:
        _, actions = episode(task_id, seed)
        assert actions and all(isinstance(a, str) and a.strip() for a in actions)


@pytest.mark.parametrize("task_id", ids)
def test_same_observations_same_actions(task_id: str) -> None:
    reused = SearchAgent()
    play(reused, ids[0], 5)  # an earlier episode must leave nothing behind
    assert tuple(map(str, play(reused, task_id, 0)[1])) == episode(task_id, 0)[1]
    assert tuple(map(str, play(SearchAgent(), task_id, 0)[1])) == episode(task_id, 0)[1]


def test_solves_clearly_more_than_noop() -> None:
    noop = sum(play(NoopAgent(), t, 0)[0].solved for t in ids)
    solved = [t for t in ids if episode(t, 0)[0]]
    assert noop == 0
    assert len(solved) >= SOLVED_FLOOR, f"solved {len(solved)}/{len(ids)}: {solved}"


def test_works_from_wire_observations_alone() -> None:
    """No catalog, no task object: observations rebuilt from JSON are enough, and give the same
    actions as the live objects."""
    assert "catalog" not in inspect.signature(SearchAgent).parameters
    for task_id in ("shop/last-paid-order-syntax", "hr/dedupe-leave-requests"):
        obs, actions = play(SearchAgent(), task_id, 1, wire=True)
        assert obs.solved and tuple(actions) == episode(task_id, 1)[1]


@pytest.mark.parametrize("module", [search, edits])
def test_never_reads_a_solution(module: Any) -> None:
    tree = ast.parse(inspect.getsource(module))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    imports |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "solution" not in names and "catalog" not in names
    assert not {"sqldebug.catalog", "Catalog", "load_tasks", "load_catalog"} & imports


@pytest.mark.parametrize(
    "broken",
    [
        "",
        "SELEC id FROM customers",
        "SELECT * FROM nowhere",
        "SELECT 1; SELECT 2",
        "DROP TABLE customers",
        "SELECT ((((1",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
        "SELECT 'é' || x'00' FROM customers WHERE id = ? ",
    ],
)
def test_odd_queries_never_raise(broken: str) -> None:
    env = sqldebug.make("shop/orders-without-welcome-coupon")
    obs, info = env.reset(seed=0)
    obs = obs.model_copy(update={"broken_query": broken, "current_query": broken})
    agent = SearchAgent(max_candidates=20)
    agent.reset(obs, info)
    for _ in range(obs.max_steps):
        assert isinstance(agent.act(obs), str)
    assert isinstance(SearchAgent().act(obs), str)  # act() without reset() starts by itself


def test_respects_max_candidates_and_reports_usage() -> None:
    agent = SearchAgent(max_candidates=5)
    obs, info = sqldebug.make("shop/top-products-ties").reset(seed=0)
    agent.reset(obs, info)
    assert agent.usage()["candidates"] <= 5 and agent.usage()["dry_runs"] >= 5


def test_local_dry_run_sees_syntax_and_binding_errors_and_undoes_writes() -> None:
    obs, _ = sqldebug.make("hr/dedupe-leave-requests").reset(seed=0)
    local = LocalDB(obs)
    assert "syntax error" in (local.error("SELECT id, FROM employees") or "")
    assert local.error("SELECT e.salary FROM employees e") == "no such column: e.salary"
    assert local.error("DELETE FROM leave_requests") is None
    assert local.conn is not None
    assert local.conn.execute("SELECT COUNT(*) FROM leave_requests").fetchone()[0] > 0


# -- edit families --------------------------------------------------------------------------------


@functools.cache
def schema(dataset: str) -> Schema:
    task = "shop/top-products-ties" if dataset == "shop" else "hr/dedupe-leave-requests"
    return Schema.from_ddl(sqldebug.make(task).reset(seed=0)[0].schema_sql)


def sql(text: str) -> str:
    return sqlglot.parse_one(text, read="sqlite").sql("sqlite")


def rewrites(
    family: Callable[[Node, Schema], Iterator[Edit]], query: str, dataset: str = "shop"
) -> list[str]:
    tree = sqlglot.parse_one(query, read="sqlite")
    before = tree.sql("sqlite")
    out = [e.tree.sql("sqlite") for e in family(tree, schema(dataset))]
    assert tree.sql("sqlite") == before  # families never change their input
    return out


CASES = [
    (
        edits.date_between,
        "SELECT id FROM orders WHERE status = 'paid' AND ordered_at BETWEEN '2024-02-01' AND "
        "'2024-02-28'",
        "SELECT id FROM orders WHERE status = 'paid' AND ordered_at >= '2024-02-01' AND "
        "ordered_at < '2024-03-01'",
    ),
    (
        edits.join_type,
        "SELECT c.id, COUNT(o.id) FROM customers c JOIN orders o ON o.customer_id = c.id "
        "GROUP BY c.id",
        "SELECT c.id, COUNT(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
        "GROUP BY c.id",
    ),
    (
        edits.join_filter,
        "SELECT c.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
        "WHERE o.status = 'paid'",
        "SELECT c.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
        "AND o.status = 'paid'",
    ),
    (
        edits.join_key,
        "SELECT o.id FROM orders o JOIN order_items oi ON o.id = oi.product_id",
        "SELECT o.id FROM orders o JOIN order_items oi ON o.id = oi.order_id",
    ),
    (edits.aggregates, "SELECT COUNT(email) FROM customers", "SELECT COUNT(*) FROM customers"),
    (
        edits.aggregates,
        "SELECT COUNT(region) FROM customers",
        "SELECT COUNT(DISTINCT region) FROM customers",
    ),
    (
        edits.aggregates,
        "SELECT c.id, COUNT(*) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
        "GROUP BY c.id",
        "SELECT c.id, COUNT(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
        "GROUP BY c.id",
    ),
    (
        edits.aggregates,
        "SELECT AVG(price_cents) FROM products",
        "SELECT SUM(price_cents) FROM products",
    ),
    (
        edits.group_keys,
        "SELECT c.id, c.name, COUNT(*) FROM customers c GROUP BY c.name",
        "SELECT c.id, c.name, COUNT(*) FROM customers c GROUP BY c.name, c.id",
    ),
    (
        edits.having_where,
        "SELECT customer_id FROM orders GROUP BY customer_id "
        "HAVING status = 'paid' AND COUNT(*) > 1",
        "SELECT customer_id FROM orders WHERE status = 'paid' GROUP BY customer_id "
        "HAVING COUNT(*) > 1",
    ),
    (
        edits.having_where,
        "SELECT customer_id FROM orders WHERE SUM(shipping_cents) > 5 GROUP BY customer_id",
        "SELECT customer_id FROM orders GROUP BY customer_id HAVING SUM(shipping_cents) > 5",
    ),
    (
        edits.comparisons,
        "SELECT id FROM products WHERE price_cents < 5",
        "SELECT id FROM products WHERE price_cents <= 5",
    ),
    (
        edits.comparisons,
        "SELECT id FROM orders WHERE ordered_at <= '2024-02-29'",
        "SELECT id FROM orders WHERE ordered_at < '2024-03-01'",
    ),
    (
        edits.nulls,
        "SELECT id FROM customers WHERE region = NULL",
        "SELECT id FROM customers WHERE region IS NULL",
    ),
    (
        edits.nulls,
        "SELECT id FROM orders WHERE coupon_code <> 'X'",
        "SELECT id FROM orders WHERE (coupon_code <> 'X' OR coupon_code IS NULL)",
    ),
    (
        edits.nulls,
        "SELECT e.id FROM employees e WHERE e.id NOT IN (SELECT manager_id FROM employees)",
        "SELECT e.id FROM employees e WHERE NOT EXISTS "
        "(SELECT 1 FROM employees WHERE manager_id = e.id)",
    ),
    (
        edits.nulls,
        "SELECT e.id FROM employees e WHERE e.id NOT IN (SELECT manager_id FROM employees)",
        "SELECT e.id FROM employees e WHERE NOT e.id IN "
        "(SELECT manager_id FROM employees WHERE NOT manager_id IS NULL)",
    ),
    (
        edits.coalesce,
        "SELECT SUM(shipping_cents) AS s FROM orders",
        "SELECT COALESCE(SUM(shipping_cents), 0) AS s FROM orders",
    ),
    (edits.distinct, "SELECT name FROM customers", "SELECT DISTINCT name FROM customers"),
    (
        edits.division,
        "SELECT SUM(quantity) / COUNT(*) FROM order_items",
        "SELECT CAST(SUM(quantity) AS REAL) / COUNT(*) FROM order_items",
    ),
    (
        edits.order_direction,
        "SELECT id FROM products ORDER BY price_cents",
        "SELECT id FROM products ORDER BY price_cents DESC",
    ),
    (
        edits.set_operations,
        "SELECT id FROM orders UNION SELECT order_id FROM refunds",
        "SELECT id FROM orders UNION ALL SELECT order_id FROM refunds",
    ),
    (
        edits.string_match,
        "SELECT id FROM products WHERE category = 'Books'",
        "SELECT id FROM products WHERE LOWER(category) = LOWER('Books')",
    ),
    (
        edits.precedence,
        "UPDATE orders SET status = 'cancelled' WHERE status = 'pending' AND id < 3 OR id > 9",
        "UPDATE orders SET status = 'cancelled' WHERE status = 'pending' AND (id < 3 OR id > 9)",
    ),
    (
        edits.logic,
        "DELETE FROM orders WHERE status = 'pending' OR id > 9",
        "DELETE FROM orders WHERE status = 'pending' AND id > 9",
    ),
    (
        edits.limits,
        "SELECT id, price_cents AS p FROM products ORDER BY p DESC, id LIMIT 3",
        "SELECT id, p FROM (SELECT id, price_cents AS p, RANK() OVER (ORDER BY price_cents DESC) "
        "AS _rnk FROM products) AS _ranked WHERE _rnk <= 3 ORDER BY p DESC, id",
    ),
    (
        edits.windows,
        "SELECT id, ROW_NUMBER() OVER (ORDER BY price_cents DESC) AS r FROM products",
        "SELECT id, RANK() OVER (ORDER BY price_cents DESC) AS r FROM products",
    ),
    (
        edits.windows,
        "SELECT customer_id, id, SUM(shipping_cents) OVER (PARTITION BY customer_id "
        "ORDER BY ordered_at) AS t FROM orders ORDER BY customer_id, ordered_at, id",
        "SELECT customer_id, id, SUM(shipping_cents) OVER (PARTITION BY customer_id "
        "ORDER BY ordered_at, id) AS t FROM orders ORDER BY customer_id, ordered_at, id",
    ),
    (
        edits.windows,
        "SELECT customer_id, id, SUM(shipping_cents) OVER (ORDER BY ordered_at) AS t FROM orders",
        "SELECT customer_id, id, SUM(shipping_cents) OVER (ORDER BY ordered_at ROWS BETWEEN "
        "UNBOUNDED PRECEDING AND CURRENT ROW) AS t FROM orders",
    ),
    (
        edits.windows,
        "SELECT customer_id, RANK() OVER (ORDER BY shipping_cents) AS r FROM orders "
        "ORDER BY customer_id",
        "SELECT customer_id, RANK() OVER (PARTITION BY customer_id ORDER BY shipping_cents) AS r "
        "FROM orders ORDER BY customer_id",
    ),
    (
        edits.fanout,
        "SELECT SUM(oi.quantity) + SUM(o.shipping_cents) FROM orders o "
        "JOIN order_items oi ON oi.order_id = o.id",
        "SELECT SUM(COALESCE((SELECT SUM(oi.quantity) FROM order_items AS oi "
        "WHERE oi.order_id = o.id), 0)) + SUM(o.shipping_cents) FROM orders AS o",
    ),
]


@pytest.mark.parametrize(("family", "query", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_edit_family_rewrite(
    family: Callable[[Node, Schema], Iterator[Edit]], query: str, expected: str
) -> None:
    dataset = "hr" if "employees" in query else "shop"
    produced = rewrites(family, query, dataset)
    assert sql(expected) in produced, "\n".join(produced)
    obs, _ = sqldebug.make(
        "hr/dedupe-leave-requests" if dataset == "hr" else "shop/top-products-ties"
    ).reset(seed=0)
    assert LocalDB(obs).error(sql(expected)) is None  # the rewrite runs on SQLite


def test_families_hold_back_where_the_schema_says_no() -> None:
    # status is NOT NULL: no IS NULL arm; 'paid' is in its CHECK list: no LOWER()
    assert not rewrites(edits.nulls, "SELECT id FROM orders WHERE status <> 'paid'")
    assert not rewrites(edits.string_match, "SELECT id FROM orders WHERE status = 'paid'")
    # a LEFT JOIN that the WHERE would turn back into an inner one is offered only weakly
    tree = sqlglot.parse_one(
        "SELECT p.id FROM products p JOIN orders o ON o.id = p.id WHERE o.status = 'paid'",
        read="sqlite",
    )
    assert [e.weight for e in edits.join_type(tree, schema("shop"))] == [0.2]


def test_single_edits_cover_mutations() -> None:
    tree = sqlglot.parse_one("UPDATE customers SET region = 'x' WHERE region = NULL", read="sqlite")
    produced = [e.tree.sql("sqlite") for e in edits.single_edits(tree, schema("shop"))]
    assert sql("UPDATE customers SET region = 'x' WHERE region IS NULL") in produced


def test_identifier_repairs_follow_the_error_message() -> None:
    tree = sqlglot.parse_one(
        "SELECT AVG(e.salary) FROM departments d JOIN employees e ON e.department_id = d.id",
        read="sqlite",
    )
    repairs = edits.identifier_repairs(tree, schema("hr"), "no such column: e.salary")
    assert sql(
        "SELECT AVG(e.salary_cents) FROM departments d JOIN employees e ON e.department_id = d.id"
    ) in [e.tree.sql("sqlite") for e in repairs]
    tree = sqlglot.parse_one("SELECT r.id FROM refund r", read="sqlite")
    repairs = edits.identifier_repairs(tree, schema("shop"), "no such table: refund")
    assert sql("SELECT r.id FROM refunds r") in [e.tree.sql("sqlite") for e in repairs]


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("SELECT id, name, FROM customers", "SELECT id, name FROM customers"),
        ("SELECT c.id c.name FROM customers c", "SELECT c.id, c.name FROM customers c"),
        (
            "SELECT COUNT(*) FROM customers WHERE (id > 1",
            "SELECT COUNT(*) FROM customers WHERE (id > 1)",
        ),
        ("SELEC id FROM customers", "SELECT id FROM customers"),
    ],
)
def test_syntax_repairs(broken: str, fixed: str) -> None:
    repaired = {
        sql(text) for _, text in edits.syntax_repairs(broken, schema("shop")) if _parses(text)
    }
    assert sql(fixed) in repaired


def _parses(text: str) -> bool:
    try:
        sqlglot.parse_one(text, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return False
    return True
