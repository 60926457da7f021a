"""One write call: validation in a real save's order, unique-field indexes, allOrNone rollback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.http import ID_RE
from sandbox.salesforce.metadata import SYSTEM_SET, FieldSpec, SObjectSpec
from sandbox.salesforce.sobjects import KNOWN_PREFIXES, org_schema
from sandbox.salesforce.values import derive, index_key
from sandbox.world import World, sf_time


class Writer:
    """Applies one request's records in order; can roll them all back (allOrNone).

    Must be used while holding ``world.salesforce.lock``. Unique-field indexes are built once
    per call (a linear scan) and kept current as records are written, so a 200-record upsert
    costs one scan, not 200.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.store = world.salesforce
        self.now = sf_time(world.now())
        self.user_id = world.salesforce.integration_user_id
        self._undo: list[tuple[str, str, dict[str, Any] | None]] = []
        self._indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}

    def table(self, spec: SObjectSpec) -> dict[str, dict[str, Any]]:
        return self.store.table(spec.name)

    def index(self, spec: SObjectSpec, name: str) -> dict[Any, set[str]]:
        key = (spec.name, name)
        index = self._indexes.get(key)
        if index is None:
            index = {}
            for record_id, row in self.table(spec).items():
                value = index_key(row.get(name))
                if value is not None and row.get("IsDeleted") is not True:
                    index.setdefault(value, set()).add(record_id)
            self._indexes[key] = index
        return index

    def put(self, spec: SObjectSpec, row: dict[str, Any]) -> None:
        table = self.table(spec)
        record_id = row["Id"]
        old = table.get(record_id)
        self._undo.append((spec.name, record_id, old))
        for (sobject, name), index in self._indexes.items():
            if sobject != spec.name:
                continue
            if old is not None and (key := index_key(old.get(name))) is not None:
                index.get(key, set()).discard(record_id)
            if row.get("IsDeleted") is not True and (key := index_key(row.get(name))) is not None:
                index.setdefault(key, set()).add(record_id)
        table[record_id] = row

    def rollback(self) -> None:
        for sobject, record_id, old in reversed(self._undo):
            table = self.store.table(sobject)
            if old is None:
                table.pop(record_id, None)
            else:
                table[record_id] = old
        self._undo.clear()
        self._indexes.clear()

    def find(self, spec: SObjectSpec, record_id: Any) -> dict[str, Any] | RecordError:
        """The live row ``record_id`` of ``spec``, or the error a write to it gets."""
        if not isinstance(record_id, str) or not ID_RE.match(record_id) or record_id[:3] != spec.key_prefix:
            return RecordError("MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", ("Id",))
        row = self.table(spec).get(record_id)
        if row is None:
            return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if row.get("IsDeleted") is True:
            return RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return row

    # validation, in the order a real save runs it: field access, required, size, picklist, lookups, uniqueness
    def check(
        self, spec: SObjectSpec, values: Mapping[str, Any], *, insert: bool, own_id: str | None
    ) -> RecordError | None:
        locked = [n for n in values if not (spec.by_name[n].createable if insert else spec.by_name[n].updateable)]
        if locked:
            return RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                tuple(locked),
            )
        if insert:
            missing = [
                f.name
                for f in spec.fields
                if f.createable
                and not f.nillable
                and values.get(f.name) is None
                and (f.name in values or (f.default is None and f.name not in SYSTEM_SET))
            ]
        else:
            missing = [n for n, v in values.items() if v is None and not spec.by_name[n].nillable]
        if missing:
            return RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing)
            )
        for name, value in values.items():
            f = spec.by_name[name]
            if isinstance(value, str) and f.length and (f.type in soql.STRING_TYPES) and len(value) > f.length:
                return RecordError(
                    "STRING_TOO_LONG", f"{f.label}: data value too large: {value} (max length={f.length})", (name,)
                )
            if f.restricted and value is not None and value not in f.picklist:
                return RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {value}",
                    (name,),
                )
        for name, value in values.items():
            f = spec.by_name[name]
            if f.type == "reference" and value is not None and (error := self.check_reference(spec, f, value)):
                return error
        for name, value in values.items():
            f = spec.by_name[name]
            if not f.unique or value is None:
                continue
            clash = sorted(self.index(spec, name).get(index_key(value), set()) - {own_id})
            if clash:
                return RecordError(
                    "DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record with id: {clash[0]}"
                )
        return None

    def check_reference(self, spec: SObjectSpec, f: FieldSpec, value: str) -> RecordError | None:
        if not ID_RE.match(value):
            return RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", (f.name,))
        if KNOWN_PREFIXES.get(value[:3]) not in f.reference_to:
            return RecordError(
                "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", (f.name,)
            )
        target = self.store.objects.get(KNOWN_PREFIXES[value[:3]], {}).get(value)
        if target is None or target.get("IsDeleted") is True:
            return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", (f.name,))
        if f.name == "OwnerId" and target.get("IsActive") is not True:
            return RecordError(
                "INACTIVE_OWNER_OR_USER", f"operation performed with inactive user [{value}] as owner of {spec.name}"
            )
        return None

    def insert(self, spec: SObjectSpec, values: dict[str, Any]) -> str | RecordError:
        if "Id" in values:
            return RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",))
        if not spec.createable:
            return RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {spec.name}")
        error = self.check(spec, values, insert=True, own_id=None)
        if error is not None:
            return error
        row: dict[str, Any] = {f.name: f.default for f in spec.fields}
        if "OwnerId" in row:
            row["OwnerId"] = self.user_id
        row.update(values)
        row["Id"] = self.store.new_id(spec.key_prefix)
        for name, value in (
            ("CreatedDate", self.now),
            ("CreatedById", self.user_id),
            ("LastModifiedDate", self.now),
            ("LastModifiedById", self.user_id),
            ("SystemModstamp", self.now),
            ("IsDeleted", False),
        ):
            if name in row:
                row[name] = value
        derive(spec, row, self.store.objects, self.now)
        self.put(spec, row)
        return str(row["Id"])

    def update(self, spec: SObjectSpec, record_id: str, values: Mapping[str, Any]) -> RecordError | None:
        found = self.find(spec, record_id)
        if isinstance(found, RecordError):
            return found
        if not spec.updateable:
            return RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {spec.name}")
        error = self.check(spec, values, insert=False, own_id=record_id)
        if error is not None:
            return error
        row = {**found, **values}
        for name, value in (
            ("LastModifiedDate", self.now),
            ("LastModifiedById", self.user_id),
            ("SystemModstamp", self.now),
        ):
            if name in spec.by_name:
                row[name] = value
        derive(spec, row, self.store.objects, self.now)
        self.put(spec, row)
        return None

    def delete(self, record_id: Any) -> RecordError | None:
        spec = (
            org_schema(self.store).by_prefix.get(record_id[:3])
            if isinstance(record_id, str) and ID_RE.match(record_id)
            else None
        )
        if spec is None:
            return RecordError("MALFORMED_ID", f"malformed id {record_id}")
        if not spec.deletable:
            return RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {spec.name}")
        found = self.find(spec, record_id)
        if isinstance(found, RecordError):
            return found
        # Deleting moves the row to the Recycle Bin: queryAll still sees it, with a new SystemModstamp.
        self.put(spec, {**found, "IsDeleted": True, "SystemModstamp": self.now})
        return None
