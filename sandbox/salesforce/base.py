"""The state and shared helpers of every Salesforce request handler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.salesforce.bulk import QueryJobs
from sandbox.salesforce.cursors import Cursors
from sandbox.salesforce.errors import RecordError, not_found
from sandbox.salesforce.metadata import SObjectSpec
from sandbox.salesforce.payloads import parse_values
from sandbox.salesforce.settings import ApiUsage, OrgSettings
from sandbox.salesforce.sobjects import OrgSchema, org_schema
from sandbox.world import World, take_item_fault


class HandlerBase:
    """The handlers' world, allocations, settings, cursors and Bulk jobs; one per app."""

    def __init__(self, world: World, usage: ApiUsage, settings: OrgSettings | None = None) -> None:
        self.world = world
        self.usage = usage
        self.settings = settings or OrgSettings()
        self.cursors = Cursors(self.settings)
        self.bulk = QueryJobs(world, org_schema(world.salesforce).schema, self.settings.bulk)

    @property
    def _org(self) -> OrgSchema:
        """This org's sObjects: the stand-in's, with the fields the world's admin named otherwise."""
        return org_schema(self.world.salesforce)

    def _sobject(self, name: str) -> SObjectSpec:
        spec = self._org.by_lower.get(name.lower())
        if spec is None:
            raise not_found()
        return spec

    def _values(self, spec: SObjectSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
        return parse_values(spec, raw, self.world.salesforce.removed_fields)

    def _schema(self) -> dict[str, dict[str, str]]:
        """The org's schema without the fields a test removed (``remove_field``): SOQL naming one fails."""
        removed = self.world.salesforce.removed_fields
        schema = self._org.schema
        if not removed:
            return schema
        return {o: {f: t for f, t in fields.items() if (o, f) not in removed} for o, fields in schema.items()}

    def _refused(self, spec: SObjectSpec, values: Mapping[str, Any]) -> RecordError | None:
        """The per-record error a test armed with ``refuse_items`` for this record, if any."""
        store = self.world.salesforce
        fault = take_item_fault(store.item_faults, store.lock, spec.name, values)
        if fault is None:
            return None
        return RecordError(fault.code, fault.message.format(id=values.get("Id") or "").rstrip(": "))
