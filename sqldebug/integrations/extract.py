"""The SQL a model's completion submits, or ``None`` when it submits none.

A completion is a string, or chat messages (``{"role": "assistant", "content": ...}``, content a
string or a list of ``{"type": "text", "text": ...}`` parts). Only what the assistant wrote
counts: tool results are not the model's answer. The rules, in order:

1. Reasoning before the last ``</think>`` is dropped: it holds drafts, not the answer.
2. **Fenced blocks.** The last block labelled as SQL (```` ```sql ````, ``sqlite``, ...), or
   unlabelled and starting like a SQL statement, is the answer, exactly as written (broken SQL in
   a ``sql`` block is submitted, and graded as broken). A block left open at the end of the
   completion (cut off at the length limit) runs to the end. Blocks in other languages are
   ignored.
3. **Bare SQL.** Otherwise, the text outside fences is searched for statements: a line that
   starts with SELECT, WITH, INSERT, UPDATE, DELETE, REPLACE or VALUES (also after ``Fix:``)
   opens one, which runs as far as sqlglot parses it as statements (trailing prose is cut off).
   Of several statements, the last is the answer. A line that starts like a statement but never
   parses is submitted as written, so a syntax error is graded as one.
4. Otherwise there is no SQL, and :func:`extract_sql` returns ``None``.

Telling SQL from prose is sqlglot's job (its tokenizer and parser, ``read="sqlite"``); the only
text scanning here is for Markdown fences and ``</think>``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import Dialect, exp
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

#: Info strings that mark a fenced block as SQL (compared lower case, first word only).
SQL_LANGUAGES = frozenset({"sql", "sqlite", "sqlite3", "postgresql", "postgres", "psql", "mysql"})
#: Parse attempts one completion may spend looking for bare SQL (bounds the cost of odd text).
MAX_PARSES = 48
_THINK_END = "</think>"


@dataclass(frozen=True)
class _Block:
    info: str
    body: str


def completion_text(completion: Any) -> str:
    """What the assistant wrote in a completion, as one string (tool results left out)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if not isinstance(completion, Sequence):
        return ""
    parts: list[str] = []
    for message in completion:
        if isinstance(message, str):
            parts.append(message)
        elif isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
            parts.append(_content_text(message.get("content")))
    return "\n\n".join(p for p in parts if p)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        ]
        return "\n".join(texts)
    return ""


def _tool_submissions(completion: Any) -> list[str]:
    """``submit_sql`` calls the assistant made, in order (a multi-turn completion)."""
    if not isinstance(completion, Sequence) or isinstance(completion, str):
        return []
    found: list[str] = []
    for message in completion:
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or ():
            function = call.get("function", {}) if isinstance(call, Mapping) else {}
            arguments = function.get("arguments") if isinstance(function, Mapping) else None
            if function.get("name") == "submit_sql" and isinstance(arguments, Mapping):
                sql = arguments.get("sql")
                if isinstance(sql, str) and sql.strip():
                    found.append(sql.strip())
    return found


def extract_sql(completion: Any) -> str | None:
    """The SQL a completion submits (see the module docstring for the rules), or ``None``.

    In a chat completion, a ``submit_sql`` tool call counts as a submission too; the last
    submission, whether a tool call or written in a message, wins.
    """
    if isinstance(completion, Sequence) and not isinstance(completion, str):
        # the latest assistant message that submits something decides
        for index in range(len(completion) - 1, -1, -1):
            message = completion[index]
            if isinstance(message, Mapping) and message.get("role", "assistant") != "assistant":
                continue
            calls = _tool_submissions([message]) if isinstance(message, Mapping) else []
            if calls:
                return calls[-1]
            found = extract_sql_from_text(completion_text([message]))
            if found is not None:
                return found
        return None
    return extract_sql_from_text(completion_text(completion))


def extract_sql_from_text(text: str) -> str | None:
    """The SQL in one piece of Markdown-ish text (rules 1-4 of the module docstring)."""
    if _THINK_END in text:
        text = text[text.rindex(_THINK_END) + len(_THINK_END) :]
    blocks, outside = _fenced_blocks(text)
    for block in reversed(blocks):
        body = block.body.strip()
        if not body:
            continue
        language = block.info.split()[0].lower().strip("{}.") if block.info.split() else ""
        if language in SQL_LANGUAGES or (not language and _starts_statement(body)):
            return body
    return _bare_sql(outside)


# -- fences -------------------------------------------------------------------------------------


def _fence(line: str) -> tuple[str, int] | None:
    """The fence a line opens with (its character and length), if it is one."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3 or stripped[:1] not in ("`", "~"):
        return None
    char = stripped[0]
    run = len(stripped) - len(stripped.lstrip(char))
    return (char, run) if run >= 3 else None


def _fenced_blocks(text: str) -> tuple[list[_Block], str]:
    """Every fenced block in order, and the text outside them."""
    lines = text.splitlines(keepends=True)
    blocks: list[_Block] = []
    outside: list[str] = []
    i = 0
    while i < len(lines):
        fence = _fence(lines[i])
        if fence is None:
            outside.append(lines[i])
            i += 1
            continue
        char, run = fence
        rest = lines[i].lstrip(" ")[run:].rstrip("\r\n")
        i += 1
        if char * 3 in rest:  # ```sql SELECT 1``` on one line
            inner = rest[: rest.index(char * 3)].strip()
            head, _, tail = inner.partition(" ")
            if head.lower() in SQL_LANGUAGES and tail.strip():
                blocks.append(_Block(head, tail))
            else:
                blocks.append(_Block("", inner))
            continue
        body: list[str] = []
        while i < len(lines):
            closing = lines[i].strip()
            i += 1
            if closing and set(closing) == {char} and len(closing) >= run:
                break
            body.append(lines[i - 1])
        blocks.append(_Block(rest.strip(), "".join(body)))
    return blocks, "".join(outside)


# -- bare SQL (sqlglot decides what is SQL) -----------------------------------------------------


def _statement_tokens() -> frozenset[Any]:
    return frozenset(
        {
            TokenType.SELECT,
            TokenType.WITH,
            TokenType.INSERT,
            TokenType.UPDATE,
            TokenType.DELETE,
            TokenType.REPLACE,
            TokenType.VALUES,
        }
    )


def _tokens(text: str) -> list[Any] | None:
    """sqlglot's tokens of ``text`` (SQLite dialect), or None when it cannot be tokenized."""
    try:
        return list(Dialect.get_or_raise("sqlite").tokenize(text))
    except (SqlglotError, RecursionError, ValueError):
        return None


def _starts_statement(text: str) -> bool:
    """Whether the first token of ``text`` opens a statement (line by line if it won't tokenize)."""
    starts = _statement_tokens()
    tokens = _tokens(text)
    if tokens is not None:
        return bool(tokens) and tokens[0].token_type in starts
    for line in text.splitlines():
        line_tokens = _tokens(line)
        if line_tokens:
            return bool(line_tokens[0].token_type in starts)
    return False


class _QuietCommandFallback(logging.Filter):
    """sqlglot logs a warning when it parses a statement as a generic command (REPLACE INTO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    quiet = _QuietCommandFallback()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _statements(chunk: str) -> int:
    """How many statements ``chunk`` is, when sqlglot parses it as statements only; else 0."""
    try:
        with _quiet_sqlglot():
            parsed = [p for p in sqlglot.parse(chunk, read="sqlite") if p is not None]
    except (SqlglotError, RecursionError, ValueError):
        return 0
    for node in parsed:
        if isinstance(node, exp.Command):
            if node.name.upper() != "REPLACE":
                return 0
        elif not isinstance(node, (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Values)):
            return 0
    return len(parsed)


def _candidates(text: str) -> list[int]:
    """Offsets where a statement may start: a line's first token, or the token after a colon."""
    starts = _statement_tokens()
    found: list[int] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        tokens = _tokens(line) or []
        for k, token in enumerate(tokens):
            if token.token_type in starts and (
                k == 0 or tokens[k - 1].token_type == TokenType.COLON
            ):
                found.append(offset + token.start)
                break
        offset += len(line)
    return found


def _line_ends(text: str, start: int) -> list[int]:
    """Offsets of the ends of the lines after ``start``, farthest first (the text's end first)."""
    ends: list[int] = []
    pos = text.find("\n", start)
    while pos != -1:
        ends.append(pos)
        pos = text.find("\n", pos + 1)
    ends.append(len(text))
    return sorted({e for e in ends if text[start:e].strip()}, reverse=True)


def _last_statement(chunk: str) -> str:
    """The last of the statements in ``chunk`` (split at sqlglot's semicolon tokens)."""
    tokens = _tokens(chunk) or []
    groups: list[list[Any]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(token)
    nonempty = [g for g in groups if g]
    if len(nonempty) < 2:
        return chunk.strip()
    last = nonempty[-1]
    return chunk[last[0].start : last[-1].end + 1].strip()


def _bare_sql(text: str) -> str | None:
    if not text.strip():
        return None
    whole = text.strip()
    if _starts_statement(whole) and _statements(whole):
        return _last_statement(whole)
    budget = MAX_PARSES
    regions: list[tuple[int, int]] = []
    attempts: list[int] = []
    covered = 0
    for start in _candidates(text):
        if start < covered:
            continue
        end = None
        for candidate_end in _line_ends(text, start):
            if budget <= 0:
                break
            budget -= 1
            if _statements(text[start:candidate_end]):
                end = candidate_end
                break
        if end is None:
            attempts.append(start)
        else:
            regions.append((start, end))
            covered = end
    if regions and (not attempts or attempts[-1] < regions[-1][0]):
        start, end = regions[-1]
        return _last_statement(text[start:end])
    if attempts:  # looks like a statement, never parses: submit the paragraph as written
        start = attempts[-1]
        blank = text.find("\n\n", start)
        return text[start : blank if blank != -1 else len(text)].strip() or None
    return None
