"""What the reviewer knows: SQLite's function names, replacement hints, and finding messages.

Kept apart from :mod:`sqldebug.review` so the rules read as a table and the logic as code.
"""

from __future__ import annotations

from sqldebug.models import Severity

FUNCTION_NAMES = """
    abs changes char coalesce format glob hex ifnull iif instr last_insert_rowid length like
    likelihood likely lower ltrim max min nullif printf quote random randomblob replace round rtrim
    sign sqlite_compileoption_get sqlite_compileoption_used sqlite_source_id sqlite_version substr
    substring total_changes trim typeof unicode unlikely upper zeroblob
    date time datetime julianday unixepoch strftime
    avg count group_concat sum total json_group_array json_group_object
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10
    log2 mod pi pow power radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_extract json_insert json_object json_patch json_remove
    json_replace json_set json_type json_valid json_quote
"""
#: Scalar, aggregate, window, date, math and JSON functions of SQLite 3.40 (tested against sqlite3).
SQLITE_FUNCTIONS = frozenset(FUNCTION_NAMES.split())
#: Table-valued functions usable in FROM, besides the ``pragma_*`` ones.
SQLITE_TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})

HINTS = {
    "concat": "use the || operator",
    "concat_ws": "use the || operator",
    "date_trunc": "use date(x, 'start of month') or strftime()",
    "datediff": "subtract julianday() values",
    "now": "use datetime('now')",
    "string_agg": "use group_concat()",
    "nvl": "use ifnull()",
    "len": "use length()",
    "if": "use iif() or CASE",
    "year": "use strftime('%Y', x)",
    "left": "use substr(x, 1, n)",
}
MESSAGES: dict[str, tuple[Severity, str]] = {
    "multiple-statements": ("block", "Found {n} statements; submit exactly one."),
    "too-many-statements": ("block", "Found {n} statements; a fix may have at most {m}."),
    "forbidden-statement": ("block", "{label} is not allowed here; remove it."),
    "forbidden-statement/call": ("block", "load_extension() is not allowed; remove the call."),
    "write-on-query": (
        "block",
        "This task asks for a query but {label} changes the database; write a SELECT.",
    ),
    "ddl": ("block", "{label} changes the schema; this task allows only INSERT, UPDATE or DELETE."),
    "update-without-where": ("warn", "UPDATE without WHERE changes every row of `{t}`; add one."),
    "delete-without-where": ("warn", "DELETE without WHERE removes every row of `{t}`; add one."),
    "cartesian-join": ("warn", "`{t}` is joined without a condition; add ON <key> = <key>."),
    "cartesian-join/cross": ("info", "CROSS JOIN `{t}` pairs all rows; join ON a key if unmeant."),
    "null-comparison": ("warn", "`{expr}` is never true (NULL compares as unknown); use {fix}."),
    "not-in-nullable": (
        "warn",
        "NOT IN (SELECT {c} ...) finds nothing once nullable `{c}` holds a NULL; "
        "add WHERE {c} IS NOT NULL to the subquery or use NOT EXISTS.",
    ),
    "unbounded-recursion": (
        "block",
        "Recursive CTE `{t}` never stops; add a WHERE to its recursive member or a LIMIT.",
    ),
    "unknown-table": ("block", "No table `{t}`; the tables are: {names}."),
    "unknown-column": ("block", "No column `{c}` in this query's tables; they have: {names}."),
    "unknown-column/qualified": ("block", "`{t}` has no column `{c}`; it has: {names}."),
    "unknown-column/alias": ("block", "No table or alias `{t}` here; use one of: {names}."),
    "integer-division": (
        "warn",
        "`{expr}` divides integers and drops the fraction; multiply by 1.0 or CAST AS REAL.",
    ),
    "unknown-function": ("block", "SQLite 3.40 has no function {name}(); {hint}."),
}
