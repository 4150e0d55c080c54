"""Tasks from your own database: ``sqldebug generate --from-db FILE.sqlite --queries FILE``.

A SQLite file becomes a dataset (its ``CREATE`` statements from ``sqlite_schema``, and its rows, at
most :data:`MAX_ROWS` per table); each question + reference SQL pair of the queries file becomes a
seed query of that dataset, checked once as the generator checks every seed (it runs, returns
rows, cannot be typed out); the usual generator (:mod:`sqldebug.generation.generator`) then injects
bugs into the seeds and keeps only the candidates that hold every task invariant. The output
folder is a task folder: ``datasets/<id>.yaml``, ``seeds/<id>.yaml`` (the seeds that passed) and
the tasks under ``<id>/``.

The queries file is JSON Lines, one object per line::

    {"db": "concert_singer", "question": "How many singers are there?", "sql": "SELECT ..."}

``question`` and ``sql`` are required; ``db`` (the database's file name without its suffix) is
needed when several databases are given; ``id`` (a seed id) and ``title`` are optional. Blank
lines are skipped. docs/generation.md ("From your own database") has the details.

:func:`mysql_dump_to_sqlite` turns a MySQL dump into SQLite files (the Spider import uses it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
import yaml
from sqlglot import exp

from sqldebug.errors import OptionError, TaskFileError

if TYPE_CHECKING:
    from sqldebug.runtime import Runtime

#: Rows kept per table: the first ones by rowid. Every hidden variant is built from these rows (64
#: per dataset for validation, more while playing), so a bigger table costs time on every episode,
#: while a few hundred rows already hold the ties, NULLs and boundaries that expose bugs.
MAX_ROWS = 1000
#: How a SQLite file starts (https://www.sqlite.org/fileformat.html#the_database_header).
SQLITE_HEADER = b"SQLite format 3\x00"
#: The keys of one entry of a queries file.
QUERY_KEYS = ("db", "id", "title", "question", "sql")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


class SourceError(OptionError):
    """A database or queries file given to ``generate --from-db`` cannot be used (exit code 2)."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        super().__init__(f"{path}{f':{line}' if line else ''}: {message}")


def dataset_id(path: Path) -> str:
    """The dataset id of a database file: its name without the suffix, lower case, any character
    an id may not hold replaced by ``_`` (``cre_Doc_Template_Mgt.sqlite`` ->
    ``cre_doc_template_mgt``)."""
    name = "".join(c if c in _ID_CHARS else "_" for c in path.stem.lower()).strip("_-")
    return name or "db"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- a SQLite file as a dataset ------------------------------------------------------------------


@dataclass
class Imported:
    """A database read as a dataset, and what was left out on the way."""

    id: str
    path: Path
    ddl: str
    rows: dict[str, list[list[Any]]]
    #: one line per thing left out or changed: rows over the cap, rows whose parent was cut, ...
    cuts: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def description(self) -> str:
        tables = len(self.rows)
        text = (
            f"The database {self.path.name}: {tables} table{'s' if tables != 1 else ''}, "
            f"{self.row_count} rows, imported by `sqldebug generate --from-db`."
        )
        if self.cuts:
            text += " Left out of the source: " + "; ".join(self.cuts) + "."
        return text

    def dataset_yaml(self) -> str:
        data = {
            "id": self.id,
            "description": self.description(),
            "schema": self.ddl,
            "rows": self.rows,
        }
        return yaml.dump(
            data,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
            default_flow_style=None,
        )


# libyaml's emitter where PyYAML was built with it (the wheels are): a dataset of thousands of
# rows is written ~10x faster
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # a block scalar cannot keep trailing spaces or a carriage return: those stay quoted
    block = "\n" in value and "\r" not in value and " \n" not in value and not value.endswith(" ")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if block else None)


_Dumper.add_representer(str, _str)


def _open(path: Path) -> sqlite3.Connection:
    """The file as a read-only SQLite connection, or a SourceError saying why not."""
    if not path.exists():
        raise SourceError(path, "no such file")
    if path.is_dir():
        raise SourceError(path, "is a folder, not a SQLite database file")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror}") from None
    if head != SQLITE_HEADER:
        what = "an empty file" if not head else "its header is not SQLite's"
        raise SourceError(path, f"not a SQLite database ({what})")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as exc:
        raise SourceError(path, f"not a readable SQLite database ({exc})") from None
    return conn


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):  # a dataset holds text and numbers: a blob becomes text
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
    return value


def read_database(path: Path, *, max_rows: int = MAX_ROWS) -> Imported:
    """The database at ``path`` as a dataset: its tables, indexes and views, and the first
    ``max_rows`` rows of each table (by rowid), less the rows whose foreign key then points at no
    row. What is left out is listed in :attr:`Imported.cuts`."""
    conn = _open(path)
    try:
        return _read(conn, path, max_rows)
    except sqlite3.Error as exc:
        raise SourceError(path, f"cannot be read: {exc}") from None
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, path: Path, max_rows: int) -> Imported:
    cuts: list[str] = []
    objects = conn.execute(
        "SELECT type, name, sql FROM sqlite_schema"
        " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    statements, tables = [], []
    skipped: Counter[str] = Counter()
    for kind, name, sql in objects:
        if kind == "table" and sql.lstrip()[:14].upper().startswith("CREATE VIRTUAL"):
            skipped["virtual table"] += 1
            continue
        if kind == "trigger":
            skipped["trigger"] += 1
            continue
        statements.append(sql.strip().rstrip(";") + ";")
        if kind == "table":
            tables.append(name)
    for what, n in sorted(skipped.items()):
        cuts.append(f"{n} {what}{'s' if n > 1 else ''} left out of the schema")
    if not tables:
        raise SourceError(path, "empty database: it has no tables")
    ddl = "\n\n".join(statements) + "\n"
    rows: dict[str, list[list[Any]]] = {}
    for table in tables:
        total = conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]
        try:
            conn.execute(f"SELECT rowid FROM {_quote(table)} LIMIT 0")
            order = " ORDER BY rowid"
        except sqlite3.OperationalError:  # WITHOUT ROWID: the primary key's order
            order = ""
        got = conn.execute(f"SELECT * FROM {_quote(table)}{order} LIMIT ?", (max_rows,))
        rows[table] = [[_cell(v) for v in row] for row in got]
        if total > max_rows:
            cuts.append(f"{table}: kept the first {max_rows} of {total} rows")
    if not any(rows.values()):
        raise SourceError(path, "empty database: none of its tables has a row")
    rows = _drop_orphans(ddl, rows, cuts, path)
    return Imported(dataset_id(path), path, ddl, rows, cuts)


def _drop_orphans(
    ddl: str, rows: dict[str, list[list[Any]]], cuts: list[str], path: Path
) -> dict[str, list[list[Any]]]:
    """The rows less those whose foreign key points at no row (a parent cut by the row cap, or
    missing in the source: SQLite does not enforce foreign keys unless asked), until none is left:
    a dataset is built with every constraint enforced."""
    conn = sqlite3.connect(":memory:")
    try:
        try:
            conn.executescript(ddl)
        except sqlite3.Error as exc:
            raise SourceError(path, f"its schema does not build again: {exc}") from None
        for table, table_rows in rows.items():
            if table_rows:
                marks = ", ".join("?" * len(table_rows[0]))
                conn.executemany(f"INSERT INTO {_quote(table)} VALUES ({marks})", table_rows)
        dropped: Counter[str] = Counter()
        while True:
            try:
                violations = conn.execute("PRAGMA foreign_key_check").fetchall()
            except sqlite3.OperationalError as exc:  # "foreign key mismatch": not enforceable
                raise SourceError(path, f"its foreign keys cannot be enforced: {exc}") from None
            if not violations:
                break
            for table, rowid, _parent, _ in violations:
                if rowid is None:
                    raise SourceError(
                        path,
                        f"table {table} (WITHOUT ROWID) has rows whose foreign key points at no "
                        "row; fix the rows or the constraint",
                    )
                conn.execute(f"DELETE FROM {_quote(table)} WHERE rowid = ?", (rowid,))
                dropped[table] += 1
        if not dropped:
            return rows
        for table, n in sorted(dropped.items()):
            cuts.append(f"{table}: dropped {n} rows whose foreign key points at no row")
        kept: dict[str, list[list[Any]]] = {}
        for table in rows:
            try:
                conn.execute(f"SELECT rowid FROM {_quote(table)} LIMIT 0")
                order = " ORDER BY rowid"
            except sqlite3.OperationalError:
                order = ""
            got = conn.execute(f"SELECT * FROM {_quote(table)}{order}")
            kept[table] = [list(r) for r in got]
        return kept
    finally:
        conn.close()


# -- the queries file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One question + reference SQL pair of a queries file."""

    line: int
    db: str | None  # the dataset id it names (None: the only database given)
    id: str
    title: str | None
    question: str
    sql: str


def read_queries(path: Path) -> list[Entry]:
    """The entries of a JSON Lines queries file; a SourceError names the line of any mistake."""
    if not path.exists():
        raise SourceError(path, "no such file")
    if path.is_dir():
        raise SourceError(path, "is a folder, not a queries file (JSON Lines)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror}") from None
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SourceError(
                path, f"not a JSON object: {exc.msg} (column {exc.colno})", line=number
            ) from None
        if not isinstance(item, dict):
            raise SourceError(
                path,
                f"expected a JSON object with question and sql, got {type(item).__name__}",
                line=number,
            )
        unknown = sorted(set(item) - set(QUERY_KEYS))
        if unknown:
            raise SourceError(
                path, f"unknown key {unknown[0]!r} (known: {', '.join(QUERY_KEYS)})", line=number
            )
        for key in QUERY_KEYS:
            value = item.get(key)
            required = key in ("question", "sql")
            if value is None and not required:
                continue
            if not isinstance(value, str) or not value.strip():
                what = "missing" if value is None else "not a non-empty string"
                raise SourceError(path, f"{key!r} is {what}", line=number)
        seed_id = item.get("id") or f"q{number:04d}"
        if not set(seed_id) <= _ID_CHARS:
            raise SourceError(
                path,
                f"id {seed_id!r}: lower-case letters, digits, '-' and '_' only",
                line=number,
            )
        db = item.get("db")
        entries.append(
            Entry(
                number,
                dataset_id(Path(db)) if db else None,
                seed_id,
                item.get("title"),
                " ".join(item["question"].split()),
                item["sql"].strip(),
            )
        )
    if not entries:
        raise SourceError(path, "no queries: expected one JSON object per line")
    return entries


# -- seeds, checked -----------------------------------------------------------------------------


@dataclass
class Source:
    """The databases and queries of a ``generate --from-db`` run, written as a task folder."""

    runtime: Runtime
    imported: list[Imported]
    entries: int
    seeds: dict[str, int]  # dataset id -> seed queries kept
    skipped: Counter[str]  # reason -> queries skipped

    @property
    def datasets(self) -> list[str]:
        """The datasets that have a seed query (the generator draws from these)."""
        return sorted(name for name, n in self.seeds.items() if n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "databases": {
                i.id: {
                    "file": str(i.path),
                    "tables": len(i.rows),
                    "rows": i.row_count,
                    "seeds": self.seeds.get(i.id, 0),
                    "cut": i.cuts,
                }
                for i in self.imported
            },
            "queries": self.entries,
            "seeds": sum(self.seeds.values()),
            "skipped": dict(self.skipped.most_common()),
        }

    def lines(self) -> list[str]:
        """The run's summary for people: what each database gave, what was cut and skipped."""
        out = []
        for i in self.imported:
            line = (
                f"{i.id}: {len(i.rows)} tables, {i.row_count} rows, "
                f"{self.seeds.get(i.id, 0)} seed queries"
            )
            out.append(line + (f" (cut: {'; '.join(i.cuts)})" if i.cuts else ""))
        kept = sum(self.seeds.values())
        out.append(f"queries: {self.entries} read, {kept} kept as seed queries")
        if self.skipped:
            out.append("skipped: " + ", ".join(f"{k} {v}" for k, v in self.skipped.most_common()))
        return out


def _verdict(runtime: Runtime, dataset: str, seed: Any, schema: dict[str, list[str]]) -> str:
    """Why ``seed`` cannot be a seed query of ``dataset`` ("kept" when it can)."""
    from sqldebug.generation.operators import OPERATORS
    from sqldebug.sandbox import QueryError
    from sqldebug.spec import Provenance, Task
    from sqldebug.validate import failed_invariants

    try:
        tree = seed.tree
    except sqlglot.errors.SqlglotError:
        return "does-not-parse"
    if not isinstance(tree, exp.Query):
        return "not-a-select"
    probe = Task(
        id=f"gen/{dataset}/{seed.id}-probe",
        title=seed.title,
        dataset=dataset,
        category="syntax",
        difficulty="easy",
        intent=seed.intent,
        broken="SELECT 0 WHERE 0",
        solution=seed.sql,
        provenance=Provenance(seed_query=seed.id, operators=["probe"], generator_seed=0, index=0),
    )
    pool = runtime.pool(dataset)
    try:
        answer = runtime.grader(probe).expected(pool.visible)
    except QueryError:
        return "sql-error"
    if not answer[""][0].rows:
        return "no-rows"
    failed = failed_invariants(runtime, probe, oracle=False)
    if failed:
        return failed[0][0]
    if not any(
        op.mutants(tree.copy(), schema) for op in OPERATORS.values() if op.name != "precedence"
    ):
        return "no-operator-applies"
    return "kept"


def prepare(databases: list[Path], queries: Path, out: Path, *, max_rows: int = MAX_ROWS) -> Source:
    """Read the databases and the queries file, and write ``out`` as a task folder of datasets and
    checked seed queries (``out/datasets/<id>.yaml``, ``out/seeds/<id>.yaml``), ready for the
    generator. Returns the runtime on ``out`` and what was kept, cut and skipped."""
    from sqldebug.generation.seeds import SeedQuery, _title
    from sqldebug.runtime import get_runtime
    from sqldebug.validate import normal_form

    imported: list[Imported] = []
    for path in databases:
        item = read_database(path, max_rows=max_rows)
        clash = next((i for i in imported if i.id == item.id), None)
        if clash is not None:
            raise SourceError(path, f"has the dataset id {item.id!r} of {clash.path} too")
        imported.append(item)
    entries = read_queries(queries)
    ids = {i.id for i in imported}
    if len(imported) > 1:
        missing = next((e for e in entries if e.db is None), None)
        if missing is not None:
            raise SourceError(
                queries, "'db' is missing: several databases are given", line=missing.line
            )
    wanted = [e for e in entries if (e.db or imported[0].id) in ids]
    if not wanted:
        named = sorted({e.db for e in entries if e.db})
        raise SourceError(
            queries,
            f"no entry is for {', '.join(sorted(ids))} (the entries name {', '.join(named[:5])}"
            f"{' ...' if len(named) > 5 else ''})",
        )
    skipped: Counter[str] = Counter()
    if len(wanted) < len(entries):
        skipped["other-database"] = len(entries) - len(wanted)
    data_dir = out / "datasets"
    data_dir.mkdir(parents=True, exist_ok=True)
    for item in imported:
        (data_dir / f"{item.id}.yaml").write_text(item.dataset_yaml(), encoding="utf-8")
    runtime = get_runtime(out)
    by_db: dict[str, list[SeedQuery]] = {i.id: [] for i in imported}
    seen: dict[str, set[str]] = {i.id: set() for i in imported}
    for item in imported:
        try:
            runtime.pool(item.id)
        except TaskFileError as exc:
            raise SourceError(item.path, f"does not build as a dataset: {exc.reason}") from None
    schemas = {
        i.id: {
            s.name.lower(): [c.name.lower() for c in s.columns] for s in runtime.pool(i.id).shapes
        }
        for i in imported
    }
    for entry in wanted:
        dataset = entry.db or imported[0].id
        if any(s.id == entry.id for s in by_db[dataset]):
            raise SourceError(queries, f"duplicate id {entry.id!r}", line=entry.line)
        seed = SeedQuery(
            id=entry.id,
            title=entry.title or _title(entry.question),
            intent=entry.question,
            sql=entry.sql,
        )
        shape = normal_form(seed.sql) or seed.sql
        if shape in seen[dataset]:  # the same query for another wording of the question
            skipped["duplicate-sql"] += 1
            continue
        seen[dataset].add(shape)
        verdict = _verdict(runtime, dataset, seed, schemas[dataset])
        if verdict != "kept":
            skipped[verdict] += 1
            continue
        by_db[dataset].append(seed)
    seed_dir = out / "seeds"
    seed_dir.mkdir(exist_ok=True)
    for dataset, seeds in by_db.items():
        bank = {
            "dataset": dataset,
            "queries": [s.model_dump(exclude_defaults=True) for s in seeds],
        }
        text = yaml.dump(bank, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        (seed_dir / f"{dataset}.yaml").write_text(text, encoding="utf-8")
    source = Source(runtime, imported, len(entries), {k: len(v) for k, v in by_db.items()}, skipped)
    if not source.datasets:
        reasons = ", ".join(f"{k} {v}" for k, v in skipped.most_common())
        raise SourceError(queries, f"no query makes a usable seed (skipped: {reasons})")
    return source


# -- a MySQL dump as SQLite files -----------------------------------------------------------------


@dataclass
class DumpReport:
    """What :func:`mysql_dump_to_sqlite` made and what it skipped."""

    databases: dict[str, Path] = field(default_factory=dict)
    statements: Counter[str] = field(default_factory=Counter)  # converted, by kind
    skipped: Counter[str] = field(default_factory=Counter)  # by reason


def _sqlite_table(create: exp.Create) -> exp.Create:
    """A MySQL ``CREATE TABLE`` made fit for SQLite, by editing its tree: MySQL collations (SQLite
    knows none of them) and ``AUTO_INCREMENT`` dropped (an ``INTEGER PRIMARY KEY`` is the rowid),
    inline ``KEY`` indexes dropped, a ``UNIQUE KEY``'s name dropped, and a key on a column prefix
    (``y(255)``) made a key on the column."""
    tree = create.copy()
    dropped = exp.CollateColumnConstraint | exp.AutoIncrementColumnConstraint
    for node in list(tree.find_all(exp.ColumnConstraint)):
        if isinstance(node.args.get("kind"), dropped):
            node.pop()
    for prefix in list(tree.find_all(exp.ColumnPrefix)):
        prefix.replace(prefix.this)
    for index in list(tree.find_all(exp.IndexColumnConstraint)):
        index.pop()
    for unique in tree.find_all(exp.UniqueColumnConstraint):
        inner = unique.this
        if isinstance(inner, exp.Schema) and isinstance(inner.this, exp.Identifier):
            inner.set("this", None)
    return tree


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "falling back to parsing as a Command" for SET, LOCK, ...
    try:
        yield
    finally:
        logger.setLevel(level)


def _statements(text: str, dialect: str) -> Iterator[str]:
    """The statements of a script, split at the semicolon tokens of sqlglot's tokenizer."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokenizer_core import TokenType

    tokens = Dialect.get_or_raise(dialect).tokenize(text)
    start = None
    end = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if start is not None:
                yield text[start : end + 1]
            start = None
        else:
            start = token.start if start is None else start
            end = token.end
    if start is not None:
        yield text[start : end + 1]


def mysql_dump_to_sqlite(dump: Path, out_dir: Path) -> DumpReport:
    """The databases of a MySQL dump (``mysqldump --databases``: a ``USE db`` before each) as
    SQLite files ``out_dir/<db>.sqlite``, converted with sqlglot (MySQL -> SQLite). A statement
    that does not parse, is not schema or data (``SET``, ``LOCK TABLES``, ``GRANT``, ...) or that
    SQLite rejects once converted is skipped and counted by reason in the report."""
    text = dump.read_text(encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = DumpReport()
    conns: dict[str, sqlite3.Connection] = {}
    current: str | None = None
    with _quiet_sqlglot():
        for statement in _statements(text, "mysql"):
            try:
                tree = sqlglot.parse_one(statement, read="mysql")
            except sqlglot.errors.SqlglotError:
                report.skipped["does not parse"] += 1
                continue
            if isinstance(tree, exp.Use):
                current = tree.this.name
                if current not in conns:
                    target = out_dir / f"{current}.sqlite"
                    target.unlink(missing_ok=True)
                    conns[current] = sqlite3.connect(target)
                    report.databases[current] = target
                continue
            kind = str(tree.args.get("kind") or "").upper() if isinstance(tree, exp.Create) else ""
            if isinstance(tree, exp.Create) and kind == "TABLE":
                tree, what = _sqlite_table(tree), "create table"
            elif isinstance(tree, exp.Create) and kind in ("INDEX", "VIEW"):
                what = f"create {kind.lower()}"
            elif isinstance(tree, exp.Insert):
                what = "insert"
            elif isinstance(tree, exp.Create) and kind in ("DATABASE", "SCHEMA"):
                continue  # the database is made at its USE
            else:
                report.skipped[f"not schema or data ({type(tree).__name__.lower()})"] += 1
                continue
            if current is None:
                current = dump.stem
                target = out_dir / f"{current}.sqlite"
                target.unlink(missing_ok=True)
                conns[current] = sqlite3.connect(target)
                report.databases[current] = target
            try:
                conns[current].execute(tree.sql(dialect="sqlite"))
                report.statements[what] += 1
            except (sqlite3.Error, sqlglot.errors.SqlglotError):
                report.skipped[f"{what} rejected by SQLite"] += 1
    for conn in conns.values():
        conn.commit()
        conn.close()
    return report
