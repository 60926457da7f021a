"""Field types and values: how each describe type is normalised for comparison and output."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Schema = Mapping[str, Mapping[str, str]]
"""sObject name → field name → describe ``type`` (``string``, ``datetime``, ``reference``…)."""

STRING_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "combobox", "url", "email", "phone"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})


def _format_datetime(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def canonical_datetime(value: str | datetime) -> str:
    """The REST form ``2026-11-23T09:15:00.000+0000`` (UTC, milliseconds) of a datetime.

    Strings in that form sort in instant order, so comparisons need no parsing on the hot
    path; any other ISO-8601 string (``Z``, ``+09:00``, no milliseconds, no zone = UTC) is
    parsed and re-formatted. Raises ``ValueError`` for anything else.
    """
    if isinstance(value, datetime):
        at = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _format_datetime(at)
    if len(value) == 28 and value[10] == "T" and value[19] == "." and value.endswith("+0000"):
        return value
    if len(value) < 19 or value[10] != "T":
        raise ValueError(f"not a datetime: {value!r}")
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return _format_datetime(at)


def parse_datetime(value: str | datetime) -> datetime:
    """An aware UTC ``datetime`` from anything ``canonical_datetime`` accepts."""
    return datetime.fromisoformat(canonical_datetime(value))


def canonical_or_none(value: Any) -> str | None:
    """``canonical_datetime`` of a stored value; None for null or an unreadable value (never raises).

    Stored rows come from the API (canonical) and from tests writing the store directly
    (anything): a bad value must not fail a whole request.
    """
    result: str | None = _norm_datetime(value)
    return result


Normalizer = Callable[[Any], Any]


def _norm_text(value: Any) -> Any:
    return None if value is None else str(value).casefold()


def _norm_id(value: Any) -> Any:
    # 15- and 18-character forms of an Id name the same record.
    return None if value is None else str(value)[:15]


def _norm_number(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _norm_bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _norm_date(value: Any) -> Any:
    return None if value is None else str(value)[:10]


def _norm_datetime(value: Any) -> Any:
    # Fast path first: the store keeps datetimes in the canonical REST form.
    if value.__class__ is str and len(value) == 28 and value.endswith("+0000"):
        return value
    if value is None:
        return None
    return _slow_datetime(value)


def _slow_datetime(value: Any) -> Any:
    try:
        return canonical_datetime(value)
    except (TypeError, ValueError):
        return None


def norm_raw(value: Any) -> Any:
    return value


TYPE_WORD = {
    "int": "integer",
    "double": "double",
    "currency": "currency",
    "percent": "percent",
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # canonical
    type: str
    compare: Normalizer  # for filters
    sort: Normalizer  # for ORDER BY


def column_of(name: str, type_: str) -> Column:
    if type_ in ID_TYPES:
        return Column(name, type_, _norm_id, norm_raw)
    if type_ in NUMBER_TYPES:
        return Column(name, type_, _norm_number, _norm_number)
    if type_ == "boolean":
        return Column(name, type_, _norm_bool, _norm_bool)
    if type_ == "date":
        return Column(name, type_, _norm_date, _norm_date)
    if type_ == "datetime":
        return Column(name, type_, _norm_datetime, _norm_datetime)
    return Column(name, type_, _norm_text, _norm_text)
