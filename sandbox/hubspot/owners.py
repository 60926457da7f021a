"""Owners endpoints (developers.hubspot.com/docs/api/crm/owners)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.backend import numeric_id
from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import ApiError, validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.params import bool_param, int_param
from sandbox.hubspot.sizes import OWNERS_PAGE_MAX
from sandbox.hubspot.values import INT_RE


class OwnerHandlers(HandlerBase):
    """List and read owners."""

    async def list_owners(self, request: Request) -> Response:
        # GET /crm/v3/owners
        limit = int_param(request, "limit", 100, low=1, high=OWNERS_PAGE_MAX)
        after_raw = request.query_params.get("after") or "0"
        if not INT_RE.fullmatch(after_raw):
            raise validation(f"Invalid value for query parameter after: {after_raw!r}")
        archived = bool_param(request, "archived")
        email = request.query_params.get("email")
        with self.store.lock:
            owners = sorted(self.owners().values(), key=lambda o: numeric_id(str(o["id"])))
            chosen = [
                o
                for o in owners
                if bool(o.get("archived")) == archived
                and numeric_id(str(o["id"])) >= int(after_raw)
                and (email is None or str(o.get("email", "")).lower() == email.lower())
            ]
            page = [_owner_out(o) for o in chosen[:limit]]
        out: JSON = {"results": page}
        if len(chosen) > limit:
            next_after = str(numeric_id(str(chosen[limit]["id"])))
            out["paging"] = {
                "next": {"after": next_after, "link": f"{request.base_url}crm/v3/owners?after={next_after}"}
            }
        return JSONResponse(out)

    async def get_owner(self, request: Request) -> Response:
        # GET /crm/v3/owners/{ownerId}
        owner_id = request.path_params["owner_id"]
        by_user = request.query_params.get("idProperty") == "userId"
        archived = bool_param(request, "archived")
        with self.store.lock:
            found = [
                o
                for o in self.owners().values()
                if (str(o.get("userId")) if by_user else str(o["id"])) == owner_id
                and bool(o.get("archived")) == archived
            ]
            if not found:
                raise ApiError(404, f"No owner found with id {owner_id}", "OBJECT_NOT_FOUND")
            out = _owner_out(found[0])
        return JSONResponse(out)


def _owner_out(owner: Mapping[str, Any]) -> JSON:
    return {
        "id": str(owner["id"]),
        "email": owner.get("email"),
        "type": owner.get("type", "PERSON"),
        "firstName": owner.get("firstName"),
        "lastName": owner.get("lastName"),
        "userId": owner.get("userId"),
        "userIdIncludingInactive": owner.get("userIdIncludingInactive", owner.get("userId")),
        "createdAt": owner.get("createdAt"),
        "updatedAt": owner.get("updatedAt"),
        "archived": bool(owner.get("archived")),
        "teams": list(owner.get("teams", [])),
    }
