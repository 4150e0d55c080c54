"""Mutation operators: each injects one kind of bug from the taxonomy into a correct query.

An operator is a sqlglot AST transformation (one, ``keyword-typo``, works on the tokens of the
SQL text, since a typo is by nature not a tree). ``mutants(tree, schema)`` returns *every* way the
operator applies to a query, each as a changed copy, in a fixed order; the generator picks among
them with its seeded random source. Operators never check that a mutant is a *visible* bug: the
invariants of ``sqldebug tasks validate`` do that for every generated task.

To add an operator, write a function ``(tree, schema) -> list[exp.Expr | str]`` (usually a
call of :func:`_mutate` with a node matcher and the changes at a matched node) and register it in
:data:`OPERATORS` with its category, difficulty, summary and hint; docs/generation.md has a
walk-through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType
from sqlglot.tokens import Tokenizer

from sqldebug.spec import Category, Difficulty

#: Table name -> column names (lower case), of the dataset the query runs on.
Schema: TypeAlias = dict[str, list[str]]
Mutant: TypeAlias = exp.Expr | str  # a changed tree, or (text-level operators) SQL text
Change: TypeAlias = Callable[[exp.Expr], exp.Expr | None]


@dataclass(frozen=True)
class Operator:
    """One bug class as a transformation."""

    name: str
    category: Category
    difficulty: Difficulty
    summary: str  # what it does, for docs and `sqldebug generate --list-operators`
    hint: str  # the hint a generated task carries
    # (tree, schema) -> mutants; a text-level operator also takes SQL text for the tree
    mutants: Callable[[Any, Schema], list[Mutant]]
    text_level: bool = False  # works on SQL text: applied last when operators are combined


def render(tree: exp.Expr) -> str:
    """A tree as SQLite SQL, laid out on several lines."""
    return tree.sql(dialect="sqlite", pretty=True)


def _mutate(
    tree: exp.Expr,
    match: Callable[[exp.Expr], bool],
    changes: Callable[[exp.Expr], list[Change]],
) -> list[Mutant]:
    """Every mutant made by applying one of ``changes(node)`` at one node that ``match``es.

    Each change gets its own copy of the tree and is handed the copy's node at the same place
    (so changes must capture plain data, not nodes of the original). A change edits the node in
    place and returns it, returns a replacement, or returns None when it does not apply.
    """
    before = tree.sql(dialect="sqlite")
    sites = [node for node in tree.walk() if match(node)]
    out: list[Mutant] = []
    for i, node in enumerate(sites):
        for change in changes(node):
            copy = tree.copy()
            target = [n for n in copy.walk() if match(n)][i]
            new = change(target)
            if new is None:
                continue
            if new is not target:
                if target is copy:
                    copy = new
                else:
                    target.replace(new)
            if copy.sql(dialect="sqlite") != before:
                out.append(copy)
    return out


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.And):
        return list(node.flatten())
    return [node]


def _and(parts: list[exp.Expr]) -> exp.Expr | None:
    return exp.and_(*[p.copy() for p in parts], copy=False) if parts else None


def _own_aliases(select: exp.Expr) -> dict[str, str]:
    out = {}
    frm = select.args.get("from_") or select.args.get("from")
    for part in [frm, *(select.args.get("joins") or [])]:
        if part is not None and isinstance(part.this, exp.Table):
            out[part.this.alias_or_name.lower()] = part.this.name.lower()
    return out


def _all_aliases(tree: exp.Expr) -> dict[str, str]:
    return {t.alias_or_name.lower(): t.name.lower() for t in tree.find_all(exp.Table)}


# -- joins ------------------------------------------------------------------------------------


def join_type(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    def flip(join: exp.Expr) -> exp.Expr:
        left = join.text("side").upper() == "LEFT"
        join.set("side", None if left else "LEFT")
        join.set("kind", None)
        return join

    def match(n: exp.Expr) -> bool:
        return (
            isinstance(n, exp.Join)
            and n.args.get("on") is not None
            and n.text("side").upper() in ("", "LEFT")
            and n.text("kind").upper() in ("", "INNER", "OUTER")
        )

    return _mutate(tree, match, lambda n: [flip])


def join_predicate_drop(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    def drop(k: int) -> Change:
        def change(join: exp.Expr) -> exp.Expr:
            parts = _conjuncts(join.args["on"])
            join.set("on", _and(parts[:k] + parts[k + 1 :]))
            return join

        return change

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Join) and isinstance(n.args.get("on"), exp.And)

    return _mutate(tree, match, lambda n: [drop(k) for k in range(len(_conjuncts(n.args["on"])))])


def join_key_swap(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``a.customer_id = c.id`` -> ``a.id = c.id``: a join on another key column of a table."""
    aliases = _all_aliases(tree)

    def rename(side: str, name: str) -> Change:
        def change(eq: exp.Expr) -> exp.Expr:
            eq.args[side].set("this", exp.to_identifier(name))
            return eq

        return change

    def match(n: exp.Expr) -> bool:
        return (
            isinstance(n, exp.EQ)
            and isinstance(n.find_ancestor(exp.Join, exp.Select), exp.Join)
            and isinstance(n.this, exp.Column)
            and isinstance(n.expression, exp.Column)
            and bool(n.this.table)
            and bool(n.expression.table)
        )

    def changes(eq: exp.Expr) -> list[Change]:
        out = []
        for side in ("this", "expression"):
            col = eq.args[side]
            table = aliases.get(col.table.lower())
            for name in schema.get(table or "", []):
                if name != col.name.lower() and (name == "id" or name.endswith("_id")):
                    out.append(rename(side, name))
        return out

    return _mutate(tree, match, changes)


# -- aggregation --------------------------------------------------------------------------------

_AGG_SWAP: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.Sum: exp.Avg,
    exp.Avg: exp.Sum,
    exp.Min: exp.Max,
    exp.Max: exp.Min,
}


def _retype(
    tree: exp.Expr,
    table: dict[type[exp.Expr], type[exp.Expr]],
    where: Callable[[exp.Expr], bool] = lambda n: True,
) -> list[Mutant]:
    """Each node whose type ``table`` maps (and that passes ``where``) turned into the mapped
    type, with the same operands."""

    def swap(node: exp.Expr) -> exp.Expr:
        operands = {k: v.copy() for k, v in node.args.items() if isinstance(v, exp.Expr)}
        return table[type(node)](**operands)

    return _mutate(tree, lambda n: type(n) in table and where(n), lambda n: [swap])


def aggregate_swap(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    return _retype(tree, _AGG_SWAP)


def count_star(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``COUNT(col)`` -> ``COUNT(*)``: rows counted where non-NULL values were meant."""

    def star(node: exp.Expr) -> exp.Expr:
        return exp.Count(this=exp.Star())

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Count) and isinstance(n.this, exp.Column)

    return _mutate(tree, match, lambda n: [star])


def count_distinct(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``COUNT(DISTINCT col)`` <-> ``COUNT(col)``."""

    def toggle(node: exp.Expr) -> exp.Expr:
        inner = node.this
        if isinstance(inner, exp.Distinct):
            return exp.Count(this=inner.expressions[0].copy())
        return exp.Count(this=exp.Distinct(expressions=[inner.copy()]))

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Count) and (
            isinstance(n.this, exp.Column)
            or (isinstance(n.this, exp.Distinct) and len(n.this.expressions) == 1)
        )

    return _mutate(tree, match, lambda n: [toggle])


def group_key_drop(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    def drop(k: int) -> Change:
        def change(group: exp.Expr) -> exp.Expr:
            keys = list(group.expressions)
            group.set("expressions", keys[:k] + keys[k + 1 :])
            return group

        return change

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Group) and len(n.expressions) >= 2

    return _mutate(tree, match, lambda n: [drop(k) for k in range(len(n.expressions))])


def having_where_move(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """A WHERE condition moved to HAVING, or a HAVING condition moved to WHERE."""

    def move(src: str, dst: str, k: int) -> Change:
        def change(select: exp.Expr) -> exp.Expr:
            parts = _conjuncts(select.args[src].this)
            moved = parts[k]
            rest = _and(parts[:k] + parts[k + 1 :])
            select.set(src, None if rest is None else exp.Where(this=rest))
            target = select.args.get(dst)
            joined = _and([*_conjuncts(target.this if target else None), moved])
            clause = exp.Having if dst == "having" else exp.Where
            select.set(dst, clause(this=joined))
            if src == "having":
                select.set(src, None if rest is None else exp.Having(this=rest))
            return select

        return change

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Select) and n.args.get("group") is not None

    def changes(select: exp.Expr) -> list[Change]:
        out = []
        where = select.args.get("where")
        for k, part in enumerate(_conjuncts(where.this if where else None)):
            if part.find(exp.AggFunc) is None and part.find(exp.Subquery) is None:
                out.append(move("where", "having", k))
        having = select.args.get("having")
        for k, _ in enumerate(_conjuncts(having.this if having else None)):
            out.append(move("having", "where", k))
        return out

    return _mutate(tree, match, changes)


# -- comparisons and dates ------------------------------------------------------------------------

_SHIFT: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GTE: exp.GT,
    exp.GT: exp.GTE,
    exp.LTE: exp.LT,
    exp.LT: exp.LTE,
}


def comparison_shift(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``>=`` <-> ``>``, ``<=`` <-> ``<`` where one side is a constant: a boundary moved."""
    return _retype(
        tree,
        _SHIFT,
        lambda n: isinstance(n.this, exp.Literal) or isinstance(n.expression, exp.Literal),
    )


def _as_date(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if len(text) >= 10 else None
    except ValueError:
        return None


def date_shift(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """A date constant one day off (``'2024-03-01'`` -> ``'2024-02-29'`` or ``'2024-03-02'``)."""

    def shift(days: int) -> Change:
        def change(lit: exp.Expr) -> exp.Expr:
            when = _as_date(lit.this)
            assert when is not None
            moved = when + dt.timedelta(days=days)
            text = moved.date().isoformat() if len(lit.this) == 10 else moved.isoformat(" ")
            return exp.Literal.string(text)

        return change

    def match(n: exp.Expr) -> bool:
        return (
            isinstance(n, exp.Literal)
            and n.is_string
            and _as_date(n.this) is not None
            and isinstance(n.parent, (exp.Predicate, exp.Between))
        )

    return _mutate(tree, match, lambda n: [shift(-1), shift(1)])


# -- NULLs ----------------------------------------------------------------------------------------


def coalesce_drop(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``COALESCE(x, 0)`` -> ``x``: the NULL case no longer handled."""
    return _mutate(tree, lambda n: isinstance(n, exp.Coalesce), lambda n: [lambda c: c.this.copy()])


def eq_null(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``x IS NULL`` -> ``x = NULL`` and ``x IS NOT NULL`` -> ``x <> NULL`` (never true)."""

    def is_null(n: exp.Expr) -> bool:
        return isinstance(n, exp.Is) and isinstance(n.expression, exp.Null)

    def change(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Not):
            return exp.NEQ(this=n.this.this.copy(), expression=exp.Null())
        return exp.EQ(this=n.this.copy(), expression=exp.Null())

    def match(n: exp.Expr) -> bool:
        return (isinstance(n, exp.Not) and is_null(n.this)) or (
            is_null(n) and not isinstance(n.parent, exp.Not)
        )

    return _mutate(tree, match, lambda n: [change])


def not_in_nulls(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """The ``IS NOT NULL`` guard dropped from a ``NOT IN (subquery)``: one NULL empties it."""

    def in_not_in(n: exp.Expr) -> bool:
        sub = n.find_ancestor(exp.Subquery)
        return (
            sub is not None
            and isinstance(sub.parent, exp.In)
            and isinstance(sub.parent.parent, exp.Not)
        )

    def match(n: exp.Expr) -> bool:
        return (
            isinstance(n, exp.Not)
            and isinstance(n.this, exp.Is)
            and isinstance(n.this.expression, exp.Null)
            and in_not_in(n)
        )

    def drop(n: exp.Expr) -> exp.Expr | None:
        parent = n.parent
        if isinstance(parent, exp.Where):
            parent.pop()
            return n
        if isinstance(parent, exp.And):
            other = parent.expression if parent.this is n else parent.this
            parent.replace(other.copy())
            return n
        return None

    return _mutate(tree, match, lambda n: [drop])


def exists_to_not_in(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``NOT EXISTS (... WHERE t.k = outer.k)`` -> ``outer.k NOT IN (SELECT t.k ...)``."""

    def match(n: exp.Expr) -> bool:
        return (
            isinstance(n, exp.Not)
            and isinstance(n.this, exp.Exists)
            and isinstance(n.this.this, exp.Select)
            and n.this.this.args.get("where") is not None
        )

    def rewrite(k: int) -> Change:
        def change(n: exp.Expr) -> exp.Expr | None:
            select = n.this.this.copy()
            parts = _conjuncts(select.args["where"].this)
            eq = parts[k]
            own = _own_aliases(select)
            inner, outer = eq.this, eq.expression
            if inner.table.lower() not in own:
                inner, outer = outer, inner
            if inner.table.lower() not in own or outer.table.lower() in own:
                return None
            rest = _and(parts[:k] + parts[k + 1 :])
            select.set("where", None if rest is None else exp.Where(this=rest))
            select.set("expressions", [inner.copy()])
            return exp.Not(this=exp.In(this=outer.copy(), query=exp.Subquery(this=select)))

        return change

    def changes(n: exp.Expr) -> list[Change]:
        parts = _conjuncts(n.this.this.args["where"].this)
        return [
            rewrite(k)
            for k, p in enumerate(parts)
            if isinstance(p, exp.EQ)
            and isinstance(p.this, exp.Column)
            and isinstance(p.expression, exp.Column)
            and p.this.table
            and p.expression.table
        ]

    return _mutate(tree, match, changes)


# -- types -------------------------------------------------------------------------------------


def _is_one(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.this in ("1.0", "1.")


def integer_division(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``x * 1.0 / y`` or ``CAST(x AS REAL) / y`` -> ``x / y``: SQLite's integer division."""

    def unreal(side: str) -> Change:
        def change(div: exp.Expr) -> exp.Expr | None:
            part = div.args[side]
            if isinstance(part, exp.Cast) or (
                isinstance(part, exp.Mul) and _is_one(part.expression)
            ):
                div.set(side, part.this.copy())
            elif isinstance(part, exp.Mul) and _is_one(part.this):
                div.set(side, part.expression.copy())
            else:
                return None
            return div

        return change

    return _mutate(
        tree, lambda n: isinstance(n, exp.Div), lambda n: [unreal("this"), unreal("expression")]
    )


# -- DISTINCT, ordering, sets ---------------------------------------------------------------------


def distinct_toggle(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``SELECT DISTINCT`` -> ``SELECT`` (duplicates kept), or DISTINCT added (duplicates lost)."""

    def toggle(select: exp.Expr) -> exp.Expr:
        select.set("distinct", None if select.args.get("distinct") else exp.Distinct())
        return select

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Select) and (
            bool(n.args.get("distinct")) or n.args.get("group") is None
        )

    return _mutate(tree, match, lambda n: [toggle])


def _top_order(n: exp.Expr) -> bool:
    return isinstance(n, exp.Order) and not isinstance(n.parent, exp.Window)


def order_direction(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    def flip(ordered: exp.Expr) -> exp.Expr:
        desc = not ordered.args.get("desc")
        ordered.set("desc", desc or None)
        ordered.set("nulls_first", not desc)  # keep SQLite's default NULL placement
        return ordered

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Ordered) and n.parent is not None and _top_order(n.parent)

    return _mutate(tree, match, lambda n: [flip])


def order_key_drop(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """A tie-breaking ORDER BY key dropped: ties come out in another order (or cut by LIMIT)."""

    def drop(k: int) -> Change:
        def change(order: exp.Expr) -> exp.Expr:
            keys = list(order.expressions)
            order.set("expressions", keys[:k] + keys[k + 1 :])
            return order

        return change

    def match(n: exp.Expr) -> bool:
        return _top_order(n) and len(n.expressions) >= 2

    return _mutate(tree, match, lambda n: [drop(k) for k in range(1, len(n.expressions))])


def union_swap(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``UNION ALL`` <-> ``UNION``."""

    def toggle(union: exp.Expr) -> exp.Expr:
        union.set("distinct", not union.args.get("distinct"))
        return union

    return _mutate(tree, lambda n: isinstance(n, exp.Union), lambda n: [toggle])


# -- subqueries ------------------------------------------------------------------------------------


def correlation_break(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """An outer reference in a correlated subquery rebound to the subquery's own table."""

    def outer_ref(n: exp.Expr) -> bool:
        if not isinstance(n, exp.Column) or not n.table:
            return False
        select = n.find_ancestor(exp.Select)
        if select is None or select.find_ancestor(exp.Select) is None:
            return False
        return n.table.lower() not in _own_aliases(select)

    def rebind(alias: str) -> Change:
        def change(col: exp.Expr) -> exp.Expr:
            col.set("table", exp.to_identifier(alias))
            return col

        return change

    def changes(col: exp.Expr) -> list[Change]:
        select = col.find_ancestor(exp.Select)
        assert select is not None
        own = _own_aliases(select)
        return [
            rebind(alias)
            for alias, table in own.items()
            if col.name.lower() in schema.get(table, [])
        ]

    return _mutate(tree, outer_ref, changes)


# -- windows --------------------------------------------------------------------------------------


def window_partition_drop(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    def drop(w: exp.Expr) -> exp.Expr:
        w.set("partition_by", None)
        return w

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Window) and bool(n.args.get("partition_by"))

    return _mutate(tree, match, lambda n: [drop])


def window_order(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """The window's ORDER BY reversed (first key)."""

    def flip(w: exp.Expr) -> exp.Expr:
        first = w.args["order"].expressions[0]
        desc = not first.args.get("desc")
        first.set("desc", desc or None)
        first.set("nulls_first", not desc)
        return w

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Window) and n.args.get("order") is not None

    return _mutate(tree, match, lambda n: [flip])


def window_frame(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """An explicit ROWS frame dropped (the default RANGE frame lumps ties together) or turned
    into a RANGE frame."""

    def drop(w: exp.Expr) -> exp.Expr:
        w.set("spec", None)
        return w

    def to_range(w: exp.Expr) -> exp.Expr | None:
        if w.args["spec"].args.get("kind") != "ROWS":
            return None
        w.args["spec"].set("kind", "RANGE")
        return w

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Window) and n.args.get("spec") is not None

    return _mutate(tree, match, lambda n: [drop, to_range])


_RANKS: tuple[type[exp.Expr], ...] = (exp.RowNumber, exp.Rank, exp.DenseRank)


def rank_swap(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """ROW_NUMBER, RANK and DENSE_RANK swapped: ties numbered the wrong way."""

    def to(kind: type[exp.Expr]) -> Change:
        return lambda n: kind()

    def changes(n: exp.Expr) -> list[Change]:
        return [to(k) for k in _RANKS if not isinstance(n, k)]

    def match(n: exp.Expr) -> bool:
        return isinstance(n, _RANKS) and isinstance(n.parent, exp.Window)

    return _mutate(tree, match, changes)


# -- strings --------------------------------------------------------------------------------------


def like_pattern(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """A LIKE's leading ``%`` dropped, or the LOWER/UPPER/TRIM around a compared column."""

    def unwrap(n: exp.Expr) -> exp.Expr:
        inner: exp.Expr = n.this.copy()
        return inner

    def anchor(n: exp.Expr) -> exp.Expr:
        return exp.Literal.string(n.this[1:])

    def match(n: exp.Expr) -> bool:
        if isinstance(n, (exp.Lower, exp.Upper, exp.Trim)):
            return isinstance(n.this, exp.Column) and isinstance(
                n.parent, (exp.EQ, exp.Like, exp.In, exp.NEQ)
            )
        return (
            isinstance(n, exp.Literal)
            and n.is_string
            and isinstance(n.parent, exp.Like)
            and n.this.startswith("%")
            and len(n.this) > 1
        )

    return _mutate(tree, match, lambda n: [anchor if isinstance(n, exp.Literal) else unwrap])


# -- DML -------------------------------------------------------------------------------------------


def precedence(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """``a AND (b OR c)`` -> ``a AND b OR c``: the parentheses that held an OR dropped."""

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Paren) and isinstance(n.this, exp.Or)

    return _mutate(tree, match, lambda n: [lambda p: p.this.copy()])


# -- the easy tier: text typos and unknown names ---------------------------------------------------

_KEYWORDS = {
    TokenType.SELECT,
    TokenType.FROM,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.ORDER_BY,
    TokenType.HAVING,
    TokenType.JOIN,
    TokenType.UNION,
}


def _typo(word: str) -> str:
    if " " in word:  # GROUP BY, ORDER BY: the BY forgotten
        return word.split(" ")[0]
    mid = len(word) // 2
    return word[: mid - 1] + word[mid] + word[mid - 1] + word[mid + 1 :]  # two letters swapped


def keyword_typo(sql: exp.Expr | str, schema: Schema) -> list[Mutant]:
    """A keyword misspelt (``FROM`` -> ``FORM``) or ``GROUP BY`` without its ``BY``."""
    text = sql if isinstance(sql, str) else render(sql)
    try:
        tokens = Tokenizer().tokenize(text)
    except SqlglotError:
        return []
    out: list[Mutant] = []
    for tok in tokens:
        if tok.token_type in _KEYWORDS:
            word = text[tok.start : tok.end + 1]
            out.append(text[: tok.start] + _typo(word) + text[tok.end + 1 :])
    return out


def _misspell(name: str, known: set[str]) -> str | None:
    for cand in (name.replace("_", ""), name + "s", name[:-1] + "_" + name[-1]):
        if cand != name and cand not in known:
            return cand
    return None


def unknown_column(tree: exp.Expr, schema: Schema) -> list[Mutant]:
    """A column name misspelt (``customer_id`` -> ``customerid``): a binding error."""
    known = {c for cols in schema.values() for c in cols}
    aliases = {
        a.alias_or_name.lower() for a in tree.find_all(exp.Alias) if isinstance(a, exp.Alias)
    }

    def change(col: exp.Expr) -> exp.Expr | None:
        wrong = _misspell(col.name.lower(), known | aliases)
        if wrong is None:
            return None
        col.set("this", exp.to_identifier(wrong))
        return col

    def match(n: exp.Expr) -> bool:
        return isinstance(n, exp.Column) and n.name.lower() in known

    return _mutate(tree, match, lambda n: [change])


# -- the registry ----------------------------------------------------------------------------------

OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in [
        Operator(
            "keyword-typo",
            "syntax",
            "easy",
            "a keyword misspelt or GROUP BY missing BY",
            "Read the error message: where does the parser stop?",
            keyword_typo,
            text_level=True,
        ),
        Operator(
            "unknown-column",
            "unknown-identifier",
            "easy",
            "a column name misspelt",
            "Compare every column name with the schema.",
            unknown_column,
        ),
        Operator(
            "join-type",
            "join-type",
            "medium",
            "LEFT JOIN <-> inner JOIN",
            "Which rows have no match on the other side of the join, and should they stay?",
            join_type,
        ),
        Operator(
            "join-predicate-drop",
            "join-condition",
            "medium",
            "one condition of a multi-column join dropped",
            "Check that the join matches rows on every key column.",
            join_predicate_drop,
        ),
        Operator(
            "join-key-swap",
            "join-condition",
            "medium",
            "a join column replaced by another key column of its table",
            "Check which columns the join pairs up.",
            join_key_swap,
        ),
        Operator(
            "aggregate-swap",
            "aggregation",
            "easy",
            "SUM <-> AVG, MIN <-> MAX",
            "Is each figure the aggregate the question asks for?",
            aggregate_swap,
        ),
        Operator(
            "count-star",
            "null-handling",
            "medium",
            "COUNT(col) -> COUNT(*)",
            "COUNT(*) counts rows; COUNT(col) counts non-NULL values.",
            count_star,
        ),
        Operator(
            "count-distinct",
            "distinct",
            "medium",
            "COUNT(DISTINCT col) <-> COUNT(col)",
            "Does the question count rows or different values?",
            count_distinct,
        ),
        Operator(
            "group-key-drop",
            "aggregation",
            "medium",
            "one GROUP BY key dropped",
            "List the groups the question asks for and compare with GROUP BY.",
            group_key_drop,
        ),
        Operator(
            "having-where-move",
            "having-vs-where",
            "medium",
            "a condition moved between WHERE and HAVING",
            "WHERE filters rows before grouping; HAVING filters groups after.",
            having_where_move,
        ),
        Operator(
            "comparison-shift",
            "date-range",
            "medium",
            ">= <-> >, <= <-> < against a constant",
            "Is each boundary value itself meant to be included?",
            comparison_shift,
        ),
        Operator(
            "date-shift",
            "date-range",
            "medium",
            "a date constant one day off",
            "Check the first and last day of every date range.",
            date_shift,
        ),
        Operator(
            "coalesce-drop",
            "null-handling",
            "medium",
            "COALESCE(x, d) -> x",
            "What happens to rows where the value is NULL?",
            coalesce_drop,
        ),
        Operator(
            "eq-null",
            "null-handling",
            "easy",
            "IS [NOT] NULL -> = NULL / <> NULL",
            "Nothing is equal to NULL, not even NULL.",
            eq_null,
        ),
        Operator(
            "not-in-nulls",
            "null-handling",
            "hard",
            "the IS NOT NULL guard of a NOT IN subquery dropped",
            "x NOT IN (...) is never true when the list holds a NULL.",
            not_in_nulls,
        ),
        Operator(
            "exists-to-not-in",
            "subquery",
            "hard",
            "NOT EXISTS rewritten as NOT IN",
            "NOT IN and NOT EXISTS differ when the subquery yields NULLs.",
            exists_to_not_in,
        ),
        Operator(
            "correlation-break",
            "subquery",
            "hard",
            "a correlated subquery's outer reference rebound to its own table",
            "Which row of the outer query is each subquery about?",
            correlation_break,
        ),
        Operator(
            "integer-division",
            "type-coercion",
            "hard",
            "x * 1.0 / y -> x / y",
            "In SQLite an integer divided by an integer is an integer.",
            integer_division,
        ),
        Operator(
            "distinct-toggle",
            "distinct",
            "medium",
            "DISTINCT dropped or added",
            "Should identical rows be kept or merged?",
            distinct_toggle,
        ),
        Operator(
            "order-direction",
            "ordering-ties",
            "easy",
            "ASC <-> DESC",
            "Check the direction of each ORDER BY key.",
            order_direction,
        ),
        Operator(
            "order-key-drop",
            "ordering-ties",
            "medium",
            "a tie-breaking ORDER BY key dropped",
            "What decides the order of rows that tie on the first key?",
            order_key_drop,
        ),
        Operator(
            "union-swap",
            "set-operations",
            "medium",
            "UNION ALL <-> UNION",
            "Should duplicate rows across the branches be kept?",
            union_swap,
        ),
        Operator(
            "window-partition-drop",
            "window",
            "medium",
            "PARTITION BY dropped",
            "Over which rows should each window restart?",
            window_partition_drop,
        ),
        Operator(
            "window-order",
            "window",
            "medium",
            "a window's ORDER BY reversed",
            "In which order should the window run?",
            window_order,
        ),
        Operator(
            "window-frame",
            "window",
            "hard",
            "a ROWS frame dropped or made RANGE",
            "The default frame treats tied rows as one.",
            window_frame,
        ),
        Operator(
            "rank-swap",
            "window",
            "medium",
            "ROW_NUMBER <-> RANK <-> DENSE_RANK",
            "How should tied rows be numbered?",
            rank_swap,
        ),
        Operator(
            "like-pattern",
            "string-matching",
            "medium",
            "a LIKE's leading % dropped, or LOWER/UPPER/TRIM removed",
            "Look at the case, spaces and wildcards of the text being matched.",
            like_pattern,
        ),
        Operator(
            "precedence",
            "mutation",
            "medium",
            "a AND (b OR c) -> a AND b OR c",
            "AND binds tighter than OR.",
            precedence,
        ),
    ]
}
