"""Edit families for the search agent: small rewrites of a sqlglot AST, one bug pattern each.

Each family is a function ``(tree, schema) -> Iterator[Edit]``: it finds the nodes its pattern
applies to and yields, per node and per alternative, a *new* tree with that one node rewritten
(the input is never mutated). An edit carries a ``weight``, the family's prior that this is the
bug, raised where the query itself is evidence (``= NULL`` is nearly always wrong) and not offered
where the schema rules it out (an ``IS NULL`` arm for a NOT NULL column).

Everything goes through sqlglot's AST with the ``sqlite`` dialect, never through text matching.
The one exception, :func:`syntax_repairs`, edits sqlglot's *tokens*, because a statement
that does not parse has no tree. :func:`single_edits` runs every family and skips one that raises,
so an odd query costs a family, never the episode.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import Token, TokenType

DIALECT = "sqlite"
Node = exp.Expr
Family = Callable[[Node, "Schema"], Iterator["Edit"]]


class Edit:
    """One rewrite: its family, what it did, its prior weight, and the whole new tree.

    The tree is built on first use: copying a large query for each of hundreds of edits costs
    more than everything else, and the agent ranks edits by weight before it looks at any tree.
    """

    def __init__(
        self, family: str, note: str, tree: Node | Callable[[], Node], weight: float
    ) -> None:
        self.family, self.note, self.weight = family, note, weight
        self._tree = tree

    @property
    def tree(self) -> Node:
        if not isinstance(self._tree, exp.Expr):
            self._tree = self._tree()
        return self._tree


class Alt(NamedTuple):
    """What a family proposes for one matched node; ``family`` overrides the family's name."""

    note: str
    weight: float
    node: Node
    family: str = ""


class ColumnSpec(NamedTuple):
    """What the DDL says about one column."""

    type: str
    notnull: bool
    references: str | None  # the table a REFERENCES clause points at
    allowed: frozenset[str]  # the strings a CHECK (col IN (...)) allows; empty: any


class Schema:
    """Columns per table (type, NOT NULL, REFERENCES, CHECK ... IN), read from the observation's
    DDL by sqlglot. Foreign keys say which column joins to which table; CHECK lists say which
    literals are spelt right."""

    def __init__(self, tables: dict[str, dict[str, ColumnSpec]]) -> None:
        self.tables = tables

    @classmethod
    def from_ddl(cls, ddl: str) -> Schema:
        tables: dict[str, dict[str, ColumnSpec]] = {}
        try:
            statements = sqlglot.parse(ddl, read=DIALECT)
        except Exception:  # DDL sqlglot cannot read: no schema means fewer edits, not a crash
            return cls({})
        for create in statements:
            if not isinstance(create, exp.Create) or not isinstance(create.this, exp.Schema):
                continue
            cols = tables.setdefault(create.this.this.name.lower(), {})
            for col in create.this.expressions:
                if not isinstance(col, exp.ColumnDef):
                    continue
                kinds = [c.args.get("kind") for c in col.args.get("constraints") or []]
                notnull = exp.NotNullColumnConstraint | exp.PrimaryKeyColumnConstraint
                ref = next((k.this.this.name for k in kinds if isinstance(k, exp.Reference)), None)
                checks = [k.this for k in kinds if isinstance(k, exp.CheckColumnConstraint)]
                allowed = {
                    v.this for c in checks if isinstance(c, exp.In) for v in c.expressions
                    if isinstance(v, exp.Literal) and v.is_string
                }  # fmt: skip
                kind = col.args.get("kind")
                cols[col.name.lower()] = ColumnSpec(
                    kind.sql(DIALECT) if kind else "",
                    any(isinstance(k, notnull) for k in kinds),
                    ref.lower() if ref else None,
                    frozenset(allowed),
                )
        return cls(tables)

    def columns(self, table: str | None) -> list[str]:
        return list(self.tables.get((table or "").lower(), {}))

    def spec(self, table: str | None, column: str) -> ColumnSpec | None:
        return self.tables.get((table or "").lower(), {}).get(column.lower())

    def nullable(self, table: str | None, column: str) -> bool:
        """Unknown columns count as nullable: the edit is only offered, never forced."""
        spec = self.spec(table, column)
        return spec is None or not spec.notnull

    def is_text(self, table: str | None, column: str) -> bool:
        spec = self.spec(table, column)
        return spec is not None and any(t in spec.type.upper() for t in ("CHAR", "TEXT", "CLOB"))


# -- helpers --------------------------------------------------------------------------------------


def render(tree: Node) -> str | None:
    """The SQL text of a tree, or None when sqlglot cannot generate it."""
    try:
        return tree.sql(dialect=DIALECT, pretty=True)
    except Exception:
        return None


def _alternatives(
    tree: Node, kinds: tuple[type[Node], ...], family: str, alts: Callable[[Node], Iterable[Alt]]
) -> Iterator[Edit]:
    """For the i-th node of ``kinds``, each alternative replaces it in a fresh copy of the tree.

    ``alts`` builds replacements from copies and never changes the node it is given; the copy's
    i-th node is the same node, since ``find_all`` walks equal trees in the same order.
    """

    def build(i: int, new: Node) -> Node:
        copy = tree.copy()
        target = list(copy.find_all(*kinds))[i]
        if target is copy:
            return new
        target.replace(new)
        return copy

    for i, node in enumerate(list(tree.find_all(*kinds))):
        for alt in alts(node):
            make = functools.partial(build, i, alt.node)
            yield Edit(alt.family or family, alt.note, make, alt.weight)


def _conjuncts(node: Node | None) -> list[Node]:
    if node is None:
        return []
    return list(node.flatten()) if isinstance(node, exp.And) else [node]


def _and(parts: list[Node]) -> Node:
    return exp.and_(*[p.copy() for p in parts])


def _own(node: Node, kind: type[Node], stop: tuple[type[Node], ...]) -> list[Node]:
    """Nodes of ``kind`` at this query level: the walk does not enter nested ``stop`` nodes."""
    nodes = node.walk(prune=lambda n: n is not node and isinstance(n, stop))
    return [n for n in nodes if isinstance(n, kind)]


def _aggregates(node: Node) -> list[Node]:
    """Aggregate calls of this query level: not windowed, not inside a subquery."""
    stop = (exp.Select, exp.Subquery, exp.Window)
    return [n for n in _own(node, exp.AggFunc, stop) if not isinstance(n.parent, exp.Window)]


def _columns(node: Node) -> list[exp.Column]:
    return [
        c for c in _own(node, exp.Column, (exp.Select, exp.Subquery)) if isinstance(c, exp.Column)
    ]


def _sources(query: Node | None) -> dict[str, str]:
    """Alias (or name) -> table name for the tables a SELECT, UPDATE or DELETE reads."""
    if query is None:
        return {}
    from_ = query.args.get("from_")
    tables = [from_.this] if from_ is not None else []
    tables += [j.this for j in query.args.get("joins") or []]
    if isinstance(query, exp.Update | exp.Delete):
        tables.append(query.this)
    return {t.alias_or_name.lower(): t.name.lower() for t in tables if isinstance(t, exp.Table)}


def _scope(node: Node) -> Node | None:
    return node.find_ancestor(exp.Select, exp.Update, exp.Delete)


def _table_of(col: exp.Column, schema: Schema) -> str | None:
    """The table a column belongs to, looked up at its own query level, then the enclosing ones."""
    scope = _scope(col)
    while scope is not None:
        sources = _sources(scope)
        if col.table and col.table.lower() in sources:
            return sources[col.table.lower()]
        for table in [] if col.table else sources.values():
            if col.name.lower() in schema.columns(table):
                return table
        scope = _scope(scope)
    return None


def _nullable(node: Node, schema: Schema) -> bool:
    return isinstance(node, exp.Column) and schema.nullable(_table_of(node, schema), node.name)


def _iso_date(node: Node) -> dt.date | None:
    if isinstance(node, exp.Literal) and node.is_string and len(node.this) == 10:
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(node.this)
    return None


def _or_null(node: Node, col: Node) -> Node:
    """``(node OR col IS NULL)``: the test that also keeps the rows where ``col`` is NULL."""
    return exp.Paren(this=exp.or_(node.copy(), exp.Is(this=col.copy(), expression=exp.Null())))


def _with(node: Node, arg: str, value: object) -> Node:
    """A copy of ``node`` with one argument replaced."""
    new = node.copy()
    new.set(arg, value)
    return new


def _ascending(term: Node) -> exp.Ordered:
    """``term ASC`` with NULLs first, SQLite's default (sqlglot would spell out NULLS LAST)."""
    return exp.Ordered(this=term, nulls_first=True)


def _singular(name: str) -> str:
    name = name.lower()
    return name[:-3] + "y" if name.endswith("ies") else name.removesuffix("s")


# -- joins ----------------------------------------------------------------------------------------


def _undone(join: exp.Join) -> bool:
    """Would a LEFT JOIN here act as an INNER one? It does when a WHERE test or a later inner
    join's ON needs the joined table's columns, which are NULL on its unmatched rows."""
    select, alias = join.parent, join.this.alias_or_name.lower()
    if select is None:
        return False
    joins = select.args.get("joins") or []
    later = [j.args.get("on") for j in joins[joins.index(join) + 1 :] if not j.side]
    where = select.args.get("where")
    tests = [*later, *_conjuncts(where.this if where else None)]
    return any(
        t is not None
        and not t.find(exp.Is, exp.Coalesce)
        and any(c.table.lower() == alias for c in _columns(t))
        for t in tests
    )


def join_type(tree: Node, schema: Schema) -> Iterator[Edit]:
    """An INNER JOIN drops rows without a match that a LEFT JOIN keeps (and the other way).
    A LEFT JOIN that a WHERE test would turn back into an inner one is hardly worth a step."""

    def alts(join: Node) -> Iterator[Alt]:
        if not isinstance(join, exp.Join) or not join.args.get("on") or join.kind == "CROSS":
            return
        new = join.copy()
        if not join.side:
            new.set("kind", None)
            new.set("side", "LEFT")
            yield Alt("INNER -> LEFT JOIN", 0.2 if _undone(join) else 1.0, new)
        elif join.side.upper() == "LEFT":
            new.set("side", None)
            yield Alt("LEFT -> INNER JOIN", 0.3, new)

    yield from _alternatives(tree, (exp.Join,), "left-join", alts)


def join_filter(tree: Node, schema: Schema) -> Iterator[Edit]:
    """A WHERE test on a LEFT-joined table drops its unmatched rows again: move it into the ON."""

    def alts(select: Node) -> Iterator[Alt]:
        parts = _conjuncts(select.args["where"].this if select.args.get("where") else None)
        for j, join in enumerate(select.args.get("joins") or []):
            if (join.side or "").upper() != "LEFT" or not join.args.get("on"):
                continue
            alias = join.this.alias_or_name.lower()
            for i, part in enumerate(parts):
                cols = _columns(part)
                if (
                    isinstance(part, exp.Is)
                    or not cols
                    or any(c.table.lower() != alias for c in cols)
                ):
                    continue
                new = select.copy()
                on = new.args["joins"][j]
                on.set("on", exp.and_(on.args["on"].copy(), part.copy()))
                rest = parts[:i] + parts[i + 1 :]
                new.set("where", exp.Where(this=_and(rest)) if rest else None)
                yield Alt(f"move {part.sql(DIALECT)} into the ON", 0.9, new)

    yield from _alternatives(tree, (exp.Select,), "join-filter", alts)


def join_key(tree: Node, schema: Schema) -> Iterator[Edit]:
    """``o.id = oi.product_id`` -> ``o.id = oi.order_id``: join on the column that points at the
    other side, by its REFERENCES clause or else by its name (``order_id`` for ``orders``)."""

    def points_at(table: str | None, column: str, target: str | None, key: str) -> bool:
        spec = schema.spec(table, column)
        if spec is not None and spec.references is not None:
            return spec.references == target
        return target is not None and column.lower() == f"{_singular(target)}_{key.lower()}"

    def alts(eq: Node) -> Iterator[Alt]:
        left, right = eq.this, eq.expression
        if not isinstance(eq.find_ancestor(exp.Join, exp.Select), exp.Join):
            return
        if not isinstance(left, exp.Column) or not isinstance(right, exp.Column):
            return
        lt, rt = _table_of(left, schema), _table_of(right, schema)
        if left.name == right.name or points_at(lt, left.name, rt, right.name):
            return
        if points_at(rt, right.name, lt, left.name):
            return
        for mine, other, side in ((left, right, "this"), (right, left, "expression")):
            mt, ot = _table_of(mine, schema), _table_of(other, schema)
            spec = schema.spec(mt, mine.name)
            weight = 1.0 if spec is None or spec.references else 0.4  # rather fix the FK side
            for column in schema.columns(mt):
                if column != mine.name.lower() and points_at(mt, column, ot, other.name):
                    new = eq.copy()
                    new.set(side, exp.column(column, table=mine.table or None))
                    yield Alt(f"join on {column}, not {mine.name}", weight, new)

    yield from _alternatives(tree, (exp.EQ,), "join-key", alts)


# -- aggregates and grouping ----------------------------------------------------------------------

_SWAPS: dict[type[Node], list[tuple[type[Node], float]]] = {
    exp.Sum: [(exp.Avg, 0.2), (exp.Max, 0.1), (exp.Min, 0.05)],
    exp.Avg: [(exp.Sum, 0.2), (exp.Max, 0.1), (exp.Min, 0.05)],
    exp.Max: [(exp.Min, 0.2), (exp.Sum, 0.15), (exp.Avg, 0.05)],
    exp.Min: [(exp.Max, 0.2), (exp.Sum, 0.1), (exp.Avg, 0.05)],
}


def aggregates(tree: Node, schema: Schema) -> Iterator[Edit]:
    """COUNT(col) <-> COUNT(*) <-> COUNT(DISTINCT col); SUM <-> AVG, MAX <-> MIN; SUM(DISTINCT).

    ``COUNT(*)`` over a LEFT JOIN counts 1 for a row without a match: count the joined key.
    """
    left = [
        (j.this.alias_or_name, j.this.name)
        for j in tree.find_all(exp.Join)
        if (j.side or "").upper() == "LEFT" and isinstance(j.this, exp.Table)
    ]

    def alts(node: Node) -> Iterator[Alt]:
        arg = node.this
        if isinstance(node.parent, exp.Window):
            return
        if isinstance(node, exp.Count) and isinstance(arg, exp.Star):
            for alias, table in left:
                cols = schema.columns(table)
                key = "id" if "id" in cols else (cols or [""])[0]
                if key:
                    yield Alt(
                        "COUNT(*) -> COUNT(key)",
                        0.7,
                        exp.Count(this=exp.column(key, alias)),
                        "count-col",
                    )
        elif isinstance(node, exp.Count) and isinstance(arg, exp.Distinct):
            yield Alt(
                "COUNT(DISTINCT x) -> COUNT(x)", 0.4, exp.Count(this=arg.expressions[0].copy())
            )
        elif isinstance(node, exp.Count) and arg is not None:
            distinct = exp.Distinct(expressions=[arg.copy()])
            yield Alt(
                "COUNT(x) -> COUNT(DISTINCT x)", 0.6, exp.Count(this=distinct), "count-distinct"
            )
            yield Alt("COUNT(x) -> COUNT(*)", 0.4, exp.Count(this=exp.Star()))
        for cls, weight in _SWAPS.get(type(node), []):
            note = f"{node.key.upper()} -> {cls.key.upper()}"
            yield Alt(note, weight, cls(this=arg.copy()), f"agg-{cls.key}")
        if isinstance(node, exp.Sum) and not isinstance(arg, exp.Distinct):
            distinct = exp.Distinct(expressions=[arg.copy()])
            yield Alt("SUM(x) -> SUM(DISTINCT x)", 0.2, exp.Sum(this=distinct))

    yield from _alternatives(tree, (exp.Count, *_SWAPS), "aggregate", alts)


def group_keys(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Add a selected column missing from GROUP BY (SQLite allows it silently), or drop a key.

    In a subquery, also try each other column of its tables: a dedupe that groups by too few
    columns takes different rows for duplicates.
    """

    def alts(select: Node) -> Iterator[Alt]:
        group = select.args.get("group")
        if group is None or not isinstance(select, exp.Select):
            return
        keys = [k.sql(DIALECT).lower() for k in group.expressions]
        names = {k.rpartition(".")[2] for k in keys}
        for proj in select.expressions:
            inner = proj.unalias()
            if _aggregates(inner) or inner.find(exp.Window) or isinstance(inner, exp.Literal):
                continue
            if inner.sql(DIALECT).lower() not in keys and proj.alias_or_name.lower() not in keys:
                yield Alt(f"GROUP BY also {inner.sql(DIALECT)}", 0.8, select.group_by(inner.copy()))
        sources = _sources(select)
        nested = isinstance(select.parent, exp.Subquery | exp.CTE)
        for alias, table in sources.items() if nested and _aggregates(select) else []:
            qualifier = alias if alias != table or len(sources) > 1 else None
            for column in schema.columns(table):
                if column not in names:
                    new = select.group_by(exp.column(column, qualifier))
                    yield Alt(f"GROUP BY also {column}", 0.45, new)
        for i in range(len(keys) if len(keys) > 1 else 0):
            new = select.copy()
            new.args["group"].expressions[i].pop()
            yield Alt(f"GROUP BY without {keys[i]}", 0.25, new)

    yield from _alternatives(tree, (exp.Select,), "group-by", alts)


def having_where(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Row filters belong in WHERE, tests on aggregates in HAVING: move the misplaced one."""

    def alts(select: Node) -> Iterator[Alt]:
        if not isinstance(select, exp.Select):
            return
        for source, target in (("having", "where"), ("where", "having")):
            clause = select.args.get(source)
            parts = _conjuncts(clause.this if clause is not None else None)
            for i, part in enumerate(parts):
                if bool(_aggregates(part)) != (target == "having"):
                    continue
                new = select.copy()
                rest = parts[:i] + parts[i + 1 :]
                cls = exp.Having if source == "having" else exp.Where
                new.set(source, cls(this=_and(rest)) if rest else None)
                moved = new.where if target == "where" else new.having
                yield Alt(f"move {part.sql(DIALECT)} to {target.upper()}", 1.0, moved(part.copy()))

    yield from _alternatives(tree, (exp.Select,), "having-where", alts)


# -- predicates -----------------------------------------------------------------------------------

_FLIPS: dict[type[Node], type[Node]] = {
    exp.LT: exp.LTE,
    exp.LTE: exp.LT,
    exp.GT: exp.GTE,
    exp.GTE: exp.GT,
    exp.EQ: exp.NEQ,
    exp.NEQ: exp.EQ,
}


def comparisons(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Off-by-one bounds (< vs <=), a flipped = / <>, and ``<= 'date'`` missing that day's times."""

    def alts(node: Node) -> Iterator[Alt]:
        left, right = node.this, node.expression
        if isinstance(left, exp.Null) or isinstance(right, exp.Null):
            return
        if isinstance(node, exp.EQ) and isinstance(
            node.find_ancestor(exp.Join, exp.Select), exp.Join
        ):
            return
        flip = _FLIPS[type(node)]
        weight = 0.15 if isinstance(node, exp.EQ | exp.NEQ) else 0.25
        new = flip(this=left.copy(), expression=right.copy())
        yield Alt(f"{node.key} -> {flip.key}", weight, new, f"cmp-{flip.key}")
        day = _iso_date(right)
        if day is not None and isinstance(node, exp.LTE | exp.GT):
            nxt = exp.Literal.string((day + dt.timedelta(days=1)).isoformat())
            cls = exp.LT if isinstance(node, exp.LTE) else exp.GTE
            new = cls(this=left.copy(), expression=nxt)
            yield Alt("date bound after the whole day", 0.9, new, "date-range")

    yield from _alternatives(tree, tuple(_FLIPS), "comparison", alts)


def date_between(tree: Node, schema: Schema) -> Iterator[Edit]:
    """``ts BETWEEN '2024-02-01' AND '2024-02-28'`` misses the last day's times (and the 29th).

    Rewritten as a half-open range ending the day after the upper bound, or (when the range starts
    on the 1st and stops near the month's end) ending the first day of the next month.
    """

    def alts(node: Node) -> Iterator[Alt]:
        low, high = _iso_date(node.args["low"]), _iso_date(node.args["high"])
        if low is None or high is None:
            return

        def half_open(end: dt.date) -> Node:
            ge = exp.GTE(this=node.this.copy(), expression=node.args["low"].copy())
            lt = exp.LT(this=node.this.copy(), expression=exp.Literal.string(end.isoformat()))
            both = exp.and_(ge, lt)
            return both if isinstance(node.parent, exp.And | exp.Where) else exp.Paren(this=both)

        next_month = (low.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        if low.day == 1 and (high.month, high.year) == (low.month, low.year) and high.day >= 27:
            yield Alt("BETWEEN -> the whole month", 1.3, half_open(next_month))
        yield Alt("BETWEEN -> half-open range", 1.1, half_open(high + dt.timedelta(days=1)))
        end = exp.Literal.string(f"{high.isoformat()} 23:59:59")
        between = exp.Between(this=node.this.copy(), low=node.args["low"].copy(), high=end)
        yield Alt("BETWEEN ... 23:59:59", 0.5, between)

    yield from _alternatives(tree, (exp.Between,), "date-range", alts)


def precedence(tree: Node, schema: Schema) -> Iterator[Edit]:
    """``a AND b OR c`` reads as ``(a AND b) OR c``; the author usually meant ``a AND (b OR c)``."""

    def alts(node: Node) -> Iterator[Alt]:
        left, right = node.this, node.expression
        if isinstance(left, exp.And):
            parts = list(left.flatten())
            for k in range(1, len(parts)):
                tail = exp.Paren(this=exp.or_(_and(parts[k:]), right.copy()))
                weight = 1.0 if k == len(parts) - 1 else 0.4
                yield Alt("AND binds tighter than OR", weight, exp.and_(*parts[:k], tail))
        if isinstance(right, exp.And):
            parts = list(right.flatten())
            for k in range(1, len(parts)):
                head = exp.Paren(this=exp.or_(left.copy(), _and(parts[:k])))
                weight = 1.0 if k == 1 else 0.4
                yield Alt("AND binds tighter than OR", weight, exp.and_(head, *parts[k:]))

    yield from _alternatives(tree, (exp.Or,), "precedence", alts)


def logic(tree: Node, schema: Schema) -> Iterator[Edit]:
    """AND written as OR (or the other way): an OR at the top of a WHERE matches the most rows."""

    def alts(node: Node) -> Iterator[Alt]:
        left, right = node.this.copy(), node.expression.copy()
        top = isinstance(node.parent, exp.Where)
        if isinstance(node, exp.Or):
            yield Alt("OR -> AND", 0.35 if top else 0.15, exp.and_(left, right))
        else:
            yield Alt("AND -> OR", 0.1, exp.Paren(this=exp.or_(left, right)))

    yield from _alternatives(tree, (exp.And, exp.Or), "logic", alts)


def nulls(tree: Node, schema: Schema) -> Iterator[Edit]:
    """``= NULL`` is never true; ``<>`` and ``NOT IN`` drop NULLs; ``NOT IN`` a set with a NULL
    is never true, so use NOT EXISTS or keep NULLs out of the subquery."""

    def alts(node: Node) -> Iterator[Alt]:
        left, right = node.this, node.expression
        if isinstance(node, exp.EQ | exp.NEQ) and exp.Null in (type(left), type(right)):
            value = left if isinstance(right, exp.Null) else right
            test = exp.Is(this=value.copy(), expression=exp.Null())
            yield Alt(
                "= NULL -> IS NULL", 1.5, test if isinstance(node, exp.EQ) else exp.Not(this=test)
            )
        elif isinstance(node, exp.NEQ):
            col = left if isinstance(left, exp.Column) else right
            if _nullable(col, schema):
                yield Alt("<> keeps NULLs too", 1.0, _or_null(node, col))
        elif isinstance(left, exp.In) and not left.args.get("query"):
            if _nullable(left.this, schema):
                yield Alt("NOT IN keeps NULLs too", 0.8, _or_null(node, left.this))
        elif isinstance(left, exp.In):
            yield from not_in_subquery(left, schema)

    yield from _alternatives(tree, (exp.EQ, exp.NEQ, exp.Not), "null", alts)


def not_in_subquery(node: exp.In, schema: Schema) -> Iterator[Alt]:
    """``x NOT IN (SELECT c ...)`` -> ``NOT EXISTS (SELECT 1 ... AND c = x)``, and the variant
    ``... WHERE c IS NOT NULL``; only for a plain (not aggregated) single-column subquery."""
    sub, outer = node.args["query"].this, node.this
    if (
        not isinstance(sub, exp.Select)
        or len(sub.expressions) != 1
        or sub.args.get("from_") is None
    ):
        return
    value = sub.expressions[0].unalias()
    if not isinstance(value, exp.Column) or _aggregates(sub) or sub.args.get("group"):
        return
    inner = sub.args["from_"].this
    clash = isinstance(outer, exp.Column) and outer.table.lower() in _sources(sub)
    if isinstance(outer, exp.Column) and outer.table and not clash and isinstance(inner, exp.Table):
        probe = sub.select(exp.Literal.number(1), append=False)
        probe = probe.where(exp.EQ(this=value.copy(), expression=outer.copy()))
        yield Alt("NOT IN -> NOT EXISTS", 1.3, exp.Not(this=exp.Exists(this=probe)))
    guarded = sub.where(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())))
    new_in = exp.In(this=outer.copy(), query=exp.Subquery(this=guarded))
    weight = 1.2 if _nullable(value, schema) else 0.3
    yield Alt("NOT IN subquery without NULLs", weight, exp.Not(this=new_in))


def coalesce(tree: Node, schema: Schema) -> Iterator[Edit]:
    """An empty SUM is NULL, not 0; a NULL column may need a label: COALESCE(x, 0 / 'unknown')."""

    def alts(select: Node) -> Iterator[Alt]:
        for i, proj in enumerate(select.expressions if isinstance(select, exp.Select) else []):
            inner = proj.unalias()
            fill: Node = exp.Literal.number(0)
            weight = 0.3 if isinstance(inner, exp.Sum | exp.Avg | exp.Max | exp.Min) else 0.0
            if isinstance(inner, exp.Column) and _nullable(inner, schema):
                if schema.is_text(_table_of(inner, schema), inner.name):
                    fill = exp.Literal.string("unknown")
                weight = 0.15
            if weight:
                new = select.copy()
                wrapped = exp.Coalesce(this=inner.copy(), expressions=[fill])
                new.expressions[i].replace(exp.alias_(wrapped, proj.alias_or_name))
                yield Alt(f"COALESCE({inner.sql(DIALECT)}, {fill.sql(DIALECT)})", weight, new)

    yield from _alternatives(tree, (exp.Select,), "coalesce", alts)


# -- projections, division, ordering --------------------------------------------------------------


def distinct(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Rows repeated by a join (add DISTINCT), or rows merged that should not be (remove it)."""

    def alts(select: Node) -> Iterator[Alt]:
        if not isinstance(select, exp.Select) or isinstance(select.parent, exp.Exists):
            return
        new = select.copy()
        if select.args.get("distinct"):
            new.set("distinct", None)
            yield Alt("remove DISTINCT", 0.35, new)
        elif not select.args.get("group"):
            new.set("distinct", exp.Distinct())
            yield Alt("add DISTINCT", 0.3, new)

    yield from _alternatives(tree, (exp.Select,), "distinct", alts)


def division(tree: Node, schema: Schema) -> Iterator[Edit]:
    """SQLite divides integers as integers (2 / 3 = 0): make the numerator REAL."""

    def alts(node: Node) -> Iterator[Alt]:
        num, den = node.this, node.expression
        if isinstance(num, exp.Cast) or (isinstance(num, exp.Literal) and "." in num.this):
            return
        real = exp.Cast(this=num.copy(), to=exp.DataType.build("REAL"))
        yield Alt(
            "integer division -> CAST AS REAL", 0.6, exp.Div(this=real, expression=den.copy())
        )
        scaled = exp.Mul(this=exp.Paren(this=num.copy()), expression=exp.Literal.number("1.0"))
        yield Alt("integer division -> * 1.0", 0.1, exp.Div(this=scaled, expression=den.copy()))

    yield from _alternatives(tree, (exp.Div,), "int-division", alts)


def order_direction(tree: Node, schema: Schema) -> Iterator[Edit]:
    """ASC <-> DESC, keeping SQLite's default place for NULLs in the new direction."""

    def alts(node: Node) -> Iterator[Alt]:
        desc = not node.args.get("desc")
        new = node.copy()
        new.set("desc", desc or None)
        new.set("nulls_first", not desc)
        yield Alt(("ASC -> DESC" if desc else "DESC -> ASC"), 0.25, new)

    yield from _alternatives(tree, (exp.Ordered,), "order", alts)


def set_operations(tree: Node, schema: Schema) -> Iterator[Edit]:
    """UNION removes duplicate rows, UNION ALL keeps them."""

    def alts(node: Node) -> Iterator[Alt]:
        new = node.copy()
        new.set("distinct", not node.args.get("distinct"))
        yield Alt(
            "UNION -> UNION ALL" if node.args.get("distinct") else "UNION ALL -> UNION", 0.5, new
        )

    yield from _alternatives(tree, (exp.Union,), "union", alts)


def string_match(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Text differing in case or by a trailing space: compare LOWER() or TRIM() of both sides."""

    def texty(side: Node) -> bool:
        if isinstance(side, exp.Column):
            return schema.is_text(_table_of(side, schema), side.name)
        return isinstance(side, exp.Literal) and side.is_string

    def spelt_right(col: Node, value: Node) -> bool:  # a value its CHECK (col IN ...) allows
        spec = (
            schema.spec(_table_of(col, schema), col.name) if isinstance(col, exp.Column) else None
        )
        return spec is not None and isinstance(value, exp.Literal) and value.this in spec.allowed

    def alts(node: Node) -> Iterator[Alt]:
        sides = (node.this, node.expression)
        if spelt_right(*sides) or spelt_right(*sides[::-1]):
            return
        if all(map(texty, sides)) and any(isinstance(s, exp.Column) for s in sides):
            for fn, weight in ((exp.Lower, 0.2), (exp.Trim, 0.15)):
                new = exp.EQ(this=fn(this=sides[0].copy()), expression=fn(this=sides[1].copy()))
                yield Alt(f"{fn.key.upper()}() on both sides", weight, new)

    yield from _alternatives(tree, (exp.EQ,), "string-match", alts)


# -- LIMIT and windows ----------------------------------------------------------------------------


def _rank_filter(select: exp.Select, keys: int, fn: type[Node]) -> Node | None:
    """``ORDER BY k LIMIT n`` as ``WHERE RANK() OVER (ORDER BY k) <= n``: ties with row n stay.

    The first ``keys`` ORDER BY terms rank (the rest only break ties in the output order). Every
    output column needs a distinct name, since the outer query selects them by name.
    """
    limit, order = select.args.get("limit"), select.args.get("order")
    n = limit.expression if limit is not None else None
    outputs = [p.alias_or_name for p in select.expressions]
    if order is None or not isinstance(n, exp.Literal) or select.args.get("offset"):
        return None
    if not all(outputs) or "*" in outputs or len(set(outputs)) != len(outputs):
        return None
    by_alias = {p.alias.lower(): p.unalias() for p in select.expressions if p.alias}
    by_sql = {p.unalias().sql(DIALECT).lower(): p.alias_or_name for p in select.expressions}
    ranked, outer = [], []
    for i, key in enumerate(order.expressions):
        term, desc, nulls = key.this, key.args.get("desc"), key.args.get("nulls_first")
        alias = term.name.lower() if isinstance(term, exp.Column) and not term.table else ""
        if alias in by_alias:
            expr, name = by_alias[alias], alias
        elif term.sql(DIALECT).lower() in by_sql:
            expr, name = term, by_sql[term.sql(DIALECT).lower()]
        else:
            return None
        if i < keys:
            ranked.append(exp.Ordered(this=expr.copy(), desc=desc, nulls_first=nulls))
        outer.append(exp.Ordered(this=exp.column(name), desc=desc, nulls_first=nulls))
    window = exp.Window(this=fn(), order=exp.Order(expressions=ranked))
    inner = select.select(exp.alias_(window, "_rnk"))
    for arg in ("order", "limit", "with_"):
        inner.set(arg, None)
    query = exp.select(*outputs).from_(inner.subquery("_ranked"))
    query = query.where(exp.LTE(this=exp.column("_rnk"), expression=n.copy()))
    query.set("order", exp.Order(expressions=outer))
    query.set("with_", select.args["with_"].copy() if select.args.get("with_") else None)
    return query


def limits(tree: Node, schema: Schema) -> Iterator[Edit]:
    """LIMIT n cuts rows tied with the n-th: keep every row ranked n or better, or drop LIMIT."""

    def alts(select: Node) -> Iterator[Alt]:
        if not isinstance(select, exp.Select) or select.args.get("limit") is None:
            return
        order = select.args.get("order")
        for keys in range(1, max(2, len(order.expressions) if order else 0)):
            for fn, weight in ((exp.Rank, 0.5), (exp.DenseRank, 0.2)):
                ranked = _rank_filter(select, keys, fn)
                if ranked is not None:
                    yield Alt(
                        f"LIMIT -> {fn.key.upper()}() over {keys} key(s)", weight / keys, ranked
                    )
        new = select.copy()
        new.set("limit", None)
        yield Alt("remove LIMIT", 0.3, new)

    yield from _alternatives(tree, (exp.Select,), "limit-rank", alts)


_RANKERS: dict[type[Node], list[tuple[type[Node], float]]] = {
    exp.RowNumber: [(exp.Rank, 0.8), (exp.DenseRank, 0.5)],
    exp.Rank: [(exp.DenseRank, 0.4), (exp.RowNumber, 0.3)],
    exp.DenseRank: [(exp.Rank, 0.4), (exp.RowNumber, 0.3)],
}


def windows(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Ranking functions, PARTITION BY, frames, and a tie-breaking window ORDER BY.

    A window ordered by a key with ties gives tied rows the same running value (the default RANGE
    frame ends at the last peer); adding the outer ORDER BY's other keys makes each row its own.
    """

    def alts(win: Node) -> Iterator[Alt]:
        fn, select = win.this, win.find_ancestor(exp.Select)
        partition, order = win.args.get("partition_by") or [], win.args.get("order")
        # a rank that a WHERE filters on picks "the top n": how it treats ties decides the answer
        alias = win.parent.alias.lower() if isinstance(win.parent, exp.Alias) else ""
        filtered = any(
            c.name.lower() == alias for w in tree.find_all(exp.Where) for c in _columns(w)
        )
        for cls, weight in _RANKERS.get(type(fn), []):
            weight += 0.2 if filtered and alias else 0.0
            note = f"{fn.key.upper()} -> {cls.key.upper()}"
            yield Alt(note, weight, _with(win, "this", cls()), "window-rank")
        if partition:
            yield Alt(
                "remove PARTITION BY", 0.2, _with(win, "partition_by", None), "window-partition"
            )
        if not isinstance(select, exp.Select):
            return
        used = {e.sql(DIALECT).lower() for e in partition}
        used |= {o.this.sql(DIALECT).lower() for o in (order.expressions if order else [])}
        # the output sorted by a column first is usually grouped by it: partition by that one
        by_alias = {p.alias.lower(): p.unalias() for p in select.expressions if p.alias}
        outer = select.args.get("order")
        lead = outer.expressions[0].this.sql(DIALECT).lower() if outer else ""
        for col in [p.unalias() for p in select.expressions]:
            if isinstance(col, exp.Column) and col.sql(DIALECT).lower() not in used:
                new = _with(win, "partition_by", [col.copy()])
                weight = 0.6 if col.sql(DIALECT).lower() == lead else 0.15
                yield Alt(f"PARTITION BY {col.sql(DIALECT)}", weight, new, "window-partition")
        for key in outer.expressions if outer and order else []:
            term = key.this
            if isinstance(term, exp.Column) and not term.table:
                term = by_alias.get(term.name.lower(), term)
            if term.sql(DIALECT).lower() not in used and not term.find(exp.Window):
                new = win.copy()
                new.args["order"].append("expressions", _ascending(term.copy()))
                weight = 0.2 if isinstance(fn, exp.Rank | exp.DenseRank) else 0.7
                yield Alt(f"window ORDER BY also {term.sql(DIALECT)}", weight, new, "window-order")
        spec = win.args.get("spec")
        if isinstance(fn, exp.Sum | exp.Count | exp.Avg | exp.Max | exp.Min) and order:
            if spec is None:
                frame = exp.WindowSpec(
                    kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
                )
                new = _with(win, "spec", frame)
                yield Alt("ROWS frame up to the current row", 0.5, new, "window-frame")
            elif spec.args.get("kind") in ("ROWS", "RANGE"):
                kind = "RANGE" if spec.args["kind"] == "ROWS" else "ROWS"
                new = win.copy()
                new.args["spec"].set("kind", kind)
                yield Alt(f"frame {spec.args['kind']} -> {kind}", 0.2, new, "window-frame")

    yield from _alternatives(tree, (exp.Window,), "window", alts)


def fanout(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Joining a child table repeats the parent's values once per child, so SUM(parent.x) counts
    each many times. Total the child per parent in a correlated subquery and drop the join."""

    def child_aggregates(select: Node, alias: str) -> list[Node]:
        return [
            a
            for a in _aggregates(select)
            if _columns(a) and all(c.table.lower() == alias for c in _columns(a))
        ]

    def alts(select: Node) -> Iterator[Alt]:
        for j, join in enumerate(select.args.get("joins") or []):
            alias = join.this.alias_or_name.lower()
            mine = child_aggregates(select, alias)
            covered = {id(c) for a in mine for c in _columns(a)}
            covered |= {id(c) for c in _columns(join.args.get("on") or exp.true())}
            stray = [
                c for c in _columns(select) if c.table.lower() == alias and id(c) not in covered
            ]
            ok = all(isinstance(a, exp.Sum | exp.Count | exp.Max | exp.Min) for a in mine)
            if not mine or stray or not ok or len(mine) == len(_aggregates(select)):
                continue
            if not isinstance(join.this, exp.Table) or not join.args.get("on"):
                continue
            new = select.copy()
            child = new.args["joins"][j].pop()
            for agg in child_aggregates(new, alias):
                sub = exp.select(agg.copy()).from_(child.this.copy()).where(child.args["on"].copy())
                value: Node = exp.Subquery(this=sub)
                if isinstance(agg, exp.Sum):
                    value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
                agg.replace(
                    (exp.Sum if isinstance(agg, exp.Sum | exp.Count) else type(agg))(this=value)
                )
            yield Alt(f"total {alias} per row in a subquery", 0.8, new)

    yield from _alternatives(tree, (exp.Select,), "fanout", alts)


FAMILIES: tuple[Family, ...] = (
    join_type, join_filter, join_key, aggregates, group_keys, having_where, comparisons,
    date_between, precedence, logic, nulls, coalesce, distinct, division, order_direction,
    set_operations, string_match, limits, windows, fanout,
)  # fmt: skip


def single_edits(tree: Node, schema: Schema) -> Iterator[Edit]:
    """Every one-edit rewrite of ``tree``; a family that fails on this query is skipped."""
    for family in FAMILIES:
        try:
            edits = list(family(tree, schema))
        except Exception:  # sqlglot raises many kinds on odd trees: lose the family, not the run
            continue
        yield from edits


# -- repairs led by an error ----------------------------------------------------------------------


def identifier_repairs(tree: Node, schema: Schema, message: str) -> Iterator[Edit]:
    """SQLite's ``no such column: e.salary`` -> the closest column of that table by name
    (``e.salary_cents``) or the same column under another table of the query; ``no such table``
    and ``ambiguous column name`` likewise. Names come from the message, candidates from the
    schema, similarity from difflib."""
    head, _, name = message.partition(":")
    qualifier, _, bare = name.strip().lower().rpartition(".")
    head = head.strip().lower()

    def named(c: exp.Column) -> bool:
        return c.name.lower() == bare and c.table.lower() == qualifier

    if head == "no such column":
        hits = [c for c in tree.find_all(exp.Column) if named(c)]
        sources = _sources(_scope(hits[0])) if hits else {}
        tables = [_table_of(hits[0], schema)] if hits and qualifier else list(sources.values())
        options = [
            (match, qualifier or None)
            for table in tables
            for match in difflib.get_close_matches(bare, schema.columns(table), 3, 0.5)
        ]
        options += [
            (bare, a) for a, t in sources.items() if bare in schema.columns(t) and a != qualifier
        ]
        for column, table_ref in options if hits else []:
            new = tree.copy()
            for c in [c for c in new.find_all(exp.Column) if named(c)]:
                c.replace(exp.column(column, table_ref))
            yield Edit("identifier", f"{name.strip()} -> {column}", new, 3.0)
    elif head == "no such table":
        for match in difflib.get_close_matches(bare, list(schema.tables), 3, 0.5):
            new = tree.copy()
            for t in new.find_all(exp.Table):
                if t.name.lower() == bare:
                    t.set("this", exp.to_identifier(match))
            yield Edit("identifier", f"table {bare} -> {match}", new, 3.0)
    elif head == "ambiguous column name":
        for i, col in enumerate(tree.find_all(exp.Column)):
            for alias, table in _sources(_scope(col)).items() if named(col) else []:
                if bare in schema.columns(table):
                    new = tree.copy()
                    list(new.find_all(exp.Column))[i].set("table", exp.to_identifier(alias))
                    yield Edit("identifier", f"{bare} -> {alias}.{bare}", new, 3.0)


_CLAUSES = frozenset({
    TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.ORDER_BY, TokenType.HAVING,
    TokenType.LIMIT, TokenType.R_PAREN, TokenType.UNION, TokenType.JOIN, TokenType.SEMICOLON,
    TokenType.ON,
})  # fmt: skip
_VALUE_ENDS = frozenset({
    TokenType.VAR, TokenType.NUMBER, TokenType.STRING, TokenType.R_PAREN, TokenType.STAR,
})  # fmt: skip
_VAR, _COMMA = TokenType.VAR, TokenType.COMMA
_KEYWORDS = [
    "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "BY", "HAVING", "LIMIT", "JOIN", "LEFT", "INNER",
    "ON", "AND", "OR", "NOT", "NULL", "DISTINCT", "UNION", "CASE", "WHEN", "THEN", "ELSE", "END",
    "AS", "IN", "IS", "EXISTS", "BETWEEN", "LIKE", "UPDATE", "DELETE", "SET",
]  # fmt: skip


def syntax_repairs(sql: str, schema: Schema) -> list[tuple[str, str]]:
    """Small repairs of a statement SQLite cannot parse, as (note, new text), made on sqlglot's
    tokens: drop a trailing comma before a clause, add a missing comma between two select items,
    balance parentheses, fix a misspelt keyword; plus sqlglot's own reading, which forgives some
    mistakes SQLite does not. Which of them runs is for the caller to find out."""
    out: list[tuple[str, str]] = []
    with contextlib.suppress(Exception):
        out.append(("sqlglot's reading", sqlglot.parse_one(sql, read=DIALECT).sql(DIALECT)))
    try:
        tokens: list[Token] = Dialect.get_or_raise(DIALECT).tokenize(sql)
    except Exception:
        return out
    names = {c for cols in schema.tables.values() for c in cols} | set(schema.tables)
    depth = 0
    for i, tok in enumerate(tokens):
        after = [t.token_type for t in tokens[i + 1 : i + 3]]
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tok.token_type, 0)
        if tok.token_type == TokenType.COMMA and (not after or after[0] in _CLAUSES):
            out.append(("remove a trailing comma", sql[: tok.start] + sql[tok.end + 1 :]))
        starts_item = after in ([_VAR, TokenType.DOT], [_VAR, TokenType.L_PAREN], [_VAR, _COMMA])
        if tok.token_type in _VALUE_ENDS and starts_item:
            out.append(("add a missing comma", sql[: tok.end + 1] + "," + sql[tok.end + 1 :]))
        if tok.token_type == TokenType.VAR and tok.text.lower() not in names:
            for word in difflib.get_close_matches(tok.text.upper(), _KEYWORDS, 1, 0.75):
                out.append((f"{tok.text} -> {word}", sql[: tok.start] + word + sql[tok.end + 1 :]))
        if depth < 0:
            out.append(("remove an unmatched )", sql[: tok.start] + sql[tok.end + 1 :]))
            depth = 0
    for tok in tokens if depth > 0 else []:
        if tok.token_type in _CLAUSES:
            out.append(("close a parenthesis", sql[: tok.start] + ") " + sql[tok.start :]))
    if depth > 0:
        out.append(("close a parenthesis", sql.rstrip().rstrip(";") + ")"))
    return out
