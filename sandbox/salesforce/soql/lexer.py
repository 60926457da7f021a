"""SOQL text split into tokens: identifiers, quoted strings, numbers, date literals, operators."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sandbox.salesforce.soql.errors import located_error

RESERVED = frozenset(
    {
        *("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET"),
        *("NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "FIRST", "LAST", "GROUP", "HAVING", "WITH"),
        *("USING", "FOR", "INCLUDES", "EXCLUDES", "TYPEOF"),
    }
)
# Relative date literals (TODAY, LAST_N_DAYS:n…) are real SOQL the sandbox does not evaluate.
DATE_LITERALS = re.compile(r"^(TODAY|YESTERDAY|TOMORROW|(LAST|NEXT|THIS)_\w+)$", re.IGNORECASE)

TokenKind = Literal["ident", "string", "number", "date", "datetime", "op", "punct", "eof"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    value: Any
    pos: int

    def keyword(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


_LEXEME = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))(?![\w:.+-])
    |(?P<baddate>\d{4}-\d{2}-\d{2}[T\d:.+-][^\s),]*)
    |(?P<date>\d{4}-\d{2}-\d{2})(?![\w:.])
    |(?P<number>[+-]?(?:\d+(?:\.\d+)?|\.\d+))(?![\w.])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),])
    """,
    re.VERBOSE,
)

_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted literal from ``start`` (the opening quote); return its value and the end offset.

    ``\\%`` and ``\\_`` keep their backslash: they only mean something inside LIKE patterns.
    """
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in "%_":
                out.append("\\" + nxt)
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            close = text.find("'", i + 2)
            literal = text[start + 1 : close if close >= 0 else n]
            raise located_error(
                "MALFORMED_QUERY",
                text,
                start,
                f"Invalid string literal '{literal}'. Illegal character sequence '\\{nxt}' in string literal.",
            )
        out.append(ch)
        i += 1
    raise located_error("MALFORMED_QUERY", text, start, f"line 1:{start} mismatched character '<EOF>' expecting '''")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos] == "'":
            value, end = _read_string(text, pos)
            tokens.append(Token("string", text[pos:end], value, pos))
            pos = end
            continue
        m = _LEXEME.match(text, pos)
        if m is None:
            row = text.count("\n", 0, pos) + 1
            col = pos - (text.rfind("\n", 0, pos) + 1)
            raise located_error(
                "MALFORMED_QUERY", text, pos, f"line {row}:{col} no viable alternative at character '{text[pos]}'"
            )
        kind = m.lastgroup
        lexeme = m.group()
        if kind == "datetime":
            tokens.append(Token("datetime", lexeme, datetime.fromisoformat(lexeme), pos))
        elif kind == "date":
            try:
                day = date.fromisoformat(lexeme)
            except ValueError:
                raise located_error("MALFORMED_QUERY", text, pos, f"unexpected token: '{lexeme}'") from None
            tokens.append(Token("date", lexeme, day, pos))
        elif kind == "baddate":
            raise located_error("MALFORMED_QUERY", text, pos, f"unexpected token: '{lexeme}'")
        elif kind == "number":
            number: int | float = float(lexeme) if "." in lexeme else int(lexeme)
            tokens.append(Token("number", lexeme, number, pos))
        elif kind in ("ident", "op", "punct"):
            tokens.append(Token(kind, lexeme, lexeme, pos))  # type: ignore[arg-type]
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", None, n))
    return tokens
