"""Warehouse rows → usage records, at the pace a server-side cursor delivers them. Pure.

A row of ``[usage] source = "sql"`` must become exactly the record ``DailyUsage.to_record`` makes
of the same values, and 100,000 of them a second. A typed database hands over the types the
mapping would produce anyway (text, a ``date``, an aware ``datetime``, ``int``, ``Decimal`` or
``float``, and JSONB as a ``dict``), so those are checked a column at a time (a row at a time in
a batch holding an odd one), with no path lookups; any other value (a negative count, a string, a
map of floats…) sends its row through ``DailyUsage.to_record`` itself, which reads it or names
what is wrong with it, as for the API.
"""

from __future__ import annotations

import gc
import json
import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from itertools import chain, repeat
from typing import Any, Final

import orjson

from connectors.base import Page, to_page
from connectors.usage.streams import METRICS, DailyUsage
from core.records import Record

__all__ = ["DAY_KEY", "RowReader", "gc_paused", "json_loads"]

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


class _Pause:
    """Who holds the cyclic garbage collector paused, across threads (the fetch and the reader)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        self.resume = False


_PAUSE = _Pause()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build a batch's rows and records without the cyclic garbage collector. They hold no
    cycles, yet each 700 new containers start a collection that walks the batch built so far:
    a million rows read in 12 s took 7 s without it. Counted across threads, so the collector
    is back on when the last holder leaves (and stays off if it was off)."""
    with _PAUSE.lock:
        if _PAUSE.holders == 0:
            _PAUSE.resume = gc.isenabled()
            gc.disable()
        _PAUSE.holders += 1
    try:
        yield
    finally:
        with _PAUSE.lock:
            _PAUSE.holders -= 1
            if _PAUSE.holders == 0 and _PAUSE.resume:
                gc.enable()


def json_loads(data: str | bytes | bytearray | memoryview) -> Any:
    """One JSON document, read by orjson (a tenth of ``json.loads``'s cost: JSON maps are most of
    a warehouse row's reading time). A text orjson refuses goes through ``json.loads``, whose
    reading (``NaN``, ``Infinity``, huge integers) and errors are ``DailyUsage``'s."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data if isinstance(data, str) else bytes(data).decode("utf-8"))


_DATE: Final = {date}
_DATETIME: Final = {datetime}
_UTC: Final = {timezone.utc}
_NONE: Final = type(None)
_INT_OR_NONE: Final = {int, _NONE}
_NUMBER_OR_NONE: Final = {int, float, Decimal, _NONE}
_MAPS: Final = {dict, str, _NONE}


def _zone(at: datetime) -> Any:
    return at.tzinfo


def _in_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _maps(column: Sequence[Any]) -> list[Any] | None:
    """A column of maps (JSON objects, or their text) read at once: every count of every row
    checked as one type set and one range (C-level); None when any value needs a look."""
    kinds = set(map(type, column))
    if not kinds <= _MAPS:
        return None
    read: list[Any] = list(column)
    if str in kinds:
        try:
            read = list(map(orjson.loads, column)) if kinds == _STR else [_loaded(v) for v in column]
        except orjson.JSONDecodeError:
            return None
        kinds = set(map(type, read))
        if not kinds <= _MAPS - _STR:
            return None
    dicts = read if _NONE not in kinds else [v for v in read if v is not None]
    counts = list(chain.from_iterable(map(dict.values, dicts)))
    if counts and (set(map(type, counts)) != _INT or min(counts) < 0 or max(counts) > _EXACT):
        return None
    if set(map(type, chain.from_iterable(dicts))) - _STR:
        return None
    return read


def _loaded(value: Any) -> Any:
    return orjson.loads(value) if type(value) is str else value


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
        """The batch's records: checked a column at a time when every value of each column is of
        its plain type (C-level type sets and ranges, no Python check per value), else row by row."""
        with gc_paused():
            return self._page(rows)

    def _page(self, rows: Sequence[Sequence[Any]]) -> Page:
        by_column = self._columns(rows) if rows else None
        if by_column is None:
            return self._rows(rows)
        return Page(records=self._built(*by_column), problems=[])

    def _built(self, names: list[str], picked: list[Sequence[Any]]) -> list[Record]:
        """The records of checked columns (``_columns``)."""
        names = [*names, *self.off]  # the metrics switched off: None in every record, as DailyUsage has them
        columns: list[Iterable[Any]] = [*picked, *[repeat(None)] * len(self.off)]
        keys = map("{}|{}".format, picked[0], map(date.isoformat, picked[1]))
        kind = self.kind
        rows_of = zip(*columns, strict=False)  # the repeats are endless: the batch's columns end it
        return [
            Record(kind=kind, system="usage", key=key, cursor_value=at, values=dict(zip(names, values, strict=True)))
            for key, at, values in zip(keys, picked[2], rows_of, strict=False)
        ]

    def _columns(self, rows: Sequence[Sequence[Any]]) -> tuple[list[str], list[Sequence[Any]]] | None:
        """(keys, columns) of a batch whose every value reads as ``DailyUsage`` would read it
        unchanged (counts, measures as floats, maps checked); None when any value needs a look."""
        columns = list(zip(*rows, strict=True))
        workspace, on = columns[self.workspace], columns[self.day]
        at: Sequence[Any] = columns[self.updated]
        if set(map(type, workspace)) != _STR or "" in workspace:
            return None
        if set(map(type, on)) != _DATE or set(map(type, at)) != _DATETIME:
            return None
        zones = set(map(_zone, at))
        if zones != _UTC:  # psycopg hands a session's zone over (ZoneInfo('Etc/UTC')): the same instants;
            at = list(map(_in_utc, at))  # a zone-less one is UTC (Snowflake TIMESTAMP_NTZ, BigQuery DATETIME)
        names = ["workspace_id", "day", "updated_at"]
        picked: list[Sequence[Any]] = [workspace, on, at]
        for name, i in self.counts:
            column = columns[i]
            kinds = set(map(type, column))
            if not kinds <= _INT_OR_NONE:
                return None
            present = column if _NONE not in kinds else [v for v in column if v is not None]
            if present and (min(present) < 0 or max(present) > _EXACT):
                return None
            names.append(name)
            picked.append(column)
        for name, i in self.measures:
            column = columns[i]
            kinds = set(map(type, column))
            if not kinds <= _NUMBER_OR_NONE:
                return None
            floats: list[float | None] = list(map(_float, column))
            present = [v for v in floats if v is not None]
            if present and (min(present) < 0 or not math.isfinite(math.fsum(present))):
                return None  # a negative, NaN or infinite measure: named by the row's own reading
            names.append(name)
            picked.append(floats)
        for name, i in self.maps:
            read = _maps(columns[i])
            if read is None:
                return None
            names.append(name)
            picked.append(read)
        return names, picked

    def _rows(self, rows: Sequence[Sequence[Any]]) -> Page:
        records: list[Record] = []
        problems: list[str] = []
        for row in rows:
            plain = self._columns((row,))  # a row of a batch holding an odd one: still read the short way
            if plain is not None:
                records.extend(self._built(*plain))
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
