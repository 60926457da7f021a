"""The per-world property schema: definitions as the properties API renders them, seeded from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sandbox.hubspot.object_types import JSON, SINGULAR
from sandbox.hubspot.property_defs import Def, info_group, standard_defs
from sandbox.world import HubSpotStore

VALID_FIELD_TYPES: Final[dict[str, frozenset[str]]] = {
    "string": frozenset({"text", "textarea", "file", "html", "phonenumber", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox", "calculation_equation"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}


def option(value: str, label: str, order: int) -> JSON:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False, "description": ""}


def property_json(spec: Def, *, hubspot_defined: bool, created_at: str, options: Sequence[JSON] | None = None) -> JSON:
    if options is None:
        pairs = [(v, v) if isinstance(v, str) else v for v in spec.options]
        options = [option(value, label, i) for i, (value, label) in enumerate(pairs)]
    out: JSON = {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type,
        "fieldType": spec.field_type,
        "groupName": spec.group,
        "description": "",
        "options": list(options),
        "displayOrder": -1,
        "calculated": spec.field_type.startswith("calculation_"),  # equation, rollup, score…
        "externalOptions": spec.name == "hubspot_owner_id",
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not spec.read_only,
        "archived": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": spec.read_only,
        },
        "createdAt": created_at,
        "updatedAt": created_at,
    }
    if spec.formula is not None:
        out["calculationFormula"] = spec.formula
    return out


@dataclass
class Schema:
    """Object type → property name → property JSON, and object type → group name → group JSON."""

    properties: dict[str, dict[str, JSON]] = field(default_factory=dict)
    groups: dict[str, dict[str, JSON]] = field(default_factory=dict)
    created_at: str = ""
    # this portal's own names and options for standard-set properties (HubSpotStore.property_renames)
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def ensure(self, object_type: str) -> dict[str, JSON]:
        """The type's properties, seeding the standard ones the first time a type is seen."""
        props = self.properties.get(object_type)
        if props is None:
            props = {}
            groups = self.groups.setdefault(object_type, {})
            renames = self.renames.get(object_type, {})
            for spec in standard_defs(object_type):
                if spec.name in renames:
                    renamed = renames[spec.name]
                    spec = spec._replace(name=renamed, label=renamed.replace("_", " ").capitalize())
                if (object_type, spec.name) in self.options:
                    spec = spec._replace(options=self.options[(object_type, spec.name)])
                props[spec.name] = property_json(spec, hubspot_defined=not spec.custom, created_at=self.created_at)
                if spec.group not in groups:
                    singular = SINGULAR.get(object_type, object_type).replace("_", " ")
                    label = "Upsync" if spec.group == "upsync" else f"{singular} information".capitalize()
                    groups[spec.group] = {"name": spec.group, "label": label, "displayOrder": -1, "archived": False}
            self.properties[object_type] = props
        return props


def seed_schema(store: HubSpotStore, created_at: str) -> Schema:
    """Standard properties plus whatever the world's objects carry, with their enum values as options.

    Column-wise (one set union per type, one comprehension per enumeration property) so that a
    benchmark world of a million engagements is read in seconds, not minutes.
    """
    schema = Schema(created_at=created_at, renames=store.property_renames, options=store.property_options)
    for object_type, table in store.objects.items():
        if object_type == "owners":
            continue
        props = schema.ensure(object_type)
        objects = list(table.values())
        names: set[str] = set().union(*(obj.get("properties", {}).keys() for obj in objects))
        for name in sorted(names - props.keys()):
            spec = Def(name, name, "string", "text", info_group(object_type), custom=True)
            props[name] = property_json(spec, hubspot_defined=False, created_at=created_at)
        for name, prop in props.items():
            if prop["type"] != "enumeration" or name == "hubspot_owner_id" or name not in names:
                continue
            values = {str(v) for obj in objects if (v := obj.get("properties", {}).get(name)) not in (None, "")}
            known = {o["value"] for o in prop["options"]}
            for value in sorted(values - known):
                prop["options"].append(option(value, value.replace("_", " ").title(), len(prop["options"])))
    return schema
