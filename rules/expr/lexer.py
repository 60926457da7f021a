"""The tokenizer: expression source → tokens, with a pointed error for every character it refuses."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rules.expr.nodes import ExprError

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CRM_NAME = re.compile(r"crm\.[A-Za-z_][A-Za-z0-9_]*")
"""The admin's own CRM fields are features ``crm.<name>``: the one dotted name."""
_NUMBER_RUN = re.compile(r"[0-9][0-9_]*(?:\.[0-9_]*)?")
_NUMBER_OK = re.compile(r"[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?")
_DIGITS = frozenset("0123456789")
_SPACE = frozenset(" \t\r\n")
_ESCAPES = frozenset("\\\"'")


@dataclass(frozen=True, slots=True)
class Token:
    kind: Literal["num", "str", "name", "kw", "op", "end"]
    text: str
    start: int
    end: int
    number: float = 0.0
    percent: bool = False
    string: str = ""

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else f"'{self.text}'"


def tokenize(src: str) -> list[Token]:
    """The tokens of ``src``, ending with one ``end`` token; raises ExprError at the first bad character."""
    tokens: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in _SPACE:
            i += 1
        elif _IDENT_START.match(c):
            m = _CRM_NAME.match(src, i) or _IDENT.match(src, i)
            assert m is not None
            kind: Literal["kw", "name"] = "kw" if m.group() in KEYWORDS else "name"
            tokens.append(Token(kind, m.group(), i, m.end()))
            i = m.end()
        elif c in _DIGITS:
            tokens.append(_number(src, i))
            i = tokens[-1].end
        elif c in "'\"":
            tokens.append(_string(src, i))
            i = tokens[-1].end
        else:
            two = src[i : i + 2]
            if two in COMPARISONS:
                tokens.append(Token("op", two, i, i + 2))
                i += 2
            elif c in "()[],+-*/<>":
                if two == "<>":
                    raise ExprError("'<>' is not an operator", i + 1, "use != to compare")
                tokens.append(Token("op", c, i, i + 1))
                i += 1
            else:
                raise _bad_character(src, i)
    tokens.append(Token("end", "", n, n))
    return tokens


def _bad_character(src: str, i: int) -> ExprError:
    c, two = src[i], src[i : i + 2]
    if two in ("=<", "=>"):
        return ExprError(f"'{two}' is not an operator", i + 1, f"use {two[::-1]} to compare")
    if c == "=":
        return ExprError("a single '=' does not compare", i + 1, "use == to compare")
    if c == "!":
        return ExprError("'!' is not an operator", i + 1, "use not")
    if c in "&|":
        word = "and" if c == "&" else "or"
        return ExprError(f"'{two if two == c * 2 else c}' is not an operator", i + 1, f"use {word}")
    if c == "%":
        return ExprError("'%' must follow a number", i + 1, "write percentages as 80%")
    if c == "." and src[i + 1 : i + 2] in _DIGITS:
        return ExprError("a number cannot start with '.'", i + 1, "write 0.5, not .5")
    return ExprError(f"unexpected character {c!r}", i + 1)


def _number(src: str, i: int) -> Token:
    m = _NUMBER_RUN.match(src, i)
    assert m is not None
    end = m.end()
    body = m.group()
    percent = src[end : end + 1] == "%"
    after = src[end + percent : end + percent + 1]
    if after and (_IDENT.match(after) or after in _DIGITS or after == "."):
        j = end + percent
        while j < len(src) and (_IDENT.match(src[j]) or src[j] in _DIGITS or src[j] == "."):
            j += 1
        hint = "exponents are not supported: write the digits" if after in "eE" else None
        raise ExprError(f"invalid number '{src[i:j]}'", i + 1, hint)
    if not _NUMBER_OK.fullmatch(body):
        raise ExprError(
            f"invalid number '{body}'", i + 1, "write digits with single '_' between them, as in 1_000 or 0.5"
        )
    digits = body.replace("_", "")
    value = float(Decimal(digits).scaleb(-2)) if percent else float(digits)
    if not math.isfinite(value):
        raise ExprError("number is too large", i + 1)
    return Token("num", src[i : end + percent], i, end + percent, number=value, percent=percent)


def _string(src: str, i: int) -> Token:
    quote = src[i]
    out: list[str] = []
    j = i + 1
    while j < len(src):
        c = src[j]
        if c == quote:
            return Token("str", src[i : j + 1], i, j + 1, string="".join(out))
        if c == "\\":
            nxt = src[j + 1 : j + 2]
            if nxt not in _ESCAPES or not nxt:
                raise ExprError(
                    f"unknown escape '\\{nxt}'",
                    j + 1,
                    "only \\\" \\' and \\\\ are escapes; write other characters as is",
                )
            out.append(nxt)
            j += 2
        else:
            out.append(c)
            j += 1
    raise ExprError("unterminated string", i + 1, f"add the closing {quote}")
