"""WHERE conditions as closures over one column: comparisons, ranges, IN and LIKE."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.salesforce.soql.values import Column

Predicate = Callable[[Mapping[str, Any]], bool]


def always_true(row: Mapping[str, Any]) -> bool:
    return True


def comparison_predicate(column: Column, op: str, literal: Any) -> Predicate:
    name, norm = column.name, column.compare
    if literal is None:
        if op == "=":
            return lambda row: row.get(name) is None
        if op == "!=":
            return lambda row: row.get(name) is not None
        return lambda row: False
    if op == "=":
        return lambda row: norm(row.get(name)) == literal
    if op == "!=":  # two-valued: a null field differs from any value
        return lambda row: norm(row.get(name)) != literal
    # One closure per operator, comparing inline: these run once per row of large tables.
    if op == "<":

        def lt(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and value < literal

        return lt
    if op == "<=":

        def le(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and value <= literal

        return le
    if op == ">":

        def gt(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and value > literal

        return gt

    def ge(row: Mapping[str, Any]) -> bool:
        value = norm(row.get(name))
        return value is not None and value >= literal

    return ge


def range_predicate(column: Column, lower: Any, lower_inclusive: bool, upper: Any, upper_inclusive: bool) -> Predicate:
    name, norm = column.name, column.compare
    if lower_inclusive and not upper_inclusive:

        def half_open(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and lower <= value < upper

        return half_open
    if lower_inclusive:

        def closed(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and lower <= value <= upper

        return closed
    if upper_inclusive:

        def open_closed(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and lower < value <= upper

        return open_closed

    def open_(row: Mapping[str, Any]) -> bool:
        value = norm(row.get(name))
        return value is not None and lower < value < upper

    return open_


def membership_predicate(column: Column, literals: set[Any], negated: bool) -> Predicate:
    name, norm = column.name, column.compare
    if negated:
        return lambda row: norm(row.get(name)) not in literals
    return lambda row: norm(row.get(name)) in literals


def like_predicate(column: Column, pattern: str) -> Predicate:
    """``%`` is any run, ``_`` one character, ``\\%``/``\\_`` literal; case-insensitive, whole value."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex = re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    name = column.name

    def like(row: Mapping[str, Any]) -> bool:
        value = row.get(name)
        return value is not None and regex.fullmatch(str(value)) is not None

    return like
