"""Associations v4 endpoints (developers.hubspot.com/docs/api/crm/associations)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.association_types import v4_target
from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import standard_error
from sandbox.hubspot.object_types import JSON, SINGULAR
from sandbox.hubspot.params import batch_inputs, body_object, int_param, json_body, page_offset, page_token
from sandbox.hubspot.sizes import ASSOCIATION_BATCH_READ_MAX, ASSOCIATION_PAGE_SIZE
from sandbox.hubspot.values import to_text


class AssociationHandlers(HandlerBase):
    """Batch and per-object reads of v4 associations, paged."""

    def association_page(
        self, request: Request, from_type: str, from_id: str, to_type: str, offset: int, size: int
    ) -> JSON | None:
        """One page of an object's associations in v4 shape, or ``None`` when it has none."""
        linked = self.linked(from_type, from_id, to_type)
        if not linked:
            return None
        page = linked[offset : offset + size]
        out: JSON = {"from": {"id": from_id}, "to": [v4_target(i, t) for i, t in page]}
        if offset + len(page) < len(linked):
            after = page_token(offset + len(page))
            link = f"{request.base_url}crm/v4/objects/{from_type}/{from_id}/associations/{to_type}?after={after}"
            out["paging"] = {"next": {"after": after, "link": link}}
        return out

    async def associations_batch_read(self, request: Request) -> Response:
        # POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read
        # (developers.hubspot.com/docs/api/crm/associations-v4, "Retrieve associated records"): at most
        # 1,000 inputs; each result holds one page of targets and, past it, `paging.next.after`, which the
        # client sends back as that input's `after`.
        from_type = self.object_type(request.path_params["from_type"])
        to_type = self.object_type(request.path_params["to_type"])
        inputs = batch_inputs(body_object(await json_body(request)), maximum=ASSOCIATION_BATCH_READ_MAX)
        size: int = getattr(self.state, "association_page_size", ASSOCIATION_PAGE_SIZE)
        started = self.now()
        with self.store.lock:
            results: list[JSON] = []
            errors: list[JSON] = []
            for item in inputs:
                from_id = to_text(item.get("id"))
                page = self.association_page(request, from_type, from_id, to_type, page_offset(item.get("after")), size)
                if page is None:
                    message = (
                        f"No {SINGULAR.get(to_type, to_type)} is associated with "
                        f"{SINGULAR.get(from_type, from_type)} {from_id}."
                    )
                    errors.append(
                        standard_error(
                            "OBJECT_NOT_FOUND",
                            message,
                            {"fromObjectId": [from_id]},
                            subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
                        )
                    )
                    continue
                results.append(page)
        out: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if errors:
            out |= {"numErrors": len(errors), "errors": errors}
            return JSONResponse(out, status_code=207)
        return JSONResponse(out)

    async def associations_of(self, request: Request) -> Response:
        # GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}
        # (developers.hubspot.com/docs/api/crm/associations-v4, "Retrieve associated records"): up to 500 per page
        from_type = self.object_type(request.path_params["object_type"])
        to_type = self.object_type(request.path_params["to_type"])
        from_id = request.path_params["object_id"]
        limit = int_param(request, "limit", 500, low=1, high=500)
        offset = page_offset(request.query_params.get("after"))
        with self.store.lock:
            page = self.association_page(request, from_type, from_id, to_type, offset, limit)
        out: JSON = {"results": page["to"] if page else []}
        if page and "paging" in page:
            out["paging"] = page["paging"]
        return JSONResponse(out)
