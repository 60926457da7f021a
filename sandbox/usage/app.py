"""The usage API app: authentication, paging and rendering of the daily rows and workspaces."""

from __future__ import annotations

import math
import operator
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.usage.accounts import account_routes
from sandbox.usage.auth import REALM, basic_credentials, oauth_error, same_secret
from sandbox.usage.errors import UsageError, http_error_handler, invalid_parameter, usage_error_handler
from sandbox.usage.index import UsageIndex, through_members
from sandbox.usage.limiter import RateLimiter
from sandbox.usage.pages import PagesError, page_routes, pages_error_handler
from sandbox.usage.params import decode_cursor, display_instant, encode_cursor, instant_param, int_param, link_to
from sandbox.usage.shapes import Row, nested_row, workspace_item
from sandbox.usage.style import DEFAULT_STYLE, UsageStyle
from sandbox.world import World


def create_usage_app(world: World, *, style: UsageStyle = DEFAULT_STYLE) -> Starlette:
    """The usage API over ``world.usage`` in ``style`` (contract in the package docstring)."""
    store = world.usage
    index = UsageIndex(store)
    limiter = RateLimiter(style.rate_limit_per_second) if style.rate_limit_per_second is not None else None
    deadlines: dict[str, float] = {}  # access token → monotonic expiry, for tokens the token endpoint issued
    deadlines_lock = threading.Lock()
    items_key = style.items_key
    size_param = "per_page" if style.pagination == "page" else "limit"

    def throttle() -> None:
        if limiter is None:
            return
        wait = limiter.wait()
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise UsageError(
                429,
                "rate_limited",
                f"More than {style.rate_limit_per_second:g} requests per second; retry after {seconds} s.",
                headers={"Retry-After": str(seconds)},
                retry_after=seconds,
            )

    def bearer_token(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def authorise(request: Request) -> None:
        if style.auth == "api_key":
            if not same_secret(request.headers.get(style.api_key_header), world.tokens["usage"]):
                raise UsageError(401, "unauthorized", f"Missing or invalid API key ({style.api_key_header} header).")
            return
        token = bearer_token(request)
        valid = world.auth["usage"].valid(token)
        if valid and token is not None and style.auth == "oauth2":
            with deadlines_lock:
                deadline = deadlines.get(token)
            valid = deadline is None or time.monotonic() < deadline
        if valid:
            return
        headers: dict[str, str] = {}
        if style.auth == "oauth2":
            challenge = f'Bearer realm="{REALM}"'
            headers["WWW-Authenticate"] = challenge + (', error="invalid_token"' if token else "")
        raise UsageError(401, "unauthorized", "Missing or invalid bearer token.", headers=headers)

    def page(
        request: Request,
        key: Callable[[int], tuple[str, ...]],
        lo: int,
        hi: int,
        *,
        key_size: int,
        instant_first: bool,
    ) -> tuple[range, dict[str, Any], dict[str, str]]:
        """The requested page's indices within ``lo:hi`` (``key(i)`` is the sort key of index ``i``),
        the body's paging fields and the headers."""
        size = int_param(request, size_param, default=style.page_size, low=1, high=style.max_page_size)
        if style.pagination == "page":
            number = int_param(request, "page", default=1, low=1)
            total = hi - lo
            start = min(hi, lo + (number - 1) * size)
            meta = {"page": number, "per_page": size, "total_pages": -(-total // size), "total": total}
            return range(start, min(hi, start + size)), meta, {}
        if style.pagination == "offset":
            offset = int_param(request, "offset", default=0, low=0)
            start = min(hi, lo + offset)
            return range(start, min(hi, start + size)), {"offset": offset, "limit": size, "total": hi - lo}, {}
        raw_cursor = request.query_params.get("cursor")
        start = lo
        if raw_cursor:
            issued_as = "next_cursor" if style.pagination == "cursor" else "next page link"
            after = decode_cursor(raw_cursor, key_size, instant_first=instant_first, issued_as=issued_as)
            start = bisect_right(range(hi), after, lo, hi, key=key)
        end = min(hi, start + size)
        cursor = encode_cursor(key(end - 1)) if end < hi else None
        if style.pagination == "cursor":
            return range(start, end), {"next_cursor": cursor}, {}
        following = str(request.url.include_query_params(cursor=cursor)) if cursor is not None else None
        if style.pagination == "next_link":
            return range(start, end), {"links": {"next": following}}, {}
        links = [f'<{following}>; rel="next"'] if following is not None else []
        if following is not None or raw_cursor:
            links.append(link_to(request.url.remove_query_params("cursor"), "first"))
        return range(start, end), {}, {"Link": ", ".join(links)} if links else {}

    def respond(data: list[Any], meta: dict[str, Any], headers: dict[str, str]) -> Response:
        body: Any = data if items_key == "" else {items_key: data, **meta}
        return JSONResponse(body, headers=headers or None)

    async def daily(request: Request) -> Response:
        throttle()
        authorise(request)
        since = instant_param(request, "updated_since")
        before = instant_param(request, "updated_before")
        if since is not None and before is not None and before <= since:
            raise invalid_parameter("updated_before", "updated_before must be later than updated_since")
        workspace = request.query_params.get("workspace_id") or None
        with store.lock:
            snapshot = index.current()
            rows = snapshot.sorted
            instants = rows.instants
            if workspace is None:
                at: Callable[[int], int] = operator.index
                key: Callable[[int], tuple[str, ...]] = rows.key
                count = len(rows)
                lo = 0 if since is None else bisect_left(instants, since)
                hi = count if before is None else bisect_left(instants, before)
            else:
                members = snapshot.workspace(workspace)
                at, key, count = members.__getitem__, through_members(rows.key, members), len(members)
                instant = through_members(instants.__getitem__, members)
                lo = 0 if since is None else bisect_left(range(count), since, key=instant)
                hi = count if before is None else bisect_left(range(count), before, key=instant)
            indices, meta, headers = page(request, key, lo, hi, key_size=3, instant_first=True)
            data: list[Row] = []
            for j in indices:
                i = at(j)
                row, updated = snapshot.row(i), display_instant(instants[i])
                if style.shape == "nested":
                    data.append(nested_row(row, updated))
                else:
                    data.append(row if row.get("updated_at") == updated else {**row, "updated_at": updated})
            # Rendered under the lock: the rows (and their nested dicts) may be edited concurrently.
            return respond(data, meta, headers)

    async def workspaces(request: Request) -> Response:
        throttle()
        authorise(request)
        with store.lock:
            snapshot = index.current()
            ids, latest = snapshot.workspaces()
            indices, meta, headers = page(request, lambda j: (ids[j],), 0, len(ids), key_size=1, instant_first=False)
            return respond([workspace_item(ids[j], snapshot.row(latest[j])) for j in indices], meta, headers)

    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
        try:
            pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return oauth_error(400, "invalid_request", "The body is not a valid form.")
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                return oauth_error(400, "invalid_request", f"Parameter {name} is repeated.")
            form[name] = value
        basic = basic_credentials(request.headers.get("authorization", ""))
        if basic is not None and "client_secret" in form:
            return oauth_error(400, "invalid_request", "Use one client authentication method, not both.")
        if not form.get("grant_type"):
            return oauth_error(400, "invalid_request", "grant_type is required.")
        auth = world.auth["usage"]
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        if basic is False or not (same_secret(client_id, auth.client_id) and same_secret(secret, auth.client_secret)):
            return oauth_error(401, "invalid_client", "Client authentication failed.", challenge=True)
        if form["grant_type"] != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        access_token = auth.issue()
        with deadlines_lock:
            deadlines[access_token] = time.monotonic() + style.token_expires_in
        return JSONResponse(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": style.token_expires_in},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    routes = [
        Route("/v1/usage/daily", daily, methods=["GET"]),
        Route("/v1/workspaces", workspaces, methods=["GET"]),
    ]

    def guard(request: Request) -> None:
        throttle()
        authorise(request)

    routes += account_routes(world, index, guard)  # the per-entity shape
    routes += page_routes(world, index, authorise, limiter)  # the page/offset shape
    if style.auth == "oauth2":
        routes.append(Route(style.token_path, token, methods=["POST"]))
    app = Starlette(
        routes=routes,
        exception_handlers={
            UsageError: usage_error_handler,
            PagesError: pages_error_handler,
            HTTPException: http_error_handler,
        },
    )
    with store.lock:
        index.current()  # sort once now, not on the first request
    app.state.usage_index = index
    app.state.usage_style = style
    return app
