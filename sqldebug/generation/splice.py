"""Minimal-diff printing: a mutated tree written back into the seed query's own text.

sqlglot prints a whole tree in its own style (upper-case keywords, ``NOT x IS NULL``, ``AS``
before every alias), which no person writes. :func:`splice` keeps the seed's text and replaces
only the stretch of it where the mutant differs, using sqlglot's tokenizer (tokens carry
``start``/``end`` offsets into the text; no regular expression ever reads the SQL):

1. tokenize the seed text (``O``), sqlglot's print of the seed tree (``R``) and its print of the
   mutant (``M``), both printed with the negations people write (``x IS NOT NULL``, ``x NOT IN``);
2. align ``R`` with ``O`` and ``R`` with ``M`` (``difflib`` over token types and upper-cased
   texts). An *anchor* is a token of ``R`` that both alignments match: the same token in all
   three;
3. between two consecutive anchors, if ``M`` differs from ``R``, the seed text between the
   anchors is replaced with ``M``'s text between them (keywords put in the seed's case, the
   seed's own line breaks kept at both ends); everywhere else the seed text stays as it is.

The result is parsed again and must print exactly as the mutant does; when it does not (or
sqlglot cannot tokenize something) :func:`splice` returns None and the caller falls back to the
full reprint, counted as ``reprinted`` in the generator's stats.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from itertools import pairwise

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

_DIALECT = SQLite()
_WORDLESS = {
    TokenType.VAR,
    TokenType.IDENTIFIER,
    TokenType.STRING,
    TokenType.NUMBER,
}


_HOLE = "sqldebug_hole"


def _print(tree: exp.Expr) -> str:
    """``tree`` as sqlglot prints it for SQLite, but with the negations people write:
    ``x IS NOT NULL``, ``x NOT IN (...)``, ``x NOT LIKE ...`` (sqlglot's own print says
    ``NOT x IS NULL``). Each is printed from its parts, by sqlglot, into a raw fragment."""

    def human(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Not):
            return node
        inner = node.this
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return exp.Var(this=f"{_print(inner.this)} IS NOT NULL")
        if isinstance(inner, (exp.In, exp.Like)):
            shell = inner.copy()
            shell.set("this", exp.Var(this=_HOLE))
            text = _print(shell)
            if text.startswith(_HOLE + " "):
                return exp.Var(this=f"{_print(inner.this)} NOT {text[len(_HOLE) + 1 :]}")
        return node

    return tree.copy().transform(human).sql(dialect="sqlite")


def _tokens(sql: str) -> list[Token]:
    return list(_DIALECT.tokenize(sql))


def _key(tok: Token) -> tuple[str, str]:
    text = tok.text if tok.token_type == TokenType.STRING else " ".join(tok.text.upper().split())
    return tok.token_type.name, text


def _is_keyword(tok: Token) -> bool:
    return tok.token_type not in _WORDLESS and tok.text.replace(" ", "").isalpha()


def _is_function(tokens: list[Token], i: int) -> bool:
    return (
        tokens[i].token_type == TokenType.VAR
        and i + 1 < len(tokens)
        and tokens[i + 1].token_type == TokenType.L_PAREN
    )


def _style(text: str, tokens: list[Token]) -> tuple[bool, bool]:
    """Whether the seed writes keywords, and function names, in lower case (by majority)."""

    def lower(words: list[str]) -> bool:
        low = sum(w == w.lower() for w in words)
        return bool(words) and low * 2 > len(words)

    keywords = [text[t.start : t.end + 1] for t in tokens if _is_keyword(t)]
    functions = [text[t.start : t.end + 1] for i, t in enumerate(tokens) if _is_function(tokens, i)]
    return lower(keywords), lower(functions)


def _restyle(
    fragment: str, keywords_lower: bool, functions_lower: bool, then_paren: bool = False
) -> str:
    """``fragment`` (sqlglot's print) with keywords and function names in the seed's case
    (``then_paren``: the text after the fragment opens a parenthesis, so a name that ends the
    fragment is a function's)."""
    if not (keywords_lower or functions_lower):
        return fragment
    tokens = _tokens(fragment)
    if then_paren:
        tokens.append(Token(TokenType.L_PAREN, "(", start=len(fragment), end=len(fragment)))
    out, at = [], 0
    for i, tok in enumerate(tokens):
        if tok.start >= len(fragment):
            break
        word = fragment[tok.start : tok.end + 1]
        if (keywords_lower and _is_keyword(tok)) or (functions_lower and _is_function(tokens, i)):
            word = word.lower()
        out += [fragment[at : tok.start], word]
        at = tok.end + 1
    return "".join(out) + fragment[at:]


def _leading_ws(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def _trailing_ws(text: str) -> str:
    return text[len(text.rstrip()) :]


_CLAUSES = {
    TokenType.FROM,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.HAVING,
    TokenType.ORDER_BY,
    TokenType.LIMIT,
    TokenType.UNION,
    TokenType.JOIN,
}
_SIDES = {TokenType.LEFT, TokenType.RIGHT, TokenType.INNER, TokenType.OUTER, TokenType.CROSS}


def _clause_breaks(body: str, indent: str) -> str:
    """``body`` with a line break before each clause keyword after its first token."""
    tokens = _tokens(body)
    out, at = [], 0
    for i, tok in enumerate(tokens):
        starts = tok.token_type in _CLAUSES or (
            tok.token_type in _SIDES
            and i + 1 < len(tokens)
            and tokens[i + 1].token_type in (TokenType.JOIN, TokenType.OUTER)
        )
        if i and starts and tokens[i - 1].token_type not in _SIDES:
            out += [body[at : tokens[i - 1].end + 1], "\n" + indent]
            at = tok.start
    return "".join(out) + body[at:]


def _gap(
    orig: str,
    mutant: str,
    indent: str | None,
    follower: TokenType | None,
    style: tuple[bool, bool],
) -> str:
    """The seed text ``orig`` between two anchors, replaced by the mutant's text between them.

    ``indent``: the indentation of the clause the edit is in, None for a one-line seed (then no
    line break is added); ``follower``: the type of the next anchor (an inserted join side stays
    beside its JOIN; a name before a parenthesis is a function's)."""
    before_join = follower == TokenType.JOIN
    body = mutant.strip()
    if not body:  # a deletion: keep the seed's line break, if any, else one space
        if not mutant:
            return ""
        spaces = [_trailing_ws(orig), _leading_ws(orig)]
        return next((w for w in spaces if "\n" in w), spaces[0] or spaces[1] or " ")
    body = _restyle(
        body, *style, then_paren=follower == TokenType.L_PAREN and body == mutant[-len(body) :]
    )
    first = _tokens(body)[0].token_type
    if indent is not None:
        body = _clause_breaks(body, indent)
    if not orig.strip():  # an insertion
        if before_join and orig:
            return orig + body + " "
        lead = " " if mutant[:1].isspace() else ""
        if indent is not None and first in _CLAUSES and lead:
            lead = "\n" + indent
        return lead + body + (orig or (" " if mutant[-1:].isspace() else ""))
    lead = _leading_ws(orig) or (" " if mutant[:1].isspace() else "")
    if indent is not None and first in _CLAUSES and lead:
        lead = "\n" + indent
    trail = _trailing_ws(orig) or (" " if mutant[-1:].isspace() else "")
    return lead + body + trail


def _indent(text: str, tokens: list[Token], before: int) -> str:
    """The indentation of the line of the last clause keyword before token ``before``."""
    at = next(
        (
            t.start
            for t in reversed(tokens[: max(before, 0) + 1])
            if t.token_type in _CLAUSES or t.token_type == TokenType.SELECT
        ),
        0,
    )
    line = text[text.rfind("\n", 0, at) + 1 :]
    return line[: len(line) - len(line.lstrip())]


def _matches(a: list[Token], b: list[Token]) -> dict[int, int]:
    """Index in ``a`` -> index in ``b`` of the tokens the two sequences share, in order."""
    matcher = SequenceMatcher(None, [_key(t) for t in a], [_key(t) for t in b], autojunk=False)
    out: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = block.b + k
    return out


def _same(a: list[Token], b: list[Token]) -> bool:
    return [_key(t) for t in a] == [_key(t) for t in b]


def splice(text: str, tree: exp.Expr, mutant: exp.Expr) -> str | None:
    """``text`` (whose parse is ``tree``) edited so that it parses as ``mutant``, changing only
    where the two trees' prints differ; None when that cannot be done."""
    try:
        printed, target = _print(tree), _print(mutant)
        o, r, m = _tokens(text), _tokens(printed), _tokens(target)
    except SqlglotError:
        return None
    r2o, r2m = _matches(r, o), _matches(r, m)
    anchors = [i for i in range(len(r)) if i in r2o and i in r2m]
    # virtual anchors before the first token and after the last (a final ``;`` is the seed's)
    end = len(o) - 1 if o and o[-1].token_type == TokenType.SEMICOLON else len(o)
    bounds = [(-1, -1, -1), *((i, r2o[i], r2m[i]) for i in anchors), (len(r), end, len(m))]
    style = _style(text, o)
    pieces: list[str] = []
    at = 0  # how far into ``text`` has been copied
    for (ri, oi, mi), (rj, oj, mj) in pairwise(bounds):
        if _same(r[ri + 1 : rj], m[mi + 1 : mj]):
            continue  # the mutant agrees with the seed here: the seed's text stays
        o_start = o[oi].end + 1 if oi >= 0 else 0
        o_end = o[oj].start if oj < len(o) else len(text)
        m_start = m[mi].end + 1 if mi >= 0 else 0
        m_end = m[mj].start if mj < len(m) else len(target)
        follower = m[mj].token_type if mj < len(m) else None
        indent = _indent(text, o, oi) if "\n" in text.strip() else None
        gap = _gap(text[o_start:o_end], target[m_start:m_end], indent, follower, style)
        pieces += [text[at:o_start], gap]
        at = o_end
    if not pieces:
        return None
    out = "".join(pieces) + text[at:]
    try:
        again = sqlglot.parse_one(out, read="sqlite").sql(dialect="sqlite")
    except SqlglotError:
        return None
    return out if again == mutant.sql(dialect="sqlite") else None
