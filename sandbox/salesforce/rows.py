"""sObject Rows: one record created, read, updated, deleted or upserted by id or external id."""

from __future__ import annotations

from starlette.responses import Response

from sandbox.salesforce.base import HandlerBase
from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.http import Call, json_response, version_tuple
from sandbox.salesforce.metadata import SObjectSpec
from sandbox.salesforce.payloads import external_field, field_list, json_object, rest_records, row_missing
from sandbox.salesforce.settings import UPSERT_BODY_SINCE
from sandbox.salesforce.values import coerce, index_key
from sandbox.salesforce.writer import Writer


class RowHandlers(HandlerBase):
    """Single-record endpoints."""

    def create(self, call: Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Basic Information (POST creates): resources_sobject_basic_info_post.htm
        values = self._values(spec, json_object(call.json()))
        with self.world.salesforce.lock:
            outcome = Writer(self.world).insert(spec, values)
        if isinstance(outcome, RecordError):
            raise outcome.as_api_error()
        return json_response(201, {"id": outcome, "success": True, "errors": []})

    def retrieve(self, call: Call, spec: SObjectSpec, record_id: str) -> Response:
        # REST API Developer Guide › sObject Rows (GET): resources_sobject_retrieve_get.htm
        fields = field_list(spec, call.params.get("fields"))
        with self.world.salesforce.lock:
            found = Writer(self.world).find(spec, record_id)
            if isinstance(found, RecordError):
                if found.status_code == "ENTITY_IS_DELETED":
                    raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
                raise not_found()
            record = rest_records(spec, fields, [tuple(found.get(n) for n in ("Id", *fields))], call.base)[0]
        return json_response(200, record)

    def update(self, call: Call, spec: SObjectSpec, record_id: str) -> Response:
        # REST API Developer Guide › sObject Rows (PATCH): resources_sobject_retrieve_patch.htm
        values = self._values(spec, json_object(call.json()))
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            found = writer.find(spec, record_id)
            if isinstance(found, RecordError):
                raise row_missing(found)
            error = writer.update(spec, record_id, values)
        if error is not None:
            raise error.as_api_error()
        return Response(status_code=204)

    def delete(self, call: Call, spec: SObjectSpec, record_id: str) -> Response:
        # REST API Developer Guide › sObject Rows (DELETE): resources_sobject_retrieve_delete.htm
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            found = writer.find(spec, record_id)
            if isinstance(found, RecordError):
                raise row_missing(found)
            error = writer.delete(record_id)
        if error is not None:
            raise error.as_api_error()
        return Response(status_code=204)

    def by_external_id(self, call: Call, spec: SObjectSpec, field_name: str, value: str) -> Response:
        # REST API Developer Guide › sObject Rows by External ID (GET, DELETE): resources_sobject_upsert.htm
        ext = external_field(spec, field_name)
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            ids = sorted(writer.index(spec, ext.name).get(index_key(value), set()))
            if not ids:
                raise not_found()
            if len(ids) > 1:
                return json_response(300, [f"{call.base}/sobjects/{spec.name}/{record_id}" for record_id in ids])
            if call.method == "DELETE":
                error = writer.delete(ids[0])
                if error is not None:
                    raise error.as_api_error()
                return Response(status_code=204)
            fields = field_list(spec, call.params.get("fields"))
            row = writer.table(spec)[ids[0]]
            record = rest_records(spec, fields, [tuple(row.get(n) for n in ("Id", *fields))], call.base)[0]
        return json_response(200, record)

    def upsert(self, call: Call, spec: SObjectSpec, field_name: str, value: str) -> Response:
        # REST API Developer Guide › Upsert Records Using sObject Rows by External ID:
        # resources_sobject_upsert_patch.htm (201 created; 200 + body from v46.0, else 204, when updated;
        # 300 when the value matches several records; updateOnly=true never creates)
        ext = external_field(spec, field_name)
        values = self._values(spec, json_object(call.json()))
        key = coerce(ext, value)
        if "Id" in values:
            raise ApiError(400, "INVALID_FIELD", "Id not allowed in an upsert by external id", fields=["Id"])
        if ext.name in values and index_key(values[ext.name]) != index_key(key):
            raise ApiError(
                400, "INVALID_FIELD", f"{ext.name} in the request body does not match the URL", fields=[ext.name]
            )
        values.pop(ext.name, None)
        with self.world.salesforce.lock:
            writer = Writer(self.world)
            ids = sorted(writer.index(spec, ext.name).get(index_key(key), set()))
            if len(ids) > 1:
                return json_response(300, [f"{call.base}/sobjects/{spec.name}/{record_id}" for record_id in ids])
            if ids:
                error = writer.update(spec, ids[0], values)
                if error is not None:
                    raise error.as_api_error()
                if version_tuple(call.version) < UPSERT_BODY_SINCE:
                    return Response(status_code=204)
                return json_response(200, {"id": ids[0], "success": True, "errors": [], "created": False})
            if call.flag("updateOnly"):
                raise not_found()
            outcome = writer.insert(spec, {**values, ext.name: key})
        if isinstance(outcome, RecordError):
            raise outcome.as_api_error()
        return json_response(201, {"id": outcome, "success": True, "errors": [], "created": True})
