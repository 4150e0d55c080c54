"""Seeded neighbour databases for hidden grading.

A hidden instance is the visible data moved where bugs hide: NULLs in nullable columns, duplicated
rows where keys allow, ties, dates on month ends, leap days and year boundaries, zero amounts, text
that differs only in case or trailing space, rows added and removed, insertion order shuffled. A
query that is right for the intent stays right on a neighbour; a query fitted to the visible rows
(or a typed-out answer) does not.

Rows are generated in Python and inserted through :func:`sqldebug.instances.build` with every
constraint enforced (keys, NOT NULL, CHECK, foreign keys): a generated row that breaks one is
skipped. So the schema's constraints hold by construction, whatever the schema is.

Variant ``i`` of a dataset depends only on (deployment secret, dataset id, i), and a seed draws k
of ``2**32`` variant indices (:meth:`InstancePool.draw`). Knowing the source and the public seeds
therefore does not tell anyone the hidden data once a secret is set (``SQLDEBUG_SECRET``), and no
query can carry the answers of every instance an episode may draw. Without a secret the public
default keeps development and CI reproducible. About a quarter of the variants keep every table's
visible row count, so table sizes do not tell the visible instance from a hidden one.
Built variants are kept in a bounded LRU per dataset, so a process that plays endless seeds does
not grow.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import os
import random
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqldebug.instances import Instance, build, replace_rows, schema_info, table_rows
from sqldebug.models import ColumnInfo
from sqldebug.sandbox import Limits


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


#: A table with more rows than this is perturbed on a sample of this many of its rows.
SAMPLE_ROWS = 1000
#: The number of hidden variant indices per dataset a seed draws from (the default pool size).
SPACE = 2**32
#: How many built variants a pool keeps (least recently used go first), and in how many bytes.
CACHED_VARIANTS = 256
CACHED_BYTES = 256 * 2**20
#: The environment variable that holds the deployment secret.
SECRET_ENV = "SQLDEBUG_SECRET"


def deployment_secret() -> str:
    """The secret that keys hidden instances: ``$SQLDEBUG_SECRET``, or "" (the public default)."""
    return os.environ.get(SECRET_ENV, "")


#: What faces say when scores are made on the public default.
PUBLIC_WARNING = (
    "hidden instances use the public default: anyone with the source can compute them for a "
    "seed; set SQLDEBUG_SECRET (serve: --secret-file) wherever a score counts"
)


def fingerprint(secret: str) -> str:
    """A name for a secret that does not reveal it: "public" for the default, else 16 hex digits
    of an HMAC. Two runs with one fingerprint graded on the same hidden data."""
    if not secret:
        return "public"
    return hmac.new(secret.encode(), b"sqldebug/fingerprint", hashlib.sha256).hexdigest()[:16]


def _variant_seed(secret: str, dataset_id: str, index: int) -> str:
    label = f"sqldebug/{dataset_id}/{index}"
    if not secret:
        return label
    return hmac.new(secret.encode(), label.encode(), hashlib.sha256).hexdigest()


def variant_rows(
    shapes: list[TableShape],
    visible: dict[str, list[tuple[Any, ...]]],
    dataset_id: str,
    index: int,
    secret: str = "",
) -> tuple[
    dict[str, list[list[Any]]], dict[str, list[tuple[Any, ...] | None]], dict[str, list[int]]
]:
    """The rows of hidden variant ``index``, deterministic in (secret, dataset id, index), and
    per table and row the visible row it was moved from (None for added rows): the row to keep
    when a moved value breaks a constraint (see :func:`sqldebug.instances.build`).

    A table of more than :data:`SAMPLE_ROWS` rows is perturbed on a sample: its rows here are
    what replaces the sample, and the third dict gives, for such a table, the positions of the
    sampled rows among the visible ones (the rest stay as they are). A table not in it is
    replaced whole.

    About one variant in four keeps every table's row count (as many rows removed as added, and
    none of either where other tables point at the rows), so a query cannot tell the visible
    instance by its table sizes.
    """
    rng = random.Random(_variant_seed(secret, dataset_id, index))
    keep_counts = rng.random() < 1 / 4
    out: dict[str, list[list[Any]]] = {}
    spares: dict[str, list[tuple[Any, ...] | None]] = {}
    twins: dict[str, dict[Any, Any]] = {}  # table -> {key of a row: key of its twin}
    sampled: dict[str, list[int]] = {}
    children = _child_counts(shapes, visible)
    keys: dict[tuple[str, str], list[Any]] = {}
    for shape in shapes:
        originals: list[tuple[Any, ...]] = list(visible.get(shape.name.lower(), []))
        cols = shape.columns
        pk_cols = [i for i, c in enumerate(cols) if c.pk]
        single_int_pk = len(pk_cols) == 1 and "INT" in cols[pk_cols[0]].type
        # a big table (a warehouse's) is perturbed on a sample of its rows: the cost of a variant
        # follows the sample, not the table, and the rest stays as it is
        fixed: list[tuple[Any, ...]] = []
        if len(originals) > SAMPLE_ROWS:
            picked = set(rng.sample(range(len(originals)), SAMPLE_ROWS))
            fixed = [r for j, r in enumerate(originals) if j not in picked]
            originals = [r for j, r in enumerate(originals) if j in picked]
            sampled[shape.name] = sorted(picked)
        ceilings = {
            i: max((r[i] for r in fixed if isinstance(r[i], int)), default=0)
            for i in set(shape.unique) | ({pk_cols[0]} if single_int_pk else set())
        }
        rows = [list(r) for r in originals]
        domains = [
            sorted({r[i] for r in rows if r[i] is not None}, key=repr) for i in range(len(cols))
        ]
        free = [
            i
            for i, c in enumerate(cols)
            if not c.pk and i not in shape.foreign_keys and i not in shape.unique
        ]
        nullable = [i for i in free if not cols[i].notnull]
        # 1. remove a few rows, only where nothing points at them (no cascades to empty results)
        removed = 0
        gone: list[tuple[Any, ...]] = []  # the removed rows: a kept count puts one back for
        # each added row that a constraint rejects
        if not shape.referenced and len(rows) > 3:
            lo = 1 if keep_counts else 0
            removed = rng.randint(lo, max(1, len(rows) // 8))
            for _ in range(removed):
                at = rng.randrange(len(rows))
                rows.pop(at)
                gone.append(originals.pop(at))
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
        order = list(range(len(rows)))
        rng.shuffle(order)
        rows = [rows[i] for i in order]
        spare: list[tuple[Any, ...] | None] = [originals[i] for i in order]
        added: list[list[Any]] = []
        if rows:
            next_id = (
                max(
                    max((r[pk_cols[0]] for r in rows if isinstance(r[pk_cols[0]], int)), default=0),
                    ceilings.get(pk_cols[0], 0),
                )
                + 1
                if single_int_pk
                else 0
            )
            adding = max(1, round(len(rows) * rng.uniform(0.15, 0.35)))
            if keep_counts:
                adding = removed
            for n in range(adding):
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
                        top = max((r[i] for r in rows if isinstance(r[i], int)), default=0)
                        new[i] = max(top, ceilings.get(i, 0)) + 1 + n
                if free and rng.random() > 0.25:  # else: an exact duplicate but for the key
                    for i in rng.sample(free, k=min(len(free), rng.randint(1, 2))):
                        new[i] = _mutate(new[i], cols[i], domains[i], rng, text_ok=True)
                added.append(new)
        rng.shuffle(added)
        rows += added
        # twins are not in the key pools: a new child row never points at one, so a twin's
        # aggregates stay exactly its original's
        for i, col in enumerate(cols):
            keys[(shape.name.lower(), col.name.lower())] = [r[i] for r in rows if r[i] is not None]
        if single_int_pk:
            keys[(shape.name.lower(), "")] = [r[pk_cols[0]] for r in rows]
        doubles: list[list[Any]] = []
        if not keep_counts and rows and single_int_pk:
            twins[shape.name.lower()] = _add_twins(
                shape,
                rows,
                doubles,
                twins,
                children.get(shape.name.lower(), {}),
                rng,
                index,
                fixed=fixed,
                ceiling=ceilings.get(pk_cols[0], 0),
            )
        rows += doubles
        out[shape.name] = rows
        back: list[tuple[Any, ...] | None] = list(gone) if keep_counts else []
        back += [None] * (len(added) - len(back))
        spares[shape.name] = spare + back + [None] * len(doubles)
    return out, spares, sampled


def _child_counts(
    shapes: list[TableShape], visible: dict[str, list[tuple[Any, ...]]]
) -> dict[str, dict[Any, int]]:
    """Per table, how many rows of other tables point at each of its keys (visible data)."""
    counts: dict[str, dict[Any, int]] = {}
    for shape in shapes:
        for i, (parent, _) in shape.foreign_keys.items():
            if parent == shape.name.lower():
                continue
            per_key = counts.setdefault(parent, {})
            for row in visible.get(shape.name.lower(), []):
                per_key[row[i]] = per_key.get(row[i], 0) + 1
    return counts


def _add_twins(
    shape: TableShape,
    rows: list[list[Any]],
    added: list[list[Any]],
    twins: dict[str, dict[Any, Any]],
    children: dict[Any, int],
    rng: random.Random,
    index: int,
    *,
    fixed: Sequence[Sequence[Any]] = (),
    ceiling: int = 0,
) -> dict[Any, Any]:
    """Duplicate entities: copies of rows under new keys, and of everything that points at them.

    A row whose parent was twinned gets a twin that points at the parent's twin (so a customer's
    twin has twins of the customer's orders, and those of their items), and a table that no
    twinned parent reaches twins about half of its rows, the ones with more children first.
    Every aggregate per parent then ties between a row and its twin: the ties, duplicates and
    fan-outs that LIMIT, DISTINCT and GROUP BY bugs hide behind. Returns {key: twin key}, for the
    tables that point at this one. Appends the twins to ``added``. ``fixed`` holds the rows of a
    big table left out of its sample (children of a twinned parent among them get twins too),
    ``ceiling`` the largest key among them.
    """
    (pk,) = (i for i, c in enumerate(shape.columns) if c.pk)
    next_id = (
        max(max((r[pk] for r in rows + added if isinstance(r[pk], int)), default=0), ceiling) + 1
    )
    links = [
        (i, twins[parent])
        for i, (parent, _) in shape.foreign_keys.items()
        if parent != shape.name.lower() and twins.get(parent)
    ]
    if links:
        chosen = []
        if len(links) == 1:  # the common case, and a big table's: one comparison per row
            ((at, only),) = links
            pointing: Iterable[Sequence[Any]] = [
                row for row in chain(rows, added, fixed) if row[at] in only
            ]
        else:
            pointing = [
                row
                for row in chain(rows, added, fixed)
                if any(row[i] in parent_twins for i, parent_twins in links)
            ]
        for row in pointing:  # one twin per row, pointing at the twin of every twinned parent
            twin = list(row)
            for i, parent_twins in links:
                twin[i] = parent_twins.get(twin[i], twin[i])
            chosen.append(twin)
    else:
        # weighted draw without replacement (more children, likelier), about half of the rows
        ranked = sorted(
            rows,
            key=lambda r: rng.random() ** (1.0 / (1 + children.get(r[pk], 0)) ** 2),
            reverse=True,
        )
        chosen = [list(r) for r in ranked[: max(1, len(rows) // 2)]]
    mapping: dict[Any, Any] = {}
    for n, twin in enumerate(chosen):
        original = twin[pk]
        twin[pk] = next_id
        mapping[original] = next_id
        next_id += 1
        for i in shape.unique:
            if isinstance(twin[i], str):
                twin[i] = f"{index}.t{n}.{twin[i]}"
            elif isinstance(twin[i], int):
                twin[i] = next_id * 1000 + n
        added.append(twin)
    return mapping


def _rows_and_rowids(
    conn: sqlite3.Connection, shape: TableShape
) -> tuple[list[tuple[Any, ...]], list[int] | None]:
    """A table's rows in storage order and their rowids; no rowids for a WITHOUT ROWID table or
    one with a column that hides the rowid."""
    if {c.name.lower() for c in shape.columns} & {"rowid", "_rowid_", "oid"}:
        return table_rows(conn, shape.name).rows, None
    try:
        read = conn.execute(f'SELECT rowid, * FROM "{shape.name}" ORDER BY rowid').fetchall()
    except sqlite3.OperationalError:  # WITHOUT ROWID
        return table_rows(conn, shape.name).rows, None
    return [r[1:] for r in read], [r[0] for r in read]


def _bytes(conn: sqlite3.Connection) -> int:
    """The size of an in-memory database: its pages."""
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int(pages) * int(size)


@functools.lru_cache(maxsize=65536)
def _draw(size: int, seed: int, k: int, attempt: int) -> tuple[int, ...]:
    rng = random.Random(seed if attempt == 0 else f"{seed}/{attempt}")
    return tuple(sorted(rng.sample(range(size), k)))


class InstancePool:
    """The visible instance of one dataset and its hidden variants, built lazily.

    A seed draws ``k`` distinct variants of ``size`` (default :data:`SPACE`). Building a variant
    costs a millisecond or two the first time an episode needs it; the last
    :data:`CACHED_VARIANTS` built stay, so the seeds of a training group or a bench run pay once.
    """

    def __init__(
        self,
        dataset_id: str,
        ddl: str,
        rows: Mapping[str, Sequence[Sequence[Any]]],
        *,
        size: int = SPACE,
        limits: Limits | None = None,
        secret: str = "",
        cached: int = CACHED_VARIANTS,
    ) -> None:
        if size < 1:
            raise ValueError("the variant pool needs at least one variant")
        self.dataset_id = dataset_id
        self.ddl = ddl
        self.size = size
        self.secret = secret
        self.cached = cached
        self.limits = limits or Limits()
        self.visible = Instance("visible", build(ddl, rows), self.limits)
        self._schema = build(ddl, {})  # empty: cloned for each variant instead of the DDL
        self.schema = schema_info(self.visible.template)
        self.shapes = table_shapes(self.visible.template)
        self._visible_rows: dict[str, list[tuple[Any, ...]]] = {}
        #: the rowid of each visible row, in the same order: what a variant replaces
        self._rowids: dict[str, list[int]] = {}
        for shape in self.shapes:
            read, rowids = _rows_and_rowids(self.visible.template, shape)
            self._visible_rows[shape.name.lower()] = read
            if rowids is not None:
                self._rowids[shape.name.lower()] = rowids
        self._variants: OrderedDict[int, Instance] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._bytes = 0
        self._held = 0  # variants kept whatever their bytes (see holding())
        self._lock = threading.Lock()

    def variant(self, index: int) -> Instance:
        """Hidden variant ``index`` (0 <= index < size), built on first use."""
        with self._lock:
            inst = self._variants.get(index)
            if inst is not None:
                self._variants.move_to_end(index)
                return inst
        rows, spares, sampled = variant_rows(
            self.shapes, self._visible_rows, self.dataset_id, index, self.secret
        )
        if sampled and all(self._rowids.get(t.lower()) for t in sampled):
            # a warehouse: copy the visible database, replace each big table's sample
            replace = {t: [self._rowids[t.lower()][j] for j in at] for t, at in sampled.items()}
            conn = self.visible.copy()
            replace_rows(conn, rows, replace=replace, fallback=spares)
        else:
            for table, at in sampled.items():  # no rowid to replace by: every row goes in
                picked = set(at)
                visible = self._visible_rows[table.lower()]
                fixed = [r for j, r in enumerate(visible) if j not in picked]
                rows[table] = [*map(list, fixed), *rows[table]]
                spares[table] = [*fixed, *spares[table]]
            with self._lock:  # one backup from the schema at a time
                conn = build(self.ddl, rows, lenient=True, fallback=spares, schema=self._schema)
        size = _bytes(conn)
        with self._lock:
            inst = self._variants.get(index)
            if inst is None:
                inst = self._variants[index] = Instance(f"v{index}", conn, self.limits)
                self._sizes[index] = size
                self._bytes += size
            self._trim()
        return inst

    def _trim(self) -> None:
        """At most ``cached`` variants, and at most CACHED_BYTES of them (a warehouse's variants
        are megabytes each) unless held, least recently used first; one always stays. A pool of
        no more than ``cached`` variants (a dataset's ``variants``) keeps them all."""
        held = max(self._held, self.size if self.size <= self.cached else 0)
        while len(self._variants) > 1 and (
            len(self._variants) > max(self.cached, held)
            or (self._bytes > CACHED_BYTES and len(self._variants) > held)
        ):
            gone, _ = self._variants.popitem(last=False)
            self._bytes -= self._sizes.pop(gone)

    @contextlib.contextmanager
    def holding(self, count: int) -> Iterator[None]:
        """Keep at least ``count`` variants built while inside, whatever their bytes.

        ``tasks validate`` checks every task of a dataset on the same sample of variants: a
        cache smaller than the sample, used in a cycle, would rebuild every variant for every
        task (least recently used is always the next one needed).
        """
        with self._lock:
            self._held = count
        try:
            yield
        finally:
            with self._lock:
                self._held = 0
                self._trim()

    def draw(self, seed: int, k: int, attempt: int = 0) -> tuple[int, ...]:
        """The variant indices a seed picks: deterministic, distinct, ``min(k, size)`` of them.
        ``attempt`` > 0 draws again (the runtime redraws a set that would not expose a bug)."""
        return _draw(self.size, seed, min(k, self.size), attempt)

    def sample(self, seeds: int, k: int) -> list[int]:
        """The distinct variant indices that seeds ``0 .. seeds-1`` draw first: what
        ``tasks validate`` checks, a fair sample of what episodes see; every variant when there
        are no more than those seeds would draw (then validation covers every hidden instance
        any episode can meet)."""
        if self.size <= seeds * k:
            return list(range(self.size))
        return sorted({i for seed in range(seeds) for i in self.draw(seed, k)})
