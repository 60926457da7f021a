"""sObject Collections: up to 200 records per call, per-record results, allOrNone."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from sandbox.salesforce.base import HandlerBase
from sandbox.salesforce.errors import ROLLED_BACK, ApiError, RecordError, too_many
from sandbox.salesforce.http import Call, json_response
from sandbox.salesforce.metadata import FieldSpec, SObjectSpec
from sandbox.salesforce.payloads import (
    collection_body,
    external_field,
    field_list,
    json_object,
    rest_records,
    typed_records,
)
from sandbox.salesforce.settings import MAX_COLLECTION_RECORDS, MAX_RETRIEVE_IDS
from sandbox.salesforce.values import index_key
from sandbox.salesforce.writer import Writer


class CompositeHandlers(HandlerBase):
    """Create, update, upsert, delete and retrieve through sObject Collections."""

    def collection_create(self, call: Call) -> Response:
        # REST API Developer Guide › Create Records Using sObject Collections:
        # resources_composite_sobjects_collections_create.htm
        all_or_none, raw_records = collection_body(call.json())
        drafts = [(spec, self._values(spec, raw)) for spec, raw in typed_records(raw_records, self._org.by_lower)]
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            outcomes = [self._refused(spec, values) or writer.insert(spec, values) for spec, values in drafts]
            failed = any(isinstance(o, RecordError) for o in outcomes)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if isinstance(outcome, RecordError):
                results.append({"success": False, "errors": [outcome.as_json()]})
            elif failed and all_or_none:
                results.append({"success": False, "errors": [ROLLED_BACK]})
            else:
                results.append({"id": outcome, "success": True, "errors": []})
        return json_response(200, results)

    def collection_update(self, call: Call) -> Response:
        # REST API Developer Guide › Update Records Using sObject Collections:
        # resources_composite_sobjects_collections_update.htm
        all_or_none, raw_records = collection_body(call.json())
        drafts = []
        for spec, raw in typed_records(raw_records, self._org.by_lower):
            values = self._values(spec, raw)
            drafts.append((spec, values.pop("Id", None), values))
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            outcomes: list[RecordError | None] = []
            for spec, record_id, values in drafts:
                if record_id is None:
                    outcomes.append(RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
                elif (refused := self._refused(spec, {"Id": record_id, **values})) is not None:
                    outcomes.append(refused)
                else:
                    outcomes.append(writer.update(spec, record_id, values))
            failed = any(outcome is not None for outcome in outcomes)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for (_, record_id, _), error in zip(drafts, outcomes, strict=True):
            if error is not None:
                results.append({"success": False, "errors": [error.as_json()]})
            elif failed and all_or_none:
                results.append({"id": record_id, "success": False, "errors": [ROLLED_BACK]})
            else:
                results.append({"id": record_id, "success": True, "errors": []})
        return json_response(200, results)

    def collection_upsert(self, call: Call, spec: SObjectSpec, field_name: str) -> Response:
        # REST API Developer Guide › Upsert Records Using sObject Collections:
        # resources_composite_sobjects_collections_upsert.htm
        ext = external_field(spec, field_name)
        all_or_none, raw_records = collection_body(call.json())
        drafts: list[dict[str, Any]] = []
        for record_spec, raw in typed_records(raw_records, self._org.by_lower):
            if record_spec is not spec:
                raise ApiError(400, "INVALID_TYPE", f"Records in this request must all be of type {spec.name}")
            drafts.append(self._values(spec, raw))
        keys = [index_key(values.get(ext.name)) for values in drafts]
        seen: dict[Any, int] = {}
        for key in keys:
            if key is not None:
                seen[key] = seen.get(key, 0) + 1
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            outcomes: list[tuple[str | None, bool, RecordError | None]] = []
            for values, key in zip(drafts, keys, strict=True):
                if (refused := self._refused(spec, values)) is not None:
                    outcomes.append((None, False, refused))
                    continue
                outcomes.append(self._upsert_one(writer, spec, ext, values, key, duplicated=seen.get(key, 0) > 1))
            failed = any(error is not None for _, _, error in outcomes)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for record_id, created, error in outcomes:
            if error is not None:
                results.append({"success": False, "errors": [error.as_json()], "created": False})
            elif failed and all_or_none:
                rolled: dict[str, Any] = {} if created else {"id": record_id}
                results.append({**rolled, "success": False, "errors": [ROLLED_BACK], "created": False})
            else:
                results.append({"id": record_id, "success": True, "errors": [], "created": created})
        return json_response(200, results)

    @staticmethod
    def _upsert_one(
        writer: Writer, spec: SObjectSpec, ext: FieldSpec, values: dict[str, Any], key: Any, *, duplicated: bool
    ) -> tuple[str | None, bool, RecordError | None]:
        if key is None:
            return None, False, RecordError("MISSING_ARGUMENT", f"{ext.name} not specified")
        if duplicated:  # every record sharing the value fails, none is written
            return None, False, RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {values[ext.name]}")
        if "Id" in values:
            return None, False, RecordError("INVALID_FIELD", "Id not allowed in an upsert by external id", ("Id",))
        ids = sorted(writer.index(spec, ext.name).get(key, set()))
        if len(ids) > 1:
            message = f"{ext.name}: more than one record found for external id field: [{', '.join(ids)}]"
            return None, False, RecordError("DUPLICATE_EXTERNAL_ID", message, (ext.name,))
        if ids:
            changes = {name: value for name, value in values.items() if name != ext.name}
            return ids[0], False, writer.update(spec, ids[0], changes)
        outcome = writer.insert(spec, values)
        if isinstance(outcome, RecordError):
            return None, True, outcome
        return outcome, True, None

    def collection_delete(self, call: Call) -> Response:
        # REST API Developer Guide › Delete Records Using sObject Collections:
        # resources_composite_sobjects_collections_delete.htm
        ids = [i for i in call.params.get("ids", "").split(",") if i]
        if not ids:
            raise ApiError(400, "MISSING_ARGUMENT", "ids must be specified")
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise too_many(MAX_COLLECTION_RECORDS)
        all_or_none = call.flag("allOrNone")
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            errors = [writer.delete(record_id) for record_id in ids]
            failed = any(error is not None for error in errors)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for record_id, error in zip(ids, errors, strict=True):
            if error is not None:
                results.append({"id": record_id, "success": False, "errors": [error.as_json()]})
            elif failed and all_or_none:
                results.append({"id": record_id, "success": False, "errors": [ROLLED_BACK]})
            else:
                results.append({"id": record_id, "success": True, "errors": []})
        return json_response(200, results)

    def collection_retrieve(self, call: Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › Get Records Using sObject Collections (GET, or POST with a body):
        # resources_composite_sobjects_collections_retrieve.htm
        if call.method == "POST":
            body = json_object(call.json())
            ids, names = body.get("ids"), body.get("fields")
            if not isinstance(ids, list) or not isinstance(names, list):
                raise ApiError(400, "JSON_PARSER_ERROR", "The request body must hold the lists ids and fields")
            id_list, field_param = [str(i) for i in ids], ",".join(str(n) for n in names)
        else:
            id_list = [i for i in call.params.get("ids", "").split(",") if i]
            field_param = call.params.get("fields", "")
        if not field_param:
            raise ApiError(400, "MISSING_ARGUMENT", "fields must be specified")
        if len(id_list) > MAX_RETRIEVE_IDS:
            raise too_many(MAX_RETRIEVE_IDS)
        fields = field_list(spec, field_param)
        with self.world.salesforce.lock:
            table = self.world.salesforce.objects.get(spec.name, {})
            rows = [table.get(record_id) for record_id in id_list]
            found = [
                None if row is None or row.get("IsDeleted") is True else tuple(row.get(n) for n in ("Id", *fields))
                for row in rows
            ]
        records = [None if snap is None else rest_records(spec, fields, [snap], call.base)[0] for snap in found]
        return json_response(200, records)
