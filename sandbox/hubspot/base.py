"""The state and shared helpers of every HubSpot route handler: lookups, rendering, object writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.datastructures import State

from sandbox.hubspot.association_types import ASSOC_TARGET, IMPLIED, association_name
from sandbox.hubspot.backend import backend_of, store_both_ways
from sandbox.hubspot.errors import ApiError, Problem, validation
from sandbox.hubspot.object_types import JSON, PLURAL, SINGULAR, TYPE_IDS
from sandbox.hubspot.params import page_token
from sandbox.hubspot.property_defs import DEFAULT_PROPERTIES, always_properties, created_field, modified_field
from sandbox.hubspot.sizes import EMBEDDED_ASSOCIATION_LIMIT
from sandbox.hubspot.values import to_text
from sandbox.hubspot.writes import api_source, derived, stamp_changes
from sandbox.world import ItemFault, World, hs_time, take_item_fault


class HandlerBase:
    """The route handlers' world, store, backend and settings; every store access holds ``world.hubspot.lock``."""

    def __init__(self, world: World, state: State) -> None:
        self.world = world
        self.store = world.hubspot
        self.backend = backend_of(world)
        self.schema = self.backend.schema
        self.state = state

    def object_type(self, raw: str) -> str:
        name = raw.strip().lower()
        name = TYPE_IDS.get(name, name)
        plural = PLURAL.get(name, name)
        if plural in SINGULAR or (plural in self.store.objects and plural != "owners"):
            return plural
        raise validation(f"Unable to infer object type from: {raw}")

    def now(self) -> str:
        return hs_time(self.world.now())

    def table(self, object_type: str) -> dict[str, JSON]:
        return self.store.table(object_type)

    def owners(self) -> dict[str, JSON]:
        return self.store.objects.get("owners", {})

    def find(self, object_type: str, object_id: str, *, id_property: str | None = None) -> JSON | None:
        table = self.table(object_type)
        if id_property in (None, "", "hs_object_id"):
            return table.get(object_id)
        for obj in table.values():
            if str(obj["properties"].get(id_property, "")) == object_id:
                return obj
        return None

    def render(
        self,
        object_type: str,
        obj: Mapping[str, Any],
        properties: Sequence[str] | None,
        *,
        with_history: Sequence[str] | None = None,
        associations: Sequence[str] | None = None,
        trace_id: str | None = None,
    ) -> JSON:
        props: Mapping[str, Any] = obj.get("properties", {})
        known = self.schema.ensure(object_type)
        if properties is None:
            names: Iterable[str] = DEFAULT_PROPERTIES.get(object_type, always_properties(object_type))
        else:
            wanted = [p for p in properties if p in known or p in props]
            names = dict.fromkeys([*wanted, *always_properties(object_type)])
        out_props: JSON = {}
        for name in names:
            value = props.get(name)
            if name == "hs_object_id" and value in (None, ""):
                value = obj["id"]
            out_props[name] = None if value is None else str(value)
        out: JSON = {
            "id": str(obj["id"]),
            "properties": out_props,
            "createdAt": obj.get("createdAt"),
            "updatedAt": obj.get("updatedAt"),
            "archived": bool(obj.get("archived")),
        }
        if obj.get("archived"):
            out["archivedAt"] = obj.get("archivedAt")
        if with_history:
            out["propertiesWithHistory"] = {
                name: self.history(object_type, obj, name) for name in with_history if name in known or name in props
            }
        if associations:
            embedded = self.embedded_associations(object_type, str(obj["id"]), associations)
            if embedded:
                out["associations"] = embedded
        if trace_id is not None:
            out["objectWriteTraceId"] = trace_id
        return out

    def history(self, object_type: str, obj: Mapping[str, Any], name: str) -> list[JSON]:
        """Newest first; a value with no recorded write is reported as imported at the last update."""
        entries = self.backend.history.get((object_type, str(obj["id"])), {}).get(name, [])
        if entries:
            return [dict(e) for e in reversed(entries)]
        value = obj.get("properties", {}).get(name)
        if value in (None, ""):
            return []
        stamp = obj.get("updatedAt") or obj.get("createdAt")
        return [{"value": str(value), "timestamp": stamp, "sourceType": "IMPORT", "sourceId": None}]

    def embedded_associations(self, object_type: str, object_id: str, wanted: Sequence[str]) -> JSON:
        """The v3 ``associations`` of an object read: one row per (id, type name), capped per type.

        Keyed by the plural object type; a primary association also lists its unlabeled twin
        (``deal_to_company`` and ``deal_to_company_unlabeled``), as HubSpot does. Beyond
        ``app.state.embedded_association_limit`` targets the collection carries ``paging.next``,
        which points at the v4 per-object endpoint.
        """
        limit: int | None = getattr(self.state, "embedded_association_limit", EMBEDDED_ASSOCIATION_LIMIT)
        out: JSON = {}
        for raw in wanted:
            try:
                to_type = self.object_type(raw)
            except ApiError:
                continue
            linked = self.linked(object_type, object_id, to_type)
            page = linked if limit is None else linked[:limit]
            rows = [
                {"id": to_id, "type": association_name(object_type, to_type, t)} for to_id, types in page for t in types
            ]
            if not rows:
                continue
            collection: JSON = {"results": rows}
            if len(page) < len(linked):
                after = page_token(len(page))
                link = f"/crm/v4/objects/{object_type}/{object_id}/associations/{to_type}?after={after}"
                collection["paging"] = {"next": {"after": after, "link": link}}
            out[to_type] = collection
        return out

    def linked(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, list[int]]]:
        """Live (not archived) associated ids in first-association order, with their type ids.

        Reads both what is stored from this side and the inverse of what is stored from the other
        side, and adds the unlabeled twin of every primary or parent/child type.
        """
        grouped: dict[str, list[int]] = {}
        targets = self.store.objects.get(to_type, {})
        key = (from_type, from_id, to_type)
        direct = self.store.associations.get(key, ())
        inverse = self.backend.reverse_links(self.store, from_type, to_type).by_key.get(key, ())
        for links in (direct, inverse):
            for to_id, type_id in links:
                target = targets.get(to_id)
                if target is None or target.get("archived"):
                    continue
                types = grouped.setdefault(to_id, [])
                if type_id not in types:
                    types.append(type_id)
                implied = IMPLIED.get(type_id)
                if implied is not None and implied not in types:
                    types.append(implied)
        return list(grouped.items())

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        """Store an association and its inverse, as HubSpot does (v4 reads work from either side)."""
        store_both_ways(self.store, self.backend, from_type, from_id, to_type, to_id, type_id)

    def check_associations(self, object_type: str, specs: Any) -> tuple[list[tuple[str, str, int]], list[Problem]]:
        """Validate inline create associations: ``[(to_type, to_id, type_id)]`` and the problems found."""
        if specs in (None, []):
            return [], []
        if not isinstance(specs, list):
            raise validation("Invalid input JSON: `associations` must be a list")
        links: list[tuple[str, str, int]] = []
        problems: list[Problem] = []
        for spec in specs:
            to = spec.get("to") if isinstance(spec, dict) else None
            types = spec.get("types") if isinstance(spec, dict) else None
            if not isinstance(to, dict) or to.get("id") in (None, "") or not isinstance(types, list) or not types:
                raise validation("Invalid input JSON: an association needs `to.id` and `types`")
            to_id = to_text(to["id"])
            for assoc_type in types:
                category = assoc_type.get("associationCategory") if isinstance(assoc_type, dict) else None
                type_id = assoc_type.get("associationTypeId") if isinstance(assoc_type, dict) else None
                if category != "HUBSPOT_DEFINED" or not isinstance(type_id, int):
                    raise validation(f"Invalid association type {assoc_type!r}: only HUBSPOT_DEFINED types exist here")
                to_type = ASSOC_TARGET.get((object_type, type_id))
                if to_type is None:
                    message = (
                        f"{type_id} is not a valid association type id for {SINGULAR.get(object_type, object_type)}"
                    )
                    problems.append(Problem("association", "INVALID_ASSOCIATION_TYPE", message, to_id))
                    continue
                target = self.store.objects.get(to_type, {}).get(to_id)
                if target is None or target.get("archived"):
                    singular = SINGULAR.get(to_type, to_type).upper()
                    message = f"Object {to_id} of type {singular} does not exist"
                    problems.append(Problem("association", "INVALID_OBJECT_IDS", message, to_id))
                    continue
                links.append((to_type, to_id, type_id))
        return links, problems

    def create_object(self, object_type: str, props: Mapping[str, str], links: Sequence[tuple[str, str, int]]) -> JSON:
        now = self.now()
        object_id = self.store.new_id()
        stored = {
            **props,
            **derived(object_type, props, {}),
            "hs_object_id": object_id,
            created_field(object_type): now,
            modified_field(object_type): now,
        }
        obj: JSON = {
            "id": object_id,
            "properties": stored,
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "archivedAt": None,
        }
        table = self.table(object_type)
        stamps = self.backend.current_stamps(self.store, object_type, table)
        table[object_id] = obj
        self.backend.restamped(self.store, object_type, stamps, object_id, None, now)
        self.backend.record(object_type, object_id, props, api_source(now))
        for to_type, to_id, type_id in links:
            self.associate(object_type, object_id, to_type, to_id, type_id)
        return obj

    def update_object(self, object_type: str, obj: JSON, props: Mapping[str, str]) -> None:
        """Apply changed values only; an update that changes nothing leaves the modstamp alone."""
        current = obj["properties"]
        changes = {k: v for k, v in props.items() if str(current.get(k) or "") != v}
        if not changes:
            return
        stamp_changes(self.world, self.backend, object_type, obj, changes, api_source(self.now()))

    def refused(self, object_type: str, values: Mapping[str, Any]) -> ItemFault | None:
        """The refusal a test armed with :func:`refuse_items` for this input, if any."""
        return take_item_fault(self.store.item_faults, self.store.lock, object_type, values)

    def archive_object(self, obj: JSON) -> None:
        """Archive without touching ``hs_lastmodifieddate``: the real API's blind spot for incremental sync."""
        if not obj.get("archived"):
            obj["archived"] = True
            obj["archivedAt"] = self.now()

    def duplicate_email(self, object_type: str, props: Mapping[str, str], pending: set[str]) -> str | None:
        email = props.get("email", "").lower()
        if object_type != "contacts" or not email:
            return None
        if email in pending:
            return "pending"
        for obj in self.table("contacts").values():
            if not obj.get("archived") and str(obj["properties"].get("email", "")).lower() == email:
                return str(obj["id"])
        return None
