"""The parser: tokens → untyped tree, by recursive descent over the grammar in the package docstring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.expr.lexer import COMPARISONS, KEYWORDS, Token, tokenize
from rules.expr.nodes import (
    Binary,
    Bool,
    Call,
    Compare,
    ExprError,
    In,
    ListLit,
    Name,
    Node,
    Number,
    String,
    Unary,
    check_depth,
)

MAX_LENGTH = 2000
"""Longest accepted source, in characters: a rule condition is one line, not a program."""

_MAX_NESTING = 40
"""Deepest nesting of parentheses, unary operators and calls while parsing (each costs ~8 stack frames)."""

_CHAIN_HINT = "comparisons do not chain: join them with and, as in a < b and b < c"


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens = tokenize(src)
        self.pos = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at(self, kind: str, text: str) -> bool:
        tok = self.peek()
        return tok.kind == kind and tok.text == text

    def at_comparison(self) -> bool:
        tok = self.peek()
        if tok.kind == "op":
            return tok.text in COMPARISONS
        return tok.kind == "kw" and (tok.text == "in" or (tok.text == "not" and self.peek(1).text == "in"))

    def enter(self, tok: Token) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise ExprError(f"expression is nested too deeply (more than {_MAX_NESTING} levels)", tok.start + 1)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExprError("empty expression", 1, "write a condition, e.g. seat_utilisation >= 80%")
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise self.trailing(tok)
        return node

    def trailing(self, tok: Token) -> ExprError:
        if tok.text == ")":
            return ExprError("unmatched ')'", tok.start + 1, "remove it or add a matching '('")
        if tok.kind == "kw" and tok.text == "not":
            return ExprError("expected 'in' after 'not'", self.peek(1).start + 1, "write: x not in [...]")
        hint = "did you forget and / or?"
        if tok.kind == "name" and tok.text.lower() in KEYWORDS:
            hint = f"keywords are lowercase: use '{tok.text.lower()}'"
        return ExprError(f"unexpected {tok.describe()} after a complete expression", tok.start + 1, hint)

    def or_(self) -> Node:
        return self.infix("kw", ("or",), self.and_)

    def and_(self) -> Node:
        return self.infix("kw", ("and",), self.not_)

    def infix(self, kind: str, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        """One left-associative binary level: ``operand (op operand)*``."""
        left = operand()
        while self.peek().kind == kind and self.peek().text in ops:
            op = self.advance()
            right = operand()
            binary_op: Any = op.text
            left = Binary(binary_op, left, right, start=left.start, end=right.end, op_start=op.start, source=self.src)
        return left

    def not_(self) -> Node:
        return self.prefix("kw", "not", self.not_, self.comparison)

    def prefix(self, kind: str, op: str, same: Callable[[], Node], below: Callable[[], Node]) -> Node:
        """A prefix operator level: ``op same`` (nesting-checked), else the next level ``below``."""
        if not self.at(kind, op):
            return below()
        tok = self.advance()
        self.enter(tok)
        operand = same()
        self.nesting -= 1
        unary_op: Any = op
        return Unary(unary_op, operand, start=tok.start, end=operand.end, source=self.src)

    def comparison(self) -> Node:
        left = self.sum_()
        if not self.at_comparison():
            return left
        op = self.advance()
        node: Node
        if op.kind == "op":
            right = self.sum_()
            cmp_op: Any = op.text
            node = Compare(cmp_op, left, right, start=left.start, end=right.end, op_start=op.start, source=self.src)
        else:
            negated = op.text == "not"
            if negated:
                self.advance()
            right = self.sum_()
            node = In(left, right, negated, start=left.start, end=right.end, op_start=op.start, source=self.src)
        if self.at_comparison():
            raise ExprError("comparisons cannot be chained", self.peek().start + 1, _CHAIN_HINT)
        return node

    def sum_(self) -> Node:
        return self.infix("op", ("+", "-"), self.product)

    def product(self) -> Node:
        return self.infix("op", ("*", "/"), self.unary)

    def unary(self) -> Node:
        return self.prefix("op", "-", self.unary, self.primary)

    def primary(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            return Number(tok.number, tok.percent, start=tok.start, end=tok.end, source=self.src)
        if tok.kind == "str":
            return String(tok.string, start=tok.start, end=tok.end, source=self.src)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return Bool(tok.text == "true", start=tok.start, end=tok.end, source=self.src)
        if tok.kind == "name":
            if self.at("op", "("):
                return self.call(tok)
            return Name(tok.text, start=tok.start, end=tok.end, source=self.src)
        if tok.text == "(" and tok.kind == "op":
            self.enter(tok)
            inner = self.or_()
            self.nesting -= 1
            self.close(tok, ")")
            return inner
        if tok.text == "[" and tok.kind == "op":
            return self.list_(tok)
        raise self.expected_value(tok)

    def expected_value(self, tok: Token) -> ExprError:
        if tok.kind == "end":
            prev = self.tokens[self.pos - 2] if self.pos >= 2 else None
            after = f" after '{prev.text}'" if prev else ""
            return ExprError(f"expected a value{after}, found the end of the expression", tok.start + 1)
        if tok.kind == "kw" and tok.text == "not":
            return ExprError("unexpected 'not'", tok.start + 1, "put it in parentheses: (not ...)")
        if tok.text == "+":
            return ExprError("unexpected '+'", tok.start + 1, "numbers need no leading +")
        return ExprError(f"expected a value, found {tok.describe()}", tok.start + 1)

    def close(self, opener: Token, closer: str, *, items: bool = False) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.text == closer:
            return self.advance()
        if tok.kind == "end":
            raise ExprError(f"unclosed '{opener.text}'", opener.start + 1, f"add a matching '{closer}'")
        if tok.kind == "op" and tok.text in ")]":
            raise ExprError(f"'{tok.text}' does not match '{opener.text}' at column {opener.start + 1}", tok.start + 1)
        expected = f"',' or '{closer}'" if items else f"'{closer}' or an operator"
        raise ExprError(f"expected {expected}, found {tok.describe()}", tok.start + 1)

    def call(self, name: Token) -> Node:
        paren = self.advance()
        self.enter(name)
        args: list[Node] = []
        if not self.at("op", ")"):
            args.append(self.or_())
            while self.at("op", ","):
                self.advance()
                args.append(self.or_())
        self.nesting -= 1
        end = self.close(paren, ")", items=True)
        return Call(name.text, tuple(args), start=name.start, end=end.end, source=self.src)

    def list_(self, bracket: Token) -> Node:
        items: list[Number | String] = []
        while not self.at("op", "]"):
            items.append(self.list_item(bracket))
            if not self.at("op", ","):
                break
            self.advance()
        end = self.close(bracket, "]", items=True)
        if not items:
            raise ExprError("empty list", bracket.start + 1, "a list needs at least one item")
        return ListLit(tuple(items), start=bracket.start, end=end.end, source=self.src)

    def list_item(self, bracket: Token) -> Number | String:
        tok = self.advance()
        if tok.kind == "str":
            return String(tok.string, start=tok.start, end=tok.end, source=self.src)
        sign, start = 1.0, tok.start
        if tok.kind == "op" and tok.text == "-":
            sign, tok = -1.0, self.advance()
        if tok.kind == "num":
            return Number(sign * tok.number, tok.percent, start=start, end=tok.end, source=self.src)
        if tok.kind == "end":
            raise ExprError("unclosed '['", bracket.start + 1, "add a matching ']'")
        raise ExprError("list items must be numbers or quoted text", tok.start + 1)


def parse(source: str) -> Node:
    """Source → untyped tree. Raises ExprError for any syntax problem, with its column."""
    if len(source) > MAX_LENGTH:
        raise ExprError(f"expression is too long ({len(source)} characters, at most {MAX_LENGTH})", MAX_LENGTH + 1)
    node = _Parser(source).parse()
    check_depth(node)
    return node
