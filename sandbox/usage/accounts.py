"""The per-entity shape (``/v2``): a list of accounts, then each account's metrics by day window."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.usage.errors import UsageError
from sandbox.usage.index import UsageIndex
from sandbox.usage.params import decode_cursor, encode_cursor
from sandbox.usage.shapes import Row
from sandbox.world import World

ACCOUNTS_PAGE: Final = 10
ACCOUNTS_MAX_PAGE: Final = 25
METRICS_PAGE: Final = 7
METRICS_MAX_PAGE: Final = 31


def invalid_param(detail: str) -> UsageError:
    """``422 {"error": {"code": "invalid_param", "detail": …}}``: this API's error body."""
    return _error(422, "invalid_param", detail)


def _error(status: int, code: str, detail: str) -> UsageError:
    error = UsageError(status, code, detail)
    error.error = {"code": code, "detail": detail}
    return error


def _size(request: Request, default: int, most: int) -> int:
    raw = request.query_params.get("page_size")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise invalid_param(f"page_size must be an integer between 1 and {most}, got {raw!r}")
    return int(raw)


def _token(request: Request) -> str | None:
    raw = request.query_params.get("page_token")
    if not raw:
        return None
    try:
        return decode_cursor(raw, 1, instant_first=False, issued_as="next_page_token")[0]
    except UsageError:
        raise invalid_param("page_token is not a next_page_token this API issued") from None


def _day(request: Request, name: str) -> str:
    raw = request.query_params.get(name)
    if not raw:
        raise invalid_param(f"{name} is required (a date, YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw).isoformat() if len(raw) == 10 else _bad_day(name, raw)
    except ValueError:
        return _bad_day(name, raw)


def _bad_day(name: str, raw: str) -> str:
    raise invalid_param(f"{name} must be a date YYYY-MM-DD, got {raw!r}")


def day_item(row: Row) -> dict[str, Any]:
    """One day of one account as this API shapes it: nested counters, lists of {name, count},
    storage in MB, trials as a list of the trials started that day, and no update time."""
    item: dict[str, Any] = {"date": row["date"]}

    def put(group: str, key: str, name: str, scale: int = 1) -> None:
        if row.get(name) is not None:
            value = row[name]
            item.setdefault(group, {})[key] = value if scale == 1 else round(value * scale, 6)

    put("users", "active", "active_users")
    put("users", "weekly_active", "weekly_active_users")
    put("seats", "used", "seats_used")
    put("seats", "limit", "seats_limit")
    put("storage_mb", "used", "storage_used_gb", 1000)
    put("storage_mb", "limit", "storage_limit_gb", 1000)
    put("api", "calls", "api_calls_used")
    put("api", "limit", "api_calls_limit")
    for name in ("integrations", "premium_feature_views", "pricing_page_views"):
        if row.get(name) is not None:
            item[name] = row[name]
    if row.get("trials_started") is not None:
        item["trials"] = [
            {"trial": f"{row['workspace_id']}-{row['date']}-{i + 1}"} for i in range(row["trials_started"])
        ]
    if row.get("feature_events") is not None:
        item["events"] = [{"name": k, "count": v} for k, v in row["feature_events"].items()]
    if row.get("users_by_department") is not None:
        item["departments"] = [{"name": k, "users": v} for k, v in row["users_by_department"].items()]
    return item


def crm_identity(world: World, workspace_id: str) -> tuple[str, str] | None:
    """(company name, website) of the customer behind a workspace, as the product knows it (the
    world's Salesforce account); None for a workspace no CRM account names."""
    for key in world.account_keys:
        if key.workspace_id == workspace_id:
            account = world.salesforce.table("Account").get(key.salesforce_id)
            if account is not None:
                return str(account.get("Name") or ""), str(account.get("Website") or "")
    return None


def account_routes(world: World, index: UsageIndex, guard: Callable[[Request], None]) -> list[Route]:
    """``GET /v2/accounts`` and ``GET /v2/accounts/{account_id}/metrics`` (documented in the package)."""
    store = world.usage

    def identity(workspace_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {"account_id": workspace_id}
        known = crm_identity(world, workspace_id)
        if known is not None:
            item["company_name"], item["website"] = known
        return item

    async def accounts(request: Request) -> Response:
        guard(request)
        size = _size(request, ACCOUNTS_PAGE, ACCOUNTS_MAX_PAGE)
        after = _token(request)
        with store.lock:
            ids, _ = index.current().workspaces()
        start = bisect_right(ids, after) if after is not None else 0
        page = ids[start : start + size]
        following = encode_cursor([page[-1]]) if page and start + size < len(ids) else None
        return JSONResponse({"accounts": [identity(ws) for ws in page], "meta": {"next_page_token": following}})

    async def metrics(request: Request) -> Response:
        guard(request)
        workspace = request.path_params["account_id"]
        first, last = _day(request, "from"), _day(request, "to")
        if last < first:
            raise invalid_param(f"to ({last}) must not be before from ({first})")
        size = _size(request, METRICS_PAGE, METRICS_MAX_PAGE)
        after = _token(request)
        with store.lock:
            snapshot = index.current()
            members = snapshot.workspace(workspace)
            if not members:
                raise _error(404, "not_found", f"no account {workspace!r}")
            days: dict[str, Row] = {}
            for j in members:  # in updated_at order: a day's latest row wins
                row = snapshot.row(j)
                if first <= str(row["date"]) <= last:
                    days[str(row["date"])] = row
            dates = sorted(days)
            start = bisect_right(dates, after) if after is not None else 0
            page = dates[start : start + size]
            following = encode_cursor([page[-1]]) if page and start + size < len(dates) else None
            body = {
                "account": {"id": workspace},
                "days": [day_item(days[d]) for d in page],
                "meta": {"next_page_token": following},
            }
            return JSONResponse(body)

    return [
        Route("/v2/accounts", accounts, methods=["GET"]),
        Route("/v2/accounts/{account_id}/metrics", metrics, methods=["GET"]),
    ]
