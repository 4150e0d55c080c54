"""The sandbox every statement runs in, and what a statement may cost.

The sandbox (:class:`Sandbox`) is one place that every statement goes through. It layers:
an authorizer (no ATTACH/DETACH, no PRAGMA but a few read-only ones, no extension loading, no
transactions, writes only where the task allows them); a progress handler that aborts after a fixed
budget of VM instructions (deterministic, unlike a clock) or when SQLite's heap has grown by more
than the statement may add; a wall-clock deadline enforced from outside the statement by
:mod:`sqldebug.watchdog`; bounded replacements for the built-ins whose cost is not linear and a
cap on how many CTE copies a statement may compile (:mod:`sqldebug.bounded`); SQLite's own limits
on value length, LIKE pattern length, SQL length, expression depth, program size and attached
databases; temporary storage in memory, never in files; and caps on the rows and bytes fetched.
Hitting any of them raises :class:`QueryError` with a class the agent can act on, never a crash or
a hang. A mutation task's script of several statements runs here too, on one budget
(:meth:`Sandbox.run_script`). docs/sandbox.md says why each layer is what it is.

The databases statements run on are in :mod:`sqldebug.instances`.
"""

from __future__ import annotations

import ctypes
import functools
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqldebug import bounded, determinism
from sqldebug.models import ErrorClass
from sqldebug.watchdog import WATCHDOG

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Limits:
    """What one statement may cost.

    ``vm_steps`` bounds the SQLite VM instructions of one statement on one instance: the costliest
    bundled solution needs ~5,000, so 5,000,000 leaves 1000x headroom for bigger datasets while a
    runaway query stops within ~0.1 s. ``deadline_s`` is wall clock, enforced by the watchdog
    whatever the statement is doing. ``max_value_bytes`` and ``max_pattern_chars`` bound the cost
    of one built-in call (the worst, ``instr``/``replace``/``LIKE`` of long operands, to tens of
    milliseconds; the bundled datasets' longest value is 25 characters). ``max_fetch_bytes`` caps
    the result a statement may hand to Python, ``max_memory_bytes`` what it may add to SQLite's
    heap (sorts, temporary tables, all in memory). docs/sandbox.md has the measurements.
    """

    vm_steps: int = 5_000_000
    tick: int = 5_000  # VM instructions between progress checks (~0.5 us each)
    deadline_s: float = 1.0
    max_rows: int = 10_000
    max_sql_chars: int = 100_000
    max_value_bytes: int = 100_000
    max_pattern_chars: int = 200
    max_fetch_bytes: int = 16_000_000
    max_memory_bytes: int = 64_000_000
    max_expr_depth: int = 200
    max_compound_select: int = 50
    max_columns: int = 1000
    max_program_ops: int = 100_000
    max_cte_expansions: int = 5_000
    max_statements: int = 20


class QueryError(Exception):
    """A statement did not run; ``kind`` says why in the agent's terms."""

    def __init__(self, kind: ErrorClass, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorClass = kind
        self.message = message


@dataclass
class Result:
    """Rows of one statement (all of them, up to the row cap)."""

    columns: list[str]
    rows: list[Row]
    truncated: bool = False


_READ_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list"}
)
_FORBIDDEN_FUNCTIONS = frozenset(
    {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
)
if not determinism.CLOCK_FROZEN:  # the clock could not be stopped: refuse what names it
    _FORBIDDEN_FUNCTIONS |= determinism.CLOCK_FUNCTIONS
_WRITE_ACTIONS = {
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
}
_ALWAYS_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})


def _heap_counter() -> Callable[[], int] | None:
    """``sqlite3_memory_used`` of the SQLite library that Python's sqlite3 runs on, if reachable."""
    try:
        import _sqlite3

        fn = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
        fn.restype, fn.argtypes = ctypes.c_int64, []
        fn()
    except (ImportError, OSError, AttributeError):
        return None
    return fn


#: SQLite's heap in use, process-wide (None where the library's symbols cannot be reached: the
#: memory cap then rests on the length and row limits alone)
_heap = _heap_counter()
#: values a result may hold before the fetch counts their bytes, as a multiple of its columns
_OVERHEAD = 16  # bytes counted per fetched value, beyond a text's or blob's own length


class _Guard:
    """Per-connection sandbox state: what may be written, and the current statement's budget."""

    __slots__ = ("denied", "heap0", "limits", "refused", "stopped", "ticks_left", "writable")

    def __init__(self, limits: Limits, writable: frozenset[str]) -> None:
        self.limits = limits
        self.writable = writable
        self.ticks_left = 0
        self.heap0 = 0
        self.denied: str | None = None
        self.refused: str | None = None
        self.stopped: str | None = None

    def arm(self) -> None:
        self.ticks_left = max(1, self.limits.vm_steps // self.limits.tick)
        self.heap0 = _heap() if _heap is not None else 0
        self.denied = self.refused = self.stopped = None

    def progress(self) -> int:
        self.ticks_left -= 1
        if self.ticks_left <= 0:
            self.stopped = "steps"
            return 1  # non-zero aborts the statement with SQLITE_INTERRUPT
        if _heap is not None and _heap() - self.heap0 > self.limits.max_memory_bytes:
            self.stopped = "memory"
            return 1
        return 0

    def refuse(self, why: str) -> None:
        self.refused = self.refused or why

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, _t: str | None
    ) -> int:
        if action in _ALWAYS_ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if arg2 and arg2.lower() in _FORBIDDEN_FUNCTIONS:
                return self._deny(f"the function {arg2}() is not allowed")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            if arg1 and arg1.lower() in _READ_PRAGMAS:
                return sqlite3.SQLITE_OK
            return self._deny(f"PRAGMA {arg1} is not allowed")
        if action in _WRITE_ACTIONS:
            table = (arg1 or "").lower()
            if table in ("sqlite_master", "sqlite_temp_master"):
                if action == sqlite3.SQLITE_UPDATE:
                    return sqlite3.SQLITE_OK  # schema load of pragma table-valued functions
                return self._deny("schema changes are not allowed")
            if table in self.writable:
                return sqlite3.SQLITE_OK
            if not self.writable:
                return self._deny(
                    f"{_WRITE_ACTIONS[action]} is not allowed: this task takes a query"
                )
            return self._deny(f"{_WRITE_ACTIONS[action]} on {arg1} is not allowed in this task")
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return self._deny("ATTACH and DETACH are not allowed")
        if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            return self._deny("transaction control is not allowed")
        return self._deny("schema changes are not allowed")

    def _deny(self, why: str) -> int:
        self.denied = self.denied or why
        return sqlite3.SQLITE_DENY


def _classify(exc: Exception, guard: _Guard, overran: bool) -> QueryError:
    """Turn a SQLite error into the agent's error classes."""
    limits = guard.limits
    if overran:
        return QueryError(
            "budget",
            f"the query ran past its {limits.deadline_s:g} s deadline: it would not finish",
        )
    if guard.refused:
        return QueryError(
            "budget", f"the query exceeds a size limit: {guard.refused} is too costly"
        )
    if guard.stopped == "memory":
        return QueryError(
            "budget",
            f"the query needs more than {limits.max_memory_bytes // 1_000_000} MB of memory"
            " (sorts and temporary tables count): it would not finish",
        )
    if isinstance(exc, MemoryError):  # SQLITE_NOMEM: in practice the program-size limit
        return QueryError("budget", "the query is too large to compile (its program is too long)")
    message = str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    if guard.denied or name == "SQLITE_AUTH" or "not authorized" in message:
        return QueryError("blocked", guard.denied or message)
    if name == "SQLITE_INTERRUPT" or message == "interrupted":
        return QueryError(
            "budget", "the query ran past its budget (too many rows or steps): it would not finish"
        )
    if (
        name == "SQLITE_TOOBIG"
        or "too big" in message
        or "too large" in message
        or "too many" in message
        or "too complex" in message
    ):
        return QueryError("budget", f"the query exceeds a size limit: {message}")
    if (
        "syntax error" in message
        or "incomplete input" in message
        or "unrecognized token" in message
    ):
        return QueryError("syntax", message)
    if message.startswith(
        ("no such column", "no such table", "no such function", "ambiguous column")
    ):
        return QueryError("binding", message)
    if "Expression tree is too large" in message or "parser stack overflow" in message:
        return QueryError("budget", message)
    if "one statement at a time" in message:
        return QueryError("blocked", "one statement per submission, please")
    return QueryError("runtime", message)


class Sandbox:
    """A connection with the sandbox applied; ``run`` is the only way statements execute."""

    __slots__ = ("chance", "conn", "guard", "ticks_left")

    def __init__(
        self, conn: sqlite3.Connection, limits: Limits, writable: Iterable[str] = ()
    ) -> None:
        self.conn = conn
        self.guard = _Guard(limits, frozenset(t.lower() for t in writable))
        self.chance = determinism.Chance(conn, limits.max_value_bytes)
        self.ticks_left = 0  # what the last statement left of its VM budget (scripts share one)
        conn.set_authorizer(None)  # a connection given a second sandbox (tests do)
        conn.execute("PRAGMA temp_store = MEMORY")  # sorts and temporary tables never touch disk
        for limit, value in (
            (sqlite3.SQLITE_LIMIT_LENGTH, limits.max_value_bytes),
            (sqlite3.SQLITE_LIMIT_SQL_LENGTH, limits.max_sql_chars),
            (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, limits.max_expr_depth),
            (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
            (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, limits.max_compound_select),
            (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, limits.max_pattern_chars),
            (sqlite3.SQLITE_LIMIT_COLUMN, limits.max_columns),
            (sqlite3.SQLITE_LIMIT_VDBE_OP, limits.max_program_ops),
        ):
            conn.setlimit(limit, value)
        bounded.install(conn, limits.max_value_bytes, self.guard.refuse)
        conn.set_authorizer(self.guard.authorize)
        conn.set_progress_handler(self.guard.progress, limits.tick)

    def run(
        self,
        sql: str,
        *,
        max_rows: int | None = None,
        checked: bool = False,
        deadline: float | None = None,
        ticks: int | None = None,
    ) -> Result:
        """Execute one statement and fetch up to ``max_rows`` rows (default: the limit's cap).

        ``checked`` says the caller already passed ``sql`` through :func:`check_text` (the grader
        does, once for all instances). ``ticks`` is the VM budget left to a script's statement
        (default: a whole statement's).
        """
        guard = self.guard
        limits = guard.limits
        cap = limits.max_rows if max_rows is None else max_rows
        if not checked:
            check_text(sql, limits)
        self.chance.reseed(sql)
        guard.arm()
        if ticks is not None:
            guard.ticks_left = ticks
        cursor = None
        # ``deadline`` (a time.monotonic() instant) is the step's: a grade shares one deadline over
        # all its instances, so a statement cannot take the deadline once per instance
        if deadline is None:
            deadline = time.monotonic() + limits.deadline_s
        WATCHDOG.start(guard, self.conn, deadline)
        try:
            cursor = self.conn.execute(sql)
            rows = _fetch(cursor, cap, limits)
        except (sqlite3.Error, MemoryError) as exc:
            if cursor is not None:
                cursor.close()
            raise _classify(exc, guard, WATCHDOG.stop(guard)) from None
        except OverflowError as exc:  # e.g. an integer result beyond 64 bits in a parameter
            WATCHDOG.stop(guard)
            raise QueryError("runtime", str(exc)) from None
        except QueryError:
            WATCHDOG.stop(guard)
            raise
        cursor.close()
        if WATCHDOG.stop(guard):  # it finished, but only after its deadline
            raise _classify(sqlite3.OperationalError("interrupted"), guard, True)
        self.ticks_left = guard.ticks_left
        guard.ticks_left = max(1, limits.vm_steps // limits.tick)  # for reads of the result tables
        columns = [d[0] for d in cursor.description or ()]
        truncated = len(rows) > cap
        return Result(columns, rows[:cap], truncated)

    def run_script(
        self, sql: str, *, checked: bool = False, deadline: float | None = None
    ) -> Result:
        """Execute a script of up to ``limits.max_statements`` statements in order, on one VM
        budget and one deadline (a script never gets a statement's budget per statement), and
        return the last one's result. An error names the statement (its number and first words);
        what the statements before it did stays in this connection, which its caller throws away.
        """
        limits = self.guard.limits
        if not checked:
            check_text(sql, limits)
        plain = sql.count(";") == 0 or (sql.count(";") == 1 and sql.rstrip().endswith(";"))
        statements = None if plain else _split_cached(sql)  # tokenized once for all instances
        if statements is None or len(statements) <= 1:
            return self.run(sql, checked=True, deadline=deadline)
        if len(statements) > limits.max_statements:
            raise QueryError(
                "blocked",
                f"the script has {len(statements)} statements; at most {limits.max_statements}",
            )
        if deadline is None:
            deadline = time.monotonic() + limits.deadline_s
        ticks = None
        result = Result([], [], False)
        for number, statement in enumerate(statements, 1):
            try:
                result = self.run(statement, checked=True, deadline=deadline, ticks=ticks)
            except QueryError as exc:
                first = " ".join(statement.split())[:40]
                raise QueryError(exc.kind, f"statement {number} ({first}...): {exc}") from None
            ticks = self.ticks_left
        return result


def _fetch(cursor: sqlite3.Cursor, cap: int, limits: Limits) -> list[Row]:
    """Up to ``cap + 1`` rows, refusing a result over ``limits.max_fetch_bytes``.

    A result small enough that it cannot reach the byte cap whatever its values hold (rows times
    columns times the longest value SQLite allows) is fetched in one call and never counted: every
    bundled task's answer is. Beyond that, rows come in chunks of that size and each chunk's texts
    and blobs are counted before the next is fetched, so the cap is overshot by one chunk at most.
    """
    width = len(cursor.description or ()) or 1
    chunk = max(1, limits.max_fetch_bytes // (width * (limits.max_value_bytes + _OVERHEAD)))
    rows = cursor.fetchmany(min(cap + 1, chunk))
    if len(rows) < chunk or len(rows) > cap:
        return rows
    size = _bytes(rows, width)
    while len(rows) <= cap:
        more = cursor.fetchmany(min(cap + 1 - len(rows), chunk))
        if not more:
            break
        size += _bytes(more, width)
        if size > limits.max_fetch_bytes:
            raise QueryError(
                "budget",
                f"the result is over {limits.max_fetch_bytes // 1_000_000} MB"
                " (fetch fewer rows or shorter values)",
            )
        rows += more
    return rows


def _bytes(rows: list[Row], width: int) -> int:
    """What ``rows`` weigh for the fetch cap: texts' and blobs' lengths, plus a constant a value."""
    sized = [v for v in chain.from_iterable(rows) if type(v) is str or type(v) is bytes]
    return sum(map(len, sized)) + _OVERHEAD * width * len(rows)


def check_text(sql: str, limits: Limits) -> None:
    """Reject text no statement should be: empty, oversized, NUL bytes, not encodable as UTF-8."""
    if not sql or not sql.strip():
        raise QueryError("syntax", "the statement is empty")
    if len(sql) > limits.max_sql_chars:
        raise QueryError(
            "budget",
            f"the statement is {len(sql):,} characters long; the limit is {limits.max_sql_chars:,}",
        )
    if "\x00" in sql:
        raise QueryError("syntax", "the statement contains a NUL character")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryError(
            "syntax", f"the statement is not valid UTF-8 text (at character {exc.start})"
        ) from None
    most = limits.max_cte_expansions
    if bounded.cte_expansions(sql, most + 1) > most:
        raise QueryError(
            "budget",
            f"the statement's CTEs would be expanded into more than {most:,} copies"
            " (CTEs that each use the previous one several times): it would not compile",
        )


@functools.lru_cache(maxsize=16)
def _split_cached(script: str) -> tuple[str, ...] | None:
    found = split_statements(script)
    return None if found is None else tuple(found)


def split_statements(script: str) -> list[str] | None:
    """The statements of a SQLite script, each as its own text, split on sqlglot's tokens (a ';'
    inside a string or a comment splits nothing); None when the text cannot be tokenized."""
    from sqlglot.tokenizer_core import TokenType

    tokens = bounded.sqlite_tokens(script)
    if tokens is None:
        return None
    statements: list[str] = []
    start = None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if start is not None:
                statements.append(script[start : token.start].strip())
            start = None
        elif start is None:
            start = token.start
    if start is not None:
        statements.append(script[start:].strip())
    return statements
