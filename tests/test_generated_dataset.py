"""A dataset whose rows come from a ``generate`` script: deterministic, constrained, bounded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sqldebug
from sqldebug.errors import TaskFileError
from sqldebug.instances import generated_rows, script_statements
from sqldebug.runtime import get_runtime

SCHEMA = """\
CREATE TABLE regions (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  region_id INTEGER REFERENCES regions(id),
  score INTEGER NOT NULL CHECK (score >= 0),
  joined TEXT NOT NULL
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  amount_cents INTEGER NOT NULL
);
"""

SCRIPT = """\
-- children first: foreign keys are checked once the script is done
INSERT INTO orders (id, customer_id, amount_cents)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
SELECT i, 1 + abs(random()) % 400, 100 + abs(random()) % 90000 FROM n;
INSERT INTO customers
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
SELECT i, CASE WHEN i % 17 = 0 THEN NULL ELSE 1 + i % 3 END, abs(random()) % 100,
       date('now', '-' || (i % 700) || ' days') FROM n;
"""

TASK = """\
id: g/revenue-by-region
title: Revenue per region leaves some customers out
dataset: g
category: join-type
difficulty: medium
intent: >
  Total order amount in cents per region name, with customers that have no region under a NULL
  region. Columns: region name, total cents.
broken: |
  SELECT r.name, SUM(o.amount_cents) FROM orders o JOIN customers c ON c.id = o.customer_id
  JOIN regions r ON r.id = c.region_id GROUP BY r.name
solution: |
  SELECT r.name, SUM(o.amount_cents) FROM orders o JOIN customers c ON c.id = o.customer_id
  LEFT JOIN regions r ON r.id = c.region_id GROUP BY r.name
"""


def folder(tmp: Path, script: str = SCRIPT, schema: str = SCHEMA) -> Path:
    (tmp / "datasets").mkdir(parents=True)
    (tmp / "g").mkdir()
    (tmp / "datasets" / "g.yaml").write_text(
        "id: g\ndescription: generated\nschema: |\n"
        + textwrap.indent(schema, "  ")
        + "rows:\n  regions:\n    - [1, north]\n    - [2, south]\n    - [3, east]\n"
        + "generate: |\n"
        + textwrap.indent(script, "  ")
    )
    (tmp / "g" / "a.yaml").write_text(TASK)
    return tmp


def test_script_statements_split_on_tokens_not_text() -> None:
    script = "INSERT INTO t VALUES (';'); -- a ; comment\nINSERT INTO t VALUES ('x;y')"
    assert script_statements(script) == [
        "INSERT INTO t VALUES (';')",
        "INSERT INTO t VALUES ('x;y')",  # a comment is not part of a statement
    ]


def test_generated_rows_are_the_same_every_time_and_keep_listed_rows() -> None:
    listed = {"regions": [[1, "north"], [2, "south"], [3, "east"]]}
    first = generated_rows(SCHEMA, listed, SCRIPT)
    assert first == generated_rows(SCHEMA, listed, SCRIPT)
    assert len(first["orders"]) == 3000 and len(first["customers"]) == 400
    assert first["regions"] == [(1, "north"), (2, "south"), (3, "east")]
    assert len({r[2] for r in first["orders"]}) > 1000  # random() varies within a statement
    assert max(r[3] for r in first["customers"]) == "2024-12-31"  # 'now' is the fixed clock


def test_a_generated_dataset_plays_and_validates(tmp_path: Path) -> None:
    root = folder(tmp_path)
    env = sqldebug.make("g/revenue-by-region", tasks=root)
    env.reset(seed=0)
    count, *_ = env.step({"type": "probe", "sql": "SELECT count(*) FROM orders"})
    assert count.result is not None and count.result.rows == [[3000]]
    assert env.step(env.task.solution)[2]  # solved, on the hidden variants too
    done = subprocess.run(
        [sys.executable, "-m", "sqldebug", "tasks", "validate", "--tasks", str(root)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "INSERT INTO nowhere VALUES (1);",
            "statement 1 (INSERT INTO nowhere VALUES (1)...) fails",
        ),
        (
            "INSERT INTO customers VALUES (1, 1, -5, '2024-01-01');",
            "CHECK constraint failed",
        ),
        ("INSERT INTO orders VALUES (1, 99, 5);", "references a missing customers row"),
        (
            "INSERT INTO orders WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
            "SELECT i, 1, 1 FROM n LIMIT 600000;",
            "more than 500,000: every episode",
        ),
    ],
)
def test_a_bad_script_names_the_file_and_what_failed(
    tmp_path: Path, script: str, message: str
) -> None:
    root = folder(tmp_path, script=script)
    with pytest.raises(TaskFileError) as err:
        get_runtime(root).pool("g")
    text = str(err.value)
    assert "g.yaml" in text and "generate" in text and message in text, text
    done = subprocess.run(
        [sys.executable, "-m", "sqldebug", "tasks", "validate", "--tasks", str(root)],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout
    assert message in done.stdout + done.stderr


def test_a_big_dataset_gets_a_bigger_statement_budget(tmp_path: Path) -> None:
    # 3,403 visible rows: 1,000 VM instructions each, over the default 5 million? no: default
    root = folder(tmp_path)
    pool = get_runtime(root).pool("g")
    assert pool.limits.vm_steps == 5_000_000
    big = folder(
        tmp_path / "big",
        script=SCRIPT.replace("i < 3000", "i < 9000").replace("i < 400)", "i < 400)"),
    )
    assert get_runtime(big).pool("g").limits.vm_steps == 1_000 * (9000 + 400 + 3)
    text = (big / "datasets" / "g.yaml").read_text()
    (big / "datasets" / "g.yaml").write_text(
        text.replace("generate: |", "vm_steps: 90000000\ngenerate: |")
    )
    assert get_runtime(big).pool("g").limits.vm_steps == 90_000_000
