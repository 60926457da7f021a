"""Test helpers that change the org as its users and admins would: edits, refusals, deletes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sandbox.salesforce.sobjects import org_schema
from sandbox.salesforce.values import derive
from sandbox.world import ItemFault, World, sf_time


def edit_as_user(world: World, sobject: str, record_id: str, values: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """Change a record as a person in the Salesforce UI would: ``LastModifiedById`` = ``user_id``, stamps bumped.

    Lets tests tell upsync's own writes (by the integration user) from a rep's edits. Values
    are stored as given, unvalidated (the UI validated them). Raises ``KeyError`` if the record
    is unknown. Returns a copy of the stored row.
    """
    store = world.salesforce
    with store.lock:
        table = store.objects[sobject]
        row = {**table[record_id], **values}
        now = sf_time(world.now())
        spec = org_schema(store).by_name.get(sobject)
        for name, value in (("LastModifiedDate", now), ("SystemModstamp", now), ("LastModifiedById", user_id)):
            if spec is None or name in spec.by_name:
                row[name] = value
        if spec is not None:
            derive(spec, row, store.objects, now)
        table[record_id] = row
        return dict(row)


def recalculate(world: World, sobject: str, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Change formula or Roll-Up Summary fields (``Health_Rollup__c``, ``MRR_Rollup__c``) the way the
    platform recomputes them: the value changes, ``SystemModstamp`` and ``LastModifiedDate`` do not
    (a roll-up recalculated from its children, a formula read live), so only a full re-read finds
    the new value. Raises ``ValueError`` for a field the API may write (not calculated) and
    ``KeyError`` for an unknown record. Returns a copy of the stored row."""
    store = world.salesforce
    spec = org_schema(store).by_name[sobject]  # this org's fields: a variant renames them
    plain = [n for n in values if n not in spec.by_name or spec.by_name[n].updateable]
    if plain:
        raise ValueError(f"not calculated fields of {sobject}: {', '.join(sorted(plain))}")
    with store.lock:
        row = store.objects[sobject][record_id]
        row.update(values)
        return dict(row)


LOCK_MESSAGE = "unable to obtain exclusive access to this record or 1 records: {id}"
"""Salesforce's UNABLE_TO_LOCK_ROW message (Help › "Unable to lock row - Record currently unavailable
errors", knowledge article 000229525); ``{id}`` is the record's Id when the write names one (an
insert's message ends before it)."""


def refuse_items(
    world: World,
    predicate: Callable[[Mapping[str, Any]], bool],
    *,
    status_code: str = "UNABLE_TO_LOCK_ROW",
    message: str = LOCK_MESSAGE,
    times: int = 1,
    sobject: str | None = None,
) -> ItemFault:
    """Make sObject Collections refuse the next ``times`` records matching ``predicate``.

    ``predicate`` sees the record as sent (canonical field names, ``Id`` included for an update
    by Id, the external id for an upsert). A refused record comes back as the real per-record
    error, ``{"success": false, "errors": [{"statusCode", "message", "fields"}]}`` (REST API
    Developer Guide › sObject Collections: resources_composite_sobjects_collections_update.htm),
    and with ``allOrNone`` false the rest of its request is saved. ``message`` may hold ``{id}``.
    Returns the armed fault (its ``times`` counts down as it fires).
    """
    fault = ItemFault(predicate=predicate, code=status_code, message=message, times=times, object_type=sobject)
    with world.salesforce.lock:
        world.salesforce.item_faults.append(fault)
    return fault


def remove_field(world: World, sobject: str, field_name: str) -> None:
    """Delete a field from the org, as an admin might: ``describe`` no longer lists it, and SOQL
    or a write naming it fails with ``INVALID_FIELD`` (stored values are kept, unreachable).
    Bulk API 2.0 queries still see it. Raises ``KeyError`` for a field the stand-in never had."""
    spec = org_schema(world.salesforce).by_name[sobject]
    if field_name not in spec.by_name:
        raise KeyError(f"{sobject}.{field_name}")
    with world.salesforce.lock:
        world.salesforce.removed_fields.add((sobject, field_name))


def _stamp(world: World, at: datetime | None) -> str:
    return sf_time(world.now() if at is None else at)


def soft_delete(world: World, sobject: str, record_id: str, *, at: datetime | None = None) -> dict[str, Any]:
    """Move a record to the Recycle Bin, as a user deleting it in the UI does.

    ``IsDeleted`` becomes true and ``SystemModstamp`` moves to ``at`` (default: the server
    clock): ``query`` no longer returns the row, ``queryAll`` does, and ``/deleted`` lists it
    with that stamp as its ``deletedDate``. A past ``at`` lets a test put the delete inside a
    window ``/deleted`` already covers (coverage ends at the last whole minute). Raises
    ``KeyError`` if the record is unknown. Returns a copy of the stored row.
    """
    store = world.salesforce
    with store.lock:
        table = store.objects[sobject]
        row = {**table[record_id], "IsDeleted": True, "SystemModstamp": _stamp(world, at)}
        table[record_id] = row
        return dict(row)


def hard_delete(world: World, sobject: str, record_id: str, *, at: datetime | None = None) -> dict[str, Any]:
    """Remove a record for good (an emptied Recycle Bin, a Bulk ``hardDelete``).

    The row leaves the store, so even ``queryAll`` no longer sees it: only ``/deleted``
    reports it, from ``world.salesforce.deleted_log``. The log entry is
    ``{"sobject", "id", "deletedDate"}``; ``deletedDate`` is ``at``, else the row's own
    deletion stamp if it was already in the Recycle Bin, else the server clock. Raises
    ``KeyError`` if the record is unknown. Returns the log entry.
    """
    store = world.salesforce
    with store.lock:
        row = store.objects[sobject].pop(record_id)
        if at is None and row.get("IsDeleted") is True and row.get("SystemModstamp"):
            deleted = str(row["SystemModstamp"])
        else:
            deleted = _stamp(world, at)
        entry = {"sobject": sobject, "id": record_id, "deletedDate": deleted}
        store.deleted_log.append(entry)
        return dict(entry)
