"""Writes: validating and normalising property values, derived properties, modstamps and history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sandbox.hubspot.backend import Backend
from sandbox.hubspot.errors import Problem, validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.property_defs import always_properties, modified_field, required_on_create
from sandbox.hubspot.schema import Schema
from sandbox.hubspot.sizes import API_SOURCE_ID
from sandbox.hubspot.values import EPOCH, instant_ms, ms_to_iso, parse_number, to_text
from sandbox.world import World, hs_time


def _options_text(prop: Mapping[str, Any]) -> str:
    parts = [
        f'label: "{o["label"]}"\nvalue: "{o["value"]}"\ndisplay_order: {o.get("displayOrder", 0)}\n'
        "hidden: false\nread_only: false\n"
        for o in prop.get("options", [])
    ]
    return "[" + ", ".join(parts) + "]"


def _normalise_value(prop: Mapping[str, Any], raw: Any, owners: Mapping[str, Any]) -> tuple[str, Problem | None]:
    """The stored string for ``raw`` written to ``prop``, or the problem HubSpot would report."""
    name = str(prop["name"])
    text = to_text(raw)
    if text == "":
        return "", None
    kind = prop["type"]
    if kind == "number":
        if parse_number(text) is None:
            return text, Problem("property", "INVALID_FLOAT", f"{text!r} is not a valid number", name)
        return text, None
    if kind == "datetime":
        ms = instant_ms(text)
        if ms is None:
            return text, Problem("property", "INVALID_DATETIME", f"{text!r} is not a valid datetime", name)
        return ms_to_iso(ms), None
    if kind == "date":
        ms = instant_ms(text)
        if ms is None:
            return text, Problem("property", "INVALID_DATE", f"{text!r} is not a valid date", name)
        if ms % 86_400_000:
            at = EPOCH + timedelta(milliseconds=ms)
            message = f"{text} is at {at.strftime('%H:%M:%S.%f')[:-3]} UTC, not midnight!"
            return text, Problem("property", "INVALID_DATE", message, name)
        return (EPOCH + timedelta(milliseconds=ms)).date().isoformat(), None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            return text, Problem("property", "INVALID_BOOLEAN", f"{text!r} is not a valid boolean", name)
        return text.lower(), None
    if kind == "enumeration":
        if name == "hubspot_owner_id":
            if text not in owners:
                return text, Problem("property", "INVALID_OPTION", f"{text} is not a valid owner id", name)
            return text, None
        allowed = {str(o["value"]) for o in prop.get("options", [])}
        values = text.split(";") if prop.get("fieldType") == "checkbox" else [text]
        for value in values:
            if value and value not in allowed:
                message = f"{value} was not one of the allowed options: {_options_text(prop)}"
                return text, Problem("property", "INVALID_OPTION", message, name)
    return text, None


def validate_properties(
    schema: Schema,
    object_type: str,
    properties: Any,
    owners: Mapping[str, Any],
    *,
    creating: bool,
) -> tuple[dict[str, str], list[Problem]]:
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise validation("Invalid input JSON: `properties` must be an object")
    props = schema.ensure(object_type)
    clean: dict[str, str] = {}
    problems: list[Problem] = []
    for name, raw in properties.items():
        prop = props.get(name)
        if prop is None or prop.get("archived"):
            problems.append(Problem("property", "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist', name))
            continue
        if name in always_properties(object_type):
            if name == "hs_object_id":
                problems.append(Problem("property", "READ_ONLY_VALUE", f'Property "{name}" is read only', name))
            continue  # the server stamps create/modified dates itself
        if prop.get("calculated"):
            message = f'Property "{name}" is a calculated property and cannot be set'
            problems.append(Problem("property", "READ_ONLY_VALUE", message, name))
            continue
        if (prop.get("modificationMetadata") or {}).get("readOnlyValue"):  # hs_updated_by_user_id…
            problems.append(Problem("property", "READ_ONLY_VALUE", f'Property "{name}" is read only', name))
            continue
        value, problem = _normalise_value(prop, raw, owners)
        if problem is not None:
            problems.append(problem)
        else:
            clean[name] = value
    if creating:
        reported = {p.name for p in problems}
        for name in required_on_create(object_type):
            if not clean.get(name) and name not in reported:
                message = f'Property "{name}" is required'
                problems.append(Problem("property", "REQUIRED_PROPERTY", message, name))
    return clean, problems


def derived(object_type: str, changes: Mapping[str, str], current: Mapping[str, Any]) -> dict[str, str]:
    """The calculated properties HubSpot recomputes in the same write (deal closed flags, line item amount)."""
    if object_type == "deals" and "dealstage" in changes:
        stage = changes["dealstage"]
        return {
            "hs_is_closed": "true" if stage in ("closedwon", "closedlost") else "false",
            "hs_is_closed_won": "true" if stage == "closedwon" else "false",
        }
    if object_type == "line_items" and ("price" in changes or "quantity" in changes):
        price = parse_number(str(changes.get("price", current.get("price")) or ""))
        quantity = parse_number(str(changes.get("quantity", current.get("quantity")) or ""))
        if price is not None and quantity is not None:
            return {"amount": to_text(price * quantity)}
    return {}


def stamp_changes(
    world: World,
    backend: Backend,
    object_type: str,
    obj: JSON,
    changes: Mapping[str, str],
    entry: Mapping[str, Any] | None,
    *,
    derive: bool = True,
) -> str:
    """Apply ``changes`` and a new modstamp (``world.now()``) to one object, keeping indexes and history current."""
    store = world.hubspot
    now = hs_time(world.now())
    modified = modified_field(object_type)
    stamps = backend.current_stamps(store, object_type, store.table(object_type))
    old = obj["properties"].get(modified)
    obj["properties"].update(changes)
    if derive:
        obj["properties"].update(derived(object_type, changes, obj["properties"]))
    obj["properties"][modified] = now
    obj["updatedAt"] = now
    backend.restamped(store, object_type, stamps, str(obj["id"]), old, now)
    if entry is not None and changes:
        backend.record(object_type, str(obj["id"]), changes, {**entry, "timestamp": now})
    return now


def api_source(now: str) -> JSON:
    return {"timestamp": now, "sourceType": "INTEGRATION", "sourceId": API_SOURCE_ID}
