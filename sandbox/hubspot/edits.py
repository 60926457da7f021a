"""Test helpers that change the world as HubSpot itself, its users or a portal admin would."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sandbox.hubspot.backend import backend_of, store_both_ways
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.property_defs import modified_field
from sandbox.hubspot.values import to_text
from sandbox.hubspot.writes import stamp_changes
from sandbox.world import ItemFault, World, hs_time


def edit_as_user(
    world: World,
    object_type: str,
    object_id: str,
    properties: Mapping[str, Any],
    user_id: int | str,
) -> JSON:
    """Change an object as a person in the HubSpot UI would: history ``CRM_UI``, modstamp bumped.

    Lets tests tell upsync's own writes (``INTEGRATION``) from a rep's edits. Values are stored
    as strings, unvalidated (the UI validated them). Raises ``KeyError`` if the object is unknown.
    Returns the stored object.
    """
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        changes = {name: to_text(value) for name, value in properties.items()}
        entry: JSON = {"sourceType": "CRM_UI", "sourceId": f"userId:{user_id}"}
        if str(user_id).isdigit():
            entry["updatedByUserId"] = int(user_id)
        stamp_changes(world, backend_of(world), object_type, obj, changes, entry, derive=False)
        if str(user_id).isdigit():
            obj["properties"]["hs_updated_by_user_id"] = str(user_id)
        return obj


def refuse_items(
    world: World,
    predicate: Callable[[Mapping[str, Any]], bool],
    *,
    category: str = "VALIDATION_ERROR",
    message: str = "Property values were not valid",
    times: int = 1,
    object_type: str | None = None,
) -> ItemFault:
    """Make batch create/update refuse the next ``times`` inputs matching ``predicate``.

    ``predicate`` sees the input's properties as validated (an update's also carry
    ``hs_object_id``). When every input of the request carries an ``objectWriteTraceId`` the
    refused one comes back in a 207 multi-status as a ``StandardError`` whose context names its
    trace id, and the others are written (developers.hubspot.com/docs/api-reference/error-handling,
    "Multi-status errors"); otherwise the whole request fails with 400 and nothing is written.
    Returns the armed fault (its ``times`` counts down as it fires).
    """
    fault = ItemFault(predicate=predicate, code=category, message=message, times=times, object_type=object_type)
    with world.hubspot.lock:
        world.hubspot.item_faults.append(fault)
    return fault


def remove_property(world: World, object_type: str, name: str) -> None:
    """Forget a property definition, as in a portal where it was never created: the properties
    API no longer lists it and writes naming it get ``PROPERTY_DOESNT_EXIST``; a later
    ``POST /crm/v3/properties/{objectType}`` may create it again. Raises ``KeyError`` if unknown."""
    backend = backend_of(world)
    with world.hubspot.lock:
        del backend.schema.ensure(object_type)[name]


def remove_group(world: World, object_type: str, name: str) -> None:
    """Forget a property group and every property in it (see :func:`remove_property`)."""
    backend = backend_of(world)
    with world.hubspot.lock:
        props = backend.schema.ensure(object_type)
        del backend.schema.groups[object_type][name]
        for prop_name in [n for n, p in props.items() if p.get("groupName") == name]:
            del props[prop_name]


def archive(world: World, object_type: str, object_id: str, *, at: datetime | None = None) -> JSON:
    """Archive an object as HubSpot does: ``archived``/``archivedAt`` set, ``hs_lastmodifieddate`` untouched.

    So the object leaves search (and a modified-since search never sees the delete) and shows up
    in ``GET /crm/v3/objects/{type}?archived=true``. ``at`` defaults to ``world.now()``. Raises
    ``KeyError`` if the object is unknown. Returns the stored object.
    """
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        if not obj.get("archived"):
            obj["archived"] = True
            obj["archivedAt"] = hs_time(at or world.now())
        return obj


def restore(world: World, object_type: str, object_id: str, *, touch: bool = True) -> JSON:
    """Bring an archived object back (HubSpot's "restore" within 90 days of the delete).

    ``touch`` (the default) stamps a new ``hs_lastmodifieddate``, so an incremental sync sees the
    object again; ``touch=False`` restores silently. Raises ``KeyError`` if the object is unknown.
    """
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        obj["archived"] = False
        obj["archivedAt"] = None
        if touch:
            stamp_changes(world, backend_of(world), object_type, obj, {}, None)
        return obj


def mass_update(
    world: World,
    object_type: str,
    ids: Iterable[str],
    properties: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> str:
    """Stamp many objects with ONE identical modstamp, as a HubSpot batch update or pipeline edit does.

    Every listed object gets ``properties`` (stored as strings, unvalidated; may be empty: a
    "touch") and the same ``hs_lastmodifieddate`` (contacts: ``lastmodifieddate``) = ``at`` or
    ``world.now()``, with history ``BATCH_UPDATE``. Thousands of objects on one millisecond are
    what breaks timestamp-restart pagination past search's 10,000 cap (airbytehq/airbyte#43317).
    Archived objects are skipped. Raises ``KeyError`` on an unknown id before changing anything.
    Returns the timestamp written.
    """
    backend = backend_of(world)
    store = world.hubspot
    stamp = hs_time(at or world.now())
    changes = {name: to_text(value) for name, value in (properties or {}).items()}
    entry: JSON = {"timestamp": stamp, "sourceType": "BATCH_UPDATE", "sourceId": None}
    modified = modified_field(object_type)
    with store.lock:
        table = store.objects[object_type]
        objects = [table[object_id] for object_id in ids]
        backend.stamps.pop(object_type, None)  # thousands of moves: cheaper to rebuild on the next search
        for obj in objects:
            if obj.get("archived"):
                continue
            obj["properties"].update(changes)
            obj["properties"][modified] = stamp
            obj["updatedAt"] = stamp
            if changes:
                backend.record(object_type, str(obj["id"]), changes, entry)
    return stamp


def recalculate(world: World, object_type: str, object_id: str, values: Mapping[str, Any]) -> JSON:
    """Change calculated properties (``health_rollup``) the way HubSpot recomputes them.

    The value and its history (``CALCULATED``) change; ``hs_lastmodifieddate`` and ``updatedAt``
    do not, so only a full re-read finds the new value. Raises ``ValueError`` for a property that
    is not calculated and ``KeyError`` for an unknown object. Returns the stored object.
    """
    backend = backend_of(world)
    store = world.hubspot
    with store.lock:
        props = backend.schema.ensure(object_type)
        plain = [name for name in values if not props.get(name, {}).get("calculated")]
        if plain:
            raise ValueError(f"not calculated properties of {object_type}: {', '.join(sorted(plain))}")
        obj = store.objects[object_type][object_id]
        changes = {name: to_text(value) for name, value in values.items()}
        obj["properties"].update(changes)
        entry: JSON = {"timestamp": hs_time(world.now()), "sourceType": "CALCULATED", "sourceId": None}
        backend.record(object_type, object_id, changes, entry)
        return obj


def invalidate(world: World) -> None:
    """Forget every index kept over ``world.hubspot``; the next request rebuilds what it needs.

    Needed only after editing a *big* table (``app.state.search_index_min`` objects or more) in
    place, by writing ``world.hubspot.objects`` directly, in a way that moves an object's modified
    date into a search window, or after appending to an association list the stand-in already
    indexed. Adding or removing objects or association keys is noticed without it.
    """
    backend = backend_of(world)
    with world.hubspot.lock:
        backend.id_indexes.clear()
        backend.stamps.clear()
        backend.reverse.clear()
        backend.association_version += 1


def associate(world: World, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
    """Associate two objects, storing the inverse too (the inverse type from :data:`ASSOCIATION_TYPES`).

    Tests should prefer this to appending to ``world.hubspot.associations`` lists directly: the
    stand-in notices new association *keys*, not entries appended to a list it already indexed.
    """
    store_both_ways(world.hubspot, backend_of(world), from_type, from_id, to_type, to_id, type_id)
