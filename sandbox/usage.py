"""Product usage API stand-in: daily seat and activity rows per workspace, read incrementally by ``updated_at``.

This docstring is the API's reference: the sandbox serves exactly this contract over
``world.usage.rows``. Real customers' usage APIs differ in how they authenticate, page and
shape their JSON, so the stand-in speaks several *styles*, chosen when the app is built::

    create_usage_app(world)                                     # the default described first below
    create_usage_app(world, style=UsageStyle(auth="oauth2", pagination="link_header", shape="nested"))

Every style serves the same rows with the same filters and the same order; only the envelope
around them changes. An upsync ``[usage]`` section is configured to match the customer's style.

Styles (``UsageStyle`` fields; defaults in brackets)
----------------------------------------------------
``auth`` [``"bearer"``]
    ``"bearer"``, ``"api_key"`` or ``"oauth2"`` (see *Authentication*).
``api_key_header`` [``"X-API-Key"``]
    The header carrying the API key when ``auth="api_key"``.
``token_path`` [``"/oauth/token"``], ``token_expires_in`` [``3600``]
    The OAuth 2.0 token endpoint and the lifetime, in seconds, of the tokens it issues when
    ``auth="oauth2"``.
``pagination`` [``"cursor"``]
    ``"cursor"``, ``"next_link"``, ``"page"``, ``"offset"`` or ``"link_header"`` (see *Pagination*).
``page_size`` [``500``], ``max_page_size`` [``1000``]
    Rows per page when the client does not say, and the most it may ask for.
``shape`` [``"flat"``]
    ``"flat"`` or ``"nested"`` (see *Row shapes*).
``list_key`` [``None``: ``"data"`` for flat, ``"items"`` for nested]
    The top-level key holding the page's rows. ``""`` answers a bare JSON array (GitHub style),
    which only ``pagination="link_header"`` allows, as every other style pages through the body.
``rate_limit_per_second`` [``None``: unlimited]
    Requests per second the ``/v1`` endpoints accept (see *Rate limiting*).

Authentication
--------------
``auth="bearer"`` (default)
    Every request sends ``Authorization: Bearer <token>``. Valid tokens are the usage system's
    current access tokens (the sandbox token printed by ``upsync sandbox`` until a test expires it).
    A missing, wrong or expired token gets::

        401 {"error": {"code": "unauthorized", "message": "Missing or invalid bearer token."}}

``auth="api_key"``
    Every request sends the key in a header, by default ``X-API-Key: <key>`` (the sandbox token).
    Keys do not expire. A missing or wrong key gets ``401 {"error": {"code": "unauthorized",
    "message": "Missing or invalid API key (X-API-Key header)."}}``.

``auth="oauth2"`` (client credentials, RFC 6749 §4.4)
    The client first gets a token::

        POST /oauth/token
        Content-Type: application/x-www-form-urlencoded

        grant_type=client_credentials&client_id=<id>&client_secret=<secret>

    or sends the client credentials as ``Authorization: Basic base64(<id>:<secret>)`` instead of
    the two form fields (not both). The sandbox's client is ``sandbox-client-id`` with secret
    ``sandbox-client-secret`` (``world.auth["usage"]``). The answer, with ``Cache-Control: no-store``::

        200 {"access_token": "sandbox-access-3-…", "token_type": "Bearer", "expires_in": 3600}

    Errors follow RFC 6749 §5.2, ``{"error": "<code>", "error_description": "…"}``:
    ``400 invalid_request`` (not a form body, a parameter repeated, no ``grant_type``, two
    client authentication methods), ``401 invalid_client`` (no, unknown or malformed client
    credentials, or a wrong secret; with ``WWW-Authenticate: Basic realm="usage"``) and ``400
    unsupported_grant_type`` (anything but ``client_credentials``). The API endpoints then take
    ``Authorization: Bearer <access_token>`` as in bearer auth. Their ``401`` adds an RFC 6750
    challenge: ``WWW-Authenticate: Bearer realm="usage"`` without a token, and ``Bearer
    realm="usage", error="invalid_token"`` for a token past ``expires_in`` or revoked: fetch a
    new one.

``GET /v1/usage/daily``
-----------------------
One row per workspace and day. A row's ``updated_at`` changes whenever the row is (re)computed,
including late corrections of past days, so read it incrementally by ``updated_at``, not by
``date``.

Query parameters (all optional), in every style:

``updated_since``
    ISO-8601 instant, **inclusive** lower bound on ``updated_at`` (``2026-05-01T00:00:00Z``;
    a date alone means midnight UTC, an instant without an offset is read as UTC).
``updated_before``
    ISO-8601 instant, **exclusive** upper bound on ``updated_at``; must be later than
    ``updated_since``.
``workspace_id``
    Only this workspace's rows.

plus the paging parameters of the style. Rows are always sorted ascending by ``(updated_at,
workspace_id, date)``.

Pagination
----------
Page sizes run from 1 to ``max_page_size`` (1000) and default to ``page_size`` (500).

``pagination="cursor"`` (default)
    Parameters ``limit`` and ``cursor`` (the ``next_cursor`` of the previous page; send the
    same other parameters with it). Response ``200``::

        {
          "data": [
            {"workspace_id": "ws-00001", "date": "2026-05-31", "active_users": 41, "seats_used": 58,
             "seats_limit": 100, "updated_at": "2026-06-01T01:07:00Z"}
          ],
          "next_cursor": "eyJ2IjoxLCJr..." | null
        }

    (each row with every metric it has, see *Row shapes*); ``next_cursor`` is ``null`` on the
    last page.
``pagination="next_link"``
    The first request may send ``limit``; the body then carries the absolute URL of the next
    page, ``null`` on the last one: ``{"data": [...], "links": {"next": "https://…" | null}}``.
    Request that URL as it is (it keeps the filters and the page size).
``pagination="link_header"`` (GitHub style)
    The first request may send ``limit``; the next page's URL comes in an RFC 8288 header,
    ``Link: <https://…>; rel="next", <https://…>; rel="first"``. The last page has no
    ``rel="next"`` (a later page still has ``rel="first"``): stop when ``rel="next"`` is missing,
    not when the header is. The body is ``{"data": [...]}``, or the bare array with ``list_key=""``.
``pagination="page"``
    Parameters ``page`` (from 1, default 1) and ``per_page``. The body adds ``"page"``,
    ``"per_page"``, ``"total_pages"`` and ``"total"`` (matching rows); a page after the last is
    empty. Read pages 1 to ``total_pages``.
``pagination="offset"``
    Parameters ``offset`` (from 0, default 0) and ``limit``. The body adds ``"offset"``,
    ``"limit"`` and ``"total"``; read until ``offset >= total``.

The three link styles (cursor, next_link, link_header) are *position-based*: the cursor inside
them encodes the sort key of the last row returned, not an offset, so the next page starts
strictly after that row. Rows written while a client pages are therefore never skipped: a row
updated during the read gets a later ``updated_at`` and appears on a later page (or in the next
incremental run). ``page`` and ``offset`` are *offset-based* by nature: a row inserted or
re-stamped during the read shifts the later rows by one position, so a page can repeat the
previous page's last row or skip a row. That is why the connector prefers a cursor style when
an API offers one; with page/offset, re-read with an overlapping ``updated_since`` lookback.

Row shapes
----------
``shape="flat"`` (default)
    Each row as the usage system stores it: ``workspace_id``, ``date``, ``updated_at`` and every
    metric the row has (``active_users``, ``seats_used``, ``seats_limit`` and, when the world
    has them, ``weekly_active_users``, ``storage_used_gb``, ``storage_limit_gb``,
    ``api_calls_used``, ``api_calls_limit``, ``integrations``, ``premium_feature_views``,
    ``trials_started``, ``pricing_page_views``, ``feature_events`` (feature → count) and
    ``users_by_department`` (department → users)). Upsync's field mapping is the identity.
``shape="nested"``
    A different vendor's shape: the list key defaults to ``items`` and each row becomes::

        {
          "workspace": {"id": "ws-00001"},
          "day": "2026-05-31",
          "updated": "2026-06-01T01:07:00Z",
          "metrics": {
            "users": {"active": 41, "weekly_active": 52},
            "seats": {"used": 58, "limit": 100},
            "storage": {"used_gb": 12.5, "limit_gb": 50},
            "api": {"calls": 18000, "limit": 100000},
            "integrations": {"count": 4},
            "engagement": {"premium_views": 7, "pricing_page_views": 2, "trials_started": 0},
            "features": {"reports": 120, "exports": 9},
            "departments": {"Sales": 20, "Engineering": 21}
          }
        }

    The dotted path of each canonical metric (``NESTED_PATHS``, what ``[usage.fields]`` maps
    from): ``workspace.id``, ``day``, ``updated``, ``metrics.users.active``,
    ``metrics.users.weekly_active``, ``metrics.seats.used``, ``metrics.seats.limit``,
    ``metrics.storage.used_gb``, ``metrics.storage.limit_gb``, ``metrics.api.calls``,
    ``metrics.api.limit``, ``metrics.integrations.count``, ``metrics.engagement.premium_views``,
    ``metrics.engagement.trials_started``, ``metrics.engagement.pricing_page_views``,
    ``metrics.features`` and ``metrics.departments``. A metric the row lacks is absent (and an
    object left empty is omitted); any other key of the row is served under ``extra``.

``GET /v1/workspaces``
----------------------
The workspaces that have usage rows, sorted by ``id``, paged exactly like ``/v1/usage/daily`` in
the same style (and under the same list key), without its filters. An item is
``{"id", "name", "domain", "plan", "seats_limit"}``, each field besides ``id`` taken from the
workspace's latest row (greatest ``date``) and present **only when that row has it** (``name``,
``domain`` and ``plan`` may also be stored as ``workspace_name``, ``workspace_domain``,
``workspace_plan``). The sandbox world's rows carry no name, domain or plan, so today its items
are ``{"id": "ws-00001", "seats_limit": 100}``: nothing is invented, and matching accounts to
workspaces by email domain needs rows that carry ``domain``.

Rate limiting
-------------
With ``rate_limit_per_second`` set, the ``/v1`` endpoints accept that many requests per second
(a token bucket holding one second's worth, at least one request). A request over the limit
gets::

    429 {"error": {"code": "rate_limited", "message": "...", "retry_after": 2}}
    Retry-After: 2

``Retry-After`` is in whole seconds, at least 1. The token endpoint is not limited.

Errors
------
``400 {"error": {"code": "invalid_parameter", "message": "...", "parameter": "<name>"}}`` for a
malformed ``updated_since``/``updated_before``/``limit``/``cursor``/``page``/``per_page``/
``offset``, ``404 {"error": {"code": "not_found", ...}}`` for unknown paths and ``405
method_not_allowed``. Other outages (5xx, timeouts) are injected by the sandbox server's
``Fault`` middleware, not here.

Serving large worlds
--------------------
Rows are indexed once per store version: the three key columns in sort order plus each row's
position in ``world.usage.rows``, read through ``UsageRows.column`` where the store offers it,
so computed rows are never materialised (3M rows: about 1.7 s and 150 MB, done when the app is
built). A page is then a bisection plus reading that page's rows, O(log n + page size); the
first ``workspace_id`` filter and the first ``/v1/workspaces`` call of a version add a pass of
about a second at that size.

The index is rebuilt when ``world.usage.version`` moves (a ``UsageRows`` moves it on every write,
including a write to a row dict it handed out), or when ``rows`` is replaced or changes length.
A plain list has no version: rows appended to it are merged in without a sort, and on lists of
up to 50 000 rows an ``updated_at``/``workspace_id``/``date`` edited in place, or a row replaced at
the same position, is noticed on the next request; on bigger lists such an edit needs
``app.state.usage_index.invalidate()``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import operator
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice, repeat
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar, cast, get_args
from urllib.parse import parse_qsl, unquote_plus

from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.world import UsageStore, World

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "NESTED_PATHS",
    "Auth",
    "Pagination",
    "Shape",
    "UsageIndex",
    "UsageStyle",
    "create_usage_app",
]

DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 1000
_CURSOR_VERSION: Final = 1
_VERIFY_MAX_ROWS: Final = 50_000  # stores up to this size are checked for in-place edits on every request
_INSERT_MAX_ROWS: Final = 10_000  # more rows appended out of key order than this: sort again
_REALM: Final = "usage"

T = TypeVar("T")
Auth = Literal["bearer", "api_key", "oauth2"]
Pagination = Literal["cursor", "next_link", "page", "offset", "link_header"]
Shape = Literal["flat", "nested"]

# (normalised updated_at, workspace_id, date): fixed-width UTC strings sort chronologically.
_Key = tuple[str, str, str]
Row = dict[str, Any]

NESTED_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "workspace_id": "workspace.id",
        "date": "day",
        "updated_at": "updated",
        "active_users": "metrics.users.active",
        "weekly_active_users": "metrics.users.weekly_active",
        "seats_used": "metrics.seats.used",
        "seats_limit": "metrics.seats.limit",
        "storage_used_gb": "metrics.storage.used_gb",
        "storage_limit_gb": "metrics.storage.limit_gb",
        "api_calls_used": "metrics.api.calls",
        "api_calls_limit": "metrics.api.limit",
        "integrations": "metrics.integrations.count",
        "premium_feature_views": "metrics.engagement.premium_views",
        "trials_started": "metrics.engagement.trials_started",
        "pricing_page_views": "metrics.engagement.pricing_page_views",
        "feature_events": "metrics.features",
        "users_by_department": "metrics.departments",
    }
)
"""Flat row key → dotted path of the same value in the nested shape."""

_NESTED_SPLIT: Final = tuple((name, tuple(path.split("."))) for name, path in NESTED_PATHS.items())
_WORKSPACE_FACTS: Final = ("name", "domain", "plan", "seats_limit")


@dataclass(frozen=True)
class UsageStyle:
    """How the stand-in authenticates, pages and shapes its JSON (reference in the module docstring)."""

    auth: Auth = "bearer"
    api_key_header: str = "X-API-Key"
    token_path: str = "/oauth/token"
    token_expires_in: int = 3600
    pagination: Pagination = "cursor"
    page_size: int = DEFAULT_LIMIT
    max_page_size: int = MAX_LIMIT
    shape: Shape = "flat"
    list_key: str | None = None
    rate_limit_per_second: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("auth", Auth), ("pagination", Pagination), ("shape", Shape)):
            if getattr(self, name) not in get_args(allowed):
                raise ValueError(f"{name} must be one of {get_args(allowed)}, got {getattr(self, name)!r}")
        if not self.api_key_header.strip():
            raise ValueError("api_key_header must name a header")
        if not self.token_path.startswith("/") or self.token_path.startswith("/v1/"):
            raise ValueError(f"token_path must be an absolute path outside /v1, got {self.token_path!r}")
        if self.token_expires_in < 1:
            raise ValueError("token_expires_in must be at least 1 second")
        if not 1 <= self.page_size <= self.max_page_size:
            raise ValueError("page_size must be between 1 and max_page_size")
        if self.list_key == "" and self.pagination != "link_header":
            raise ValueError('list_key="" (a bare JSON array) needs pagination="link_header"')
        if self.rate_limit_per_second is not None and not self.rate_limit_per_second > 0:
            raise ValueError("rate_limit_per_second must be positive (None for no limit)")

    @property
    def items_key(self) -> str:
        """The top-level key of the rows ("" for a bare array)."""
        if self.list_key is not None:
            return self.list_key
        return "items" if self.shape == "nested" else "data"


class _UsageError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        parameter: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"code": code, "message": message}
        if parameter is not None:
            self.error["parameter"] = parameter
        self.error.update(extra)
        self.headers = dict(headers or {})


def _invalid(parameter: str, message: str) -> _UsageError:
    return _UsageError(400, "invalid_parameter", message, parameter)


async def _usage_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _UsageError)
    return JSONResponse({"error": exc.error}, status_code=exc.status, headers=exc.headers or None)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
    return JSONResponse(
        {"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code, headers=exc.headers
    )


@lru_cache(maxsize=1 << 17)
def _normalise(raw: str) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, or ``None`` if ``raw`` is not ISO-8601.

    Cached: a world's rows share few distinct stamps, and equal stamps then share one string.
    """
    # Fast path for the API's own format (``2026-06-01T01:07:00Z``): millions of rows are keyed at once.
    if len(raw) == 20 and raw[19] == "Z" and raw[10] == "T" and raw[4] == raw[7] == "-" and raw[13] == raw[16] == ":":
        try:
            datetime.fromisoformat(raw)
        except ValueError:
            return None
        return raw[:19] + ".000000Z"
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


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


def _int_param(request: Request, name: str, *, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"{name} must be an integer {bounds}, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise _invalid(name, f"{name} must be {bounds}, got {value}")
    return value


def _encode_cursor(key: Sequence[str]) -> str:
    payload = json.dumps({"v": _CURSOR_VERSION, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int, *, instant_first: bool, issued_as: str) -> tuple[str, ...]:
    """The sort key a cursor was issued after; raises ``_UsageError`` for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = payload["k"]
        if payload["v"] != _CURSOR_VERSION or len(key) != size or not all(isinstance(part, str) for part in key):
            raise ValueError(key)
        if instant_first and _normalise(key[0]) != key[0]:
            raise ValueError(key[0])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise _invalid("cursor", f"cursor is not a {issued_as} this API issued") from None
    return tuple(key)


def _text(value: Any) -> str:
    return value if type(value) is str else "" if value is None else str(value)


def _texts(column: list[Any]) -> list[str]:
    """The column as strings (``None`` as ``""``), itself when it holds only strings, as it does."""
    return column if set(map(type, column)) <= {str} else list(map(_text, column))


def _columns(rows: Sequence[Row]) -> tuple[list[Any], list[Any], list[Any]]:
    """``updated_at``, ``workspace_id`` and ``date`` of every row, in order.

    A ``UsageRows`` computes them without building the rows (``column``); a list is read with
    C-level ``map``. Either way no row is copied.
    """
    column = getattr(rows, "column", None)
    if callable(column):
        return column("updated_at"), column("workspace_id"), column("date")
    plain = rows if isinstance(rows, list) else list(rows)
    return (
        list(map(dict.get, plain, repeat("updated_at"))),
        list(map(dict.get, plain, repeat("workspace_id"))),
        list(map(dict.get, plain, repeat("date"))),
    )


class _Sorted:
    """Rows in key order as three columns plus each row's position in the store.

    ``instants[i]`` (normalised ``updated_at``), ``workspace_ids[i]`` and ``dates[i]`` make up
    the ``i``-th key; ``positions[i]`` is where that row sits in ``store.rows``. Only the page is
    read from the store, so a computed ``UsageRows`` is never materialised. Rows without a
    readable ``updated_at`` are left out.
    """

    def __init__(self, raw: tuple[list[Any], list[Any], list[Any]], first: int = 0) -> None:
        instants: list[str | None] = list(map(_normalise, _texts(raw[0])))
        workspace_ids = list(_texts(raw[1]))
        dates = list(_texts(raw[2]))
        positions: Sequence[int] = range(first, first + len(instants))
        if None in instants:
            keep = [i for i, instant in enumerate(instants) if instant is not None]
            instants, workspace_ids, dates = _gather(keep, instants, workspace_ids, dates)
            positions = [first + i for i in keep]
        if not _ascending(instants, workspace_ids, dates):  # the seeded world is in order already
            keys = list(zip(instants, workspace_ids, dates, strict=True))
            order = sorted(range(len(keys)), key=keys.__getitem__)
            instants, workspace_ids, dates = _gather(order, instants, workspace_ids, dates)
            positions = list(map(positions.__getitem__, order))
        self.instants = cast(list[str], instants)
        self.workspace_ids = workspace_ids
        self.dates = dates
        self.positions = positions

    def __len__(self) -> int:
        return len(self.instants)

    def key(self, i: int) -> _Key:
        return self.instants[i], self.workspace_ids[i], self.dates[i]

    def add(self, more: _Sorted) -> bool:
        """Merge rows appended to the store; ``False`` when sorting again is cheaper."""
        if not len(more):
            return True
        if not len(self) or self.key(len(self) - 1) <= more.key(0):
            mine, theirs = self.positions, more.positions
            if isinstance(mine, range) and isinstance(theirs, range) and mine.stop == theirs.start:
                self.positions = range(mine.start, theirs.stop)
            else:
                self.positions = [*self.positions, *more.positions]
            self.instants += more.instants
            self.workspace_ids += more.workspace_ids
            self.dates += more.dates
            return True
        if len(more) > _INSERT_MAX_ROWS:
            return False
        positions = list(self.positions)
        for j in range(len(more)):  # a memmove per column and row: fine for a few late writes
            at = bisect_right(range(len(self)), more.key(j), key=self.key)
            self.instants.insert(at, more.instants[j])
            self.workspace_ids.insert(at, more.workspace_ids[j])
            self.dates.insert(at, more.dates[j])
            positions.insert(at, more.positions[j])
        self.positions = positions
        return True


def _ascending(*columns: list[Any]) -> bool:
    """Whether the rows' keys (one column per part) never go down; no list of keys is built."""
    following = zip(*(islice(column, 1, None) for column in columns), strict=True)
    return all(map(operator.le, zip(*columns, strict=True), following))


def _through(f: Callable[[int], T], members: list[int]) -> Callable[[int], T]:
    """``f`` of the ``j``-th member: a sub-view's key through its indices into the whole."""
    return lambda j: f(members[j])


def _gather(order: Sequence[int], *columns: list[Any]) -> tuple[list[Any], ...]:
    return tuple(list(map(column.__getitem__, order)) for column in columns)


class _Snapshot:
    """One store version's sorted index, with per-workspace and workspace-list views built on demand."""

    def __init__(self, rows: Sequence[Row], signature: tuple[Any, ...]) -> None:
        self.source = rows
        self.signature = signature
        self.size = len(rows)
        self.last: Row | None = rows[-1] if isinstance(rows, list) and rows else None
        raw = _columns(rows)
        # Small plain lists keep enough to notice in-place edits (a UsageRows has a version for that).
        self.check: tuple[list[Row], tuple[list[Any], list[Any], list[Any]]] | None = None
        if isinstance(rows, list) and len(rows) <= _VERIFY_MAX_ROWS:
            self.check = (list(rows), raw)
        self.sorted = _Sorted(raw)
        self._by_workspace: dict[str, list[int]] | None = None
        self._workspaces: tuple[list[str], list[int]] | None = None

    def row(self, i: int) -> Row:
        return self.source[self.sorted.positions[i]]

    def still_matches(self, rows: list[Row]) -> bool:
        return self.check is not None and rows == self.check[0] and _columns(rows) == self.check[1]

    def appended(self, rows: Sequence[Row], signature: tuple[Any, ...]) -> bool:
        """Take in rows appended to a big plain list since this snapshot; ``False`` if it changed otherwise."""
        if (
            self.check is not None
            or not isinstance(rows, list)
            or signature[0] != self.signature[0]
            or signature[2] != self.signature[2]
            or len(rows) <= self.size
            or (self.size and rows[self.size - 1] is not self.last)  # an insert anywhere else shifts it
        ):
            return False
        if not self.sorted.add(_Sorted(_columns(rows[self.size :]), first=self.size)):
            return False
        self.signature, self.size, self.last = signature, len(rows), rows[-1]
        self._by_workspace = self._workspaces = None
        return True

    def workspace(self, workspace_id: str) -> list[int]:
        """Sorted-order indices of one workspace's rows."""
        if self._by_workspace is None:
            groups: dict[str, list[int]] = {}
            for i, ws in enumerate(self.sorted.workspace_ids):
                group = groups.get(ws)
                if group is None:
                    groups[ws] = [i]
                else:
                    group.append(i)
            self._by_workspace = groups
        return self._by_workspace.get(workspace_id, [])

    def workspaces(self) -> tuple[list[str], list[int]]:
        """Workspace ids in order, each with the sorted-order index of its latest row (greatest date)."""
        if self._workspaces is None:
            dates = self.sorted.dates
            # Stable: within a date rows stay in updated_at order, so the last one written to the dict wins.
            order = sorted(range(len(dates)), key=dates.__getitem__)
            latest = dict(zip(map(self.sorted.workspace_ids.__getitem__, order), order, strict=True))
            ids = sorted(latest)
            self._workspaces = (ids, [latest[ws] for ws in ids])
        return self._workspaces


class UsageIndex:
    """The sorted view of ``store.rows`` for the current store version (``app.state.usage_index``)."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store
        self._snapshot: _Snapshot | None = None
        self.builds = 0

    def invalidate(self) -> None:
        """Forget the sorted view: the next request sorts again (after an in-place edit of a big list)."""
        with self.store.lock:
            self._snapshot = None

    def current(self) -> _Snapshot:
        """The up-to-date snapshot; call with ``store.lock`` held."""
        rows: Iterable[Row] = self.store.rows
        version = getattr(self.store, "version", None)
        if not isinstance(rows, Sequence):  # a bare iterable: read once per version
            signature: tuple[Any, ...] = (id(rows), None, version)
            if self._snapshot is not None and self._snapshot.signature == signature:
                return self._snapshot
            rows = list(rows)
        else:
            signature = (id(rows), len(rows), version)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.signature == signature:
            if snapshot.check is None or (isinstance(rows, list) and snapshot.still_matches(rows)):
                return snapshot
        elif snapshot is not None and snapshot.appended(rows, signature):
            return snapshot
        snapshot = self._snapshot = None  # let the old one go before the new one is built
        self._snapshot = _Snapshot(rows, signature)
        self.builds += 1
        return self._snapshot


class _RateLimiter:
    """A token bucket holding one second's worth of requests (at least one)."""

    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.capacity = max(1.0, per_second)
        self.tokens = self.capacity
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> float:
        """0 if a request may pass now (and count it), else the seconds until one may."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def _nested(row: Row, updated: str) -> Row:
    item: Row = {}
    for name, path in _NESTED_SPLIT:
        if name not in row:
            continue
        node = item
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = updated if name == "updated_at" else row[name]
    extra = {name: value for name, value in row.items() if name not in NESTED_PATHS}
    if extra:
        item["extra"] = extra
    return item


def _workspace_item(workspace_id: str, row: Row) -> Row:
    item: Row = {"id": workspace_id}
    for fact in _WORKSPACE_FACTS:
        for name in (fact, f"workspace_{fact}"):
            if name in row:
                item[fact] = row[name]
                break
    return item


def _link(url: URL, rel: str) -> str:
    return f'<{url}>; rel="{rel}"'


def _oauth_error(status: int, error: str, description: str, *, challenge: bool = False) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if challenge:
        headers["WWW-Authenticate"] = f'Basic realm="{_REALM}"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _basic_credentials(header: str) -> tuple[str, str] | Literal[False] | None:
    """``(client_id, secret)`` from an ``Authorization: Basic`` header, ``None`` without one, ``False`` if malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return False
    # RFC 6749 §2.3.1: both are form-urlencoded before being joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


_DEFAULT_STYLE: Final = UsageStyle()


def create_usage_app(world: World, *, style: UsageStyle = _DEFAULT_STYLE) -> Starlette:
    """The usage API over ``world.usage`` in ``style`` (contract in the module docstring)."""
    store = world.usage
    index = UsageIndex(store)
    limiter = _RateLimiter(style.rate_limit_per_second) if style.rate_limit_per_second is not None else None
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
            raise _UsageError(
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
            if not _same(request.headers.get(style.api_key_header), world.tokens["usage"]):
                raise _UsageError(401, "unauthorized", f"Missing or invalid API key ({style.api_key_header} header).")
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
            challenge = f'Bearer realm="{_REALM}"'
            headers["WWW-Authenticate"] = challenge + (', error="invalid_token"' if token else "")
        raise _UsageError(401, "unauthorized", "Missing or invalid bearer token.", headers=headers)

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
        size = _int_param(request, size_param, default=style.page_size, low=1, high=style.max_page_size)
        if style.pagination == "page":
            number = _int_param(request, "page", default=1, low=1)
            total = hi - lo
            start = min(hi, lo + (number - 1) * size)
            meta = {"page": number, "per_page": size, "total_pages": -(-total // size), "total": total}
            return range(start, min(hi, start + size)), meta, {}
        if style.pagination == "offset":
            offset = _int_param(request, "offset", default=0, low=0)
            start = min(hi, lo + offset)
            return range(start, min(hi, start + size)), {"offset": offset, "limit": size, "total": hi - lo}, {}
        raw_cursor = request.query_params.get("cursor")
        start = lo
        if raw_cursor:
            issued_as = "next_cursor" if style.pagination == "cursor" else "next page link"
            after = _decode_cursor(raw_cursor, key_size, instant_first=instant_first, issued_as=issued_as)
            start = bisect_right(range(hi), after, lo, hi, key=key)
        end = min(hi, start + size)
        cursor = _encode_cursor(key(end - 1)) if end < hi else None
        if style.pagination == "cursor":
            return range(start, end), {"next_cursor": cursor}, {}
        following = str(request.url.include_query_params(cursor=cursor)) if cursor is not None else None
        if style.pagination == "next_link":
            return range(start, end), {"links": {"next": following}}, {}
        links = [f'<{following}>; rel="next"'] if following is not None else []
        if following is not None or raw_cursor:
            links.append(_link(request.url.remove_query_params("cursor"), "first"))
        return range(start, end), {}, {"Link": ", ".join(links)} if links else {}

    def respond(data: list[Any], meta: dict[str, Any], headers: dict[str, str]) -> Response:
        body: Any = data if items_key == "" else {items_key: data, **meta}
        return JSONResponse(body, headers=headers or None)

    async def daily(request: Request) -> Response:
        throttle()
        authorise(request)
        since = _instant_param(request, "updated_since")
        before = _instant_param(request, "updated_before")
        if since is not None and before is not None and before <= since:
            raise _invalid("updated_before", "updated_before must be later than updated_since")
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
                at, key, count = members.__getitem__, _through(rows.key, members), len(members)
                instant = _through(instants.__getitem__, members)
                lo = 0 if since is None else bisect_left(range(count), since, key=instant)
                hi = count if before is None else bisect_left(range(count), before, key=instant)
            indices, meta, headers = page(request, key, lo, hi, key_size=3, instant_first=True)
            data: list[Row] = []
            for j in indices:
                i = at(j)
                row, updated = snapshot.row(i), _display(instants[i])
                if style.shape == "nested":
                    data.append(_nested(row, updated))
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
            return respond([_workspace_item(ids[j], snapshot.row(latest[j])) for j in indices], meta, headers)

    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
        try:
            pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return _oauth_error(400, "invalid_request", "The body is not a valid form.")
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                return _oauth_error(400, "invalid_request", f"Parameter {name} is repeated.")
            form[name] = value
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None and "client_secret" in form:
            return _oauth_error(400, "invalid_request", "Use one client authentication method, not both.")
        if not form.get("grant_type"):
            return _oauth_error(400, "invalid_request", "grant_type is required.")
        auth = world.auth["usage"]
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        if basic is False or not (_same(client_id, auth.client_id) and _same(secret, auth.client_secret)):
            return _oauth_error(401, "invalid_client", "Client authentication failed.", challenge=True)
        if form["grant_type"] != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
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
    if style.auth == "oauth2":
        routes.append(Route(style.token_path, token, methods=["POST"]))
    app = Starlette(
        routes=routes,
        exception_handlers={_UsageError: _usage_error_handler, HTTPException: _http_error_handler},
    )
    with store.lock:
        index.current()  # sort once now, not on the first request
    app.state.usage_index = index
    app.state.usage_style = style
    return app
