"""Search filters (developers.hubspot.com/docs/api/crm/search) compiled into predicates and date ranges."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any, Final

from sandbox.hubspot.errors import validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.search_ranges import Range
from sandbox.hubspot.values import TOKEN_SPLIT, instant_ms, parse_number, to_text

_Value = float | int | str
_Getter = Callable[[Mapping[str, Any]], _Value | None]
Predicate = Callable[[Mapping[str, Any]], bool]
_OPERATORS: Final = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


def property_kind(props: Mapping[str, JSON], name: str) -> str:
    if name == "hs_object_id":
        return "number"
    prop = props.get(name)
    kind = str(prop["type"]) if prop is not None else "string"
    return "instant" if kind in ("datetime", "date") else kind


def getter(name: str, kind: str) -> _Getter:
    """Read one property of an object in its comparison domain (``None`` when unset).

    Tight closures on purpose: search runs one over every object of the type per request.
    """
    if name == "hs_object_id":

        def object_id(obj: Mapping[str, Any]) -> _Value | None:
            raw = obj["properties"].get("hs_object_id") or obj["id"]
            return parse_number(raw if type(raw) is str else str(raw))

        return object_id
    if kind == "number":

        def number(obj: Mapping[str, Any]) -> _Value | None:
            raw = obj["properties"].get(name)
            if raw is None or raw == "":
                return None
            return parse_number(raw if type(raw) is str else str(raw))

        return number
    if kind == "instant":

        def instant(obj: Mapping[str, Any]) -> _Value | None:
            raw = obj["properties"].get(name)
            if raw is None or raw == "":
                return None
            return instant_ms(raw if type(raw) is str else str(raw))

        return instant

    def text(obj: Mapping[str, Any]) -> _Value | None:
        raw = obj["properties"].get(name)
        if raw is None or raw == "":
            return None
        return (raw if type(raw) is str else str(raw)).lower()

    return text


def _coerce(kind: str, name: str, raw: Any) -> _Value:
    """A filter value in the property's comparison domain; strings compare case-insensitively."""
    text = to_text(raw).strip()
    if kind == "number":
        number = parse_number(text)
        if number is None:
            raise validation(f"{text!r} is not a valid number for property {name}")
        return number
    if kind == "instant":
        ms = instant_ms(text)
        if ms is None:
            raise validation(
                f"{text!r} is not a valid datetime for property {name}: use epoch milliseconds or ISO-8601"
            )
        return ms
    return text.lower()


def text_tokens(text: str) -> list[str]:
    return [t for t in TOKEN_SPLIT.split(text) if t]


def compile_filter(props: Mapping[str, JSON], spec: Any) -> Predicate | Range:
    """One filter as a predicate, or as a :class:`Range` when it bounds a date/datetime property."""
    if not isinstance(spec, dict):
        raise validation("Invalid input JSON: a filter must be an object")
    name, operator = spec.get("propertyName"), spec.get("operator")
    if not isinstance(name, str) or not name:
        raise validation("Invalid input JSON: filter is missing propertyName")
    if operator not in _OPERATORS:
        raise validation(
            f'Invalid input JSON: Cannot deserialize value of type `FilterOperatorEnum` from String "{operator}": '
            f"not one of the values accepted for Enum class: {sorted(_OPERATORS)}"
        )
    kind = property_kind(props, name)
    get = getter(name, kind)
    problem = (
        "Invalid input JSON: Cannot construct instance of `com.hubspot.inbounddb.publicobject.core.v3.search.Filter`"
    )
    if operator == "HAS_PROPERTY":
        return lambda obj: get(obj) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda obj: get(obj) is None
    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise validation(f"{problem}, problem: operator {operator} requires values")
        wanted = {_coerce(kind, name, v) for v in values}
        if operator == "IN":
            return lambda obj: get(obj) in wanted
        return lambda obj: get(obj) not in wanted
    if spec.get("value") is None:
        raise validation(f"{problem}, problem: operator {operator} requires a value")
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = to_text(spec["value"]).strip().lower()

        def contains(obj: Mapping[str, Any]) -> bool:
            raw = obj["properties"].get(name)
            if raw in (None, ""):
                return False
            text = str(raw).lower()
            if "*" in pattern:
                return fnmatchcase(text, pattern) or any(fnmatchcase(t, pattern) for t in text_tokens(text))
            return text == pattern or pattern in text_tokens(text)

        if operator == "CONTAINS_TOKEN":
            return contains
        return lambda obj: not contains(obj)
    value = _coerce(kind, name, spec["value"])
    if kind == "instant" and operator in ("EQ", "LT", "LTE", "GT", "GTE", "BETWEEN"):
        assert isinstance(value, int)
        if operator == "BETWEEN":
            if spec.get("highValue") is None:
                raise validation(f"{problem}, problem: operator BETWEEN requires a highValue")
            high = _coerce(kind, name, spec["highValue"])
            assert isinstance(high, int)
            return Range(name, value, high + 1)
        bounds: dict[str, tuple[int | None, int | None]] = {
            "EQ": (value, value + 1),
            "LT": (None, value),
            "LTE": (None, value + 1),
            "GT": (value + 1, None),
            "GTE": (value, None),
        }
        low, high_ms = bounds[operator]
        return Range(name, low, high_ms)
    if operator == "EQ":
        return lambda obj: get(obj) == value
    if operator == "NEQ":
        return lambda obj: get(obj) != value
    if operator == "BETWEEN":
        if spec.get("highValue") is None:
            raise validation(f"{problem}, problem: operator BETWEEN requires a highValue")
        high = _coerce(kind, name, spec["highValue"])
        return lambda obj: _between(get(obj), value, high)
    return _comparison(get, operator, value)


_COMPARISONS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


def _between(found: _Value | None, low: _Value, high: _Value) -> bool:
    return found is not None and bool(low <= found <= high)  # type: ignore[operator]


def _comparison(get: _Getter, operator_name: str, value: _Value) -> Predicate:
    compare = _COMPARISONS[operator_name]

    def check(obj: Mapping[str, Any]) -> bool:
        found = get(obj)
        return found is not None and bool(compare(found, value))

    return check
