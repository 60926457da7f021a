"""Raw CRM values ↔ canonical ones: the coercions, the datetime forms, and the columns streams declare.

Rows come from REST (JSON types), Bulk API 2.0 (CSV: all strings, "" for null) or HubSpot (strings);
the coercions accept each, so a record is the same whichever path read it. A stream declares each
canonical column once (:class:`Column`): the fields it selects and the values it fills derive from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

__all__ = [
    "Column",
    "boolean",
    "column",
    "day",
    "domain",
    "domain_of",
    "fixed",
    "instant",
    "integer",
    "number",
    "owned_column",
    "owned_values",
    "parse_utc",
    "selected",
    "text",
    "utc_millis",
    "values_of",
]


def parse_utc(value: Any) -> datetime:
    """ISO-8601 with or without millis, ``Z``/``+0000``/``+00:00``, or epoch milliseconds → aware UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a datetime: {value!r}")
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise ValueError(f"not a datetime: {value!r}")
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {value!r}")
    return parsed.astimezone(timezone.utc)


def utc_millis(at: datetime) -> str:
    """``2026-06-01T12:00:00.000Z``: ISO-8601 in UTC with milliseconds, as both CRMs write datetimes."""
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def domain_of(url: str | None) -> str | None:
    """``https://www.acme.example.com/x`` → ``acme.example.com`` (the identity fallback key)."""
    if not url:
        return None
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host.removeprefix("www.") or None


def text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float):  # "NaN", "Infinity": float() reads them, no CRM field holds them
        raise ValueError(f"not a finite number: {value!r}")
    return as_float


def integer(value: Any) -> int | None:
    as_float = number(value)
    return None if as_float is None else int(as_float)


def boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def day(value: Any) -> date | None:
    """A calendar date (no time-zone shifting): ``2026-05-01``, or the date part of a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = str(value)
    if raw.isdigit():  # HubSpot date properties: epoch ms at midnight UTC
        return parse_utc(raw).date()
    return date.fromisoformat(raw[:10])


def instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_utc(value)


def domain(value: Any) -> str | None:
    """A website field read as its domain (``domain_of``)."""
    return domain_of(text(value))


# -- columns: a stream's mapping, declared once; its field list and its record values derive from it --


@dataclass(frozen=True, slots=True)
class Column:
    """One canonical column of a stream: the API fields it reads, and how it reads them."""

    name: str
    fields: tuple[str, ...]
    read: Callable[[Mapping[str, Any]], Any]


def column(name: str, source: str | None, coerce: Callable[[Any], Any] = text) -> Column:
    """``name`` is ``coerce`` of the API field ``source``; a field the config leaves unset (None)
    is not read, and the column is None."""
    if source is None:
        return Column(name, (), lambda raw: None)
    return Column(name, (source,), lambda raw: coerce(raw.get(source)))


def fixed(name: str, value: Any) -> Column:
    """A column the source system does not have: the same value on every record."""
    return Column(name, (), lambda raw: value)


def selected(columns: Iterable[Column]) -> tuple[str, ...]:
    """The API fields ``columns`` read, each once, in declaration order."""
    return tuple(dict.fromkeys(f for c in columns for f in c.fields))


def values_of(columns: Iterable[Column], raw: Mapping[str, Any]) -> dict[str, Any]:
    """A record's canonical values: each column read from the raw row."""
    return {c.name: c.read(raw) for c in columns}


OWNED_NUMBERS = frozenset({"health_score", "expansion_score"})


def owned_values(owned: Iterable[tuple[str, str]], raw: Mapping[str, Any]) -> dict[str, Any]:
    """upsync's own fields present on a CRM record, by canonical name, typed as ``FieldWrite``
    values are (REST JSON, Bulk CSV and HubSpot strings alike): scores as float, ``as_of`` as
    ISO-8601 UTC, the rest as text ("" reads as absent). ``owned``: (canonical name, CRM name)."""
    out: dict[str, Any] = {}
    for name, crm_name in owned:
        value = raw.get(crm_name)
        if name in OWNED_NUMBERS:
            value = number(value)
        elif name == "as_of":
            at = instant(value)
            value = at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None
        else:
            value = text(value)
        if value is not None:
            out[name] = value
    return out


def owned_column(owned: tuple[tuple[str, str], ...]) -> Column:
    """``upsync_fields``: upsync's own fields as the CRM holds them (``owned_values``)."""
    return Column("upsync_fields", tuple(crm_name for _, crm_name in owned), lambda raw: owned_values(owned, raw))
