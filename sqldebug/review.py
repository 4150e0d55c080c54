"""Static review of one SQL statement before it runs on SQLite.

Why review at all: SQLite's errors are terse ("no such column: x") and some mistakes do not error
at all (``= NULL``, integer division, ``NOT IN`` over a nullable column, a forgotten join
condition). A finding says what is wrong, where (line and column), and how to fix it, and the
``block`` ones let the caller refuse statements that must not run (writes on a query task, PRAGMA,
ATTACH, unbounded recursion, names that do not bind).

Everything is read from the sqlglot AST (dialect ``sqlite``), never by matching text: ``parse``
runs once and ``review`` reuses the tree. Binding uses sqlglot's scope machinery and is deliberately
conservative: when a source's columns cannot be known (``SELECT *`` in a derived table, a
table-valued function, an unknown table) no ``unknown-column`` is reported, since blocking valid SQL
costs an agent far more than a missed hint.

sqlglot quirks relied on (each pinned by a test in tests/test_review.py):
- ``FROM a, b`` and ``FROM a CROSS JOIN b`` both parse to ``Join(kind='CROSS')``; only the explicit
  form goes through the join parser, which always sets the ``pivots`` key.
- ``JOIN b`` without ON gets ``on=TRUE`` added by the parser.
- SAVEPOINT, RELEASE, END and REINDEX parse as a bare column or alias, so ``parse`` turns them back
  into ``exp.Command``; any other bare expression at statement level is reported as not a statement.
- Typed function nodes do not keep the spelling the user wrote (``NVL`` becomes ``Coalesce``), but
  their meta holds the name token's offsets, so ``parse`` records the spelling under ``_NAME_KEY``.
  ``IF(...)`` (a ``FUNCTION_PARSERS`` entry) keeps no offsets while ``IIF(...)`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from sqldebug.models import ColumnInfo, Finding, SchemaInfo, Severity

__all__ = ["binds", "parse", "review"]

_NAME_KEY = "sqldebug_name"
_ROWID = frozenset({"rowid", "oid", "_rowid_"})
_BINDING = frozenset({"unknown-table", "unknown-column"})

#: Built-in functions of SQLite 3.40 (with the math functions), checked against sqlite3 by a test.
SQLITE_FUNCTIONS = frozenset(
    """abs changes char coalesce format glob hex ifnull iif instr last_insert_rowid length like
    likelihood likely lower ltrim max min nullif printf quote random randomblob replace round rtrim
    sign sqlite_compileoption_get sqlite_compileoption_used sqlite_source_id sqlite_version substr
    substring total_changes trim typeof unicode unlikely upper zeroblob
    date time datetime julianday unixepoch strftime
    avg count group_concat sum total json_group_array json_group_object
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2
    mod pi pow power radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_extract json_insert json_object json_patch json_remove
    json_replace json_set json_type json_valid json_quote""".split()
)
#: Table-valued functions usable in FROM (plus every ``pragma_*`` one).
SQLITE_TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})
#: Function nodes that are syntax, not calls (CAST(...), EXISTS(...), CASE ... END).
_SYNTAX_FUNCS = (exp.Cast, exp.Exists, exp.Case, exp.Collate, exp.CurrentDate, exp.CurrentTime,
                 exp.CurrentTimestamp, exp.JSONExtract, exp.JSONExtractScalar, exp.Connector)
#: Per class, the SQLite name sqlglot generates for a call that kept no name token ('' = none).
_FALLBACK_NAMES: dict[type[exp.Expr], str] = {}
_HINTS = {
    "concat": "use the || operator", "concat_ws": "use the || operator",
    "date_trunc": "use date(x, 'start of month') or strftime()", "datediff":
    "subtract julianday() values", "now": "use datetime('now')", "getdate": "use datetime('now')",
    "string_agg": "use group_concat()", "listagg": "use group_concat()", "nvl": "use ifnull()",
    "isnull": "use ifnull() or IS NULL", "len": "use length()", "if": "use iif() or CASE",
    "year": "use strftime('%Y', x)", "month": "use strftime('%m', x)", "day": "use strftime('%d', x)",
    "extract": "use strftime()", "to_char": "use strftime()", "left": "use substr(x, 1, n)",
    "right": "use substr(x, -n)", "date_add": "use date(x, '+N days')",
    "dateadd": "use date(x, '+N days')", "position": "use instr()", "charindex": "use instr()",
    "generate_series": "use a WITH RECURSIVE counter",
}

_WRITE_LABELS = {exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE"}
_DDL_LABELS = {exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER",
               exp.TruncateTable: "TRUNCATE"}
_FORBIDDEN_LABELS = {exp.Attach: "ATTACH", exp.Detach: "DETACH", exp.Pragma: "PRAGMA",
                     exp.Transaction: "BEGIN", exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK",
                     exp.Analyze: "ANALYZE"}
_COMMAND_KINDS = {
    **dict.fromkeys(("INSERT", "UPDATE", "DELETE", "REPLACE"), "write"),
    **dict.fromkeys(("CREATE", "DROP", "ALTER"), "ddl"),
    **dict.fromkeys(("VACUUM", "REINDEX", "ANALYZE", "ATTACH", "DETACH", "PRAGMA", "BEGIN", "END",
                     "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"), "forbidden"),
}
#: Statements sqlglot reads as a bare column/alias (``SAVEPOINT a`` is ``Alias(SAVEPOINT, a)``).
_BARE_STATEMENTS = frozenset({"SAVEPOINT", "RELEASE", "END", "REINDEX"})
_NULL_REJECTING = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.In)


def parse(sql: str) -> tuple[list[exp.Expression], str | None]:
    """Parse with sqlglot (read="sqlite"); return (statements, error message or None).

    Never raises: sqlglot's ParseError/TokenError and RecursionError (deeply nested input) become
    the error string. Empty statements from trailing ';' are dropped.
    """
    try:
        parsed = sqlglot.parse(sql, read="sqlite")
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        near = f" near `{first['highlight']}`" if first.get("highlight") else ""
        where = f" (line {first['line']}, column {first['col']})" if "line" in first else ""
        return [], f"{first.get('description', str(error))}{near}{where}"
    except TokenError as error:
        return [], f"Could not read the SQL: {error}"
    except RecursionError:
        return [], "The SQL is nested too deeply to analyse; flatten the expression."
    statements: list[exp.Expression] = []
    for node in parsed:
        if node is None:
            continue
        if isinstance(node, (exp.Condition, exp.Alias)):
            head = node.this if isinstance(node, exp.Alias) else node
            keyword = head.name.upper() if isinstance(head, exp.Column) else ""
            if keyword not in _BARE_STATEMENTS:
                return [], "Not a SQL statement: start with SELECT, WITH, INSERT, UPDATE or DELETE."
            node = exp.Command(this=keyword, expression=exp.Literal.string(node.alias))
        for func in node.find_all(exp.Func):
            meta = func.meta
            if "start" in meta and "end" in meta and not isinstance(func, exp.Anonymous):
                meta[_NAME_KEY] = sql[meta["start"] : meta["end"] + 1]
        statements.append(node)
    if not statements:
        return [], "The SQL is empty; write one statement."
    return statements, None


def binds(findings: list[Finding]) -> bool:
    """True when every table and column name bound against the schema."""
    return not any(f.code in _BINDING for f in findings)


def review(
    statements: list[exp.Expression], schema: SchemaInfo, *, kind: Literal["query", "mutation"]
) -> list[Finding]:
    """Findings for already-parsed statements (the caller parses once and reuses the tree)."""
    out: list[Finding] = []
    if len(statements) > 1:
        _add(out, "multiple-statements", "block", f"Found {len(statements)} statements; submit "
             "exactly one (remove everything after the first `;`).", statements[1])
    for stmt in statements:
        label, category = _classify(stmt)
        if category == "forbidden":
            _add(out, "forbidden-statement", "block",
                 f"{label} is not allowed here; remove it and submit only the SQL for the task.", stmt)
        elif category in ("write", "ddl") and kind == "query":
            _add(out, "write-on-query", "block", f"This task asks for a query but {label} changes "
                 "the database; rewrite it as a SELECT.", stmt)
        elif category == "ddl":
            _add(out, "ddl", "block", f"{label} changes the schema; this task allows only INSERT, "
                 "UPDATE or DELETE.", stmt)
        if isinstance(stmt, (exp.Update, exp.Delete)) and not stmt.args.get("where"):
            verb, code = ("changes", "update-without-where") if isinstance(
                stmt, exp.Update) else ("deletes", "delete-without-where")
            _add(out, code, "warn", f"{label} without WHERE {verb} every row of "
                 f"`{stmt.this.sql(dialect='sqlite')}`; add a WHERE clause for the intended rows.",
                 stmt.this)
        if isinstance(stmt, (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Values)):
            # too deep or too odd to analyse: what was found so far stands
            with contextlib.suppress(RecursionError, SqlglotError):
                _Reviewer(schema, out).statement(stmt)
    return out


def _classify(stmt: exp.Expr) -> tuple[str, str]:
    """(label, category) where category is write, ddl, forbidden or ''."""
    if isinstance(stmt, exp.Command):
        label = str(stmt.this).upper()
        return label, _COMMAND_KINDS.get(label, "")
    for labels, category in ((_WRITE_LABELS, "write"), (_DDL_LABELS, "ddl"),
                             (_FORBIDDEN_LABELS, "forbidden")):
        found = labels.get(type(stmt))
        if found:
            return found, category
    return "", ""


def _position(node: exp.Expr) -> tuple[int | None, int | None]:
    """1-based (line, column) of the earliest token in the subtree that carries a position."""
    best: tuple[int, int] | None = None
    for sub in node.walk():
        meta = sub.meta
        if "line" in meta and "col" in meta:
            col = meta["col"] - (meta["end"] - meta["start"]) if "start" in meta else meta["col"]
            here = (int(meta["line"]), max(1, int(col)))
            best = here if best is None or here < best else best
    return best if best else (None, None)


def _add(out: list[Finding], code: str, severity: Severity, message: str,
         node: exp.Expr) -> None:
    line, col = _position(node)
    out.append(Finding(code=code, severity=severity, message=message, line=line, col=col))


class _Source(NamedTuple):
    """One FROM/JOIN item: its alias, the names it exposes (None: unknown), its base columns."""

    alias: str
    names: frozenset[str] | None
    columns: dict[str, ColumnInfo] | None


def _output_names(node: exp.Expr) -> frozenset[str] | None:
    """Column names a CTE, derived table or VALUES exposes; None when it selects *."""
    declared = node.alias_column_names
    if declared:
        return frozenset(name.lower() for name in declared)
    query = node.this
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    if not isinstance(query, exp.Select) or query.is_star:
        return None
    return frozenset(name.lower() for name in query.named_selects if name)


class _Reviewer:
    """One statement's expression checks and name binding, one pass over each scope."""

    def __init__(self, schema: SchemaInfo, out: list[Finding]) -> None:
        self.tables = {t.lower(): {c.name.lower(): c for c in cols} for t, cols in schema.items()}
        self.out = out
        self._sources: dict[int, list[_Source] | None] = {}

    def statement(self, stmt: exp.Expr) -> None:
        for scope in traverse_scope(stmt):
            self._scope(scope)
        if not isinstance(stmt, exp.Query):  # DML: the SET/WHERE/VALUES part is in no scope
            root = Scope(stmt)
            if isinstance(stmt, exp.Insert):
                self._insert_target(stmt)
            else:
                self.sources(root)
            for node in walk_in_scope(stmt):
                self._node(node, root, bind=not isinstance(stmt, (exp.Insert, exp.Values)))

    def _scope(self, scope: Scope) -> None:
        expr = scope.expression
        if isinstance(expr, exp.Select):
            sources = self.sources(scope)
            if sources is not None and expr.args.get("joins"):
                self._joins(expr, sources, scope)
            self._not_in(expr, scope)
        for node in walk_in_scope(expr):
            self._node(node, scope, bind=isinstance(expr, exp.Select))

    def _node(self, node: exp.Expr, scope: Scope, *, bind: bool) -> None:
        if isinstance(node, exp.Column):
            if bind and not isinstance(node.this, exp.Star):
                self._bind(node, scope)
        elif isinstance(node, exp.Func):
            if not isinstance(node, _SYNTAX_FUNCS):
                self._function(node)
        elif isinstance(node, (exp.EQ, exp.NEQ)):
            if not isinstance(node.parent, (exp.Update, exp.OnConflict)):
                self._null_comparison(node)
        elif isinstance(node, exp.Div):
            left, right = self._int_kind(node.this, scope), self._int_kind(node.expression, scope)
            if left and right and max(left, right) > 1:
                _add(self.out, "integer-division", "warn", f"`{node.sql(dialect='sqlite')}` "
                     "divides integers, so SQLite drops the fraction; multiply one side by 1.0 "
                     "or CAST it AS REAL.", node)
        elif isinstance(node, exp.With):
            self._recursion(node)

    # -- binding -------------------------------------------------------------------------------

    def sources(self, scope: Scope) -> list[_Source] | None:
        """The scope's FROM/JOIN items (reporting unknown tables once); None when unknowable."""
        expr = scope.expression
        key = id(expr)
        if key in self._sources:
            return self._sources[key]
        relations: list[exp.Expr] = []
        if isinstance(expr, (exp.Update, exp.Delete)):
            relations.append(expr.this)
        if isinstance(expr, (exp.Select, exp.Update)):
            from_ = expr.args.get("from_")
            relations.extend([from_.this] if from_ is not None else [])
            relations.extend(j.this for j in expr.args.get("joins") or [])
        for rel in relations:  # nested joins: `FROM (a JOIN b ON ...)`, `UPDATE ... FROM a JOIN b`
            if isinstance(rel, exp.Subquery) and not rel.alias and not isinstance(rel.this, exp.Query):
                relations.append(rel.this)
            relations.extend(j.this for j in rel.args.get("joins") or [])
        ctes: dict[str, frozenset[str] | None] = {}
        node: exp.Expr | None = expr
        while node is not None:  # SQLite sees every CTE of an enclosing WITH: itself, later ones
            with_ = node.args.get("with_")
            for cte in with_.expressions if isinstance(with_, exp.With) else ():
                ctes.setdefault(cte.alias.lower(), _output_names(cte))
            node = node.parent
        result = None
        if isinstance(expr, (exp.Select, exp.Update, exp.Delete)):
            result = [self._relation(rel, ctes) for rel in relations
                      if not (isinstance(rel, exp.Subquery) and not rel.alias
                              and not isinstance(rel.this, exp.Query))]
        self._sources[key] = result
        return result

    def _relation(self, rel: exp.Expr, ctes: dict[str, frozenset[str] | None]) -> _Source:
        alias = rel.alias_or_name.lower()
        if isinstance(rel, exp.Table) and isinstance(rel.this, exp.Identifier):
            name, db = rel.name.lower(), rel.text("db").lower()
            if name in ctes and not db:
                return _Source(alias, ctes[name], None)
            columns = self.tables.get(name) if db in ("", "main") else None
            if columns is not None:
                return _Source(alias, frozenset(columns) | _ROWID, columns)
            if db != "temp" and not name.startswith("sqlite_"):
                known = ", ".join(sorted(self.tables)) or "none"
                _add(self.out, "unknown-table", "block", f"There is no table "
                     f"`{rel.sql(dialect='sqlite')}`; the tables are: {known}.", rel)
        elif isinstance(rel, (exp.Subquery, exp.Values)):
            return _Source(alias, _output_names(rel), None)
        return _Source(alias, None, None)

    def _insert_target(self, stmt: exp.Insert) -> None:
        target = stmt.this
        table = target.this if isinstance(target, exp.Schema) else target
        source = self._relation(table, {})
        if isinstance(target, exp.Schema) and source.names is not None:
            for ident in target.expressions:
                if ident.name.lower() not in source.names:
                    _add(self.out, "unknown-column", "block", f"Table `{table.name}` has no column "
                         f"`{ident.name}`; its columns are: {_listing(source.names)}.", ident)

    def _resolve(self, scope: Scope | None, name: str, table: str) -> _Source | bool:
        """The source that holds the column; True when unsure (or an alias); False when missing."""
        while scope is not None:
            sources = self.sources(scope)
            if sources is None:
                return True
            for source in sources:
                if table and source.alias != table:
                    continue
                if source.names is None:
                    return True
                if name in source.names:
                    return source
                if table:
                    return False
            expr = scope.expression
            if not table and isinstance(expr, exp.Select) and name in {
                    e.alias.lower() for e in expr.expressions if isinstance(e, exp.Alias)}:
                return True
            scope = scope.parent
        return False

    def _bind(self, column: exp.Column, scope: Scope) -> None:
        name, table = column.name.lower(), column.table.lower()
        if self._resolve(scope, name, table) is not False:
            return
        if column.this.args.get("quoted") and not table:
            return  # SQLite reads an unresolvable "x" as the string 'x'; not a binding error
        sources = self.sources(scope) or []
        source = next((s for s in sources if s.alias == table), None) if table else None
        if source is not None and source.names is not None:
            message = (f"`{table}` has no column `{column.name}`; its columns are: "
                       f"{_listing(source.names)}.")
        elif table:
            aliases = ", ".join(s.alias for s in sources) or "none"
            message = (f"No table or alias `{column.table}` in this query (sources: {aliases}); "
                       "qualify with an alias from the FROM clause.")
        else:
            names = frozenset().union(*(s.names or () for s in sources)) - _ROWID
            message = (f"No column `{column.name}` in the tables of this query; the columns are: "
                       f"{_listing(names)}.")
        _add(self.out, "unknown-column", "block", message, column)

    # -- expression checks -----------------------------------------------------------------------

    def _function(self, node: exp.Func) -> None:
        if isinstance(node, exp.Anonymous):
            name = node.name
        elif _NAME_KEY in node.meta:
            name = node.meta[_NAME_KEY]
        elif isinstance(node, exp.If) and node.arg_key != "ifs" and "start" not in node.meta:
            name = "if"  # IF(...) keeps no name token; IIF(...) does
        elif isinstance(node, (exp.Binary, exp.Predicate)):
            return  # an operator (a REGEXP b), not a call
        else:  # no name token (or not from parse()): how sqlglot writes this class for SQLite
            name = _FALLBACK_NAMES.get(type(node), "")
            if type(node) not in _FALLBACK_NAMES:
                text = node.sql(dialect="sqlite", unsupported_level=ErrorLevel.IGNORE)
                head, paren, _ = text.partition("(")
                name = head if paren and head.replace("_", "").isalnum() else ""
                _FALLBACK_NAMES[type(node)] = name = "" if name.upper() == "CAST" else name
            if not name:
                return
        name = name.lower()
        if name == "load_extension":
            _add(self.out, "forbidden-statement", "block",
                 "load_extension() is not allowed; remove the call.", node)
            return
        in_from = isinstance(node.parent, exp.Table)
        if in_from and (name in SQLITE_TABLE_FUNCTIONS or name.startswith("pragma_")):
            return
        if not in_from and name in SQLITE_FUNCTIONS:
            return
        hint = _HINTS.get(name, "use a built-in function or rewrite the expression")
        _add(self.out, "unknown-function", "block",
             f"SQLite 3.40 has no function `{name}()`; {hint}.", node)

    def _null_comparison(self, node: exp.Binary) -> None:
        left, right = node.this, node.expression
        if not isinstance(left, exp.Null) and not isinstance(right, exp.Null):
            return
        other = right if isinstance(left, exp.Null) else left
        fix = "IS NULL" if isinstance(node, exp.EQ) else "IS NOT NULL"
        _add(self.out, "null-comparison", "warn", f"`{node.sql(dialect='sqlite')}` is never true "
             f"because comparing with NULL yields NULL; write `{other.sql(dialect='sqlite')} "
             f"{fix}`.", node)

    def _int_kind(self, node: exp.Expr, scope: Scope) -> int:
        """2: integer-typed from data, 1: integer literal, 0: not (known to be) an integer."""
        while isinstance(node, (exp.Paren, exp.Neg)):
            node = node.this
        if isinstance(node, exp.Literal):
            return int(not node.is_string and node.is_int)
        if isinstance(node, exp.Column):
            source = self._resolve(scope, node.name.lower(), node.table.lower())
            info = source.columns.get(node.name.lower()) if isinstance(source, _Source) and \
                source.columns else None
            return 2 if info is not None and "INT" in info.type.upper() else 0
        if isinstance(node, (exp.Count, exp.Length)):
            return 2
        if isinstance(node, (exp.Sum, exp.Min, exp.Max, exp.Abs)):
            return 2 if self._int_kind(node.this, scope) else 0
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)):
            left, right = self._int_kind(node.this, scope), self._int_kind(node.expression, scope)
            return max(left, right) if left and right else 0
        return 0

    def _joins(self, select: exp.Select, sources: list[_Source], scope: Scope) -> None:
        """Warn on joins without a condition that no predicate links to the tables before them."""
        joins = select.args["joins"]
        bare = [i for i, join in enumerate(joins, 1) if not _has_condition(join)
                and not isinstance(join.this.this, exp.Func)]  # json_each(t.x) is correlated
        if not bare or len(sources) != len(joins) + 1:
            return
        group = list(range(len(sources)))

        def find(i: int) -> int:
            while group[i] != i:
                i = group[i]
            return i

        where = select.args.get("where")
        conditions = [where.this] if where is not None else []
        conditions += [j.args["on"] for j in joins if j.args.get("on") is not None]
        for condition in conditions:
            for conjunct in _conjuncts(condition):
                linked = {self._source_index(c, sources, select) for c in conjunct.find_all(
                    exp.Column)}
                indexes = range(len(sources)) if -1 in linked else sorted(
                    i for i in linked if i is not None)
                for i in indexes:
                    group[find(i)] = find(indexes[0])
        for i in bare:
            join = joins[i - 1]
            if find(i) in {find(k) for k in range(i)}:
                continue
            explicit = join.args.get("kind") == "CROSS" and "pivots" in join.args
            name = join.this.alias_or_name
            message = (f"CROSS JOIN `{name}` pairs every row with every row before it; fine if "
                       "deliberate, otherwise join ON a key." if explicit else
                       f"`{name}` is joined without a condition, so every row pairs with every "
                       "row before it; add an ON clause (or WHERE predicate) linking it.")
            _add(self.out, "cartesian-join", "info" if explicit else "warn", message, join)

    @staticmethod
    def _source_index(column: exp.Column, sources: list[_Source], select: exp.Select) -> int | None:
        """Index of the local source a predicate column reads; -1 unsure; None not local."""
        table, name = column.table.lower(), column.name.lower()
        if table:
            return next((i for i, s in enumerate(sources) if s.alias == table), None)
        if column.find_ancestor(exp.Select) is not select:
            return None
        hits = [i for i, s in enumerate(sources) if s.names is None or name in s.names]
        return hits[0] if len(hits) == 1 and sources[hits[0]].names is not None else -1

    def _not_in(self, select: exp.Select, scope: Scope) -> None:
        """Warn on ``x NOT IN (SELECT col ...)`` when col may be NULL and nothing filters it."""
        subquery, in_ = select.parent, select.parent and select.parent.parent
        if not (isinstance(subquery, exp.Subquery) and isinstance(in_, exp.In)
                and isinstance(in_.parent, exp.Not) and len(select.expressions) == 1):
            return
        column = select.expressions[0]
        if not isinstance(column, exp.Column):
            return
        source = self._resolve(scope, column.name.lower(), column.table.lower())
        info = source.columns.get(column.name.lower()) if isinstance(source, _Source) and \
            source.columns else None
        if info is None or info.notnull or info.pk:
            return
        where = select.args.get("where")
        for conjunct in _conjuncts(where.this) if where is not None else ():
            target = conjunct.this if isinstance(conjunct, exp.Not) else conjunct
            operand = target.this if isinstance(target, (exp.Is, *_NULL_REJECTING)) else None
            if isinstance(operand, exp.Column) and operand.name.lower() == column.name.lower() \
                    and (isinstance(conjunct, exp.Not) or not isinstance(target, exp.Is)):
                return
        _add(self.out, "not-in-nullable", "warn", f"`NOT IN (SELECT {column.name} ...)` returns no "
             f"rows once `{column.name}` is NULL, and it is nullable; add `WHERE {column.name} IS "
             "NOT NULL` to the subquery or use NOT EXISTS.", in_.this)

    def _recursion(self, with_: exp.With) -> None:
        """Block recursive CTEs whose recursive member has no WHERE, join condition or LIMIT.

        SQLite makes any CTE that reads its own name recursive, with or without RECURSIVE.
        """
        owner = with_.parent
        if owner is not None and owner.args.get("limit") is not None:
            return
        for cte in with_.expressions:
            name, body = cte.alias.lower(), cte.this
            members: list[exp.Expr] = []
            while isinstance(body, exp.SetOperation):
                if body.args.get("limit") is not None:
                    break
                members.append(body.expression)
                body = body.this
            else:
                for member in members:
                    if not isinstance(member, exp.Select) or member.args.get("where") or \
                            member.args.get("limit"):
                        continue
                    tables = [t.name.lower() for t in member.find_all(exp.Table)]
                    conditioned = any(map(_has_condition, member.args.get("joins") or []))
                    if name in tables and not conditioned:
                        _add(self.out, "unbounded-recursion", "block", f"Recursive CTE "
                             f"`{cte.alias}` has no stopping condition and would run forever; add a "
                             "WHERE to its recursive member (e.g. WHERE n < 100) or a LIMIT.", member)


def _conjuncts(condition: exp.Expr) -> Iterator[exp.Expr]:
    """The AND-ed parts of a condition (``flatten`` alone would split an ``=`` into its sides)."""
    return condition.flatten() if isinstance(condition, exp.And) else iter((condition,))


def _has_condition(join: exp.Join) -> bool:
    """ON/USING/NATURAL; the parser gives a bare ``JOIN b`` ``on=TRUE``, which is no condition."""
    on = join.args.get("on")
    trivial = on is None or (isinstance(on, exp.Boolean) and on.this is True)
    return bool(join.args.get("using")) or join.args.get("method") == "NATURAL" or not trivial


def _listing(names: frozenset[str], limit: int = 15) -> str:
    shown = sorted(names - _ROWID)
    more = f" (+{len(shown) - limit} more)" if len(shown) > limit else ""
    return (", ".join(shown[:limit]) or "none") + more
