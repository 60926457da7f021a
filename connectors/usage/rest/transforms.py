"""One API item → the canonical values of a usage row or a workspace, through ``fields``. Pure.

A field is a dotted path into the item (``seats.used``), or a rule with a transform:
``counts`` (a list of ``{key: …, value: …}`` objects → ``{name: count}``, the canonical maps of
feature events and users by department), ``length`` (a list → how many: trials started that
day), ``date`` (a date-time → its date, as written) and ``unit`` (a storage amount in ``MB``,
``MiB``… → GB). Items of a child resource carry the fields it includes from its parent as
``_<parent>_<field>`` (dlt's naming) and from the response envelope as ``_response_<path>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from connectors.columns import day as as_day
from connectors.usage.rest.settings import UNITS, FieldRule
from connectors.usage.streams import METRICS, get_path

__all__ = [
    "DAILY_NAMES",
    "WORKSPACE_NAMES",
    "attach",
    "counts",
    "day_end",
    "extract",
    "length",
    "to_unit",
    "usage_item",
    "workspace_item",
]

FieldSpec = str | FieldRule | None

DAILY_NAMES: tuple[str, ...] = ("workspace_id", "day", "updated_at", *METRICS)
"""The canonical names a ``daily`` resource maps (``day`` is the row's date)."""
WORKSPACE_NAMES: tuple[str, ...] = ("workspace_id", "name", "domain", "updated_at")
"""The identity a ``workspaces`` resource maps (``domain`` may be a URL: its host is kept)."""


def counts(value: Any, *, key: str, count: str, where: str) -> dict[str, Any] | None:
    """``[{"feature": "export", "count": 3}]`` → ``{"export": 3}`` (a name listed twice adds up)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)  # already a map: nothing to fold
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of {{{key!r}, {count!r}}} objects, got {type(value).__name__}")
    folded: dict[str, Any] = {}
    for entry in value:
        name = get_path(entry, key) if isinstance(entry, Mapping) else None
        if name is None:
            raise ValueError(f"{where}: an entry without {key!r}: {entry!r}"[:200])
        number = get_path(entry, count)
        if number is None or isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{where}.{name}: {count!r} must be a number, got {number!r}")
        folded[str(name)] = folded.get(str(name), 0) + number
    return folded


def length(value: Any, *, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list to count, got {type(value).__name__}")
    return len(value)


def to_unit(value: Any, unit: str, *, where: str) -> float | None:
    """An amount in ``unit`` as GB (a fraction, so 83500 MB is exactly 83.5)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where} must be a number, got {value!r}")
    numerator, denominator = UNITS[unit]
    return float(value) * numerator / denominator


def extract(item: Any, spec: FieldSpec, *, name: str) -> Any:
    """The value ``spec`` points at in ``item``, transformed; None when absent or switched off."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return get_path(item, spec)
    raw = get_path(item, spec.path)
    where = f"{name} ({spec.path})"
    if spec.transform == "counts":
        raw = counts(raw, key=spec.key, count=spec.value, where=where)
    elif spec.transform == "length":
        raw = length(raw, where=where)
    elif spec.transform == "date":
        raw = None if raw is None else as_day(raw)
    if spec.unit is not None:
        raw = to_unit(raw, spec.unit, where=where)
    return raw


def attach(
    item: Any, *, parent_name: str | None, parent: Any, fields: list[str], envelope: Any, paths: list[str]
) -> Any:
    """``item`` with the parent's and the envelope's named fields added (dlt's ``include_from_parent``)."""
    if not isinstance(item, Mapping) or (not fields and not paths):
        return item
    extra: dict[str, Any] = {}
    for field in fields:
        extra[f"_{parent_name}_{field}"] = get_path(parent, field)
    for path in paths:
        extra[f"_response_{path.replace('.', '_')}"] = get_path(envelope, path)
    return {**item, **extra}


def day_end(on: date) -> datetime:
    """The moment a day is complete (midnight UTC after it): a day-window row's cursor value."""
    return datetime.combine(on + timedelta(days=1), time(0), tzinfo=timezone.utc)


def usage_item(item: Any, fields: Mapping[str, FieldSpec], *, by_day: bool) -> dict[str, Any]:
    """The item as a flat usage row under the canonical names (``date`` for the day), which
    :class:`connectors.usage.streams.DailyUsage` reads with its identity mapping. A row read by
    day window has no modification time: its ``updated_at`` is the end of its day."""
    flat: dict[str, Any] = {}
    for name in DAILY_NAMES:
        spec = fields.get(name, "date" if name == "day" else name)
        flat["date" if name == "day" else name] = extract(item, spec, name=name)
    if by_day:
        on = as_day(flat["date"])
        flat["updated_at"] = day_end(on).isoformat() if on is not None else None
    return flat


def workspace_item(item: Any, fields: Mapping[str, FieldSpec]) -> dict[str, Any]:
    """The item as ``{"id", "name", "domain", "updated_at"}`` for :class:`~connectors.usage.streams.Workspaces`."""
    flat = {name: extract(item, fields.get(name, name), name=name) for name in WORKSPACE_NAMES}
    if flat["workspace_id"] is None and "workspace_id" not in fields and isinstance(item, Mapping):
        flat["workspace_id"] = item.get("id")  # the default list names it id (as /v1/workspaces does)
    return {"id": flat.pop("workspace_id"), **flat}
