"""SQLite instances: the databases of a dataset that statements run on.

An *instance* is one database of a dataset: the visible one (the dataset's rows) or a hidden
neighbour from :mod:`sqldebug.variants`. Each is built once from SQL into a template connection and
then cloned with the backup API (~25 us, against ~6.5 ms to rebuild it): read-only statements run on
a per-thread clone that lives as long as the thread, and each data-changing submission on a fresh
clone that is thrown away. Every clone is used through :class:`sqldebug.sandbox.Sandbox`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqldebug import determinism
from sqldebug.models import ColumnInfo, SchemaInfo
from sqldebug.sandbox import Limits, Result, Sandbox, split_statements


def build(
    ddl: str,
    rows: Mapping[str, Sequence[Sequence[Any]]],
    *,
    lenient: bool = False,
    fallback: Mapping[str, Sequence[Sequence[Any] | None]] | None = None,
    schema: sqlite3.Connection | None = None,
) -> sqlite3.Connection:
    """A new in-memory database: the schema, then the rows, with every constraint enforced.

    Strict (the default) raises :class:`DatasetError` for the first rejected row. ``lenient``
    (variants) skips rows that break a constraint instead. Foreign keys are checked once all rows
    are in, so rows may come in any order (a manager after their report); a lenient build drops
    the rows whose parent is missing until none is left. ``fallback`` (lenient builds) gives, per
    table and row position, a row to insert instead when a row is rejected (a variant's original
    row, so one moved value that breaks a CHECK does not drop a parent and all its children).
    ``schema``, an empty database built from ``ddl`` before, is cloned instead of running the DDL
    again (~20 us against ~0.4 ms: variants are built per episode seed).

    Each table's rows go in with one ``executemany``; only a table where some row is rejected is
    inserted again row by row, to find the row (strict) or to skip it (lenient).
    """
    conn = determinism.connect()
    try:
        if schema is not None:
            schema.backup(conn)
        else:
            conn.executescript(ddl)
    except sqlite3.Error as exc:
        conn.close()
        raise DatasetError(f"schema does not build: {exc}", field="schema") from None
    _fill(conn, rows, lenient=lenient, fallback=fallback)
    return conn


def replace_rows(
    conn: sqlite3.Connection,
    rows: Mapping[str, Sequence[Sequence[Any]]],
    *,
    replace: Mapping[str, Sequence[int]],
    fallback: Mapping[str, Sequence[Sequence[Any] | None]] | None = None,
) -> None:
    """Change ``conn`` (a copy of a built database) so that, per table of ``rows``, the rows with
    the rowids in ``replace[table]`` (every row when the table is not in it) give way to
    ``rows[table]``, inserted leniently as by :func:`build`.

    A warehouse's variant changes a sample of each big table: copying the visible database and
    replacing the sample costs what the sample costs, where :func:`build` would insert every row
    again. The rows that stay keep their rowids and their storage order, before the new ones.
    """
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN")
    for table in rows:
        gone = replace.get(table)
        if gone is None:
            conn.execute(f'DELETE FROM "{table}"')
        else:
            conn.executemany(f'DELETE FROM "{table}" WHERE rowid = ?', ((r,) for r in gone))
    _fill(conn, rows, lenient=True, fallback=fallback, begun=True)


def _fill(
    conn: sqlite3.Connection,
    rows: Mapping[str, Sequence[Sequence[Any]]],
    *,
    lenient: bool,
    fallback: Mapping[str, Sequence[Sequence[Any] | None]] | None,
    begun: bool = False,
) -> None:
    """Insert ``rows`` into ``conn`` (foreign keys off), check foreign keys, commit, turn them
    on: the rules of :func:`build`."""
    tables = {
        name.lower()
        for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    }
    if not begun:
        conn.execute("BEGIN")
    for table, table_rows_ in rows.items():
        if table.lower() not in tables:
            conn.close()
            raise DatasetError(f"table {table!r} is not in the schema", field=f"rows.{table}")
        width = len(conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
        insert = f'INSERT INTO "{table}" VALUES ({", ".join("?" * width)})'
        spares = (fallback or {}).get(table) if lenient else None
        if lenient and _insert_or_ignore(conn, table, width, table_rows_, spares):
            continue
        conn.execute("SAVEPOINT whole")
        try:
            conn.executemany(insert, table_rows_)
            conn.execute("RELEASE whole")
            continue
        except (sqlite3.Error, ValueError, TypeError):
            conn.execute("ROLLBACK TO whole")
            conn.execute("RELEASE whole")
        for index, row in enumerate(table_rows_):
            try:
                if len(row) != width:
                    raise ValueError(f"has {len(row)} values; the table has {width} columns")
                conn.execute(insert, tuple(row))
            except (sqlite3.Error, ValueError) as exc:
                if lenient:
                    spare = spares[index] if spares is not None and index < len(spares) else None
                    if spare is not None:
                        with contextlib.suppress(sqlite3.Error, ValueError):
                            conn.execute(insert, tuple(spare))
                    continue
                conn.close()
                raise DatasetError(
                    f"row {index + 1} is rejected: {exc}", field=f"rows.{table}.{index}"
                ) from None
    while violations := conn.execute("PRAGMA foreign_key_check").fetchall():
        if not lenient:
            table, rowid, parent, _ = violations[0]
            conn.close()
            raise DatasetError(
                f"the row with rowid {rowid} references a missing {parent} row",
                field=f"rows.{table}",
            )
        for table, rowid, _, _ in violations:
            conn.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA foreign_keys = ON")


def _insert_or_ignore(
    conn: sqlite3.Connection,
    table: str,
    width: int,
    rows: Sequence[Sequence[Any]],
    spares: Sequence[Sequence[Any] | None] | None,
) -> bool:
    """A lenient insert of a table's rows in one ``executemany``, if it can be exact: each row
    followed by its spare, with ``INSERT OR IGNORE``. A spare has its row's primary key, so it
    goes in exactly when its row was refused, at that moment, as the row-by-row loop of
    :func:`_fill` would put it in. False (nothing inserted) where that does not hold: a table
    without a primary key, a key that is NULL or differs from its spare's, or an error that
    IGNORE does not cover.
    """
    pk = [int(cid) for cid, *_, key in conn.execute(f'PRAGMA table_info("{table}")') if key]
    if not pk:
        return False
    seq: list[Sequence[Any]] = []
    for index, row in enumerate(rows):
        if len(row) != width or any(row[i] is None for i in pk):
            return False
        seq.append(row)
        spare = spares[index] if spares is not None and index < len(spares) else None
        if spare is not None:
            if len(spare) != width or any(spare[i] != row[i] for i in pk):
                return False
            seq.append(spare)
    insert = f'INSERT OR IGNORE INTO "{table}" VALUES ({", ".join("?" * width)})'
    conn.execute("SAVEPOINT ignoring")
    try:
        conn.executemany(insert, seq)
    except (sqlite3.Error, ValueError, TypeError):
        conn.execute("ROLLBACK TO ignoring")
        conn.execute("RELEASE ignoring")
        return False
    conn.execute("RELEASE ignoring")
    return True


#: a dataset's ``generate`` script may make at most this many rows in all, and run this long
GENERATED_ROWS_MAX = 500_000
GENERATE_SECONDS_MAX = 60.0


def script_statements(script: str) -> list[str]:
    """The statements of a dataset's ``generate`` script (see :func:`split_statements`)."""
    statements = split_statements(script)
    if statements is None:
        raise DatasetError("the script cannot be tokenized as SQLite", field="generate")
    return statements


def generated_rows(
    ddl: str, rows: Mapping[str, Sequence[Sequence[Any]]], script: str
) -> dict[str, list[tuple[Any, ...]]]:
    """A dataset's visible rows when it has a ``generate`` script: the listed ``rows``, then what
    the script inserts, read back table by table (in rowid order).

    The script runs once, statement by statement, on the fixed-clock connection of every build,
    with ``random()``/``randomblob()`` reseeded by each statement's text
    (:class:`~sqldebug.determinism.Chance`): the same file always makes the same rows. Every
    constraint holds as for listed rows (foreign keys are checked once the script is done, so it
    may insert children before parents). A script that runs past :data:`GENERATE_SECONDS_MAX`
    or makes more than :data:`GENERATED_ROWS_MAX` rows is an error, not a hang.
    """
    conn = build(ddl, rows)
    deadline = time.monotonic() + GENERATE_SECONDS_MAX
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 100_000)
    chance = determinism.Chance(conn, 1_000_000_000)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN")
        for number, statement in enumerate(script_statements(script), 1):
            chance.reseed(statement)
            try:
                conn.execute(statement)
            except sqlite3.Error as exc:
                why = "it ran past 60 s" if time.monotonic() > deadline else str(exc)
                first = " ".join(statement.split())[:70]
                raise DatasetError(
                    f"statement {number} ({first}...) fails: {why}", field="generate"
                ) from None
        conn.execute("COMMIT")
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        total = sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables)
        if total > GENERATED_ROWS_MAX:
            raise DatasetError(
                f"it makes {total:,} rows, more than {GENERATED_ROWS_MAX:,}: every episode "
                "builds them",
                field="generate",
            )
        violation = conn.execute("PRAGMA foreign_key_check").fetchone()
        if violation is not None:
            table, rowid, parent, _ = violation
            raise DatasetError(
                f"the {table} row with rowid {rowid} it made references a missing {parent} row",
                field="generate",
            )
        out = {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            for name in tables
        }
        return out
    finally:
        conn.close()


class DatasetError(Exception):
    """A dataset's schema or rows do not build; the catalog adds the file name."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def schema_info(conn: sqlite3.Connection) -> SchemaInfo:
    """Tables and columns as SQLite sees them (lower-case table names)."""
    info: SchemaInfo = {}
    names = [
        n
        for (n,) in conn.execute(
            "SELECT name FROM sqlite_schema"
            " WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]
    for name in names:
        cols = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
        info[name.lower()] = tuple(
            ColumnInfo(name=c[1], type=(c[2] or "").upper(), notnull=bool(c[3]), pk=bool(c[5]))
            for c in cols
        )
    return info


def table_rows(conn: sqlite3.Connection, table: str) -> Result:
    """Every row of a table, in storage order (used to read a table's final state)."""
    cursor = conn.execute(f'SELECT * FROM "{table}"')
    return Result([d[0] for d in cursor.description], cursor.fetchall())


@dataclass
class Instance:
    """One database of a dataset: built once, cloned per thread to read, per statement to write."""

    key: str
    template: sqlite3.Connection
    limits: Limits
    #: expected answers computed on this instance, by solution (they go when the instance goes)
    answers: dict[Any, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def copy(self) -> sqlite3.Connection:
        """A private copy of the instance's database."""
        conn = determinism.connect()
        with self._lock:
            self.template.backup(conn)
        return conn

    def reader(self) -> Sandbox:
        """This thread's read-only sandbox on the instance."""
        box: Sandbox | None = getattr(self._local, "box", None)
        if box is None:
            conn = self.copy()
            conn.execute("PRAGMA query_only = ON")
            box = Sandbox(conn, self.limits)
            self._local.box = box
        return box

    def writer(self, tables: Iterable[str]) -> Sandbox:
        """A fresh throw-away copy where only ``tables`` may be changed."""
        conn = self.copy()
        conn.execute("PRAGMA foreign_keys = ON")
        return Sandbox(conn, self.limits, writable=tables)

    def rows(self, table: str, limit: int | None = None) -> Result:
        """Rows of a table, read through the sandbox (callers check the name against the schema)."""
        sql = f'SELECT * FROM "{table}"' + (f" LIMIT {int(limit)}" if limit is not None else "")
        return self.reader().run(sql)
