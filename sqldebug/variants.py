"""Seeded neighbour databases for hidden grading.

A hidden instance is the visible data moved where bugs hide: NULLs in nullable columns, duplicated
rows where keys allow, ties, dates on month ends, leap days and year boundaries, zero amounts, text
that differs only in case or trailing space, rows added and removed, insertion order shuffled. A
query that is right for the intent stays right on a neighbour; a query fitted to the visible rows
(or a typed-out answer) does not.

Rows are generated in Python and inserted through :func:`sqldebug.database.build` with every
constraint enforced (keys, NOT NULL, CHECK, foreign keys): a generated row that breaks one is
skipped. So the schema's constraints hold by construction, whatever the schema is.

Variant ``i`` of a dataset depends only on (dataset id, i); episodes draw k of a fixed pool of
variants by seed (:meth:`InstancePool.draw`), so the finite set of hidden
instances can be validated whole and built once per process.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import random
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqldebug.database import Instance, Limits, build, schema_info, table_rows
from sqldebug.models import ColumnInfo


@dataclass(frozen=True)
class TableShape:
    """What variant generation needs to know about one table."""

    name: str
    columns: tuple[ColumnInfo, ...]
    foreign_keys: dict[int, tuple[str, str]]  # column position -> (parent table, parent column)
    referenced: bool  # some other table points at this one
    unique: frozenset[int] = frozenset()  # positions of single-column UNIQUE columns (not the key)


def table_shapes(conn: sqlite3.Connection) -> list[TableShape]:
    """Tables in an order where parents come before children."""
    names = [
        n
        for (n,) in conn.execute(
            "SELECT name FROM sqlite_schema"
            " WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]
    shapes: dict[str, TableShape] = {}
    parents: dict[str, set[str]] = {}
    referenced: set[str] = set()
    for name in names:
        cols = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
        columns = tuple(
            ColumnInfo(c[1], (c[2] or "").upper(), bool(c[3]), bool(c[5])) for c in cols
        )
        position = {c.name.lower(): i for i, c in enumerate(columns)}
        fks: dict[int, tuple[str, str]] = {}
        for fk in conn.execute(f'PRAGMA foreign_key_list("{name}")').fetchall():
            parent, src, dst = fk[2], fk[3], fk[4]
            fks[position[src.lower()]] = (parent.lower(), (dst or "").lower())
            if parent.lower() != name.lower():
                parents.setdefault(name.lower(), set()).add(parent.lower())
                referenced.add(parent.lower())
        unique = set()
        for idx in conn.execute(f'PRAGMA index_list("{name}")').fetchall():
            if idx[2] and idx[3] == "u":
                cols_ = conn.execute(f'PRAGMA index_info("{idx[1]}")').fetchall()
                if len(cols_) == 1:
                    unique.add(cols_[0][1])
        shapes[name.lower()] = TableShape(name, columns, fks, False, frozenset(unique))
    ordered: list[str] = []

    def visit(table: str, seen: frozenset[str] = frozenset()) -> None:
        if table in ordered or table in seen or table not in shapes:
            return
        for parent in sorted(parents.get(table, ())):
            visit(parent, seen | {table})
        ordered.append(table)

    for name in shapes:
        visit(name)
    return [
        TableShape(
            shapes[t].name,
            shapes[t].columns,
            shapes[t].foreign_keys,
            t in referenced,
            shapes[t].unique,
        )
        for t in ordered
    ]


def _as_date(value: Any) -> tuple[dt.date, str] | None:
    """(date, time suffix) if the value is ISO date text, else None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    rest = value[10:]
    if rest and not (rest[0] in " T" and len(rest) >= 6):
        return None
    return day, rest


def _boundary_date(value: str, parsed: tuple[dt.date, str], rng: random.Random) -> str:
    day, rest = parsed
    last = calendar.monthrange(day.year, day.month)[1]
    leap = 2024 if day.year <= 2024 else day.year + (4 - day.year % 4) % 4
    choices = [
        day.replace(day=last),
        day.replace(day=1),
        day + dt.timedelta(days=1),
        day - dt.timedelta(days=1),
        dt.date(leap, 2, 29) if calendar.isleap(leap) else dt.date(day.year, 2, 28),
        dt.date(day.year, 12, 31),
        dt.date(day.year, 1, 1),
    ]
    new = rng.choice(choices).isoformat()
    if rest:
        sep = rest[0]
        new += sep + rng.choice(
            ["23:59:59", "00:00:00", rest[1:9] if len(rest) >= 9 else "12:00:00"]
        )
    return new


def _text_variant(value: str, rng: random.Random) -> str:
    return rng.choice([value.upper(), value.lower(), value + " ", value.title()])


def _mutate(
    value: Any, column: ColumnInfo, domain: list[Any], rng: random.Random, *, text_ok: bool
) -> Any:
    """A nearby value of the same kind: a tie, a boundary, zero, a NULL."""
    if value is None:
        return rng.choice(domain) if domain else None
    parsed = _as_date(value)
    if parsed is not None:
        return _boundary_date(value, parsed, rng)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return rng.choice(
            [rng.choice(domain) if domain else value, 0, value + rng.randint(-3, 3), value * 2]
        )
    if isinstance(value, float):
        return rng.choice(
            [rng.choice(domain) if domain else value, 0.0, round(value * rng.uniform(0.5, 1.5), 2)]
        )
    if isinstance(value, str):
        if text_ok and rng.random() < 0.3:
            return _text_variant(value, rng)
        return rng.choice(domain) if domain else value
    return value


def variant_rows(
    shapes: list[TableShape], visible: dict[str, list[tuple[Any, ...]]], dataset_id: str, index: int
) -> dict[str, list[list[Any]]]:
    """The rows of hidden variant ``index``: deterministic in (dataset id, index)."""
    rng = random.Random(f"sqldebug/{dataset_id}/{index}")
    out: dict[str, list[list[Any]]] = {}
    keys: dict[tuple[str, str], list[Any]] = {}
    for shape in shapes:
        rows = [list(r) for r in visible.get(shape.name.lower(), [])]
        cols = shape.columns
        domains = [
            sorted({r[i] for r in rows if r[i] is not None}, key=repr) for i in range(len(cols))
        ]
        pk_cols = [i for i, c in enumerate(cols) if c.pk]
        single_int_pk = len(pk_cols) == 1 and "INT" in cols[pk_cols[0]].type
        free = [
            i
            for i, c in enumerate(cols)
            if not c.pk and i not in shape.foreign_keys and i not in shape.unique
        ]
        nullable = [i for i in free if not cols[i].notnull]
        # 1. remove a few rows, only where nothing points at them (no cascades to empty results)
        if not shape.referenced and len(rows) > 3:
            for _ in range(rng.randint(0, max(1, len(rows) // 8))):
                rows.pop(rng.randrange(len(rows)))
        # 2. move existing values: NULLs, ties, boundaries, zeros (never text, which filters name)
        for row in rows:
            for i in nullable:
                if rng.random() < 0.1:
                    row[i] = None
            if free and rng.random() < 0.2:
                i = rng.choice(free)
                if not isinstance(row[i], str) or _as_date(row[i]) is not None:
                    row[i] = _mutate(row[i], cols[i], domains[i], rng, text_ok=False)
        # 3. add rows near existing ones: exact duplicates, new children, moved values. They go in
        # after the kept rows, so a kept row is never refused for a copy of its own unique values.
        rng.shuffle(rows)
        added: list[list[Any]] = []
        if rows:
            next_id = (
                max((r[pk_cols[0]] for r in rows if isinstance(r[pk_cols[0]], int)), default=0) + 1
                if single_int_pk
                else 0
            )
            for n in range(max(1, round(len(rows) * rng.uniform(0.15, 0.35)))):
                new = list(rng.choice(rows))
                if single_int_pk:
                    new[pk_cols[0]] = next_id
                    next_id += rng.randint(1, 3)
                else:
                    for i in pk_cols:
                        if isinstance(new[i], str) and i not in shape.foreign_keys:
                            new[i] = f"{new[i]}-{index}-{n}"
                for i, (parent, parent_col) in shape.foreign_keys.items():
                    pool = keys.get((parent, parent_col.lower()))
                    if pool and (rng.random() < 0.6 or (i in pk_cols and not single_int_pk)):
                        new[i] = rng.choice(pool)
                for i in shape.unique:
                    if isinstance(new[i], str):
                        new[i] = f"{index}.{n}.{new[i]}"
                    elif isinstance(new[i], int):
                        new[i] = max(r[i] for r in rows if isinstance(r[i], int)) + 1 + n
                if free and rng.random() > 0.25:  # else: an exact duplicate but for the key
                    for i in rng.sample(free, k=min(len(free), rng.randint(1, 2))):
                        new[i] = _mutate(new[i], cols[i], domains[i], rng, text_ok=True)
                added.append(new)
        rng.shuffle(added)
        rows += added
        out[shape.name] = rows
        for i, col in enumerate(cols):
            keys[(shape.name.lower(), col.name.lower())] = [r[i] for r in rows if r[i] is not None]
        if single_int_pk:
            keys[(shape.name.lower(), "")] = [r[pk_cols[0]] for r in rows]
    return out


@functools.lru_cache(maxsize=65536)
def _draw(size: int, seed: int, k: int) -> tuple[int, ...]:
    return tuple(sorted(random.Random(seed).sample(range(size), k)))


class InstancePool:
    """The visible instance of one dataset and its pool of hidden variants, built lazily, once.

    A seed draws ``k`` distinct variants from a pool of ``size``. Building a variant costs a few
    milliseconds the first time any episode needs it; after that a reset costs nothing here.
    """

    def __init__(
        self,
        dataset_id: str,
        ddl: str,
        rows: Mapping[str, Sequence[Sequence[Any]]],
        *,
        size: int = 16,
        limits: Limits | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("the variant pool needs at least one variant")
        self.dataset_id = dataset_id
        self.ddl = ddl
        self.size = size
        self.limits = limits or Limits()
        self.visible = Instance("visible", build(ddl, rows), self.limits)
        self.schema = schema_info(self.visible.template)
        self.shapes = table_shapes(self.visible.template)
        self._visible_rows = {
            s.name.lower(): table_rows(self.visible.template, s.name).rows for s in self.shapes
        }
        self._variants: dict[int, Instance] = {}
        self._lock = threading.Lock()

    def variant(self, index: int) -> Instance:
        """Hidden variant ``index`` (0 <= index < size), built on first use."""
        inst = self._variants.get(index)
        if inst is None:
            rows = variant_rows(self.shapes, self._visible_rows, self.dataset_id, index)
            conn = build(self.ddl, rows, lenient=True)
            with self._lock:
                inst = self._variants.setdefault(index, Instance(f"v{index}", conn, self.limits))
        return inst

    def draw(self, seed: int, k: int) -> tuple[int, ...]:
        """The variant indices a seed picks: deterministic, distinct, ``min(k, size)`` of them."""
        return _draw(self.size, seed, min(k, self.size))

    def warm(self) -> None:
        """Build every variant now (servers do this at start-up, so no request pays for it)."""
        for index in range(self.size):
            self.variant(index)
