"""The search endpoint (developers.hubspot.com/docs/api/crm/search)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.params import body_object, json_body
from sandbox.hubspot.property_defs import modified_field
from sandbox.hubspot.search_filters import getter, property_kind
from sandbox.hubspot.search_groups import compile_groups, narrow, query_predicate
from sandbox.hubspot.search_ranges import Range
from sandbox.hubspot.sizes import SEARCH_BODY_MAX, SEARCH_CAP, SEARCH_INDEX_MIN, SEARCH_PAGE_MAX
from sandbox.hubspot.values import INT_RE, to_text
from sandbox.world import hs_time


class SearchHandlers(HandlerBase):
    """POST /crm/v3/objects/{objectType}/search."""

    async def search(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/search (developers.hubspot.com/docs/api/crm/search)
        object_type = self.object_type(request.path_params["object_type"])
        raw = await request.body()
        if len(raw) > SEARCH_BODY_MAX:
            raise validation(
                f"The request body is {len(raw)} characters long; a search query can contain at most "
                f"{SEARCH_BODY_MAX} characters."
            )
        body = body_object(await json_body(request))
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or limit < 0:
            raise validation(f"Invalid input JSON: limit must be a non-negative integer, got {limit!r}")
        if limit > SEARCH_PAGE_MAX:
            raise validation(
                f"Paging limit exceeded: requested {limit} results per page, the maximum is {SEARCH_PAGE_MAX}.",
                context={"limit": [str(limit)]},
            )
        after_raw = to_text(body.get("after")).strip() or "0"
        if not INT_RE.fullmatch(after_raw) or int(after_raw) < 0:
            raise validation(f"Invalid input JSON: after must be a non-negative integer offset, got {after_raw!r}")
        after = int(after_raw)
        cap: int = getattr(self.state, "search_cap", SEARCH_CAP)
        if after + limit > cap:
            raise validation(
                f"Search results are limited to {cap:,} total results for any given query; cannot page past "
                f"result {cap:,} (after={after}, limit={limit}). Narrow the query with filters.",
                context={"after": [after_raw]},
            )
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise validation("Invalid input JSON: sorts must be a list")
        if len(sorts) > 1:
            raise validation(f"Only one sort is supported per search, got {len(sorts)}.")
        sort_name, descending = "hs_object_id", False
        if sorts:
            sort = sorts[0]
            if isinstance(sort, str):
                descending, sort_name = sort.startswith("-"), sort.lstrip("-")
            elif isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
                sort_name = sort["propertyName"]
                direction = sort.get("direction", "ASCENDING")
                if direction not in ("ASCENDING", "DESCENDING"):
                    raise validation(f"Invalid input JSON: sort direction {direction!r}")
                descending = direction == "DESCENDING"
            else:
                raise validation("Invalid input JSON: a sort needs a propertyName")
        properties = body.get("properties") or None
        if isinstance(properties, str):
            properties = [p.strip() for p in properties.split(",") if p.strip()]
        with self.store.lock:
            props = self.schema.ensure(object_type)
            groups = compile_groups(props, body.get("filterGroups"))
            query = query_predicate(object_type, body.get("query"))
            # Small tables: one pass over every object, so no edit can go unseen. Big ones: the
            # modified-date index (see _StampIndex for what it notices).
            table = self.table(object_type)
            index_from: Callable[[], Callable[[Range], list[JSON]]] | None = None
            if len(table) >= getattr(self.state, "search_index_min", SEARCH_INDEX_MIN):

                def index_from() -> Callable[[Range], list[JSON]]:
                    stamps = self.backend.stamp_index(self.store, object_type, table)
                    return lambda window: stamps.candidates(table, window)

            matched = narrow(table.values(), groups, modified=modified_field(object_type), index=index_from)
            lag: float = getattr(self.state, "search_lag_seconds", 0.0)
            if lag:  # the search index trails writes: an object created within the lag is not found yet
                cutoff = hs_time(self.world.now() - timedelta(seconds=lag))
                matched = [obj for obj in matched if str(obj.get("createdAt") or "") <= cutoff]
            if query is not None:
                matched = [obj for obj in matched if query(obj)]
            if sort_name != "hs_object_id" or descending:
                get = getter(sort_name, property_kind(props, sort_name))
                # No (key, obj) tuples: at 100k objects their allocation churn costs more than the sort.
                present = [obj for obj in matched if get(obj) is not None]
                present.sort(key=get, reverse=descending)  # type: ignore[arg-type]  # one value kind per property
                matched = present + [obj for obj in matched if get(obj) is None]
            page = matched[after : after + limit]
            results = [self.render(object_type, obj, properties) for obj in page]
        out: JSON = {"total": len(matched), "results": results}
        if after + len(page) < len(matched):
            out["paging"] = {"next": {"after": str(after + len(page))}}
        return JSONResponse(out)
