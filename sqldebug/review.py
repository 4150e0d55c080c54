"""Static review of one SQL statement before it runs on SQLite.

SQLite's errors are terse ("no such column: x") and some mistakes do not error at all (``= NULL``,
integer division, ``NOT IN`` over a nullable column, a forgotten join condition). A finding says
what is wrong, where (line and column) and how to fix it; ``block`` findings let the caller refuse
SQL that must not run (writes on a query task, PRAGMA, ATTACH, runaway recursion, unbound names).

Everything is read from the sqlglot AST (dialect ``sqlite``), never by matching text: ``parse``
runs once and ``review`` reuses the tree. Binding walks sqlglot's scopes and is deliberately
conservative: when a source's columns cannot be known (``SELECT *`` in a derived table, a
table-valued function, an unknown table) no ``unknown-column`` is reported, as blocking valid SQL
costs far more than a missed hint.

sqlglot quirks relied on, each pinned by a test: ``FROM a, b`` and ``CROSS JOIN`` both parse to
``Join(kind='CROSS')``, but only the explicit form sets the ``pivots`` key; a bare ``JOIN b`` gets
``on=TRUE``; ``SAVEPOINT a``, ``RELEASE a``, ``END`` and ``REINDEX t`` parse as a column or alias
(``parse`` turns them into ``exp.Command``); typed function nodes drop the user's spelling
(``NVL(...)`` is ``Coalesce``) but keep the name token's offsets in ``meta``, so ``parse`` stores
the spelling under ``_NAME_KEY``; ``IF(...)`` keeps no offsets while ``IIF(...)`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from sqldebug.models import ColumnInfo, Finding, SchemaInfo
from sqldebug.review_rules import HINTS, MESSAGES, SQLITE_FUNCTIONS, SQLITE_TABLE_FUNCTIONS

__all__ = ["SQLITE_FUNCTIONS", "SQLITE_TABLE_FUNCTIONS", "binds", "parse", "review"]

_NAME_KEY = "sqldebug_name"
_ROWID = frozenset({"rowid", "oid", "_rowid_"})
_WRITES = (exp.Insert, exp.Update, exp.Delete)
_DDL = (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)
_TRANSACTION = (exp.Transaction, exp.Commit, exp.Rollback)
_FORBIDDEN = (exp.Attach, exp.Detach, exp.Pragma, exp.Analyze, *_TRANSACTION)
_COMMAND_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})
_COMMAND_DDL = frozenset({"CREATE", "DROP", "ALTER"})
#: Statements sqlglot reads as a bare column or alias (``SAVEPOINT a`` is ``Alias(SAVEPOINT, a)``).
_BARE_STATEMENTS = frozenset({"SAVEPOINT", "RELEASE", "END", "REINDEX"})
#: Function-shaped syntax and operators (CAST, CASE, EXISTS, a REGEXP b, a -> b), not calls.
_NOT_CALLS = (exp.Cast, exp.Case, exp.Binary, exp.Unary, exp.Predicate)
_NULL_REJECTING = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.In, exp.Is)
#: Per class, the SQLite name sqlglot generates for a call that kept no name token ('' = none).
_FALLBACK_NAMES: dict[type[exp.Expr], str] = {}


def parse(sql: str) -> tuple[list[exp.Expression], str | None]:
    """Parse with sqlglot (read="sqlite"); return (statements, error message or None).

    Never raises: ParseError, TokenError and RecursionError (deeply nested input) become the
    message. Empty statements from trailing ';' are dropped.
    """
    try:
        parsed = sqlglot.parse(sql, read="sqlite")
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        near = f" near `{first['highlight']}`" if first.get("highlight") else ""
        at = f" (line {first['line']}, column {first['col']})" if "line" in first else ""
        return [], f"{first.get('description', str(error))}{near}{at}."
    except TokenError as error:
        return [], f"Could not read the SQL: {error}."
    except RecursionError:
        return [], "The SQL is nested too deeply to analyse; flatten the expression."
    statements: list[exp.Expression] = []
    for node in parsed:
        if isinstance(node, (exp.Condition, exp.Alias)):
            head = node.this if isinstance(node, exp.Alias) else node
            keyword = head.name.upper() if isinstance(head, exp.Column) else ""
            if keyword not in _BARE_STATEMENTS:
                return [], "Not a SQL statement: start with SELECT, WITH, INSERT, UPDATE or DELETE."
            node = exp.Command(this=keyword, expression=exp.Literal.string(node.alias))
        if not isinstance(node, exp.Expression):
            continue  # None: an empty statement
        for func in node.find_all(exp.Func):
            meta = func.meta
            if "start" in meta and "end" in meta and not isinstance(func, exp.Anonymous):
                meta[_NAME_KEY] = sql[meta["start"] : meta["end"] + 1]
        statements.append(node)
    if not statements:
        return [], "The SQL is empty; write one statement."
    return statements, None


def binds(findings: list[Finding]) -> bool:
    """True when no unknown-table or unknown-column finding: every name bound to the schema."""
    return not any(f.code in ("unknown-table", "unknown-column") for f in findings)


def review(
    statements: list[exp.Expression],
    schema: SchemaInfo,
    *,
    kind: Literal["query", "mutation"],
    most_statements: int = 20,
) -> list[Finding]:
    """Findings for already-parsed statements (the caller parses once and reuses the tree).

    A query task takes one statement; a mutation task a script of up to ``most_statements``
    (the sandbox's ``Limits.max_statements``), run in order."""
    out: list[Finding] = []
    if len(statements) > 1 and kind == "query":
        _add(out, "multiple-statements", statements[1], n=len(statements))
    elif len(statements) > most_statements:
        _add(
            out,
            "too-many-statements",
            statements[most_statements],
            n=len(statements),
            m=most_statements,
        )
    tables = {name.lower(): {c.name.lower(): c for c in cols} for name, cols in schema.items()}
    for stmt in statements:
        label = {"transaction": "BEGIN", "truncatetable": "TRUNCATE"}.get(stmt.key, stmt.key)
        label = str(stmt.this).upper() if isinstance(stmt, exp.Command) else label.upper()
        at = None if isinstance(stmt, exp.Command) else stmt
        writes = isinstance(stmt, _WRITES) or label in _COMMAND_WRITES
        ddl = isinstance(stmt, _DDL) or label in _COMMAND_DDL
        if isinstance(stmt, _FORBIDDEN) or (isinstance(stmt, exp.Command) and not (writes or ddl)):
            _add(out, "forbidden-statement", at, label=label)  # also VACUUM, SAVEPOINT, EXPLAIN
        elif (writes or ddl) and kind == "query":
            _add(out, "write-on-query", at, label=label)
        elif ddl:
            _add(out, "ddl", at, label=label)
        if isinstance(stmt, (exp.Update, exp.Delete)) and not stmt.args.get("where"):
            _add(out, f"{label.lower()}-without-where", stmt.this, t=stmt.this.name)
        if isinstance(stmt, (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Values)):
            found: list[Finding] = []
            with contextlib.suppress(RecursionError, SqlglotError):  # too odd: keep what we have
                _Reviewer(tables, found).statement(stmt)
            seen = {(f.code, f.message) for f in out}
            for finding in sorted(found, key=lambda f: (f.line or 0, f.col or 0)):
                if (finding.code, finding.message) not in seen:
                    seen.add((finding.code, finding.message))
                    out.append(finding)
    return out


def _add(out: list[Finding], key: str, node: exp.Expr | None, **fields: object) -> None:
    """Append finding ``key`` (``code`` or ``code/variant``) at the first token under ``node``."""
    severity, template = MESSAGES[key]
    best: tuple[int, int] | None = None
    for sub in node.walk() if node is not None else ():
        meta = sub.meta
        if "line" in meta and "col" in meta:  # col is that of the token's last character
            here = (meta["line"], max(1, meta["col"] - meta.get("end", 0) + meta.get("start", 0)))
            best = here if best is None or here < best else best
    line, col = best or (None, None)
    message = template.format(**fields)
    out.append(
        Finding(code=key.split("/")[0], severity=severity, message=message, line=line, col=col)
    )


class _Source(NamedTuple):
    """A FROM/JOIN item: its alias, the column names it exposes (None: unknown), base columns."""

    alias: str
    names: frozenset[str] | None
    columns: dict[str, ColumnInfo] | None


def _output_names(node: exp.Expr) -> frozenset[str] | None:
    """Column names a CTE, derived table or VALUES exposes; None when unknown (``SELECT *``)."""
    if node.alias_column_names:
        return frozenset(name.lower() for name in node.alias_column_names)
    query = node.this
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    if not isinstance(query, exp.Select) or query.is_star:
        return None
    return frozenset(name.lower() for name in query.named_selects if name)


def _conjuncts(condition: exp.Expr) -> Iterator[exp.Expr]:
    """The AND-ed parts of a condition (``flatten`` alone would split ``a = b`` into its sides)."""
    return condition.flatten() if isinstance(condition, exp.And) else iter((condition,))


def _has_condition(join: exp.Join) -> bool:
    """ON, USING or NATURAL; the ``on=TRUE`` that the parser gives a bare ``JOIN b`` is none."""
    on = join.args.get("on")
    trivial = on is None or (isinstance(on, exp.Boolean) and on.this is True)
    return bool(join.args.get("using")) or join.args.get("method") == "NATURAL" or not trivial


def _listing(names: frozenset[str] | set[str], limit: int = 12) -> str:
    shown = sorted(set(names) - _ROWID)
    more = f" (+{len(shown) - limit} more)" if len(shown) > limit else ""
    return (", ".join(shown[:limit]) or "none") + more


class _Reviewer:
    """One statement: each scope is walked once for every expression check and for binding."""

    def __init__(self, tables: dict[str, dict[str, ColumnInfo]], out: list[Finding]) -> None:
        self.tables, self.out = tables, out
        self._sources: dict[int, list[_Source] | None] = {}
        self._withs: dict[int, dict[str, frozenset[str] | None]] = {}

    def statement(self, stmt: exp.Expr) -> None:
        for scope in traverse_scope(stmt):
            expr = scope.expression
            if isinstance(expr, exp.Select):
                sources = self.sources(scope)
                if sources is not None and expr.args.get("joins"):
                    self._joins(expr, sources)
                self._not_in(expr, scope)
            for node in walk_in_scope(expr):
                self._node(node, scope, bind=isinstance(expr, exp.Select))
        if isinstance(stmt, exp.Query):
            return
        root = Scope(stmt)  # DML: its SET / WHERE / VALUES lie in no query scope
        if isinstance(stmt, exp.Insert):
            self._insert_target(stmt)
        else:
            self.sources(root)
        for node in walk_in_scope(stmt):
            self._node(node, root, bind=isinstance(stmt, (exp.Update, exp.Delete)))

    def _node(self, node: exp.Expr, scope: Scope, *, bind: bool) -> None:
        if isinstance(node, exp.Column):
            if bind and not isinstance(node.this, exp.Star):
                self._bind(node, scope)
        elif isinstance(node, exp.Func) and not isinstance(node, exp.Connector):
            self._function(node)
        elif isinstance(node, (exp.EQ, exp.NEQ)):
            null, other = (node.expression, node.this)
            if isinstance(node.this, exp.Null):
                null, other = other, null
            if isinstance(null, exp.Null) and not isinstance(
                node.parent, (exp.Update, exp.OnConflict)
            ):
                fix = f"{other.sql('sqlite')} IS {'' if isinstance(node, exp.EQ) else 'NOT '}NULL"
                _add(self.out, "null-comparison", node, expr=node.sql("sqlite"), fix=fix)
        elif isinstance(node, exp.Div):
            left, right = self._int_kind(node.this, scope), self._int_kind(node.expression, scope)
            if left and right and max(left, right) > 1:
                _add(self.out, "integer-division", node, expr=node.sql("sqlite"))
        elif isinstance(node, exp.With):
            self._recursion(node)

    # -- binding ---------------------------------------------------------------------------------

    def sources(self, scope: Scope) -> list[_Source] | None:
        """The scope's FROM/JOIN items, reporting unknown tables once; None if not a query scope."""
        expr = scope.expression
        if id(expr) in self._sources:
            return self._sources[id(expr)]
        relations = [expr.this] if isinstance(expr, (exp.Update, exp.Delete)) else []
        from_ = expr.args.get("from_")
        relations += [from_.this] if isinstance(from_, exp.From) else []
        relations += [join.this for join in expr.args.get("joins") or []]
        wrappers = set()  # nested joins: `FROM (a JOIN b ON ...)`, `UPDATE ... FROM a JOIN b`
        for rel in relations:
            if isinstance(rel, exp.Subquery) and not isinstance(rel.this, exp.Query):
                relations.append(rel.this)
                wrappers.add(id(rel))
            relations += [join.this for join in rel.args.get("joins") or []]
        ctes: list[dict[str, frozenset[str] | None]] = []  # innermost WITH first
        node: exp.Expr | None = expr
        while node is not None:  # SQLite sees all CTEs of an enclosing WITH, itself and later ones
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With):
                if id(with_) not in self._withs:
                    names = {c.alias.lower(): _output_names(c) for c in with_.expressions}
                    self._withs[id(with_)] = names
                ctes.append(self._withs[id(with_)])
            node = node.parent
        result = None
        if isinstance(expr, (exp.Select, exp.Update, exp.Delete)):
            result = [self._relation(r, ctes) for r in relations if id(r) not in wrappers]
        self._sources[id(expr)] = result
        return result

    def _relation(self, rel: exp.Expr, ctes: list[dict[str, frozenset[str] | None]]) -> _Source:
        alias = rel.alias_or_name.lower()
        if isinstance(rel, (exp.Subquery, exp.Values)):
            return _Source(alias, _output_names(rel), None)
        if not isinstance(rel, exp.Table) or not isinstance(rel.this, exp.Identifier):
            return _Source(alias, None, None)  # e.g. json_each(...): columns unknown here
        name, db = rel.name.lower(), rel.text("db").lower()
        for names in ctes if not db else ():
            if name in names:
                return _Source(alias, names[name], None)
        columns = self.tables.get(name) if db in ("", "main") else None
        if columns is not None:
            return _Source(alias, frozenset(columns) | _ROWID, columns)
        if db != "temp" and not name.startswith("sqlite_"):
            known = _listing(set(self.tables))
            _add(self.out, "unknown-table", rel, t=rel.sql("sqlite"), names=known)
        return _Source(alias, None, None)

    def _insert_target(self, stmt: exp.Insert) -> None:
        target = stmt.this
        table = target.this if isinstance(target, exp.Schema) else target
        names = self._relation(table, []).names or frozenset()
        for ident in target.expressions if isinstance(target, exp.Schema) and names else ():
            if ident.name.lower() not in names:
                has, col = _listing(names), ident.name
                _add(self.out, "unknown-column/qualified", ident, t=table.name, c=col, names=has)

    def _resolve(self, scope: Scope | None, name: str, table: str) -> _Source | bool:
        """The source holding a column; True when unsure or a SELECT alias; False when missing."""
        while scope is not None:
            sources = self.sources(scope)
            if sources is None:
                return True
            for source in sources:
                if table and source.alias != table:
                    continue
                if source.names is None:
                    return True
                if name in source.names and (table or len(sources) == 1 or name not in _ROWID):
                    return source  # SQLite resolves a bare rowid only with a single table
                if table:
                    return False
            selects = scope.expression.expressions if not table else []
            if any(isinstance(e, exp.Alias) and e.alias.lower() == name for e in selects):
                return True  # SQLite accepts a SELECT alias anywhere in its query
            scope = scope.parent if scope.can_be_correlated else None  # FROM (...) cannot
        return False

    def _bind(self, column: exp.Column, scope: Scope) -> None:
        name, table = column.name.lower(), column.table.lower()
        if self._resolve(scope, name, table) is not False:
            return
        if column.this.args.get("quoted") and not table:
            return  # SQLite reads an unresolvable "x" as the string 'x': not a binding error
        sources = self.sources(scope) or []
        source = next((s for s in sources if s.alias == table), None) if table else None
        if source is not None and source.names is not None:
            has = _listing(source.names)
            _add(self.out, "unknown-column/qualified", column, t=table, c=column.name, names=has)
        elif table:
            listing = _listing({s.alias for s in sources})
            _add(self.out, "unknown-column/alias", column, t=column.table, names=listing)
        else:
            listing = _listing(set().union(*(s.names or () for s in sources)))
            _add(self.out, "unknown-column", column, c=column.name, names=listing)

    # -- expression checks -----------------------------------------------------------------------

    def _function(self, node: exp.Func) -> None:
        if isinstance(node, exp.Anonymous):
            name = node.name
        elif _NAME_KEY in node.meta:
            name = node.meta[_NAME_KEY]
        elif isinstance(node, exp.If) and node.arg_key != "ifs" and "start" not in node.meta:
            name = "if"  # IF(...) keeps no name token, IIF(...) does; CASE branches are `ifs`
        elif isinstance(node, _NOT_CALLS):
            return
        else:  # no name token, or not from parse(): the name sqlglot writes for SQLite
            if type(node) not in _FALLBACK_NAMES:
                text = node.sql(dialect="sqlite", unsupported_level=ErrorLevel.IGNORE)
                head, paren, _ = text.partition("(")
                ok = paren and head.replace("_", "").isalnum() and head.upper() != "CAST"
                _FALLBACK_NAMES[type(node)] = head if ok else ""
            name = _FALLBACK_NAMES[type(node)]
        name = name.lower()
        in_from = isinstance(node.parent, exp.Table)
        if name == "load_extension":
            _add(self.out, "forbidden-statement/call", node)
        elif in_from and (name in SQLITE_TABLE_FUNCTIONS or name.startswith("pragma_")):
            return
        elif name and (in_from or name not in SQLITE_FUNCTIONS):
            hint = HINTS.get(name, "use a built-in function or rewrite the expression")
            _add(self.out, "unknown-function", node, name=name, hint=hint)

    def _int_kind(self, node: exp.Expr, scope: Scope) -> int:
        """2: an integer from the data, 1: an integer literal, 0: not known to be an integer."""
        while isinstance(node, (exp.Paren, exp.Neg)):
            node = node.this
        if isinstance(node, exp.Literal):
            return int(not node.is_string and node.is_int)
        if isinstance(node, exp.Column):
            return 2 if self._column_info(node, scope, "INT") else 0
        if isinstance(node, (exp.Count, exp.Length)):
            return 2
        if isinstance(node, (exp.Sum, exp.Min, exp.Max, exp.Abs)):
            return 2 if self._int_kind(node.this, scope) else 0
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)):
            left, right = self._int_kind(node.this, scope), self._int_kind(node.expression, scope)
            return max(left, right) if left and right else 0
        return 0

    def _column_info(self, column: exp.Column, scope: Scope, typed: str = "") -> ColumnInfo | None:
        """The schema entry of a base-table column whose type contains ``typed``, else None."""
        source = self._resolve(scope, column.name.lower(), column.table.lower())
        columns = source.columns if isinstance(source, _Source) else None
        info = columns.get(column.name.lower()) if columns else None
        return info if info is not None and typed in info.type.upper() else None

    def _joins(self, select: exp.Select, sources: list[_Source]) -> None:
        """Flag joins without a condition that no WHERE/ON predicate links to earlier tables."""
        joins = select.args["joins"]
        if len(sources) != len(joins) + 1 or all(map(_has_condition, joins)):
            return
        group = list(range(len(sources)))  # union-find over the sources a predicate links

        def find(i: int) -> int:
            while group[i] != i:
                i = group[i]
            return i

        where = select.args.get("where")
        for condition in [where and where.this] + [join.args.get("on") for join in joins]:
            for conjunct in _conjuncts(condition) if condition else ():
                linked = {
                    self._source_index(c, sources, select) for c in conjunct.find_all(exp.Column)
                }
                hit = range(len(sources)) if -1 in linked else [i for i in linked if i is not None]
                for i in hit:
                    group[find(i)] = find(min(hit))
        for i, join in enumerate(joins, 1):
            if _has_condition(join) or isinstance(join.this.this, exp.Func):
                continue  # json_each(t.x) is correlated with t
            if find(i) not in {find(k) for k in range(i)}:
                cross = join.args.get("kind") == "CROSS" and "pivots" in join.args
                key = "cartesian-join/cross" if cross else "cartesian-join"
                _add(self.out, key, join, t=join.this.alias_or_name)

    @staticmethod
    def _source_index(column: exp.Column, sources: list[_Source], select: exp.Select) -> int | None:
        """Index of the source a predicate column reads: -1 when unsure, None when not local."""
        table, name = column.table.lower(), column.name.lower()
        if table:
            return next((i for i, s in enumerate(sources) if s.alias == table), None)
        if column.find_ancestor(exp.Select) is not select:
            return None
        hits = [i for i, s in enumerate(sources) if s.names is None or name in s.names]
        return hits[0] if len(hits) == 1 and sources[hits[0]].names is not None else -1

    def _not_in(self, select: exp.Select, scope: Scope) -> None:
        """Flag ``x NOT IN (SELECT col ...)`` when col may be NULL and nothing filters NULLs out."""
        in_ = select.parent.parent if isinstance(select.parent, exp.Subquery) else None
        column = select.expressions[0] if len(select.expressions) == 1 else None
        if not (isinstance(in_, exp.In) and isinstance(in_.parent, exp.Not)):
            return
        info = self._column_info(column, scope) if isinstance(column, exp.Column) else None
        if info is None or info.notnull or info.pk:
            return
        where = select.args.get("where")
        for conjunct in _conjuncts(where.this) if where is not None else ():
            test = conjunct.this if isinstance(conjunct, exp.Not) else conjunct
            operand = test.this if isinstance(test, _NULL_REJECTING) else None
            same = isinstance(operand, exp.Column) and operand.name.lower() == info.name.lower()
            if same and (test is not conjunct or not isinstance(test, exp.Is)):
                return  # `col IS NOT NULL`, `col > 0`, ...: NULLs are filtered out
        _add(self.out, "not-in-nullable", in_.this, c=info.name)

    def _recursion(self, with_: exp.With) -> None:
        """Block self-referencing CTEs whose recursive member has no WHERE, ON or LIMIT.

        SQLite makes any CTE that reads its own name recursive, with or without RECURSIVE.
        """
        if with_.parent is not None and with_.parent.args.get("limit") is not None:
            return
        for cte in with_.expressions:
            members: list[exp.Expr] = []
            body = cte.this
            while isinstance(body, exp.SetOperation) and body.args.get("limit") is None:
                members.append(body.expression)
                body = body.this
            for member in members if not isinstance(body, exp.SetOperation) else ():
                stops = ("where", "limit")
                if not isinstance(member, exp.Select) or any(member.args.get(k) for k in stops):
                    continue
                if any(map(_has_condition, member.args.get("joins") or [])):
                    continue
                if cte.alias.lower() in {t.name.lower() for t in member.find_all(exp.Table)}:
                    _add(self.out, "unbounded-recursion", member, t=cte.alias)
