"""Batch endpoints: create, update, read and archive up to 100 objects per request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import (
    ApiError,
    Problem,
    missing_error,
    problems_error,
    problems_message,
    standard_error,
    validation,
)
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.params import batch_inputs, body_object, bool_param, json_body
from sandbox.hubspot.sizes import BATCH_MAX, HISTORY_BATCH_MAX
from sandbox.hubspot.values import to_text
from sandbox.hubspot.writes import validate_properties
from sandbox.world import ItemFault


class BatchHandlers(HandlerBase):
    """Batch create, update, read and archive, with 207 multi-status where HubSpot answers one."""

    async def batch_create(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/batch/create (developers.hubspot.com/docs/api/crm/tasks "Batch create";
        # multi-status via objectWriteTraceId: developers.hubspot.com/docs/api/crm/using-object-apis)
        object_type = self.object_type(request.path_params["object_type"])
        inputs = batch_inputs(body_object(await json_body(request)), maximum=BATCH_MAX)
        started = self.now()
        traced = bool(inputs) and all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        with self.store.lock:
            checked: list[tuple[JSON, dict[str, str], list[tuple[str, str, int]], list[Problem], ItemFault | None]] = []
            emails: set[str] = set()
            for item in inputs:
                props, problems = validate_properties(
                    self.schema, object_type, item.get("properties"), self.owners(), creating=True
                )
                links, link_problems = self.check_associations(object_type, item.get("associations"))
                existing = self.duplicate_email(object_type, props, emails)
                if existing is not None:
                    raise ApiError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
                if props.get("email"):
                    emails.add(props["email"].lower())
                problems = [*problems, *link_problems]
                fault = None if problems else self.refused(object_type, props)
                checked.append((item, props, links, problems, fault))
            failed = [problems for _, _, _, problems, _ in checked if problems]
            if failed and not traced:
                raise problems_error([p for problems in failed for p in problems])
            refused = [fault for *_, fault in checked if fault is not None]
            if refused and not traced:
                raise ApiError(400, refused[0].message, refused[0].code)
            results: list[JSON] = []
            errors: list[JSON] = []
            for item, props, links, problems, fault in checked:
                trace = item.get("objectWriteTraceId")
                if fault is not None:
                    errors.append(standard_error(fault.code, fault.message, {"objectWriteTraceId": [str(trace)]}))
                    continue
                if problems:
                    message, extra = problems_message(problems)
                    error = standard_error("VALIDATION_ERROR", message, {"objectWriteTraceId": [str(trace)]})
                    if "subCategory" in extra:
                        error["subCategory"] = extra["subCategory"]
                    error["errors"] = [p.detail() for p in problems]
                    errors.append(error)
                    continue
                obj = self.create_object(object_type, props, links)
                results.append(self.render(object_type, obj, list(props), trace_id=trace))
        body: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if errors:
            body |= {"numErrors": len(errors), "errors": errors}
            return JSONResponse(body, status_code=207)
        return JSONResponse(body, status_code=201)

    async def batch_update(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/batch/update (developers.hubspot.com/docs/api/crm/companies "Batch update")
        object_type = self.object_type(request.path_params["object_type"])
        inputs = batch_inputs(body_object(await json_body(request)), maximum=BATCH_MAX)
        started = self.now()
        ids = [to_text(i.get("id")) for i in inputs]
        if len(set(ids)) != len(ids):
            raise validation(
                "Duplicate IDs found in batch input", context={"ids": sorted({i for i in ids if ids.count(i) > 1})}
            )
        traced = bool(inputs) and all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        with self.store.lock:
            planned: list[tuple[JSON, JSON, dict[str, str]]] = []
            problems: list[Problem] = []
            missing: list[str] = []
            for item, object_id in zip(inputs, ids, strict=True):
                props, found = validate_properties(
                    self.schema, object_type, item.get("properties"), self.owners(), creating=False
                )
                problems.extend(found)
                obj = self.find(object_type, object_id, id_property=item.get("idProperty"))
                if obj is None or obj.get("archived"):
                    missing.append(object_id)
                    continue
                planned.append((item, obj, props))
            if problems:
                raise problems_error(problems)
            errors: list[JSON] = [missing_error(object_type, missing)] if missing else []
            results = []
            faults = [self.refused(object_type, {**props, "hs_object_id": str(obj["id"])}) for _, obj, props in planned]
            if not traced and (fault := next((f for f in faults if f is not None), None)) is not None:
                raise ApiError(400, fault.message, fault.code)
            for (item, obj, props), fault in zip(planned, faults, strict=True):
                trace = item.get("objectWriteTraceId")
                if fault is not None:
                    errors.append(standard_error(fault.code, fault.message, {"objectWriteTraceId": [str(trace)]}))
                    continue
                self.update_object(object_type, obj, props)
                results.append(self.render(object_type, obj, list(props), trace_id=trace))
        body: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if errors:
            body |= {"numErrors": len(errors), "errors": errors}
            return JSONResponse(body, status_code=207)
        return JSONResponse(body)

    async def batch_read(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/batch/read (developers.hubspot.com/docs/api/crm/companies "Batch read")
        object_type = self.object_type(request.path_params["object_type"])
        body = body_object(await json_body(request))
        inputs = batch_inputs(body, maximum=BATCH_MAX)
        archived = bool_param(request, "archived")
        properties = body.get("properties") or None
        with_history = body.get("propertiesWithHistory") or None
        if with_history and len(inputs) > HISTORY_BATCH_MAX:
            raise validation(
                "The maximum number of inputs supported in a batch request for property histories is "
                f"{HISTORY_BATCH_MAX}. Please reduce the number of items and try again."
            )
        started = self.now()
        with self.store.lock:
            results: list[JSON] = []
            missing: list[str] = []
            for item in inputs:
                object_id = to_text(item.get("id"))
                obj = self.find(object_type, object_id, id_property=body.get("idProperty"))
                if obj is None or bool(obj.get("archived")) != archived:
                    missing.append(object_id)
                    continue
                results.append(self.render(object_type, obj, properties, with_history=with_history))
        out: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if missing:
            out |= {"numErrors": 1, "errors": [missing_error(object_type, missing)]}
            return JSONResponse(out, status_code=207)
        return JSONResponse(out)

    async def batch_archive(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/batch/archive (developers.hubspot.com/docs/api/crm/companies, batch archive)
        object_type = self.object_type(request.path_params["object_type"])
        inputs = batch_inputs(body_object(await json_body(request)), maximum=BATCH_MAX)
        with self.store.lock:
            table = self.table(object_type)
            for item in inputs:
                obj = table.get(to_text(item.get("id")))
                if obj is not None:
                    self.archive_object(obj)
        return Response(status_code=204)
