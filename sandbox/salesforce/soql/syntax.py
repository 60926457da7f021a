"""The SOQL syntax tree ``parse`` builds: field references, literals, conditions, the query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field as written in the query (``Name``, ``account.Name``) and where it was written."""

    path: str
    pos: int


ValueKind = Literal["string", "number", "boolean", "null", "date", "datetime"]


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: ``value`` is a ``str``, ``int``, ``float``, ``bool``, ``None``, ``date`` or aware ``datetime``."""

    kind: ValueKind
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    op: Literal["=", "!=", "<", "<=", ">", ">="]
    value: Value


@dataclass(frozen=True, slots=True)
class Membership:
    field: FieldRef
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Like:
    field: FieldRef
    pattern: Value


@dataclass(frozen=True, slots=True)
class Junction:
    op: Literal["AND", "OR"]
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Negation:
    item: Condition


Condition = Comparison | Membership | Like | Junction | Negation


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query; names are as written, not yet checked against any metadata."""

    text: str
    sobject: str
    sobject_pos: int
    alias: str | None
    fields: tuple[FieldRef, ...]
    count: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
