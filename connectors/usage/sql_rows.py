"""Warehouse rows → usage records, at the pace a server-side cursor delivers them. Pure.

A row of ``[usage] source = "sql"`` must become exactly the record ``DailyUsage.to_record`` makes
of the same values, and 100,000 of them a second. A typed database hands over the types the
mapping would produce anyway (text, a ``date``, an aware ``datetime``, ``int``, ``Decimal`` or
``float``, and JSONB as a ``dict``), so those are checked in place, with no path lookups; any other
value (a negative count, a string, a map of floats…) sends its row through
``DailyUsage.to_record`` itself, which reads it or names what is wrong with it, as for the API.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Final

import orjson

from connectors.base import Page, to_page
from connectors.usage.streams import METRICS, DailyUsage
from core.records import Record

__all__ = ["DAY_KEY", "RowReader", "json_loads"]

DAY_KEY: Final = "date"
"""The key ``DailyUsage``'s default mapping reads the day from (``UsageFields.day``): a row that
takes the slow path is handed over under the default mapping's keys, so a problem names its
workspace and day as ``connectors.base.to_page`` names an API item's."""

_EXACT = 2**53
"""Counts pass through ``float`` in ``DailyUsage``: above this an int would come back changed."""

_INT: Final = {int}
_STR: Final = {str}
_COUNT, _MEASURE, _MAP = "count", "measure", "map"
_KINDS = {
    name: _MAP if read is METRICS["feature_events"] else _MEASURE if read is METRICS["storage_used_gb"] else _COUNT
    for name, read in METRICS.items()
}


def json_loads(data: str | bytes | bytearray | memoryview) -> Any:
    """One JSON document, read by orjson (a tenth of ``json.loads``'s cost: JSON maps are most of
    a warehouse row's reading time). A text orjson refuses goes through ``json.loads``, whose
    reading (``NaN``, ``Infinity``, huge integers) and errors are ``DailyUsage``'s."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data if isinstance(data, str) else bytes(data).decode("utf-8"))


def _map(value: Any) -> dict[str, int] | None:
    """A map of name → count as ``DailyUsage`` reads it, when it is plainly one; else None."""
    if type(value) is str:
        try:
            value = json_loads(value)
        except ValueError:
            return None
    if type(value) is not dict:
        return None
    if not value:
        return value
    counts = value.values()  # checked as sets of types and a range: no Python loop per entry
    if set(map(type, counts)) != _INT or set(map(type, value)) != _STR or min(counts) < 0 or max(counts) > _EXACT:
        return None
    return value


class RowReader:
    """Rows (sequences, in the order ``positions`` gives) → one page of usage records."""

    def __init__(self, decl: DailyUsage, positions: Mapping[str, int], stream: str) -> None:
        """``positions``: canonical key (``workspace_id``, ``date``, ``updated_at``, each metric
        read) → the row's index holding it; a metric switched off has none."""
        self.decl = decl
        self.stream = stream
        self.kind = decl.kind
        self.workspace = positions["workspace_id"]
        self.day = positions[DAY_KEY]
        self.updated = positions["updated_at"]
        on = {name: i for name in METRICS if (i := positions.get(name)) is not None}
        self.counts = [(name, i) for name, i in on.items() if _KINDS[name] is _COUNT]
        self.measures = [(name, i) for name, i in on.items() if _KINDS[name] is _MEASURE]
        self.maps = [(name, i) for name, i in on.items() if _KINDS[name] is _MAP]
        self.off = dict.fromkeys(name for name in METRICS if name not in on)
        self.positions = dict(positions)

    def page(self, rows: Sequence[Sequence[Any]]) -> Page:
        records: list[Record] = []
        problems: list[str] = []
        fast = self._record
        for row in rows:
            record = fast(row)
            if record is not None:
                records.append(record)
                continue
            slow = to_page([self._item(row)], self.decl.to_record, self.stream)
            records.extend(slow.records)
            problems.extend(slow.problems)
        return Page(records=records, problems=problems)

    def _item(self, row: Sequence[Any]) -> dict[str, Any]:
        """The row under the default mapping's keys, a zone-less time stamp read as UTC
        (warehouses keep UTC in them: Snowflake TIMESTAMP_NTZ, BigQuery DATETIME)."""
        item = {key: row[i] for key, i in self.positions.items()}
        at = item.get("updated_at")
        if isinstance(at, datetime) and at.tzinfo is None:
            item["updated_at"] = at.replace(tzinfo=timezone.utc)
        return item

    def _record(self, row: Sequence[Any]) -> Record | None:
        """The record of a row whose values are all of the plain types, else None."""
        workspace, on, at = row[self.workspace], row[self.day], row[self.updated]
        if type(workspace) is not str or not workspace or type(on) is not date or type(at) is not datetime:
            return None
        zone = at.tzinfo
        if zone is not timezone.utc:  # psycopg hands a UTC session's time stamps over in UTC already
            at = at.replace(tzinfo=timezone.utc) if zone is None else at.astimezone(timezone.utc)
        values: dict[str, Any] = {"workspace_id": workspace, "day": on, "updated_at": at, **self.off}
        for name, i in self.counts:
            value = row[i]
            if value is not None and (type(value) is not int or not 0 <= value <= _EXACT):
                return None
            values[name] = value
        for name, i in self.measures:
            value = row[i]
            if value is not None:
                if type(value) not in (int, float, Decimal):
                    return None
                value = float(value)
                if not (value >= 0 and math.isfinite(value)):
                    return None
            values[name] = value
        for name, i in self.maps:
            value = row[i]
            if value is not None and (value := _map(value)) is None:
                return None
            values[name] = value
        return Record(
            kind=self.kind, system="usage", key=f"{workspace}|{on.isoformat()}", cursor_value=at, values=values
        )
