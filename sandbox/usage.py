"""Product usage API stand-in: daily seat and activity rows per workspace, read incrementally by ``updated_at``.

This docstring is the API's reference: the sandbox serves exactly this contract over
``world.usage.rows``.

Authentication
--------------
Every request sends ``Authorization: Bearer <token>``. A missing or wrong token gets::

    401 {"error": {"code": "unauthorized", "message": "Missing or invalid bearer token."}}

``GET /v1/usage/daily``
-----------------------
One row per workspace and day. A row's ``updated_at`` changes whenever the row is (re)computed,
including late corrections of past days, so read it incrementally by ``updated_at``, not by
``date``.

Query parameters (all optional):

``updated_since``
    ISO-8601 instant, **inclusive** lower bound on ``updated_at`` (``2026-05-01T00:00:00Z``;
    a date alone means midnight UTC, an instant without an offset is read as UTC).
``updated_before``
    ISO-8601 instant, **exclusive** upper bound on ``updated_at``; must be later than
    ``updated_since``.
``workspace_id``
    Only this workspace's rows.
``limit``
    Rows per page, 1 to 1000; default 500.
``cursor``
    The ``next_cursor`` of the previous page. Send the same other parameters with it.

Response ``200``::

    {
      "data": [
        {"workspace_id": "ws-00001", "date": "2026-05-31", "active_users": 41, "seats_used": 58,
         "seats_limit": 100, "updated_at": "2026-06-01T01:07:00Z"}
      ],
      "next_cursor": "eyJ2IjoxLCJr..." | null
    }

Rows are sorted ascending by ``(updated_at, workspace_id, date)``; ``next_cursor`` is ``null``
on the last page. The cursor is opaque: it encodes the sort key of the last row returned, not
an offset, so the next page starts strictly after that row. Rows written while a client pages
are therefore never skipped: a row updated during the read gets a later ``updated_at`` and
appears on a later page (or in the next incremental run).

Errors are ``400 {"error": {"code": "invalid_parameter", "message": "...", "parameter": "<name>"}}``
for a malformed ``updated_since``/``updated_before``/``limit``/``cursor``, and ``404
{"error": {"code": "not_found", ...}}`` for unknown paths.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.world import World

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "create_usage_app"]

DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 1000
_CURSOR_VERSION: Final = 1

# (normalised updated_at, workspace_id, date): fixed-width UTC strings sort chronologically.
_Key = tuple[str, str, str]


class _UsageError(Exception):
    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"code": code, "message": message}
        if parameter is not None:
            self.error["parameter"] = parameter


def _invalid(parameter: str, message: str) -> _UsageError:
    return _UsageError(400, "invalid_parameter", message, parameter)


async def _usage_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _UsageError)
    return JSONResponse({"error": exc.error}, status_code=exc.status)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
    return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code)


@lru_cache(maxsize=1 << 20)
def _normalise(raw: str) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, or ``None`` if ``raw`` is not ISO-8601."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _display(normalised: str) -> str:
    """Second precision when there are no fractions, as the API always wrote them."""
    return normalised.replace(".000000Z", "Z")


def _instant_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    normalised = _normalise(raw)
    if normalised is None:
        raise _invalid(name, f"{name} must be an ISO-8601 datetime such as 2026-05-01T00:00:00Z, got {raw!r}")
    return normalised


def _limit_param(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise _invalid("limit", f"limit must be an integer between 1 and {MAX_LIMIT}, got {raw!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _invalid("limit", f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _encode_cursor(key: _Key) -> str:
    payload = json.dumps({"v": _CURSOR_VERSION, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(cursor: str) -> _Key:
    """The sort key a cursor was issued after; raises ``_UsageError`` for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = payload["k"]
        if payload["v"] != _CURSOR_VERSION or len(key) != 3 or not all(isinstance(part, str) for part in key):
            raise ValueError(key)
        if _normalise(key[0]) != key[0]:
            raise ValueError(key[0])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise _invalid("cursor", "cursor is not a next_cursor this API issued") from None
    return key[0], key[1], key[2]


def _row_key(row: dict[str, Any]) -> _Key | None:
    normalised = _normalise(str(row.get("updated_at", "")))
    if normalised is None:
        return None
    return normalised, str(row.get("workspace_id", "")), str(row.get("date", ""))


def create_usage_app(world: World) -> Starlette:
    """The usage API over ``world.usage`` (contract in the module docstring)."""
    store = world.usage

    def authorise(request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {world.tokens['usage']}":
            raise _UsageError(401, "unauthorized", "Missing or invalid bearer token.")

    async def daily(request: Request) -> Response:
        authorise(request)
        since = _instant_param(request, "updated_since")
        before = _instant_param(request, "updated_before")
        if since is not None and before is not None and before <= since:
            raise _invalid("updated_before", "updated_before must be later than updated_since")
        workspace = request.query_params.get("workspace_id") or None
        limit = _limit_param(request)
        raw_cursor = request.query_params.get("cursor")
        after = _decode_cursor(raw_cursor) if raw_cursor else None

        def matching() -> Iterator[tuple[_Key, dict[str, Any]]]:
            for row in store.rows:
                key = _row_key(row)
                if key is None:
                    continue
                if (
                    (since is not None and key[0] < since)
                    or (before is not None and key[0] >= before)
                    or (workspace is not None and key[1] != workspace)
                    or (after is not None and key <= after)
                ):
                    continue
                yield key, row

        with store.lock:
            # One linear pass (rows may be appended or corrected in place at any time), keeping only
            # the smallest limit + 1 keys: no sort of the whole table per page.
            page = heapq.nsmallest(limit + 1, matching(), key=lambda pair: pair[0])
            data = [
                {
                    "workspace_id": row["workspace_id"],
                    "date": row["date"],
                    "active_users": row["active_users"],
                    "seats_used": row["seats_used"],
                    "seats_limit": row["seats_limit"],
                    "updated_at": _display(key[0]),
                }
                for key, row in page[:limit]
            ]
        next_cursor = _encode_cursor(page[limit - 1][0]) if len(page) > limit else None
        return JSONResponse({"data": data, "next_cursor": next_cursor})

    return Starlette(
        routes=[Route("/v1/usage/daily", daily, methods=["GET"])],
        exception_handlers={_UsageError: _usage_error_handler, HTTPException: _http_error_handler},
    )
