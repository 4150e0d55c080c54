"""Bounds on the work one built-in call, or one statement's compilation, can do.

SQLite checks its progress handler, and :mod:`sqldebug.watchdog`'s interrupt, only between VM
instructions, so the cost of a single built-in call must be bounded by other means. For most
built-ins the length limit (``Limits.max_value_bytes``) and the LIKE/GLOB pattern limit do it: their
cost is linear, or at worst ``len(operand) * len(pattern)``, which those limits keep to tens of
milliseconds. Three are left, replaced here on every sandbox connection with
``create_function`` (so statements that do not call them pay nothing):

* ``printf``/``format``: ``%.Nc`` repeats a character N times one append at a time, and keeps
  looping after the result has outgrown the length limit (``printf('%.*c', 2000000000, 'x')``:
  146 s). The replacement reads the format as SQLite does; when the ``%c`` precisions add up to
  more than the length limit the answer is NULL, exactly SQLite's answer for a result too big,
  and otherwise the call goes to the built-in itself on a plain side connection, so every
  ordinary format is SQLite's own.
* ``trim``/``ltrim``/``rtrim`` with a character set: SQLite compares each character with every
  character of the set, ``len(x) * len(set)`` (3.5 s for 100 KB by 8 KB). On two texts the
  replacement is Python's ``strip``, the same function, with a set lookup when the set is long;
  other operands go to the built-in, or are refused as too costly when both are long.

A statement's *compilation* is outside the progress handler and the interrupt altogether: a chain
of CTEs that each use the previous one twice makes SQLite expand 2^N copies (18 levels: 3 s and
600 MB before the first row). :func:`cte_expansions` counts those copies from the text, and the
sandbox refuses a statement with more than ``Limits.max_cte_expansions``.
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

#: the cost (characters of x times characters of the set) above which trim() of non-text operands
#: is refused rather than handed to the built-in
TRIM_WORK = 4_000_000


class TooCostly(Exception):
    """A bounded built-in refused a call; the sandbox reports it as a ``budget`` error."""


_side = threading.local()


def side_connection(max_value_bytes: int) -> sqlite3.Connection:
    """This thread's plain connection (no sandbox, no data) where the original built-ins run."""
    conns: dict[int, sqlite3.Connection] | None = getattr(_side, "conns", None)
    if conns is None:
        conns = _side.conns = {}
    conn = conns.get(max_value_bytes)
    if conn is None:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
        conns[max_value_bytes] = conn
    return conn


def _builtin(conn: sqlite3.Connection, name: str, args: tuple[Any, ...]) -> Any:
    sql = f"SELECT {name}({', '.join('?' * len(args))})"
    try:
        return conn.execute(sql, args).fetchone()[0]
    except sqlite3.DataError as exc:  # SQLITE_TOOBIG from the built-in: the caller's answer too
        raise TooCostly(str(exc)) from None


# -- printf / format ------------------------------------------------------------------------------

#: conversions of SQLite's printf that take an argument in SQL (``n`` and ``%`` take none)
_TAKES_ARG = frozenset("dsgzqQwcouxXfeEGipr")
_NO_ARG = frozenset("n%")


def _c_int(value: int) -> int:
    """A 64-bit integer cast to C ``int`` (what SQLite's printf does with ``*`` arguments)."""
    return ((value + 2**31) % 2**32) - 2**31


def char_repeats(fmt: str, args: tuple[Any, ...], as_int: Callable[[Any], int]) -> int:
    """The characters that the ``%c`` conversions of ``fmt`` repeat one at a time, in total.

    Follows ``sqlite3_str_vappendf`` of SQLite 3.40: flags, widths and precisions (digits wrap as
    C's unsigned arithmetic does; ``*`` takes the next argument as SQLite's ``getIntArg``), and it
    stops where SQLite stops: at an unknown conversion, or at a NUL.
    """
    fmt = fmt.split("\x00", 1)[0]
    n, i, used, total = len(fmt), 0, 0, 0

    def next_int() -> int:
        nonlocal used
        if used >= len(args):
            return 0
        used += 1
        return _c_int(as_int(args[used - 1]))

    while i < n:
        if fmt[i] != "%":
            i = fmt.find("%", i)
            if i < 0:
                break
            continue
        i += 1
        if i >= n:
            break  # a lone '%' at the end is written as it is
        precision = -1
        c = fmt[i]
        done = False
        while True:
            if c in "-+ #!0,":
                pass
            elif c == "l":
                i += 1
                c = fmt[i] if i < n else ""
                if c == "l":
                    i += 1
                    c = fmt[i] if i < n else ""
                done = True
            elif "1" <= c <= "9":
                while i + 1 < n and "0" <= fmt[i + 1] <= "9":
                    i += 1
                c = fmt[i + 1] if i + 1 < n else ""
                if c not in (".", "l"):
                    i += 1
                    done = True
            elif c == "*":
                next_int()  # the width: padding is one append, whatever its size
                c = fmt[i + 1] if i + 1 < n else ""
                if c not in (".", "l"):
                    i += 1
                    done = True
            elif c == ".":
                i += 1
                c = fmt[i] if i < n else ""
                if c == "*":
                    precision = next_int()
                    if precision < 0:
                        precision = -precision if precision >= -2147483647 else -1
                    i += 1
                    c = fmt[i] if i < n else ""
                else:
                    px = 0
                    while "0" <= c <= "9" and c:
                        px = (px * 10 + ord(c) - 48) % 2**32
                        i += 1
                        c = fmt[i] if i < n else ""
                    precision = px & 0x7FFFFFFF
                if c == "l":
                    i -= 1
                else:
                    done = True
            else:
                done = True
            if done:
                break
            i += 1
            if i >= n:
                c = ""
                break
            c = fmt[i]
        if c in _NO_ARG:
            i += 1
            continue
        if c not in _TAKES_ARG or not c:
            break  # SQLite stops formatting at an invalid conversion
        if used < len(args):
            used += 1
        if c == "c" and precision > 1:
            total += precision
        i += 1
    return total


def _printf(name: str, max_value_bytes: int) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        side = side_connection(max_value_bytes)
        if args and isinstance(args[0], str | bytes):
            fmt = args[0] if isinstance(args[0], str) else args[0].decode("latin-1")
            if "%" in fmt:

                def as_int(v: Any) -> int:  # sqlite3_value_int64, exactly
                    if type(v) is int:
                        return v
                    if v is None:
                        return 0
                    cast = side.execute("SELECT CAST(? AS INTEGER)", (v,)).fetchone()[0]
                    return int(cast or 0)

                if char_repeats(fmt, args[1:], as_int) > max_value_bytes:
                    return None  # SQLite's own answer for a result over the length limit
        return _builtin(side, name, args)

    return call


# -- trim -----------------------------------------------------------------------------------------


def _trim(name: str, max_value_bytes: int) -> Callable[[Any, Any], Any]:
    strip = {"trim": str.strip, "ltrim": str.lstrip, "rtrim": str.rstrip}[name]

    def call(x: Any, chars: Any) -> Any:
        if type(x) is str and type(chars) is str and "\x00" not in chars:
            if len(chars) <= 32:
                return strip(x, chars)
            charset = set(chars)
            start, end = 0, len(x)
            if name != "rtrim":
                while start < end and x[start] in charset:
                    start += 1
            if name != "ltrim":
                while end > start and x[end - 1] in charset:
                    end -= 1
            return x[start:end]
        if x is None or chars is None:
            return None
        if _size(x) * _size(chars) > TRIM_WORK:
            raise TooCostly(f"{name}() of {_size(x):,} by {_size(chars):,} characters")
        return _builtin(side_connection(max_value_bytes), name, (x, chars))

    return call


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes) else 32


def install(conn: sqlite3.Connection, max_value_bytes: int, refused: Callable[[str], None]) -> None:
    """Register the bounded built-ins on a sandbox connection, over SQLite's own.

    A call refused as too costly reports why through ``refused`` (SQLite itself only sees an
    exception in a user function), so the sandbox can answer ``budget`` with the reason.
    """

    def reporting(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except TooCostly as exc:
                refused(str(exc))
                raise

        return call

    for name in ("printf", "format"):
        fn = reporting(_printf(name, max_value_bytes))
        conn.create_function(name, -1, fn, deterministic=True)
    for name in ("trim", "ltrim", "rtrim"):
        fn = reporting(_trim(name, max_value_bytes))
        conn.create_function(name, 2, fn, deterministic=True)


# -- CTE expansion --------------------------------------------------------------------------------

_LITERAL = "\x00literal"  # what a string or number token reads as: never a CTE's name


def sqlite_tokens(sql: str) -> list[Any] | None:
    """``sql`` as sqlglot's SQLite tokens (with their ``start``/``end`` offsets in ``sql``); None
    when it cannot be tokenized (SQLite refuses it then too)."""
    from sqlglot.errors import TokenError

    tokenizer = getattr(_side, "tokenizer", None)
    if tokenizer is None:  # one per thread: a tokenizer keeps state while it works
        from sqlglot.dialects.sqlite import SQLite

        dialect = SQLite()
        tokenizer = _side.tokenizer = dialect.tokenizer_class(dialect=dialect)
    try:
        return list(tokenizer.tokenize(sql))
    except TokenError:
        return None


def _tokens(sql: str) -> list[str] | None:
    """``sql`` as SQLite's tokens, lower-cased (quoted identifiers unquoted, literals and comments
    out of the way); None when it cannot be tokenized."""
    from sqlglot.tokenizer_core import TokenType

    found = sqlite_tokens(sql)
    if found is None:
        return None
    literal = {TokenType.STRING, TokenType.NUMBER, TokenType.HEX_STRING, TokenType.BIT_STRING}
    return [_LITERAL if t.token_type in literal else t.text.lower() for t in found]


def cte_expansions(sql: str, cap: int = 1 << 40) -> int:
    """How many copies of CTE bodies SQLite may expand compiling ``sql`` (an upper bound).

    Every reference to a CTE expands its body, with the references inside it; a recursive
    CTE's reference to itself does not. Names are matched without regard to scope, so the count
    can only be too high, never too low, except that a statement with fewer than two CTEs counts
    0: there copies grow with the text, never faster. The text is read by sqlglot's SQLite
    tokenizer (only statements that contain "with" pay for it). Counts stop growing at ``cap``.
    """
    if "with" not in sql.lower():
        return 0  # nearly every statement: one substring test
    found = _tokens(sql)
    if found is None:
        return 0
    tokens = lowered = found
    bodies: dict[str, tuple[int, int]] = {}  # CTE name -> its body's token range
    starts: set[int] = set()  # where a CTE is named in its definition (not a reference)
    i = 0
    while i < len(tokens):
        if lowered[i] != "with":
            i += 1
            continue
        i += 1
        if i < len(tokens) and lowered[i] == "recursive":
            i += 1
        while i < len(tokens):  # name [(columns)] AS [NOT] [MATERIALIZED] ( body ) [, ...]
            name, at = tokens[i], i
            j = i + 1
            if j < len(tokens) and tokens[j] == "(":
                j = _close(tokens, j) + 1
            if j >= len(tokens) or lowered[j] != "as":
                break
            j += 1
            while j < len(tokens) and lowered[j] in ("not", "materialized"):
                j += 1
            if j >= len(tokens) or tokens[j] != "(":
                break
            end = _close(tokens, j)
            bodies.setdefault(name, (j + 1, end))
            starts.add(at)
            i = end + 1
            if i < len(tokens) and tokens[i] == ",":
                i += 1
                continue
            break
    if len(bodies) < 2:
        return 0  # one CTE: its copies grow with the text, never faster
    refs = [k for k, t in enumerate(tokens) if t in bodies and k not in starts]
    memo: dict[str, int] = {}

    def expansions(name: str, depth: int = 0) -> int:
        if name in memo:
            return memo[name]
        if depth > len(bodies):
            return 1  # a cycle: SQLite refuses it at compile time
        lo, hi = bodies[name]
        total = 1
        for k in refs[bisect.bisect_left(refs, lo) : bisect.bisect_left(refs, hi)]:
            if (inner := tokens[k]) != name:
                total = min(total + expansions(inner, depth + 1), cap)
        memo[name] = total
        return total

    outer: list[tuple[int, int]] = []  # the outermost bodies: references there are counted above
    for lo, hi in sorted(bodies.values()):
        if not outer or lo > outer[-1][1]:
            outer.append((lo, hi))
    los = [lo for lo, _ in outer]

    def inside(k: int) -> bool:
        at = bisect.bisect_right(los, k) - 1
        return at >= 0 and k < outer[at][1]

    top = (k for k in refs if not inside(k))
    return min(sum(expansions(tokens[k]) for k in top), cap)


def _close(tokens: list[str], start: int) -> int:
    """The index of the parenthesis that closes ``tokens[start]`` (the end if none does)."""
    depth = 0
    for k in range(start, len(tokens)):
        if tokens[k] == "(":
            depth += 1
        elif tokens[k] == ")":
            depth -= 1
            if depth == 0:
                return k
    return len(tokens)


__all__ = ["TooCostly", "char_repeats", "cte_expansions", "install", "side_connection"]
