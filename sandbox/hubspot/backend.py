"""What the stand-in keeps per world besides the store: schema, history, indexes and the token book."""

from __future__ import annotations

import bisect
import heapq
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Any, Final

from sandbox.hubspot.association_types import ASSOC_INVERSE
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.property_defs import modified_field
from sandbox.hubspot.schema import Schema, seed_schema
from sandbox.hubspot.search_ranges import Range
from sandbox.hubspot.tokens import Tokens
from sandbox.world import HubSpotStore, World, hs_time


def numeric_id(object_id: str) -> int:
    try:
        return int(object_id)
    except ValueError:
        return -1


def id_key(obj: Mapping[str, Any]) -> int:
    return numeric_id(str(obj["id"]))


@dataclass
class _IdIndex:
    """One table's ids as ``(numeric id, id)`` ascending, and the fingerprint it was built from.

    The fingerprint (the dict itself, its size, first and last key) costs O(1) to check per
    request and catches objects added or removed by tests writing to ``world.hubspot.objects``
    directly; growth at the end (new objects, the usual case) is merged in without a full sort.
    """

    table_id: int = 0
    count: int = 0
    first: str | None = None
    last: str | None = None
    ordered: list[tuple[int, str]] = field(default_factory=list)

    def sync(self, table: dict[str, JSON]) -> list[tuple[int, str]]:
        count = len(table)
        if not count:
            self.table_id, self.count, self.first, self.last, self.ordered = id(table), 0, None, None, []
            return self.ordered
        first, last = next(iter(table)), next(reversed(table))
        if self.table_id == id(table) and self.count and first == self.first:
            if count == self.count and last == self.last:
                return self.ordered
            if count > self.count:
                tail = list(islice(table, self.count - 1, None))
                if tail[0] == self.last:  # only appended since: merge the new ids in
                    added = sorted((numeric_id(k), k) for k in tail[1:])
                    if self.ordered and added[0] < self.ordered[-1]:
                        self.ordered = list(heapq.merge(self.ordered, added))
                    else:
                        self.ordered.extend(added)
                    self.count, self.last = count, last
                    return self.ordered
        self.table_id, self.count, self.first, self.last = id(table), count, first, last
        self.ordered = sorted((numeric_id(k), k) for k in table)
        return self.ordered


@dataclass
class _ReverseIndex:
    """For reads of ``(from_type, *, to_type)``: the associations stored the other way round.

    The world generator may store an association in one direction only (deal → company 5);
    HubSpot answers from either side, so a read of company → deals also looks here. Built per
    type pair on first use; rebuilt when keys are added to or removed from
    ``world.hubspot.associations`` (its size changes) or :func:`associate` ran.
    """

    count: int = -1
    version: int = -1
    by_key: dict[tuple[str, str, str], list[tuple[str, int]]] = field(default_factory=dict)


def _canonical(value: Any) -> bool:
    """Whether a timestamp is in HubSpot's canonical shape ``2026-06-01T12:00:00.000Z`` (fixed width)."""
    return value.__class__ is str and len(value) == 24 and value[23] == "Z"


@dataclass
class _StampIndex:
    """A big table's objects sorted by modified date (``hs_lastmodifieddate``; contacts ``lastmodifieddate``).

    On tables of ``app.state.search_index_min`` objects or more (50,000) a search window on the
    modified date bisects this instead of touching every object: on a generated world the objects
    lie scattered in memory and a full pass costs about a microsecond each. Candidates are always
    re-checked against their current values, so deleted objects and objects whose date moved *out*
    of the window never leak. The index is rebuilt when the table is replaced, grows or shrinks, or
    ``world.hubspot.version`` (if the store ever has one) changes, and the stand-in's own writes
    keep it current; a date moved *into* a window by writing ``world.hubspot.objects`` in place is
    seen only after :func:`invalidate` (smaller tables are scanned, so see every edit at once).
    """

    signature: tuple[Any, ...] = ()
    entries: list[tuple[str, int, str]] = field(default_factory=list)
    odd: list[str] = field(default_factory=list)  # ids whose date is in another shape: parsed per search
    builds: int = 0

    def rebuild(self, table: Mapping[str, JSON], name: str, signature: tuple[Any, ...]) -> None:
        entries: list[tuple[str, int, str]] = []
        odd: list[str] = []
        for object_id, obj in table.items():
            value = obj["properties"].get(name)
            if _canonical(value):
                entries.append((value, numeric_id(object_id), object_id))
            elif value not in (None, ""):
                odd.append(object_id)
        entries.sort()
        self.entries, self.odd, self.signature = entries, odd, signature
        self.builds += 1

    def add(self, object_id: str, value: Any) -> None:
        if _canonical(value):
            bisect.insort(self.entries, (value, numeric_id(object_id), object_id))
        elif value not in (None, ""):
            self.odd.append(object_id)

    def remove(self, object_id: str, value: Any) -> None:
        if _canonical(value):
            key = (value, numeric_id(object_id), object_id)
            at = bisect.bisect_left(self.entries, key)
            if at < len(self.entries) and self.entries[at] == key:
                del self.entries[at]
        elif object_id in self.odd:
            self.odd.remove(object_id)

    def candidates(self, table: Mapping[str, JSON], window: Range) -> list[JSON]:
        floor, ceiling = window.bounds()
        start = bisect.bisect_left(self.entries, (floor,))
        stop = bisect.bisect_left(self.entries, (ceiling,))
        found = [obj for _, _, object_id in self.entries[start:stop] if (obj := table.get(object_id)) is not None]
        return found + [obj for object_id in self.odd if (obj := table.get(object_id)) is not None]


def _table_signature(store: HubSpotStore, table: dict[str, JSON]) -> tuple[Any, ...]:
    return (id(table), len(table), next(reversed(table), None), getattr(store, "version", None))


@dataclass
class Backend:
    schema: Schema
    history: dict[tuple[str, str], dict[str, list[JSON]]] = field(default_factory=dict)
    id_indexes: dict[str, _IdIndex] = field(default_factory=dict)
    reverse: dict[tuple[str, str], _ReverseIndex] = field(default_factory=dict)
    stamps: dict[str, _StampIndex] = field(default_factory=dict)
    association_version: int = 0
    tokens: Tokens = field(default_factory=Tokens)

    def stamp_index(self, store: HubSpotStore, object_type: str, table: dict[str, JSON]) -> _StampIndex:
        """The modified-date index of a table, rebuilt if the table changed behind the stand-in's back."""
        index = self.stamps.setdefault(object_type, _StampIndex())
        signature = _table_signature(store, table)
        if index.signature != signature:
            index.rebuild(table, modified_field(object_type), signature)
        return index

    def current_stamps(self, store: HubSpotStore, object_type: str, table: dict[str, JSON]) -> _StampIndex | None:
        """The index if it is current (call before one of the stand-in's own writes, to keep it so)."""
        index = self.stamps.get(object_type)
        return index if index is not None and index.signature == _table_signature(store, table) else None

    def restamped(
        self, store: HubSpotStore, object_type: str, index: _StampIndex | None, object_id: str, old: Any, new: Any
    ) -> None:
        """After an own write moved (or, with ``old=None``, created) one object's modified date."""
        if index is None:
            return
        index.remove(object_id, old)
        index.add(object_id, new)
        index.signature = _table_signature(store, store.objects[object_type])

    def ids_in_order(self, object_type: str, table: dict[str, JSON]) -> list[tuple[int, str]]:
        """``(numeric id, id)`` ascending (see :class:`_IdIndex` for how it stays current)."""
        return self.id_indexes.setdefault(object_type, _IdIndex()).sync(table)

    def reverse_links(self, store: HubSpotStore, from_type: str, to_type: str) -> _ReverseIndex:
        """The inverse of every stored ``(to_type, *, from_type)`` association, keyed for reads from ``from_type``."""
        index = self.reverse.setdefault((from_type, to_type), _ReverseIndex())
        count = len(store.associations)
        if index.count == count and index.version == self.association_version:
            return index
        by_key: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
        for (f_type, f_id, t_type), links in store.associations.items():
            if f_type != to_type or t_type != from_type:
                continue
            for t_id, type_id in links:
                inverse = ASSOC_INVERSE.get(type_id)
                if inverse is not None:
                    by_key.setdefault((from_type, t_id, to_type), []).append((f_id, inverse))
        index.by_key, index.count, index.version = by_key, count, self.association_version
        return index

    def wrote_associations(self, count_before: int, count_after: int) -> None:
        """The stand-in stored both directions itself: keep reverse indexes that were current before."""
        for index in self.reverse.values():
            if index.count == count_before and index.version == self.association_version:
                index.count = count_after

    def record(self, object_type: str, object_id: str, changes: Mapping[str, str], entry: Mapping[str, Any]) -> None:
        per_object = self.history.setdefault((object_type, object_id), {})
        for name, value in changes.items():
            per_object.setdefault(name, []).append({"value": value, **entry})


_BACKENDS: dict[int, tuple[weakref.ref[HubSpotStore], Backend]] = {}
_BACKENDS_LOCK: Final = threading.Lock()


def backend_of(world: World) -> Backend:
    """The schema, history, caches and token book of this world's HubSpot store (shared by every app over it)."""
    store = world.hubspot
    key = id(store)
    with _BACKENDS_LOCK:
        entry = _BACKENDS.get(key)
        if entry is not None and entry[0]() is store:
            return entry[1]
        with store.lock:
            backend = Backend(schema=seed_schema(store, hs_time(world.anchor - timedelta(days=900))))
        _BACKENDS[key] = (weakref.ref(store, lambda _ref: _BACKENDS.pop(key, None)), backend)
        return backend


def store_both_ways(
    store: HubSpotStore, backend: Backend, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int
) -> None:
    """Store an association in both directions (the inverse type from :data:`ASSOCIATION_TYPES`)."""
    pairs = [(from_type, from_id, to_type, to_id, type_id)]
    inverse = ASSOC_INVERSE.get(type_id)
    if inverse is not None:
        pairs.append((to_type, to_id, from_type, from_id, inverse))
    with store.lock:
        before = len(store.associations)
        for f_type, f_id, t_type, t_id, t_type_id in pairs:
            existing = store.associations.get((f_type, f_id, t_type), [])
            if (t_id, t_type_id) not in existing:
                store.associate(f_type, f_id, t_type, t_id, t_type_id)
        backend.wrote_associations(before, len(store.associations))
