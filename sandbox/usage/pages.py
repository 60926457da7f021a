"""The page/offset shape (``/api/v3``): usage by page number, workspaces by offset, both with totals."""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable
from email.utils import formatdate
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.usage.accounts import crm_identity
from sandbox.usage.index import UsageIndex
from sandbox.usage.limiter import RateLimiter
from sandbox.usage.params import display_instant, normalise_instant
from sandbox.usage.shapes import Row
from sandbox.world import World

USAGE_PAGE: Final = 50
USAGE_MAX_PAGE: Final = 200
WORKSPACES_PAGE: Final = 20
WORKSPACES_MAX_PAGE: Final = 100
_RENAMED: Final = {"workspace_id": "workspace", "date": "day", "updated_at": "modified_at"}


class PagesError(Exception):
    """``{"errors": [{"message": …, "field": …}]}``: this API's error body."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        entry: dict[str, Any] = {"message": message}
        if field is not None:
            entry["field"] = field
        self.body = {"errors": [entry]}
        self.headers = headers or {}


async def pages_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PagesError)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers or None)


def _int(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise PagesError(400, f"{name} must be an integer {bounds}, got {raw!r}", name)
    return int(raw)


def _instant(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    normalised = normalise_instant(raw)
    if normalised is None:
        raise PagesError(400, f"{name} must be an ISO-8601 datetime, got {raw!r}", name)
    return normalised


def page_routes(
    world: World, index: UsageIndex, authorise: Callable[[Request], None], limiter: RateLimiter | None
) -> list[Route]:
    """``GET /api/v3/usage`` and ``GET /api/v3/workspaces`` (documented in the package)."""
    store = world.usage

    def guard(request: Request) -> None:
        if limiter is not None and (wait := limiter.wait()) > 0:
            at = math.ceil(time.time() + max(1.0, wait))
            raise PagesError(429, "Too many requests.", headers={"Retry-After": formatdate(at, usegmt=True)})
        authorise(request)

    def identity(workspace_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {"workspace": workspace_id}
        known = crm_identity(world, workspace_id)
        if known is not None:
            item["title"] = known[0]
            item["primary_domain"] = known[1].split("://", 1)[-1].removeprefix("www.")
        return item

    def render(row: Row, updated: str) -> Row:
        item = {_RENAMED.get(k, k): v for k, v in row.items()}
        item["modified_at"] = updated
        return item

    async def usage(request: Request) -> Response:
        guard(request)
        since, before = _instant(request, "modified_since"), _instant(request, "modified_before")
        size = _int(request, "page_size", USAGE_PAGE, 1, USAGE_MAX_PAGE)
        number = _int(request, "page", 1, 1)
        with store.lock:
            snapshot = index.current()
            instants = snapshot.sorted.instants
            lo = 0 if since is None else bisect_left(instants, since)
            hi = len(instants) if before is None else bisect_left(instants, before)
            hi = max(lo, hi)
            start = min(hi, lo + (number - 1) * size)
            results = [
                render(snapshot.row(i), display_instant(instants[i])) for i in range(start, min(hi, start + size))
            ]
            total = hi - lo
            body = {"count": total, "num_pages": -(-total // size), "page": number, "results": results}
            return JSONResponse(body)

    async def workspaces(request: Request) -> Response:
        guard(request)
        limit = _int(request, "limit", WORKSPACES_PAGE, 1, WORKSPACES_MAX_PAGE)
        offset = _int(request, "offset", 0, 0)
        with store.lock:
            snapshot = index.current()
            ids, _latest = snapshot.workspaces()
            results = [identity(ids[j]) for j in range(offset, min(len(ids), offset + limit))]
        return JSONResponse({"total": len(ids), "offset": offset, "results": results})

    return [
        Route("/api/v3/usage", usage, methods=["GET"]),
        Route("/api/v3/workspaces", workspaces, methods=["GET"]),
    ]
