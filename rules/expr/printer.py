"""The printer: a tree → its canonical source, with the fewest parentheses that keep its meaning."""

from __future__ import annotations

from decimal import Decimal
from typing import assert_never

from rules.expr.nodes import Binary, Bool, Call, Compare, In, ListLit, Name, Node, Number, String, Unary

_ATOM = 8


def _plain_decimal(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number_text(value: float, percent: bool) -> str:
    # repr is the shortest text that reads back as the same double; Decimal writes it without
    # an exponent (the grammar has none), and shifting by 2 decimal places is exact.
    d = Decimal(repr(value))
    return _plain_decimal(d.scaleb(2)) + "%" if percent else _plain_decimal(d)


def _string_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_BINARY_PREC = {"or": 1, "and": 2, "+": 5, "-": 5, "*": 6, "/": 6}


def _fmt(node: Node) -> tuple[str, int]:
    match node:
        case Number(value=value, percent=percent):
            text = _number_text(value, percent)
            return text, 7 if text.startswith("-") else _ATOM
        case String(value=value):
            return _string_text(value), _ATOM
        case Bool(value=value):
            return ("true" if value else "false"), _ATOM
        case Name(id=name):
            return name, _ATOM
        case ListLit(items=items):
            return "[" + ", ".join(_fmt(item)[0] for item in items) + "]", _ATOM
        case Call(name=name, args=args):
            return f"{name}({', '.join(to_source(arg) for arg in args)})", _ATOM
        case Unary(op="-", operand=operand):
            text = _wrap(operand, 7)
            return "-" + (f"({text})" if text.startswith("-") else text), 7
        case Unary(operand=operand):
            return "not " + _wrap(operand, 3), 3
        case Binary(op=op, left=left, right=right):
            prec = _BINARY_PREC[op]
            return f"{_wrap(left, prec)} {op} {_wrap(right, prec + 1)}", prec
        case Compare(op=op, left=left, right=right):
            return f"{_wrap(left, 5)} {op} {_wrap(right, 5)}", 4
        case In(item=item, container=container, negated=negated):
            return f"{_wrap(item, 5)} {'not in' if negated else 'in'} {_wrap(container, 5)}", 4
        case _:
            assert_never(node)


def _wrap(node: Node, min_prec: int) -> str:
    text, prec = _fmt(node)
    return text if prec >= min_prec else f"({text})"


def to_source(node: Node) -> str:
    """Canonical source of a tree; ``parse(to_source(n)) == n`` (equality ignores positions)."""
    return _fmt(node)[0]
