"""Single-object endpoints (developers.hubspot.com/docs/api/crm/companies, .../crm/tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import ApiError, not_found, problems_error, validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.params import body_object, bool_param, int_param, json_body, list_param
from sandbox.hubspot.sizes import LIST_PAGE_MAX
from sandbox.hubspot.values import INT_RE
from sandbox.hubspot.writes import validate_properties


class ObjectHandlers(HandlerBase):
    """List, read, create, update and archive one object."""

    async def list_objects(self, request: Request) -> Response:
        # GET /crm/v3/objects/{objectType} (developers.hubspot.com/docs/api/crm/companies "Retrieve")
        object_type = self.object_type(request.path_params["object_type"])
        limit = int_param(request, "limit", 10, low=1, high=LIST_PAGE_MAX)
        after_raw = request.query_params.get("after") or "0"
        if not INT_RE.fullmatch(after_raw):
            raise validation(f"Invalid value for query parameter after: {after_raw!r}")
        after = int(after_raw)
        archived = bool_param(request, "archived")
        properties = list_param(request, "properties")
        with_history = list_param(request, "propertiesWithHistory")
        associations = list_param(request, "associations")
        with self.store.lock:
            table = self.table(object_type)
            ordered = self.backend.ids_in_order(object_type, table)
            start = _bisect(ordered, after)
            page: list[JSON] = []
            next_after: str | None = None
            for numeric, object_id in ordered[start:]:
                obj = table.get(object_id)
                if obj is None or bool(obj.get("archived")) != archived:
                    continue
                if len(page) == limit:
                    next_after = str(numeric)
                    break
                page.append(
                    self.render(object_type, obj, properties, with_history=with_history, associations=associations)
                )
        body: JSON = {"results": page}
        if next_after is not None:
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "after"] + [("after", next_after)]
            link = f"{request.base_url}crm/v3/objects/{object_type}?{urlencode(query)}"
            body["paging"] = {"next": {"after": next_after, "link": link}}
        return JSONResponse(body)

    async def get_object(self, request: Request) -> Response:
        # GET /crm/v3/objects/{objectType}/{objectId} (developers.hubspot.com/docs/api/crm/companies "Read")
        object_type = self.object_type(request.path_params["object_type"])
        object_id = request.path_params["object_id"]
        archived = bool_param(request, "archived")
        with self.store.lock:
            obj = self.find(object_type, object_id, id_property=request.query_params.get("idProperty"))
            if obj is None or bool(obj.get("archived")) != archived:
                raise not_found(object_id)
            body = self.render(
                object_type,
                obj,
                list_param(request, "properties"),
                with_history=list_param(request, "propertiesWithHistory"),
                associations=list_param(request, "associations"),
            )
        return JSONResponse(body)

    async def create_one(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType} (developers.hubspot.com/docs/api/crm/companies "Create")
        object_type = self.object_type(request.path_params["object_type"])
        body = body_object(await json_body(request))
        with self.store.lock:
            props, problems = validate_properties(
                self.schema, object_type, body.get("properties"), self.owners(), creating=True
            )
            links, link_problems = self.check_associations(object_type, body.get("associations"))
            if problems or link_problems:
                raise problems_error([*problems, *link_problems])
            existing = self.duplicate_email(object_type, props, set())
            if existing is not None:
                raise ApiError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
            obj = self.create_object(object_type, props, links)
            out = self.render(object_type, obj, list(props))
        return JSONResponse(out, status_code=201)

    async def update_one(self, request: Request) -> Response:
        # PATCH /crm/v3/objects/{objectType}/{objectId} (developers.hubspot.com/docs/api/crm/companies "Update")
        object_type = self.object_type(request.path_params["object_type"])
        object_id = request.path_params["object_id"]
        body = body_object(await json_body(request))
        with self.store.lock:
            obj = self.find(object_type, object_id, id_property=request.query_params.get("idProperty"))
            if obj is None or obj.get("archived"):
                raise not_found(object_id)
            props, problems = validate_properties(
                self.schema, object_type, body.get("properties"), self.owners(), creating=False
            )
            if problems:
                raise problems_error(problems)
            self.update_object(object_type, obj, props)
            out = self.render(object_type, obj, list(props))
        return JSONResponse(out)

    async def archive_one(self, request: Request) -> Response:
        # DELETE /crm/v3/objects/{objectType}/{objectId} (developers.hubspot.com/docs/api/crm/companies "Archive")
        object_type = self.object_type(request.path_params["object_type"])
        with self.store.lock:
            obj = self.table(object_type).get(request.path_params["object_id"])
            if obj is not None:
                self.archive_object(obj)
        return Response(status_code=204)


def _bisect(ordered: Sequence[tuple[int, str]], after: int) -> int:
    low, high = 0, len(ordered)
    while low < high:
        mid = (low + high) // 2
        if ordered[mid][0] < after:
            low = mid + 1
        else:
            high = mid
    return low
