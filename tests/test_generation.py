"""The task generator: every operator on small queries, determinism, validity of what it makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlglot
from typer.testing import CliRunner

import sqldebug
from sqldebug.cli import app
from sqldebug.errors import OptionError, TaskFileError
from sqldebug.generation import OPERATORS, Generator, Stats, load_seeds, task_yaml, write_tasks
from sqldebug.runtime import Runtime, get_runtime
from sqldebug.spec import Task
from sqldebug.validate import check_task

SCHEMA = {
    "customers": ["id", "name", "region", "created_at"],
    "orders": ["id", "customer_id", "total", "status", "ordered_at", "coupon"],
    "items": ["order_id", "line", "product_id", "qty"],
}

Made = tuple[list[Task], Stats]

#: operator -> (query, every mutant it makes, in order)
CASES: dict[str, tuple[str, list[str]]] = {
    "keyword-typo": (
        "SELECT id FROM orders GROUP BY id",
        [
            "SEELCT id FROM orders GROUP BY id",
            "SELECT id FORM orders GROUP BY id",
            "SELECT id FROM orders GROUP id",
        ],
    ),
    "unknown-column": (
        "SELECT o.total FROM orders o",
        [
            "SELECT o.totals FROM orders AS o",
        ],
    ),
    "join-type": (
        "SELECT c.name, o.total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id",
        [
            "SELECT c.name, o.total FROM customers AS c JOIN orders AS o ON o.customer_id = c.id",
        ],
    ),
    "join-predicate-drop": (
        "SELECT i.qty FROM orders o JOIN items i ON i.order_id = o.id AND i.line = 1",
        [
            "SELECT i.qty FROM orders AS o JOIN items AS i ON i.line = 1",
            "SELECT i.qty FROM orders AS o JOIN items AS i ON i.order_id = o.id",
        ],
    ),
    "join-key-swap": (
        "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id",
        [
            "SELECT c.name FROM customers AS c JOIN orders AS o ON o.id = c.id",
        ],
    ),
    "aggregate-swap": (
        "SELECT SUM(total), MIN(total) FROM orders",
        [
            "SELECT AVG(total), MIN(total) FROM orders",
            "SELECT SUM(total), MAX(total) FROM orders",
        ],
    ),
    "count-star": (
        "SELECT COUNT(coupon) FROM orders",
        [
            "SELECT COUNT(*) FROM orders",
        ],
    ),
    "count-distinct": (
        "SELECT COUNT(DISTINCT customer_id) FROM orders",
        [
            "SELECT COUNT(customer_id) FROM orders",
        ],
    ),
    "group-key-drop": (
        "SELECT status, coupon, COUNT(*) FROM orders GROUP BY status, coupon",
        [
            "SELECT status, coupon, COUNT(*) FROM orders GROUP BY coupon",
            "SELECT status, coupon, COUNT(*) FROM orders GROUP BY status",
        ],
    ),
    "having-where-move": (
        "SELECT status, SUM(total) FROM orders WHERE total > 5 GROUP BY status HAVING SUM(total) > 100",
        [
            "SELECT status, SUM(total) FROM orders GROUP BY status HAVING SUM(total) > 100 AND total > 5",
            "SELECT status, SUM(total) FROM orders WHERE total > 5 AND SUM(total) > 100 GROUP BY status",
        ],
    ),
    "comparison-shift": (
        "SELECT id FROM orders WHERE total >= 10",
        [
            "SELECT id FROM orders WHERE total > 10",
        ],
    ),
    "date-shift": (
        "SELECT id FROM orders WHERE ordered_at < '2024-03-01'",
        [
            "SELECT id FROM orders WHERE ordered_at < '2024-02-29'",
            "SELECT id FROM orders WHERE ordered_at < '2024-03-02'",
        ],
    ),
    "coalesce-drop": (
        "SELECT COALESCE(coupon, 'none') FROM orders",
        [
            "SELECT coupon FROM orders",
        ],
    ),
    "eq-null": (
        "SELECT id FROM orders WHERE coupon IS NULL OR status IS NOT NULL",
        [
            "SELECT id FROM orders WHERE coupon = NULL OR NOT status IS NULL",
            "SELECT id FROM orders WHERE coupon IS NULL OR status <> NULL",
        ],
    ),
    "not-in-nulls": (
        "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL)",
        [
            "SELECT id FROM customers WHERE NOT id IN (SELECT customer_id FROM orders)",
        ],
    ),
    "exists-to-not-in": (
        "SELECT c.id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = 'paid')",
        [
            "SELECT c.id FROM customers AS c WHERE NOT c.id IN (SELECT o.customer_id FROM orders AS o WHERE o.status = 'paid')",
        ],
    ),
    "correlation-break": (
        "SELECT o.id FROM orders o WHERE o.total > (SELECT AVG(o2.total) FROM orders o2 WHERE o2.customer_id = o.customer_id)",
        [
            "SELECT o.id FROM orders AS o WHERE o.total > (SELECT AVG(o2.total) FROM orders AS o2 WHERE o2.customer_id = o2.customer_id)",
        ],
    ),
    "integer-division": (
        "SELECT SUM(total) * 1.0 / COUNT(*) FROM orders",
        [
            "SELECT SUM(total) / COUNT(*) FROM orders",
        ],
    ),
    "distinct-toggle": (
        "SELECT DISTINCT status FROM orders",
        [
            "SELECT status FROM orders",
        ],
    ),
    "order-direction": (
        "SELECT id FROM orders ORDER BY total DESC",
        [
            "SELECT id FROM orders ORDER BY total",
        ],
    ),
    "order-key-drop": (
        "SELECT id FROM orders ORDER BY total DESC, id",
        [
            "SELECT id FROM orders ORDER BY total DESC",
        ],
    ),
    "union-swap": (
        "SELECT id FROM orders UNION ALL SELECT id FROM customers",
        [
            "SELECT id FROM orders UNION SELECT id FROM customers",
        ],
    ),
    "window-partition-drop": (
        "SELECT SUM(total) OVER (PARTITION BY customer_id ORDER BY id) FROM orders",
        [
            "SELECT SUM(total) OVER (ORDER BY id) FROM orders",
        ],
    ),
    "window-order": (
        "SELECT SUM(total) OVER (ORDER BY id) FROM orders",
        [
            "SELECT SUM(total) OVER (ORDER BY id DESC) FROM orders",
        ],
    ),
    "window-frame": (
        "SELECT SUM(total) OVER (ORDER BY ordered_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders",
        [
            "SELECT SUM(total) OVER (ORDER BY ordered_at) FROM orders",
            "SELECT SUM(total) OVER (ORDER BY ordered_at RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders",
        ],
    ),
    "rank-swap": (
        "SELECT RANK() OVER (ORDER BY total DESC) FROM orders",
        [
            "SELECT ROW_NUMBER() OVER (ORDER BY total DESC) FROM orders",
            "SELECT DENSE_RANK() OVER (ORDER BY total DESC) FROM orders",
        ],
    ),
    "like-pattern": (
        "SELECT id FROM customers WHERE LOWER(name) LIKE '%ann%'",
        [
            "SELECT id FROM customers WHERE name LIKE '%ann%'",
            "SELECT id FROM customers WHERE LOWER(name) LIKE 'ann%'",
        ],
    ),
    "precedence": (
        "UPDATE orders SET status = 'x' WHERE status = 'pending' AND (total < 5 OR coupon = 'A')",
        [
            "UPDATE orders SET status = 'x' WHERE status = 'pending' AND total < 5 OR coupon = 'A'",
        ],
    ),
}


def _mutants(name: str, sql: str) -> list[str]:
    op = OPERATORS[name]
    source = sql if op.text_level else sqlglot.parse_one(sql, read="sqlite")
    return [
        m if isinstance(m, str) else m.sql(dialect="sqlite") for m in op.mutants(source, SCHEMA)
    ]


def test_every_operator_has_a_case() -> None:
    assert set(CASES) == set(OPERATORS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_makes_exactly_these_mutants(name: str) -> None:
    sql, expected = CASES[name]
    assert _mutants(name, sql) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_leaves_its_input_alone(name: str) -> None:
    sql, _ = CASES[name]
    tree = sqlglot.parse_one(sql, read="sqlite")
    before = tree.sql(dialect="sqlite")
    OPERATORS[name].mutants(tree, SCHEMA)
    assert tree.sql(dialect="sqlite") == before


def _prepare(sql: str) -> str | None:
    """SQLite's verdict on a statement over SCHEMA: None if it compiles, else the error."""
    conn = sqlite3.connect(":memory:")
    for table, cols in SCHEMA.items():
        conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
    try:
        conn.execute("EXPLAIN " + sql)
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_mutants_are_sql_sqlite_accepts_or_the_error_the_bug_class_names(name: str) -> None:
    sql, _ = CASES[name]
    assert _prepare(sql) is None, "the case itself must be valid"
    for mutant in _mutants(name, sql):
        error = _prepare(mutant)
        if name == "keyword-typo":
            assert error is not None and "syntax error" in error
        elif name == "unknown-column":
            assert error is not None and "no such column" in error
        elif name == "having-where-move" and "WHERE total > 5 AND SUM" in mutant:
            assert error is not None and "misuse of aggregate" in error
        else:
            assert error is None, (mutant, error)
            sqlglot.parse_one(mutant, read="sqlite")  # and sqlglot reads it back


def test_operators_do_not_apply_where_their_feature_is_absent() -> None:
    plain = "SELECT id FROM orders"
    for name in OPERATORS:
        if name not in ("keyword-typo", "unknown-column", "distinct-toggle"):
            assert _mutants(name, plain) == [], name


def test_unknown_column_never_picks_a_real_name() -> None:
    schema = {"t": ["total", "totals", "tota_l"]}
    tree = sqlglot.parse_one("SELECT total FROM t", read="sqlite")
    assert [m.sql() for m in OPERATORS["unknown-column"].mutants(tree, schema)] == []


# -- seeds -----------------------------------------------------------------------------------------


def test_seeds_are_curated_solutions_then_the_bank(runtime: Runtime) -> None:
    seeds = load_seeds(runtime.catalog, "shop")
    curated = [
        t for t in runtime.catalog.tasks.values() if t.dataset == "shop" and t.split == "train"
    ]
    assert [s.id for s in seeds[: len(curated)]] == [f"task:{t.id}" for t in curated]
    assert seeds[0].sql == curated[0].solution
    assert len({s.id for s in seeds}) == len(seeds)


def _copy_tasks(tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "tasks"
    shutil.copytree(sqldebug.catalog.bundled_tasks_dir(), root)
    return root


def test_a_bad_seed_bank_names_its_file_and_field(tmp_path: Path) -> None:
    root = _copy_tasks(tmp_path)
    (root / "seeds").mkdir(exist_ok=True)
    bad = root / "seeds" / "shop.yaml"
    bad.write_text(
        "dataset: shop\nqueries:\n  - id: a\n    title: A\n    intent: x\n    sqll: SELECT 1\n"
    )
    with pytest.raises(TaskFileError) as info:
        load_seeds(sqldebug.catalog.load_catalog(root), "shop")
    assert str(bad) in str(info.value) and "sqll" in str(info.value)
    bad.write_text(
        "dataset: shop\nqueries:\n  - id: a\n    title: A\n    intent: x\n    sql: SELEC 1 FROM\n"
    )
    with pytest.raises(TaskFileError, match="does not parse"):
        load_seeds(sqldebug.catalog.load_catalog(root), "shop")


def test_seed_banks_are_not_read_as_tasks(runtime: Runtime) -> None:
    assert not any("seeds" in str(p) for p in runtime.catalog.sources.values())


# -- the generator ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made() -> Made:
    return Generator(get_runtime()).generate(60, seed=11)


def test_same_inputs_same_tasks_byte_for_byte(tmp_path: Path, made: Made) -> None:
    tasks, _ = made
    again, _ = Generator(get_runtime()).generate(60, seed=11)
    assert [task_yaml(t) for t in tasks] == [task_yaml(t) for t in again]
    a = write_tasks(tasks, tmp_path / "a", get_runtime())
    b = write_tasks(again, tmp_path / "b", get_runtime())
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    other, _ = Generator(get_runtime()).generate(60, seed=12)
    assert [t.id for t in other] != [t.id for t in tasks]


def test_generated_tasks_hold_every_invariant(made: Made) -> None:
    tasks, stats = made
    assert len(tasks) == 60 and stats.kept == 60
    assert len({t.id for t in tasks}) == 60
    runtime = get_runtime()
    for task in tasks[:25]:
        assert check_task(runtime, task) == [], task.id


def test_generated_tasks_carry_provenance_and_the_seed_intent(made, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tasks, _ = made
    for task in tasks:
        prov = task.provenance
        assert prov is not None and prov.generator_seed == 11
        seed = next(s for s in load_seeds(runtime.catalog, task.dataset) if s.id == prov.seed_query)
        assert task.solution.strip() == seed.sql.strip()
        assert task.intent == " ".join(seed.intent.split())
        assert all(op in OPERATORS for op in prov.operators)
        if len(prov.operators) > 1:
            assert task.category == "multi-bug"
        elif seed.kind == "mutation":
            assert task.category == "mutation"
        else:
            assert task.category == OPERATORS[prov.operators[0]].category
        assert task.split == "train"


def test_written_tasks_load_back_as_the_same_tasks(tmp_path: Path, made: Made) -> None:
    tasks, _ = made
    write_tasks(tasks, tmp_path / "out", get_runtime())
    catalog = sqldebug.catalog.load_catalog(tmp_path / "out")
    assert sorted(catalog.tasks) == sorted(t.id for t in tasks)
    for task in tasks:
        assert catalog.tasks[task.id] == task


def test_filters_pick_categories_and_difficulties() -> None:
    gen = Generator(get_runtime(), ["shop", "hr"], categories=["window", "null-handling"])
    tasks, _ = gen.generate(8, seed=3)
    assert {t.category for t in tasks} <= {"window", "null-handling"}
    assert {t.dataset for t in tasks} <= {"shop", "hr"}
    easy, _ = Generator(get_runtime(), difficulties=["easy"]).generate(8, seed=3)
    assert {t.difficulty for t in easy} == {"easy"}


def test_bad_filters_are_clear_errors() -> None:
    with pytest.raises(OptionError, match="unknown dataset 'nope'"):
        Generator(get_runtime(), ["nope"])
    with pytest.raises(OptionError, match="unknown category"):
        Generator(get_runtime(), categories=["windw"])
    with pytest.raises(OptionError, match="bad option"):
        Generator.from_spec(get_runtime(), "generated:shop?level=3")


def test_rejections_are_counted_by_invariant(made: Made) -> None:
    _, stats = made
    assert stats.candidates == stats.kept + sum(stats.rejected.values())
    assert set(stats.rejected) <= {
        "no-operator",
        "seed-unusable",
        "unchanged",
        "duplicate-query",
        "duplicate-answer",
        "bug-visible",
        "no-constant-answer",
        "broken-graded-wrong",
        "oracle-solves",
        "trivial-share",
        "duplicate-curated",
        "difficulty-mismatch",
        "hidden-exposes-bug",
    }


# -- without files: generated:<dataset> ------------------------------------------------------------


def test_make_generated_plays_the_task_of_each_seed() -> None:
    env = sqldebug.make("generated:shop?difficulty=medium")
    first, _ = env.reset(seed=5)
    task = env.task
    assert task.dataset == "shop" and task.difficulty == "medium" and task.provenance
    assert env.reset(seed=5)[0].broken_query == first.broken_query  # same seed, same task
    obs, reward, solved, *_ = env.step(task.solution)
    assert obs.solved and solved and reward > 0
    # the seed picks the task: other seeds give other tasks (this fails if the seed is ignored)
    drawn = {env.reset(seed=seed)[0].broken_query for seed in range(6, 12)}
    assert len(drawn - {first.broken_query}) >= 2


def test_generated_reference_as_a_reset_option() -> None:
    env = sqldebug.make("shop/monthly-revenue-fanout")
    env.reset(seed=2, options={"task_id": "generated:hr"})
    assert env.task.dataset == "hr" and env.task.id.startswith("gen/hr/")


def test_endless_curriculum_keeps_a_bounded_number_of_graders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqldebug.runtime as rt

    monkeypatch.setattr(rt, "GENERATED_GRADERS", 3)
    env = sqldebug.make("generated:bank")
    for seed in range(6):
        env.reset(seed=seed)
    assert len(env.runtime._generated) <= 3


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_generate_writes_a_valid_task_folder(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = runner.invoke(
        app,
        ["generate", "--dataset", "shop", "-n", "12", "--seed", "4", "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.rglob("*.yaml"))
    assert len([f for f in files if "datasets" not in f.parts]) == 12
    result = runner.invoke(app, ["tasks", "validate", "--tasks", str(out)])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again"
    runner.invoke(
        app, ["generate", "--dataset", "shop", "-n", "12", "--seed", "4", "--out", str(again)]
    )
    assert [f.read_bytes() for f in files] == [
        f.read_bytes() for f in sorted(again.rglob("*.yaml"))
    ]


def test_cli_generate_refuses_to_overwrite_and_names_bad_flags(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    assert runner.invoke(app, ["generate", "-n", "2", "--out", str(out)]).exit_code == 0
    result = runner.invoke(app, ["generate", "-n", "2", "--out", str(out)])
    assert result.exit_code == 2 and "already holds task files" in result.output
    result = runner.invoke(
        app, ["generate", "-n", "2", "--out", str(tmp_path / "x"), "--category", "windw"]
    )
    assert result.exit_code == 2 and "unknown category" in result.output
    result = runner.invoke(app, ["generate", "-n", "2"])
    assert result.exit_code == 2 and "--out" in result.output
    assert "Traceback" not in result.output


def test_cli_lists_operators() -> None:
    result = runner.invoke(app, ["generate", "--list-operators"])
    assert result.exit_code == 0
    for name in OPERATORS:
        assert name in result.output


def test_curated_seeds_do_not_lend_their_bug_titles(runtime: Runtime) -> None:
    task = runtime.catalog.get("shop/paid-orders-per-customer-inner-join")
    seed = next(s for s in load_seeds(runtime.catalog, "shop") if s.id == f"task:{task.id}")
    assert seed.title != task.title and task.intent.startswith(seed.title.removesuffix(" ..."))
    assert len(seed.title) <= 64


def test_server_reset_accepts_a_generated_reference() -> None:
    from fastapi.testclient import TestClient

    from sqldebug.server import ServerConfig, create_app

    with TestClient(create_app(ServerConfig(warm=False))) as client:
        body = {"task_id": "generated:saas?category=aggregation", "seed": 9}
        first = client.post("/reset", json=body).json()
        again = client.post("/reset", json=body).json()
        obs = first["observation"]
        assert obs["task_id"].startswith("gen/saas/") and "category" not in obs
        assert again["observation"]["broken_query"] == obs["broken_query"]
        bad = client.post("/reset", json={"task_id": "generated:nope", "seed": 1})
        assert bad.status_code in (400, 404, 422) and "unknown dataset" in bad.text


def test_cli_session_on_a_generated_task_replays(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reset", "--task", "generated:hr", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    import json

    task_id = json.loads(result.output)["observation"]["task_id"]
    result = runner.invoke(app, ["step", "SELECT 1", "--json"])
    assert result.exit_code == 0, result.output
    state = json.loads(runner.invoke(app, ["state", "--json"]).output)
    assert state["task_id"] == task_id and len(state["history"]) == 1


def test_generator_references_are_kept_in_a_bounded_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqldebug.api as api

    monkeypatch.setattr(api, "GENERATORS", 2)
    runtime = get_runtime()
    first = api.resolve(runtime, "generated:shop?difficulty=easy")
    assert api.resolve(runtime, "generated:shop?difficulty=easy") is first
    for spec in ("generated:hr", "generated:bank", "generated:saas"):
        api.resolve(runtime, spec)
    saas = api.resolve(runtime, "generated:saas")
    # two kept at most: the first was let go (a new one is made), the latest is still there
    assert api.resolve(runtime, "generated:shop?difficulty=easy") is not first
    assert api.resolve(runtime, "generated:saas") is saas
    for _ in range(2):  # a bad reference raises every time: nothing was kept for it
        with pytest.raises(OptionError):
            api.resolve(runtime, "generated:shop?difficulty=impossible")
    assert api.resolve(runtime, "generated:saas") is saas


# -- hygiene: the test split, curated duplicates, what the agent sees, layout, difficulty ------


def test_no_seed_comes_from_the_test_split(runtime: Runtime, made: Made) -> None:
    from sqldebug.validate import normal_form

    test = [t for t in runtime.catalog.tasks.values() if t.split == "test"]
    assert test, "the bundled set has a test split"
    held_out = {normal_form(t.solution) for t in test}
    for dataset in runtime.catalog.datasets:
        for seed in load_seeds(runtime.catalog, dataset):
            assert seed.id.removeprefix("task:") not in {t.id for t in test}
            assert seed.normal not in held_out, seed.id
    tasks, _ = made
    for task in tasks:
        assert task.provenance and task.provenance.seed_query.removeprefix("task:") not in {
            t.id for t in test
        }
        assert normal_form(task.solution) not in held_out


def test_a_bank_query_that_is_a_test_solution_is_not_a_seed(tmp_path: Path) -> None:
    root = _copy_tasks(tmp_path)
    catalog = sqldebug.catalog.load_catalog(root)
    test = next(t for t in catalog.tasks.values() if t.split == "test")
    bank = root / "seeds" / f"{test.dataset}.yaml"
    import yaml

    data = yaml.safe_load(bank.read_text())
    # the same query in another layout (lower case, one line): still the held-out solution
    again = sqlglot.parse_one(test.solution, read="sqlite").sql(dialect="sqlite").lower()
    data["queries"].append({"id": "sneaky", "title": "T", "intent": "I", "sql": again})
    bank.write_text(yaml.safe_dump(data, sort_keys=False))
    seeds = load_seeds(sqldebug.catalog.load_catalog(root), test.dataset)
    assert "sneaky" not in {s.id for s in seeds}
    assert f"task:{test.id}" not in {s.id for s in seeds}


def test_a_curated_task_is_never_made_again(runtime: Runtime) -> None:
    from sqldebug.generation.generator import Candidate
    from sqldebug.generation.seeds import SeedQuery

    gen = Generator(runtime, ["shop"])
    curated = [
        t
        for t in runtime.catalog.tasks.values()
        if t.dataset == "shop" and t.split == "train" and t.category not in ("syntax",)
    ]
    assert curated
    for task in curated[:4]:
        seed = SeedQuery.from_task(task)
        # the curated bug itself, and the same bug in sqlglot's layout: the same task
        for broken in (task.broken, sqlglot.parse_one(task.broken, read="sqlite").sql("sqlite")):
            made, verdict = gen.check(Candidate(0, "shop", seed, ("x",), broken), generator_seed=0)
            assert (made, verdict) == (None, "duplicate-curated"), task.id


def _seen_by_agent(runtime: Runtime, task: Task) -> str:
    from sqldebug.env import SQLDebugEnv

    env = SQLDebugEnv(runtime, [task])
    obs, info = env.reset(seed=0)
    for _ in range(4):  # fail often enough to unlock the hints too
        obs, *_ = env.step("SELECT 1")
        if env.done:
            break
    return obs.model_dump_json() + obs.prompt + str(info)


def test_nothing_the_agent_sees_names_an_operator(runtime: Runtime, made: Made) -> None:
    tasks, _ = made
    for task in tasks:
        assert task.provenance and task.provenance.operators  # kept for the trainer
        for name in OPERATORS:
            assert name not in task.id and name not in task.title, (name, task.id)
            assert name not in task.tags
    for task in tasks[:15]:
        seen = _seen_by_agent(runtime, task)
        for name in OPERATORS:
            if name not in task.intent:  # a seed's own intent may use the word
                assert name not in seen, (name, task.id)
        assert "provenance" not in seen and "operators" not in seen


def test_titles_state_a_symptom(made: Made) -> None:
    from sqldebug.generation.generator import _subject
    from sqldebug.generation.seeds import load_seeds as seeds_of

    tasks, _ = made
    symptoms = {
        "stops with a syntax error",
        "stops on a name the database does not know",
        "fails to run",
        "returns no rows",
        "misses some rows",
        "returns too many rows",
        "lists the rows in the wrong order",
        "gets some values wrong",
    }
    for task in tasks:
        subject, _, said = task.title.rpartition(": ")
        assert said in symptoms or said.startswith("leaves "), task.title
        assert task.provenance
        seed = next(
            s
            for s in seeds_of(get_runtime().catalog, task.dataset)
            if s.id == task.provenance.seed_query
        )
        assert subject == _subject(seed)
        if said == "stops with a syntax error":
            assert task.category in ("syntax", "multi-bug", "mutation")


_KEYWORDS = {"select", "from", "where", "group", "order", "by", "join", "left", "on", "having"}


def _changed_regions(a: str, b: str) -> int:
    import difflib

    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return sum(tag != "equal" for tag, *_ in ops)


def test_broken_text_is_the_seed_text_but_for_the_edit(runtime: Runtime, made: Made) -> None:
    import difflib

    tasks, stats = made
    assert stats.reprinted <= len(tasks) * 0.05
    singles = [t for t in tasks if t.provenance and len(t.provenance.operators) == 1]
    assert len(singles) >= 20
    for task in singles:
        seed_lines = task.solution.splitlines()
        broken_lines = task.broken.splitlines()
        changed = [
            op
            for op in difflib.SequenceMatcher(None, seed_lines, broken_lines).get_opcodes()
            if op[0] != "equal"
        ]
        assert len(changed) <= 2, task.id  # one or two stretches of lines
        assert _changed_regions(task.solution, task.broken) <= 4, task.id
        # sqlglot's reprint would say NOT x IS NULL and add AS before every table alias
        assert (
            "NOT "
            not in task.broken.replace("NOT NULL", "")
            .replace("NOT IN", "")
            .replace("NOT EXISTS", "")
            .replace("NOT LIKE", "")
            or "NOT " in task.solution
        ), task.id


def test_splice_keeps_a_lower_case_seed_lower_case() -> None:
    from sqldebug.generation.splice import splice

    sql = (
        "select c.name, count(o.coupon) as coupons, sum(o.total) as spent\n"
        "from customers c\n"
        "join orders o on o.customer_id = c.id\n"
        "where o.status is not null\n"
        "  and o.total >= 10\n"
        "group by c.name\n"
        "order by spent desc, c.name;\n"
    )
    tree = sqlglot.parse_one(sql, read="sqlite")
    made = 0
    for name, op in OPERATORS.items():
        if op.text_level:
            continue
        for mutant in op.mutants(tree.copy(), SCHEMA):
            out = splice(sql, tree, mutant)
            assert out is not None, name
            made += 1
            assert sqlglot.parse_one(out, read="sqlite").sql() == mutant.sql(dialect="sqlite")
            words = {w.strip("(),;") for w in out.split()}
            assert not {w for w in words if w.lower() in _KEYWORDS and w != w.lower()}, out
            assert not {"AVG", "SUM", "COUNT", "DESC", "DISTINCT", "NULL", "AS"} & words, out
            assert _changed_regions(sql, out) <= 3, (name, out)
            assert out.endswith(";\n") and out.count("\n") >= sql.count("\n") - 1
    assert made >= 15
    # a pure deletion keeps the lines around it
    keep = "select a,\n       b\nfrom t\norder by a, b;"
    t = sqlglot.parse_one(keep, read="sqlite")
    (drop,) = OPERATORS["order-key-drop"].mutants(t.copy(), {"t": ["a", "b"]})
    assert splice(keep, t, drop) == "select a,\n       b\nfrom t\norder by a;"


def test_difficulty_is_the_search_agents_measure(runtime: Runtime, made: Made) -> None:
    from sqldebug.generation.generator import EASY_STEPS, Calibration

    assert Calibration(1, (1,)).difficulty == "easy"
    assert Calibration(1, (EASY_STEPS,)).difficulty == "easy"
    assert Calibration(1, (EASY_STEPS + 1,)).difficulty == "medium"
    assert Calibration(2, (1, None)).difficulty == "medium"
    assert Calibration(1, (None,)).difficulty == "hard"
    tasks, stats = made
    assert stats.calibrated >= len(tasks)
    gen = Generator(runtime)
    for task in tasks[:12]:
        assert gen.calibrate(task).difficulty == task.difficulty, task.id
    # not the operator's tier: some tasks are labelled otherwise than their operator's tier
    singles = [t for t in tasks if t.provenance and len(t.provenance.operators) == 1]
    assert any(
        t.difficulty != OPERATORS[t.provenance.operators[0]].difficulty
        for t in singles
        if t.provenance
    )
    assert {t.difficulty for t in tasks} == {"easy", "medium", "hard"}


def test_at_most_a_fifth_of_the_default_mix_is_trivial(made: Made) -> None:
    from sqldebug.generation.generator import TRIVIAL, TRIVIAL_SHARE

    tasks, stats = made
    trivial = [t for t in tasks if t.category in TRIVIAL]
    assert len(trivial) <= TRIVIAL_SHARE * len(tasks)
    assert stats.rejected["trivial-share"] > 0  # the cap was needed: it is what held the share
    small, _ = Generator(get_runtime(), ["shop", "hr"]).generate(10, seed=1)
    assert sum(t.category in TRIVIAL for t in small) <= 2
    # asking for the trivial classes alone is not capped
    only, _ = Generator(get_runtime(), ["shop"], categories=["syntax"]).generate(4, seed=1)
    assert [t.category for t in only] == ["syntax"] * 4


def test_an_endless_curriculum_is_mostly_not_trivial(runtime: Runtime) -> None:
    from sqldebug.generation.generator import TRIVIAL

    gen = Generator(runtime, ["shop", "saas"])
    picked = [gen.task_for(seed).category for seed in range(30)]
    assert sum(c in TRIVIAL for c in picked) <= 0.2 * len(picked)
