"""``sqldebug generate --from-db``: validated tasks on a user's own SQLite database and questions.

The real-data test runs on the Spider dev set shipped in tests/fixtures/spider (converted from
InterCode's MySQL dump by scripts/import_spider.py; CC BY-SA 4.0, see its README.md).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sqldebug.catalog import Catalog
from sqldebug.cli import app
from sqldebug.generation.from_db import (
    MAX_ROWS,
    dataset_id,
    mysql_dump_to_sqlite,
    read_database,
    read_queries,
)

SPIDER = Path(__file__).parent / "fixtures" / "spider"
runner = CliRunner()


def _sqlite(path: Path, script: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return path


@pytest.fixture(scope="module")
def spider_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped Spider databases as SQLite files (SQLite's own dumps, loaded back)."""
    folder = tmp_path_factory.mktemp("spider")
    return {
        sql.stem: _sqlite(folder / f"{sql.stem}.sqlite", sql.read_text(encoding="utf-8"))
        for sql in sorted((SPIDER / "databases").glob("*.sql"))
    }


@pytest.fixture(scope="module")
def spider_run(
    spider_dbs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("spider-tasks") / "out"
    args = ["generate", "-n", "200", "--seed", "0", "--out", str(out), "--json"]
    for name, path in spider_dbs.items():
        if name != "wta_1":  # its tables have no rows in InterCode's dump: an empty database
            args += ["--from-db", str(path)]
    args += ["--queries", str(SPIDER / "questions.jsonl")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


# -- Spider dev: real questions on real databases ------------------------------------------------


def test_spider_makes_200_valid_tasks_across_databases(spider_run: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    out, report = spider_run
    tasks = [p for p in out.rglob("*.yaml") if p.parent.name not in ("datasets", "seeds")]
    assert len(tasks) == report["kept"] == 200
    by_dataset = {p.parent.name for p in tasks}
    assert len(by_dataset) >= 10, by_dataset
    assert len(Catalog.load(out).tasks) == 200
    result = runner.invoke(app, ["tasks", "validate", "--tasks", str(out)])
    assert result.exit_code == 0, result.output
    assert "200 of 200 tasks valid (19 datasets)" in result.output


def test_spider_report_says_what_was_cut_and_skipped(spider_run: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    out, report = spider_run
    source = report["from_db"]
    assert source["queries"] == 1034
    world = source["databases"]["world_1"]
    assert f"city: kept the first {MAX_ROWS} of 4079 rows" in world["cut"]
    skipped = source["skipped"]
    # Spider asks most questions twice in other words: one seed per query
    assert skipped["duplicate-sql"] > 300
    assert skipped["other-database"] == 62  # wta_1's questions
    assert source["seeds"] + sum(skipped.values()) == 1034
    assert set(skipped) <= {
        "duplicate-sql",
        "other-database",
        "does-not-parse",
        "not-a-select",
        "sql-error",
        "no-rows",
        "no-operator-applies",
        "solution-runs",
        "solution-not-empty",
        "no-constant-answer",
    }
    # the datasets and the seeds that passed are in the folder: `generate --tasks OUT` makes more
    seeds = yaml.safe_load((out / "seeds" / "world_1.yaml").read_text(encoding="utf-8"))
    assert len(seeds["queries"]) == world["seeds"] > 0
    dataset = yaml.safe_load((out / "datasets" / "world_1.yaml").read_text(encoding="utf-8"))
    assert len(dataset["rows"]["city"]) == MAX_ROWS
    assert "city: kept the first" in dataset["description"]


def test_spider_tasks_are_playable_by_the_search_agent(spider_run: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    out, _ = spider_run
    result = runner.invoke(
        app,
        ["bench", "--agent", "search", "--tasks", str(out), "--dataset", "singer", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["episodes"] > 0


# -- reading a database --------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE team (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE player (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES team (id), goals INT);
CREATE INDEX player_team ON player (team_id);
CREATE VIEW scorers AS SELECT * FROM player WHERE goals > 0;
"""


def test_read_database_caps_rows_and_drops_rows_whose_parent_is_cut(tmp_path: Path) -> None:
    rows = ["INSERT INTO team VALUES (1, 'Ajax'), (2, 'Benfica'), (3, 'Celtic');"]
    rows.append("INSERT INTO player VALUES (1, 1, 3), (2, 3, 0), (3, 2, 1), (4, 9, 2);")
    path = _sqlite(tmp_path / "League-2024.sqlite", SCHEMA + "\n".join(rows))
    imported = read_database(path, max_rows=2)
    assert imported.id == dataset_id(path) == "league-2024"
    assert imported.rows["team"] == [[1, "Ajax"], [2, "Benfica"]]
    # player 2 points at team 3 (cut), player 4 at team 9 (never there)
    assert imported.rows["player"] == [[1, 1, 3]]
    assert imported.cuts == [
        "team: kept the first 2 of 3 rows",
        "player: kept the first 2 of 4 rows",
        "player: dropped 1 rows whose foreign key points at no row",
    ]
    assert "CREATE INDEX player_team" in imported.ddl and "CREATE VIEW scorers" in imported.ddl
    text = imported.dataset_yaml()
    assert yaml.safe_load(text)["rows"]["team"][1] == [2, "Benfica"]


def test_mysql_dump_converts_with_sqlglot_and_counts_what_it_skips(tmp_path: Path) -> None:
    dump = tmp_path / "shop.sql"
    dump.write_text(
        "SET NAMES utf8mb4;\n"
        "CREATE DATABASE IF NOT EXISTS `shop`;\nUSE `shop`;\n"
        "DROP TABLE IF EXISTS `item`;\n"
        "CREATE TABLE `item` (\n"
        "  `id` int NOT NULL AUTO_INCREMENT,\n"
        "  `code` varchar(20) COLLATE utf8mb4_general_ci NOT NULL,\n"
        "  `note` text COLLATE utf8mb4_general_ci,\n"
        "  PRIMARY KEY (`id`, `code`(10)),\n"
        "  UNIQUE KEY `item_code` (`code`),\n"
        "  KEY `item_note` (`id`)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
        "LOCK TABLES `item` WRITE;\n"
        "INSERT INTO `item` VALUES (1,'a;b','it\\'s'),(2,'c',NULL);\n"
        "UNLOCK TABLES;\n",
        encoding="utf-8",
    )
    report = mysql_dump_to_sqlite(dump, tmp_path / "out")
    assert list(report.databases) == ["shop"]
    assert report.statements == {"create table": 1, "insert": 1}
    assert sum(report.skipped.values()) == 4  # SET, DROP, LOCK, UNLOCK
    conn = sqlite3.connect(report.databases["shop"])
    assert conn.execute("SELECT * FROM item ORDER BY id").fetchall() == [
        (1, "a;b", "it's"),
        (2, "c", None),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO item VALUES (3, 'c', NULL)")  # the UNIQUE KEY holds


# -- bad input: one line naming the file, exit code 2 ----------------------------------------------


@pytest.fixture
def good(tmp_path: Path) -> tuple[Path, Path]:
    rows = "INSERT INTO team VALUES (1, 'Ajax'), (2, 'Benfica');"
    db = _sqlite(tmp_path / "league.sqlite", SCHEMA + rows)
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"question": "Every team.", "sql": "SELECT * FROM team"}\n')
    return db, queries


def _fails(tmp_path: Path, db: Path, queries: Path, *expected: str) -> None:
    args = ["generate", "--from-db", str(db), "--queries", str(queries)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "-n", "2"])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "Traceback" not in result.output
    assert message.startswith("error: ") and "\n" not in message, message
    for part in expected:
        assert part in message, message


def test_missing_database(tmp_path: Path, good: tuple[Path, Path]) -> None:
    missing = tmp_path / "nope.sqlite"
    _fails(tmp_path, missing, good[1], str(missing), "no such file")


def test_not_a_sqlite_database(tmp_path: Path, good: tuple[Path, Path]) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("CREATE TABLE t (a);\n")
    _fails(tmp_path, text, good[1], str(text), "not a SQLite database")
    empty_file = tmp_path / "zero.sqlite"
    empty_file.write_bytes(b"")
    _fails(tmp_path, empty_file, good[1], str(empty_file), "not a SQLite database")


def test_empty_database(tmp_path: Path, good: tuple[Path, Path]) -> None:
    no_tables = tmp_path / "blank.sqlite"
    conn = sqlite3.connect(no_tables)
    conn.execute("PRAGMA user_version = 1")  # writes the header: a database with no tables
    conn.close()
    _fails(tmp_path, no_tables, good[1], str(no_tables), "empty database", "no tables")
    no_rows = _sqlite(tmp_path / "bare.sqlite", SCHEMA)
    _fails(tmp_path, no_rows, good[1], str(no_rows), "empty database", "has a row")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"question": "q", "sql": "SELECT 1"}\n{"question": "q2", "sql": ', [":2:", "not a JSON"]),
        ('\n\n["SELECT 1"]\n', [":3:", "expected a JSON object"]),
        ('{"question": "Every team."}\n', [":1:", "'sql' is missing"]),
        ('{"question": "", "sql": "SELECT 1"}\n', [":1:", "'question' is not a non-empty"]),
        ('{"question": "q", "sql": "SELECT 1", "gold": "x"}\n', [":1:", "unknown key 'gold'"]),
        ('{"id": "Q 1", "question": "q", "sql": "SELECT 1"}\n', [":1:", "id 'Q 1'"]),
        ("\n  \n", ["no queries"]),
        ('{"db": "other", "question": "q", "sql": "SELECT 1"}\n', ["no entry is for league"]),
    ],
)
def test_malformed_queries_file_names_the_line(
    tmp_path: Path, good: tuple[Path, Path], text: str, expected: list[str]
) -> None:
    queries = tmp_path / "bad.jsonl"
    queries.write_text(text, encoding="utf-8")
    _fails(tmp_path, good[0], queries, str(queries), *expected)


def test_missing_queries_file_and_flags(tmp_path: Path, good: tuple[Path, Path]) -> None:
    missing = tmp_path / "nope.jsonl"
    _fails(tmp_path, good[0], missing, str(missing), "no such file")
    result = runner.invoke(app, ["generate", "--from-db", str(good[0]), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--queries" in result.output


def test_queries_that_make_no_seed_are_counted(tmp_path: Path, good: tuple[Path, Path]) -> None:
    queries = tmp_path / "q.jsonl"
    lines = [
        {"question": "Broken.", "sql": "SELECT nope FROM team"},
        {"question": "Nothing.", "sql": "SELECT * FROM team WHERE id > 100"},
        {"question": "Not a query.", "sql": "DELETE FROM team"},
    ]
    queries.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _fails(
        tmp_path,
        good[0],
        queries,
        "no query makes a usable seed",
        "sql-error 1",
        "no-rows 1",
        "not-a-select 1",
    )


def test_read_queries_defaults(tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"db": "Cre_Doc.sqlite", "question": " How   many? ", "sql": "SELECT 1;\\n"}\n'
    )
    (entry,) = read_queries(queries)
    assert (entry.db, entry.id, entry.question, entry.sql) == (
        "cre_doc",
        "q0001",
        "How many?",
        "SELECT 1;",
    )
