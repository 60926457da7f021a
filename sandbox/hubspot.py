"""HubSpot CRM v3/v4 stand-in: serves ``world.hubspot`` with the paths, shapes, limits and errors of api.hubapi.com.

It is driven by the real ``hubspot-api-client`` in tests, demos and benchmarks, so every response
has the shape the generated models require, and the behaviours that bite real integrations are
reproduced on purpose (developers.hubspot.com/docs/api/crm/search, .../crm/understanding-the-crm):

- every object type upsync reads (connectors/OBJECTS.md) has a property schema: types,
  enumeration options, ``contract_end_date`` as a date, ``health_rollup`` as a *calculated*
  number (read-only, changes without moving ``hs_lastmodifieddate``), contacts' ``lastmodifieddate``
  and engagements' ``hs_createdate``;
- associations use HubSpot's HUBSPOT_DEFINED type ids (:data:`ASSOCIATION_TYPES`), read from
  either side; a primary or parent/child association also reports its unlabeled twin, as
  HubSpot does; v4 batch reads take at most 1,000 inputs and page long association lists;
- search pages hold at most 200 rows, hide archived objects, report an exact ``total`` and answer
  400 once ``after + limit`` passes 10,000 (``app.state.search_cap``), while ``paging.next``
  keeps pointing there;
- archiving sets ``archived``/``archivedAt`` but leaves ``hs_lastmodifieddate`` alone, so deletes
  are invisible to a modified-since search;
- batch writes are capped at 100 inputs (a batch read asking for ``propertiesWithHistory`` at
  50); a batch create with one bad input fails whole (400 ``VALIDATION_ERROR``) unless every
  input carries an ``objectWriteTraceId``, in which case the good inputs are created and the bad
  ones come back in a 207 multi-status;
- bearer tokens are checked against ``world.auth["hubspot"]`` (:class:`sandbox.world.AuthState`):
  an unknown token is 401 ``INVALID_AUTHENTICATION``, a token that used to work (after
  ``AuthState.expire()`` or past its ``expires_in``) is 401 ``EXPIRED_AUTHENTICATION``;
  ``POST /oauth/v1/token`` trades the refresh token for a new access token;
- rate-limit headers are on every response; enforcement (429 with HubSpot's body) is off until a
  test sets ``app.state.limits = HubSpotLimits(...)``, which also decides whether 429s carry a
  ``Retry-After`` (HubSpot sends it on some 429s and not on others);
- an update that changes no value changes nothing: no history entry, no new modstamp.

Settings live on ``app.state``: ``limits`` (``HubSpotLimits | None``, default ``None`` = not
enforced), ``rate`` (the counters: ``app.state.rate.reset()``, ``.consume_daily(n)``),
``search_cap`` (10,000), ``token_expires_in`` (``None``: tokens issued by the token endpoint live
until ``AuthState.expire()``; ``N``: they expire N seconds of ``world.now()`` after issue),
``association_page_size`` (500 targets per object in a v4 read), ``embedded_association_limit``
(100 per type in a v3 object's ``associations``) and ``search_index_min`` (50,000: tables this
big are searched through a modified-date index, smaller ones by a full pass).

Test helpers change the world the way HubSpot itself would: :func:`archive`/:func:`restore`,
:func:`mass_update` (one identical modstamp on thousands of objects), :func:`recalculate` (a
calculated property changes, the modstamp does not), :func:`associate`, :func:`edit_as_user`
(a person's edit, history ``CRM_UI``), :func:`refuse_items` (one input of a batch write refused)
and :func:`remove_property`/:func:`remove_group` (a portal without upsync's properties). Tests may
also change ``world.hubspot`` directly. What the stand-in keeps besides the store notices that:
the sorted ids of the list endpoint and the reverse association index follow added and removed
objects and association keys; search passes over every object of tables under
``search_index_min`` (comparing canonical ISO timestamps as strings), so it sees any edit. Only
two direct edits need :func:`invalidate`: moving an object's modified date *into* a search window
in place on a big table, and appending to an association list already indexed (use
:func:`associate` instead).

Every store access holds ``world.hubspot.lock``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import json
import math
import operator
import re
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from itertools import islice
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers, State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.world import AuthState, HubSpotStore, ItemFault, World, hs_time, take_item_fault

__all__ = [
    "API_SOURCE_ID",
    "ASSOCIATION_TYPES",
    "HISTORY_BATCH_MAX",
    "AssociationType",
    "HubSpotLimits",
    "RateCounters",
    "archive",
    "associate",
    "create_hubspot_app",
    "edit_as_user",
    "invalidate",
    "mass_update",
    "recalculate",
    "refuse_items",
    "remove_group",
    "remove_property",
    "restore",
]

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_SOURCE_ID: Final = "3141592"
"""``sourceId`` of property history written through the API token (the private app's id)."""

SEARCH_CAP: Final = 10_000
SEARCH_PAGE_MAX: Final = 200
SEARCH_BODY_MAX: Final = 3_000
MAX_FILTER_GROUPS: Final = 5
MAX_FILTERS_PER_GROUP: Final = 6
MAX_FILTERS: Final = 18
BATCH_MAX: Final = 100
HISTORY_BATCH_MAX: Final = 50
"""A batch read asking for ``propertiesWithHistory`` takes at most 50 inputs (HubSpot's 400 message,
quoted in PipedreamHQ/pipedream#8462)."""
ASSOCIATION_BATCH_READ_MAX: Final = 1_000
ASSOCIATION_PAGE_SIZE: Final = 500
SEARCH_INDEX_MIN: Final = 50_000
"""Tables this big are searched through a modified-date index rather than a full pass."""
EMBEDDED_ASSOCIATION_LIMIT: Final = 100
LIST_PAGE_MAX: Final = 100
OWNERS_PAGE_MAX: Final = 500
TOKEN_EXPIRES_IN: Final = 1_800
"""What the token endpoint reports as ``expires_in`` unless ``app.state.token_expires_in`` is set."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS: Final = -30_610_224_000_000  # 1000-01-01T00:00:00.000Z and
_MAX_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the instants hs_time prints in 24 characters
_AUTH_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)

# Object type ids and names (developers.hubspot.com/docs/api/crm/understanding-the-crm).
_TYPE_IDS: Final = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-7": "products",
    "0-8": "line_items",
    "0-14": "quotes",
    "0-27": "tasks",
    "0-46": "notes",
    "0-47": "meetings",
    "0-48": "calls",
    "0-49": "emails",
}
_SINGULAR: Final = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    "products": "product",
    "line_items": "line_item",
    "quotes": "quote",
    "tasks": "task",
    "notes": "note",
    "meetings": "meeting",
    "calls": "call",
    "emails": "email",
}
_PLURAL: Final = {singular: plural for plural, singular in _SINGULAR.items()}
_ENGAGEMENTS: Final = frozenset({"tasks", "notes", "meetings", "calls", "emails"})


# ---------------------------------------------------------------------------------------------
# Association types
# ---------------------------------------------------------------------------------------------


class AssociationType(NamedTuple):
    """One HUBSPOT_DEFINED association type, in one direction.

    ``label`` is what v4 reads report (``"Primary"``, ``"Parent Company"``; ``None`` for the
    unlabeled type), ``name`` what v3 object reads put in ``associations.*.results[].type``,
    ``inverse`` the type id of the same association read from the other side.
    """

    type_id: int
    from_type: str
    to_type: str
    label: str | None
    name: str
    inverse: int


def _pair(
    from_type: str, to_type: str, type_id: int, inverse: int, label: str | None = None, suffix: str = ""
) -> tuple[AssociationType, AssociationType]:
    one, other = _SINGULAR[from_type], _SINGULAR[to_type]
    return (
        AssociationType(type_id, from_type, to_type, label, f"{one}_to_{other}{suffix}", inverse),
        AssociationType(inverse, to_type, from_type, label, f"{other}_to_{one}{suffix}", type_id),
    )


# HubSpot's v4 "Association type ID values" table (developers.hubspot.com/docs/api/crm/associations-v4,
# section "Association type ID values"), cross-checked against the constants of HubSpot's own
# client (hubspot-api-ruby Hubspot::Helpers::AssociationType) and HubSpot's JS constants for the
# unlabeled 279/280, 339/340, 341/342 types. Primary types imply their unlabeled twin (_IMPLIED).
ASSOCIATION_TYPES: Final[tuple[AssociationType, ...]] = (
    *_pair("contacts", "companies", 1, 2, "Primary"),
    *_pair("contacts", "companies", 279, 280, suffix="_unlabeled"),
    *_pair("deals", "companies", 5, 6, "Primary"),
    *_pair("deals", "companies", 341, 342, suffix="_unlabeled"),
    *_pair("deals", "contacts", 3, 4),
    *_pair("tickets", "companies", 26, 25, "Primary"),
    *_pair("tickets", "companies", 339, 340, suffix="_unlabeled"),
    *_pair("tickets", "contacts", 16, 15),
    *_pair("tickets", "deals", 28, 27),
    *_pair("line_items", "deals", 20, 19),
    AssociationType(13, "companies", "companies", "Parent Company", "parent_to_child_company", 14),
    AssociationType(14, "companies", "companies", "Child Company", "child_to_parent_company", 13),
    AssociationType(450, "companies", "companies", None, "company_to_company", 450),
    *_pair("calls", "companies", 182, 181),
    *_pair("calls", "contacts", 194, 193),
    *_pair("calls", "deals", 206, 205),
    *_pair("calls", "tickets", 220, 219),
    *_pair("emails", "companies", 186, 185),
    *_pair("emails", "contacts", 198, 197),
    *_pair("emails", "deals", 210, 209),
    *_pair("emails", "tickets", 224, 223),
    *_pair("meetings", "companies", 188, 187),
    *_pair("meetings", "contacts", 200, 199),
    *_pair("meetings", "deals", 212, 211),
    *_pair("meetings", "tickets", 226, 225),
    *_pair("notes", "companies", 190, 189),
    *_pair("notes", "contacts", 202, 201),
    *_pair("notes", "deals", 214, 213),
    *_pair("notes", "tickets", 228, 227),
    *_pair("tasks", "companies", 192, 191),
    *_pair("tasks", "contacts", 204, 203),
    *_pair("tasks", "deals", 216, 215),
    *_pair("tasks", "tickets", 230, 229),
)
"""Every HUBSPOT_DEFINED association type the stand-in knows, both directions."""

_ASSOC_BY_ID: Final = {t.type_id: t for t in ASSOCIATION_TYPES}
_ASSOC_TARGET: Final = {(t.from_type, t.type_id): t.to_type for t in ASSOCIATION_TYPES}
_ASSOC_INVERSE: Final = {t.type_id: t.inverse for t in ASSOCIATION_TYPES}
# A primary (or parent/child) association is always also an unlabeled one: HubSpot reports both
# (a deal's primary company comes back as typeId 5 "Primary" and 341 unlabeled).
_IMPLIED: Final = {1: 279, 2: 280, 5: 341, 6: 342, 26: 339, 25: 340, 13: 450, 14: 450}


# ---------------------------------------------------------------------------------------------
# Rate limits (developers.hubspot.com/docs/api/usage-details)
# ---------------------------------------------------------------------------------------------

Policy = Literal["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"]
_POLICIES: Final[frozenset[Policy]] = frozenset({"TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"})


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSpotLimits:
    """The account's API limits; set one on ``app.state.limits`` to enforce them.

    ``None`` for a limit leaves that policy unenforced. The defaults are the Free/Starter
    private-app tier: 100 requests per rolling 10 s, search 5 per second (its own bucket: search
    requests do not use the general one), 250,000 per day (both kinds count).

    ``retry_after`` decides the ``Retry-After`` header of a 429, because HubSpot sends one on some
    429s and not on others and a client must cope with both: ``None`` sends none, a number sends
    that many seconds, ``"window"`` sends the whole seconds until the refused policy admits a
    request again (the rolling window frees a slot, or the next day starts). ``retry_after_on``
    limits it to some policies (say, only ``{"SECONDLY"}``).
    """

    per_10s: int | None = 100
    search_per_s: int | None = 5
    daily: int | None = 250_000
    retry_after: int | Literal["window"] | None = None
    retry_after_on: frozenset[Policy] = _POLICIES


_DISPLAY_LIMITS: Final = HubSpotLimits()


@dataclass(frozen=True, slots=True)
class _Admission:
    """The limiter's answer: the policy that refused (or ``None``), the headers, the seconds to wait."""

    refused: Policy | None
    headers: dict[str, str]
    wait: float = 0.0


class RateCounters:
    """Sliding windows of admitted requests on real monotonic time, and today's total.

    Windows: the general rolling 10 s (and its last second, for the ``Secondly`` headers) and the
    search 1 s bucket. Wall time, not ``world.now()``, because benchmarks measure real throttling.
    The day is the world's day (``today``), so ``Daily-Remaining`` resets at the sandbox's midnight.
    Requests refused with 429 are not counted, so a client that backs off recovers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._general: deque[float] = deque()
        self._general_1s: deque[float] = deque()
        self._search: deque[float] = deque()
        self._daily = 0
        self._day: date | None = None

    def reset(self) -> None:
        """Forget every admitted request (windows and today's count)."""
        with self._lock:
            self._general.clear()
            self._general_1s.clear()
            self._search.clear()
            self._daily = 0

    def consume_daily(self, requests: int) -> None:
        """Count ``requests`` more against today's quota, as if another integration had made them.

        How a test brings the account to its ``DAILY`` limit without making 250,000 calls.
        """
        with self._lock:
            self._daily += requests

    def admit(
        self,
        limits: HubSpotLimits | None,
        *,
        search: bool,
        today: date,
        count: bool = True,
        seconds_to_midnight: float = 0.0,
    ) -> _Admission:
        """Count one request unless it is over an enforced limit; return the refusal and headers.

        ``count=False`` only reports the headers (for requests refused before the limiter, e.g. 401).
        """
        with self._lock:
            now = self._clock()
            for window, span in ((self._general, 10.0), (self._general_1s, 1.0), (self._search, 1.0)):
                while window and window[0] <= now - span:
                    window.popleft()
            if self._day != today:
                if self._day is not None:  # a new day (the first request only dates what was consumed)
                    self._daily = 0
                self._day = today
            if not count:
                return _Admission(None, self._headers(limits, search=search))
            refused: Policy | None = None
            wait = 0.0
            if limits is not None:
                if limits.daily is not None and self._daily >= limits.daily:
                    refused, wait = "DAILY", seconds_to_midnight
                elif search and limits.search_per_s is not None and len(self._search) >= limits.search_per_s:
                    refused = "SECONDLY"
                    wait = self._search[-limits.search_per_s] + 1.0 - now if limits.search_per_s else 1.0
                elif not search and limits.per_10s is not None and len(self._general) >= limits.per_10s:
                    refused = "TEN_SECONDLY_ROLLING"
                    wait = self._general[-limits.per_10s] + 10.0 - now if limits.per_10s else 10.0
            if refused is None:
                self._daily += 1
                if search:
                    self._search.append(now)
                else:
                    self._general.append(now)
                    self._general_1s.append(now)
            return _Admission(refused, self._headers(limits, search=search), max(0.0, wait))

    def _headers(self, limits: HubSpotLimits | None, *, search: bool) -> dict[str, str]:
        eff = limits or _DISPLAY_LIMITS
        per_10s = eff.per_10s if eff.per_10s is not None else _DISPLAY_LIMITS.per_10s or 100
        daily = eff.daily if eff.daily is not None else _DISPLAY_LIMITS.daily or 250_000
        if search:
            secondly = eff.search_per_s if eff.search_per_s is not None else _DISPLAY_LIMITS.search_per_s or 5
            in_second = len(self._search)
        else:
            secondly = max(1, per_10s // 10)
            in_second = len(self._general_1s)
        return {
            "X-HubSpot-RateLimit-Daily": str(daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - self._daily)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, per_10s - len(self._general))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - in_second)),
        }


_RATE_MESSAGES: Final[dict[Policy, str]] = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def _retry_after(limits: HubSpotLimits, policy: Policy, wait: float) -> str | None:
    if limits.retry_after is None or policy not in limits.retry_after_on:
        return None
    if limits.retry_after == "window":
        return str(max(1, math.ceil(wait)))
    return str(limits.retry_after)


# ---------------------------------------------------------------------------------------------
# Access tokens (developers.hubspot.com/docs/api/oauth/tokens)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Tokens:
    """What the stand-in remembers about access tokens, beyond ``AuthState``'s set of valid ones.

    HubSpot tells an expired token (401 ``EXPIRED_AUTHENTICATION``, "expired N minute(s) ago")
    from one it never issued (401 ``INVALID_AUTHENTICATION``), so every token ever valid is
    remembered, with when it stopped working.
    """

    known: set[str] = field(default_factory=set)
    expires_at: dict[str, datetime] = field(default_factory=dict)
    expired_at: dict[str, datetime] = field(default_factory=dict)

    def check(self, auth: AuthState, token: str, now: datetime) -> Literal["valid", "expired", "invalid"]:
        with auth.lock:
            self.known.update(auth.access_tokens)
            if token in auth.access_tokens:
                deadline = self.expires_at.get(token)
                if deadline is None or now < deadline:
                    return "valid"
                auth.access_tokens.discard(token)  # its expires_in ran out
                self.expired_at[token] = deadline
                return "expired"
            if token in self.known:
                self.expired_at.setdefault(token, now)  # AuthState.expire() took it: first noticed now
                return "expired"
            return "invalid"

    def issue(self, auth: AuthState, now: datetime, lifetime: int | None) -> str:
        with auth.lock:
            token = auth.issue()
            self.known.add(token)
            if lifetime is not None:
                self.expires_at[token] = now + timedelta(seconds=lifetime)
            return token


def _ago(seconds: float) -> str:
    """HubSpot's "expired 5 minute(s) ago" wording."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}(s)"
    return f"{int(max(0.0, seconds))} second(s)"


def _seconds_to_midnight(now: datetime) -> float:
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds()


class _Gate:
    """ASGI middleware: bearer-token check, rate limiting, and rate-limit headers on every response.

    The OAuth token endpoint is outside it: it takes no bearer token and no API quota.
    """

    def __init__(self, app: ASGIApp, *, world: World, state: State, tokens: _Tokens) -> None:
        self.app = app
        self.world = world
        self.state = state
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/oauth/"):
            await self.app(scope, receive, send)
            return
        search = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/search")
        rate: RateCounters = self.state.rate
        limits: HubSpotLimits | None = self.state.limits
        now = self.world.now()
        header = Headers(scope=scope).get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        verdict = self.tokens.check(self.world.auth["hubspot"], token, now) if token else "invalid"
        if verdict != "valid":
            headers = rate.admit(limits, search=search, today=now.date(), count=False).headers
            if verdict == "expired":
                expired = self.tokens.expired_at.get(token, now)
                body = {
                    "status": "error",
                    "message": f"The OAuth token used to make this call expired {_ago((now - expired).total_seconds())}"
                    " ago.",
                    "correlationId": _correlation_id(),
                    "category": "EXPIRED_AUTHENTICATION",
                    "context": {"expire time": [hs_time(expired)]},
                }
            else:
                body = {
                    "status": "error",
                    "message": _AUTH_MESSAGE,
                    "correlationId": _correlation_id(),
                    "category": "INVALID_AUTHENTICATION",
                }
            await JSONResponse(body, status_code=401, headers=headers)(scope, receive, send)
            return
        admission = rate.admit(limits, search=search, today=now.date(), seconds_to_midnight=_seconds_to_midnight(now))
        if admission.refused is not None:
            assert limits is not None
            body = {
                "status": "error",
                "message": _RATE_MESSAGES[admission.refused],
                "errorType": "RATE_LIMIT",
                "correlationId": _correlation_id(),
                "policyName": admission.refused,
                "groupName": f"private-app:{API_SOURCE_ID}",
            }
            headers = dict(admission.headers)
            retry_after = _retry_after(limits, admission.refused, admission.wait)
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            await JSONResponse(body, status_code=429, headers=headers)(scope, receive, send)
            return
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in admission.headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw_headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def _correlation_id() -> str:
    return str(uuid.uuid4())


class _ApiError(Exception):
    """A HubSpot error response, raised from anywhere in a handler."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {"status": "error", "message": message, "correlationId": _correlation_id()}
        self.body.update(extra)
        self.body["category"] = category


def _validation(message: str, **extra: Any) -> _ApiError:
    return _ApiError(400, message, "VALIDATION_ERROR", **extra)


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    return JSONResponse(exc.body, status_code=exc.status)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
    body = {"status": "error", "message": exc.detail, "correlationId": _correlation_id(), "category": category}
    return JSONResponse(body, status_code=exc.status_code)


@dataclass(frozen=True, slots=True)
class _Problem:
    """One invalid value in a write; ``kind`` decides the top-level message HubSpot uses."""

    kind: Literal["property", "association"]
    code: str
    message: str
    name: str

    def detail(self) -> JSON:
        key = "propertyName" if self.kind == "property" else "toObjectId"
        return {"message": self.message, "code": self.code, "context": {key: [self.name]}}


def _problems_message(problems: Sequence[_Problem]) -> tuple[str, dict[str, Any]]:
    props = [p for p in problems if p.kind == "property"]
    if props:
        listed = [
            {
                "isValid": False,
                "message": p.message,
                "error": p.code,
                "name": p.name,
                "localizedErrorMessage": p.message,
            }
            for p in props
        ]
        return "Property values were not valid: " + json.dumps(listed, separators=(",", ":")), {}
    ids = [p.name for p in problems]
    return "One or more associations are invalid", {
        "subCategory": "crm.associations.INVALID_OBJECT_IDS",
        "context": {"ids": ids},
    }


def _problems_error(problems: Sequence[_Problem]) -> _ApiError:
    message, extra = _problems_message(problems)
    return _validation(message, errors=[p.detail() for p in problems], **extra)


def _standard_error(category: str, message: str, context: Mapping[str, list[str]], **extra: Any) -> JSON:
    """A ``StandardError`` of a 207 body; the client model requires every one of these keys."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": dict(context),
        "errors": [],
        "links": {},
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# Values: datetimes, numbers, strings
# ---------------------------------------------------------------------------------------------

_INT_RE: Final = re.compile(r"-?\d+")
_TOKEN_SPLIT: Final = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=1 << 20)
def _instant_ms(raw: str) -> int | None:
    """Epoch ms from an epoch-ms string, an ISO-8601 datetime, or an ISO date (midnight UTC)."""
    text = raw.strip()
    if not text:
        return None
    if _INT_RE.fullmatch(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


@lru_cache(maxsize=1 << 20)
def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def _ms_to_iso(ms: int) -> str:
    return hs_time(_EPOCH + timedelta(milliseconds=ms))


def _to_text(value: Any) -> str:
    """HubSpot keeps every property value as a string; ``null`` clears it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bool_param(request: Request, name: str) -> bool:
    """``true``/``false`` and Python's ``True``/``False`` (what hubspot-api-client sends)."""
    return request.query_params.get(name, "false").strip().lower() == "true"


def _list_param(request: Request, name: str) -> list[str] | None:
    """A list query parameter given repeated (``a=1&a=2``) or comma-separated (``a=1,2``)."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    return [part.strip() for item in raw for part in item.split(",") if part.strip()]


def _int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _validation(f"Invalid value for query parameter {name}: {raw!r} is not an integer") from None
    if not low <= value <= high:
        raise _validation(f"{name} must be between {low} and {high}, got {value}")
    return value


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise _validation(f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def _body_object(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise _validation("Invalid input JSON: expected an object")
    return body


def _inputs(body: JSON, *, maximum: int) -> list[JSON]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise _validation("Invalid input JSON: `inputs` must be a list of objects")
    if len(inputs) > maximum:
        raise _validation(
            f"Too many inputs: {len(inputs)}. A batch request can contain at most {maximum} inputs.",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


# ---------------------------------------------------------------------------------------------
# Property schemas (developers.hubspot.com/docs/api/crm/properties)
# ---------------------------------------------------------------------------------------------

_LIFECYCLE: Final = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
_INDUSTRIES: Final = (
    "COMPUTER_SOFTWARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "RETAIL",
    "EDUCATION_MANAGEMENT",
    "LOGISTICS_AND_SUPPLY_CHAIN",
)
_DEAL_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
_DEAL_TYPES: Final = (("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))
_TICKET_STAGES: Final = (("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed"))
_TICKET_PRIORITY: Final = ("LOW", "MEDIUM", "HIGH", "URGENT")
_TASK_STATUS: Final = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
_TASK_PRIORITY: Final = ("NONE", "LOW", "MEDIUM", "HIGH")
_TASK_TYPE: Final = ("TODO", "CALL", "EMAIL", "LINKED_IN_CONNECT", "LINKED_IN_MESSAGE")
_CALL_STATUS: Final = (
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)
_CALL_DIRECTION: Final = ("INBOUND", "OUTBOUND")
_MEETING_OUTCOME: Final = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
_EMAIL_DIRECTION: Final = ("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")
_EMAIL_STATUS: Final = ("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")
_VALID_FIELD_TYPES: Final[dict[str, frozenset[str]]] = {
    "string": frozenset({"text", "textarea", "file", "html", "phonenumber", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox", "calculation_equation"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}

_Options = Sequence[str | tuple[str, str]]


class _Def(NamedTuple):
    """One property definition: HubSpot's standard ones and upsync's custom ones (``custom``).

    ``formula`` makes it a calculated property: read-only through the API, and its value changes
    without touching ``hs_lastmodifieddate`` (see :func:`recalculate`).
    """

    name: str
    label: str
    type: str
    field_type: str
    group: str
    options: _Options = ()
    read_only: bool = False
    custom: bool = False
    formula: str | None = None


def _created_field(object_type: str) -> str:
    return "hs_createdate" if object_type in _ENGAGEMENTS else "createdate"


def _modified_field(object_type: str) -> str:
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def _always_properties(object_type: str) -> tuple[str, ...]:
    """Returned whatever ``properties`` asks for, as the real API does."""
    return (_created_field(object_type), _modified_field(object_type), "hs_object_id")


# What a read without ``properties`` returns (each object type's documented default set).
_DEFAULT_PROPERTIES: Final[dict[str, tuple[str, ...]]] = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    "line_items": (
        "amount",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_product_id",
        "name",
        "price",
        "quantity",
    ),
    "tickets": (
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_priority",
        "subject",
    ),
}

# The text properties a free-text search ``query`` looks in (developers.hubspot.com/docs/api/crm/search,
# "Search default searchable properties").
_QUERY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email", "company"),
    "deals": ("dealname",),
    "products": ("name", "description", "hs_sku"),
    "line_items": ("name",),
    "tickets": ("subject", "content"),
    "tasks": ("hs_task_subject", "hs_task_body"),
    "calls": ("hs_call_title", "hs_call_body"),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
    "emails": ("hs_email_subject", "hs_email_text"),
    "notes": ("hs_note_body",),
}


def _info_group(object_type: str) -> str:
    return f"{_SINGULAR.get(object_type, object_type.rstrip('s')).replace('_', '')}information"


def _system_defs(object_type: str) -> list[_Def]:
    group = _info_group(object_type)
    created, modified = _created_field(object_type), _modified_field(object_type)
    return [
        _Def("hs_object_id", "Record ID", "number", "number", group, read_only=True),
        _Def(created, "Create Date", "datetime", "date", group, read_only=True),
        _Def(modified, "Last Modified Date", "datetime", "date", group, read_only=True),
        _Def("hubspot_owner_id", "Owner", "enumeration", "select", group),
        # Set by HubSpot when a user edits the record in the app (edit_as_user); API writes leave it.
        _Def("hs_updated_by_user_id", "Updated by user ID", "number", "number", group, read_only=True),
    ]


def _upsync_company_defs() -> list[_Def]:
    """The properties upsync writes back to companies (its own property group)."""
    return [
        _Def("upsync_health_score", "Health score", "number", "number", "upsync", custom=True),
        _Def("upsync_health_band", "Health band", "string", "text", "upsync", custom=True),
        _Def("upsync_expansion_score", "Expansion score", "number", "number", "upsync", custom=True),
        _Def("upsync_next_best_action", "Next best action", "string", "textarea", "upsync", custom=True),
        _Def("upsync_last_signal", "Last signal", "string", "textarea", "upsync", custom=True),
        _Def("upsync_playbook_url", "Playbook URL", "string", "text", "upsync", custom=True),
        _Def("upsync_as_of", "Upsync as of", "datetime", "date", "upsync", custom=True),
    ]


def _type_defs(object_type: str, group: str) -> list[_Def]:
    """The standard and upsync properties of one object type (connectors/OBJECTS.md lists what upsync reads)."""
    if object_type == "companies":
        return [
            _Def("name", "Company name", "string", "text", group),
            _Def("domain", "Company Domain Name", "string", "text", group),
            _Def("industry", "Industry", "enumeration", "select", group, _INDUSTRIES),
            _Def("numberofemployees", "Number of Employees", "number", "number", group),
            _Def("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _LIFECYCLE),
            _Def("workspace_id", "Workspace ID", "string", "text", group, custom=True),
            _Def("upsync_seats_purchased", "Seats purchased", "number", "number", group, custom=True),
            _Def("contract_end_date", "Contract end date", "date", "date", group, custom=True),
            _Def(
                "health_rollup",
                "Health roll-up",
                "number",
                "calculation_equation",
                group,
                read_only=True,
                custom=True,
                formula="average(associated_deals.hs_deal_health_score)",
            ),
            # Account facts upsync's guards read when configured (G6, G1) and the health score's CSAT. A
            # ``bool`` property has ``fieldType`` ``booleancheckbox`` and two options, Yes → "true" and
            # No → "false"; values read back as those strings, "" when never set
            # (developers.hubspot.com/docs/api/crm/properties, "Property type and fieldType values").
            _Def(
                "do_not_contact",
                "Do not contact",
                "bool",
                "booleancheckbox",
                group,
                (("true", "Yes"), ("false", "No")),
                custom=True,
            ),
            _Def("nps_score", "NPS score", "number", "number", group, custom=True),
            _Def("csat_score", "CSAT score (%)", "number", "number", group, custom=True),
            *_upsync_company_defs(),
        ]
    if object_type == "contacts":
        return [
            _Def("email", "Email", "string", "text", group),
            _Def("firstname", "First Name", "string", "text", group),
            _Def("lastname", "Last Name", "string", "text", group),
            _Def("phone", "Phone Number", "string", "phonenumber", group),
            _Def("company", "Company Name", "string", "text", group),
            _Def("jobtitle", "Job Title", "string", "text", group),
            _Def("department", "Department", "string", "text", group, custom=True),
            _Def("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _LIFECYCLE),
        ]
    if object_type == "deals":
        return [
            _Def("dealname", "Deal Name", "string", "text", group),
            _Def("amount", "Amount", "number", "number", group),
            _Def("dealstage", "Deal Stage", "enumeration", "radio", group, _DEAL_STAGES),
            _Def("pipeline", "Pipeline", "enumeration", "select", group, ("default",)),
            _Def("closedate", "Close Date", "datetime", "date", group),
            _Def("dealtype", "Deal Type", "enumeration", "radio", group, _DEAL_TYPES),
            _Def("hs_is_closed", "Is Deal Closed?", "bool", "calculation_equation", group, read_only=True),
            _Def("hs_is_closed_won", "Is Closed Won", "bool", "calculation_equation", group, read_only=True),
        ]
    if object_type == "products":
        return [
            _Def("name", "Name", "string", "text", group),
            _Def("description", "Description", "string", "textarea", group),
            _Def("hs_sku", "SKU", "string", "text", group),
            _Def("price", "Unit price", "number", "number", group),
            _Def("product_family", "Product family", "string", "text", group, custom=True),
        ]
    if object_type == "line_items":
        return [
            _Def("name", "Name", "string", "text", group),
            _Def("hs_product_id", "Product ID", "number", "number", group),
            _Def("hs_sku", "SKU", "string", "text", group),
            _Def("quantity", "Quantity", "number", "number", group),
            _Def("price", "Unit price", "number", "number", group),
            _Def("amount", "Net price", "number", "calculation_equation", group, read_only=True),
        ]
    if object_type == "tickets":
        return [
            _Def("subject", "Ticket name", "string", "text", group),
            _Def("content", "Ticket description", "string", "textarea", group),
            _Def("hs_pipeline", "Pipeline", "enumeration", "select", group, (("0", "Support Pipeline"),)),
            _Def("hs_pipeline_stage", "Ticket status", "enumeration", "radio", group, _TICKET_STAGES),
            _Def("hs_ticket_priority", "Priority", "enumeration", "select", group, _TICKET_PRIORITY),
            _Def("closed_date", "Close date", "datetime", "date", group),
        ]
    if object_type == "tasks":
        return [
            _Def("hs_timestamp", "Due date", "datetime", "date", group),
            _Def("hs_task_subject", "Task Title", "string", "text", group),
            _Def("hs_task_body", "Notes", "string", "html", group),
            _Def("hs_task_status", "Task Status", "enumeration", "select", group, _TASK_STATUS),
            _Def("hs_task_priority", "Priority", "enumeration", "select", group, _TASK_PRIORITY),
            _Def("hs_task_type", "Task Type", "enumeration", "select", group, _TASK_TYPE),
            _Def("upsync_sync_key", "Upsync sync key", "string", "text", "upsync", custom=True),
        ]
    if object_type == "calls":
        return [
            _Def("hs_timestamp", "Activity date", "datetime", "date", group),
            _Def("hs_call_title", "Call Title", "string", "text", group),
            _Def("hs_call_body", "Call notes", "string", "html", group),
            _Def("hs_call_status", "Call status", "enumeration", "select", group, _CALL_STATUS),
            _Def("hs_call_direction", "Call direction", "enumeration", "select", group, _CALL_DIRECTION),
            _Def("hs_call_duration", "Call duration", "number", "number", group),
        ]
    if object_type == "meetings":
        return [
            _Def("hs_timestamp", "Activity date", "datetime", "date", group),
            _Def("hs_meeting_title", "Meeting name", "string", "text", group),
            _Def("hs_meeting_body", "Meeting description", "string", "html", group),
            _Def("hs_meeting_outcome", "Meeting outcome", "enumeration", "select", group, _MEETING_OUTCOME),
            _Def("hs_meeting_start_time", "Start time", "datetime", "date", group),
            _Def("hs_meeting_end_time", "End time", "datetime", "date", group),
        ]
    if object_type == "emails":
        return [
            _Def("hs_timestamp", "Activity date", "datetime", "date", group),
            _Def("hs_email_subject", "Email subject", "string", "text", group),
            _Def("hs_email_text", "Email body", "string", "textarea", group),
            _Def("hs_email_direction", "Email direction", "enumeration", "select", group, _EMAIL_DIRECTION),
            _Def("hs_email_status", "Email send status", "enumeration", "select", group, _EMAIL_STATUS),
        ]
    if object_type == "notes":
        return [
            _Def("hs_timestamp", "Activity date", "datetime", "date", group),
            _Def("hs_note_body", "Note body", "string", "html", group),
        ]
    return []


def _standard_defs(object_type: str) -> list[_Def]:
    return [*_system_defs(object_type), *_type_defs(object_type, _info_group(object_type))]


def _required_on_create(object_type: str) -> tuple[str, ...]:
    return ("hs_timestamp",) if object_type in _ENGAGEMENTS else ()


def _option(value: str, label: str, order: int) -> JSON:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False, "description": ""}


def _property_json(
    spec: _Def, *, hubspot_defined: bool, created_at: str, options: Sequence[JSON] | None = None
) -> JSON:
    if options is None:
        pairs = [(v, v) if isinstance(v, str) else v for v in spec.options]
        options = [_option(value, label, i) for i, (value, label) in enumerate(pairs)]
    out: JSON = {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type,
        "fieldType": spec.field_type,
        "groupName": spec.group,
        "description": "",
        "options": list(options),
        "displayOrder": -1,
        "calculated": spec.field_type == "calculation_equation",
        "externalOptions": spec.name == "hubspot_owner_id",
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not spec.read_only,
        "archived": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": spec.read_only,
        },
        "createdAt": created_at,
        "updatedAt": created_at,
    }
    if spec.formula is not None:
        out["calculationFormula"] = spec.formula
    return out


@dataclass
class _Schema:
    """Object type → property name → property JSON, and object type → group name → group JSON."""

    properties: dict[str, dict[str, JSON]] = field(default_factory=dict)
    groups: dict[str, dict[str, JSON]] = field(default_factory=dict)
    created_at: str = ""

    def ensure(self, object_type: str) -> dict[str, JSON]:
        """The type's properties, seeding the standard ones the first time a type is seen."""
        props = self.properties.get(object_type)
        if props is None:
            props = {}
            groups = self.groups.setdefault(object_type, {})
            for spec in _standard_defs(object_type):
                props[spec.name] = _property_json(spec, hubspot_defined=not spec.custom, created_at=self.created_at)
                if spec.group not in groups:
                    singular = _SINGULAR.get(object_type, object_type).replace("_", " ")
                    label = "Upsync" if spec.group == "upsync" else f"{singular} information".capitalize()
                    groups[spec.group] = {"name": spec.group, "label": label, "displayOrder": -1, "archived": False}
            self.properties[object_type] = props
        return props


def _seed_schema(store: HubSpotStore, created_at: str) -> _Schema:
    """Standard properties plus whatever the world's objects carry, with their enum values as options.

    Column-wise (one set union per type, one comprehension per enumeration property) so that a
    benchmark world of a million engagements is read in seconds, not minutes.
    """
    schema = _Schema(created_at=created_at)
    for object_type, table in store.objects.items():
        if object_type == "owners":
            continue
        props = schema.ensure(object_type)
        objects = list(table.values())
        names: set[str] = set().union(*(obj.get("properties", {}).keys() for obj in objects))
        for name in sorted(names - props.keys()):
            spec = _Def(name, name, "string", "text", _info_group(object_type), custom=True)
            props[name] = _property_json(spec, hubspot_defined=False, created_at=created_at)
        for name, prop in props.items():
            if prop["type"] != "enumeration" or name == "hubspot_owner_id" or name not in names:
                continue
            values = {str(v) for obj in objects if (v := obj.get("properties", {}).get(name)) not in (None, "")}
            known = {o["value"] for o in prop["options"]}
            for value in sorted(values - known):
                prop["options"].append(_option(value, value.replace("_", " ").title(), len(prop["options"])))
    return schema


# ---------------------------------------------------------------------------------------------
# Per-world backend: schema, property history, caches that notice direct mutations
# ---------------------------------------------------------------------------------------------


def _numeric_id(object_id: str) -> int:
    try:
        return int(object_id)
    except ValueError:
        return -1


def _id_key(obj: Mapping[str, Any]) -> int:
    return _numeric_id(str(obj["id"]))


@dataclass
class _IdIndex:
    """One table's ids as ``(numeric id, id)`` ascending, and the fingerprint it was built from.

    The fingerprint (the dict itself, its size, first and last key) costs O(1) to check per
    request and catches objects added or removed by tests writing to ``world.hubspot.objects``
    directly; growth at the end (new objects, the usual case) is merged in without a full sort.
    """

    table_id: int = 0
    count: int = 0
    first: str | None = None
    last: str | None = None
    ordered: list[tuple[int, str]] = field(default_factory=list)

    def sync(self, table: dict[str, JSON]) -> list[tuple[int, str]]:
        count = len(table)
        if not count:
            self.table_id, self.count, self.first, self.last, self.ordered = id(table), 0, None, None, []
            return self.ordered
        first, last = next(iter(table)), next(reversed(table))
        if self.table_id == id(table) and self.count and first == self.first:
            if count == self.count and last == self.last:
                return self.ordered
            if count > self.count:
                tail = list(islice(table, self.count - 1, None))
                if tail[0] == self.last:  # only appended since: merge the new ids in
                    added = sorted((_numeric_id(k), k) for k in tail[1:])
                    if self.ordered and added[0] < self.ordered[-1]:
                        self.ordered = list(heapq.merge(self.ordered, added))
                    else:
                        self.ordered.extend(added)
                    self.count, self.last = count, last
                    return self.ordered
        self.table_id, self.count, self.first, self.last = id(table), count, first, last
        self.ordered = sorted((_numeric_id(k), k) for k in table)
        return self.ordered


@dataclass
class _ReverseIndex:
    """For reads of ``(from_type, *, to_type)``: the associations stored the other way round.

    The world generator may store an association in one direction only (deal → company 5);
    HubSpot answers from either side, so a read of company → deals also looks here. Built per
    type pair on first use; rebuilt when keys are added to or removed from
    ``world.hubspot.associations`` (its size changes) or :func:`associate` ran.
    """

    count: int = -1
    version: int = -1
    by_key: dict[tuple[str, str, str], list[tuple[str, int]]] = field(default_factory=dict)


def _canonical(value: Any) -> bool:
    """Whether a timestamp is in HubSpot's canonical shape ``2026-06-01T12:00:00.000Z`` (fixed width)."""
    return value.__class__ is str and len(value) == 24 and value[23] == "Z"


@dataclass
class _StampIndex:
    """A big table's objects sorted by modified date (``hs_lastmodifieddate``; contacts ``lastmodifieddate``).

    On tables of ``app.state.search_index_min`` objects or more (50,000) a search window on the
    modified date bisects this instead of touching every object: on a generated world the objects
    lie scattered in memory and a full pass costs about a microsecond each. Candidates are always
    re-checked against their current values, so deleted objects and objects whose date moved *out*
    of the window never leak. The index is rebuilt when the table is replaced, grows or shrinks, or
    ``world.hubspot.version`` (if the store ever has one) changes, and the stand-in's own writes
    keep it current; a date moved *into* a window by writing ``world.hubspot.objects`` in place is
    seen only after :func:`invalidate` (smaller tables are scanned, so see every edit at once).
    """

    signature: tuple[Any, ...] = ()
    entries: list[tuple[str, int, str]] = field(default_factory=list)
    odd: list[str] = field(default_factory=list)  # ids whose date is in another shape: parsed per search
    builds: int = 0

    def rebuild(self, table: Mapping[str, JSON], name: str, signature: tuple[Any, ...]) -> None:
        entries: list[tuple[str, int, str]] = []
        odd: list[str] = []
        for object_id, obj in table.items():
            value = obj["properties"].get(name)
            if _canonical(value):
                entries.append((value, _numeric_id(object_id), object_id))
            elif value not in (None, ""):
                odd.append(object_id)
        entries.sort()
        self.entries, self.odd, self.signature = entries, odd, signature
        self.builds += 1

    def add(self, object_id: str, value: Any) -> None:
        if _canonical(value):
            bisect.insort(self.entries, (value, _numeric_id(object_id), object_id))
        elif value not in (None, ""):
            self.odd.append(object_id)

    def remove(self, object_id: str, value: Any) -> None:
        if _canonical(value):
            key = (value, _numeric_id(object_id), object_id)
            at = bisect.bisect_left(self.entries, key)
            if at < len(self.entries) and self.entries[at] == key:
                del self.entries[at]
        elif object_id in self.odd:
            self.odd.remove(object_id)

    def candidates(self, table: Mapping[str, JSON], window: _Range) -> list[JSON]:
        floor, ceiling = window.bounds()
        start = bisect.bisect_left(self.entries, (floor,))
        stop = bisect.bisect_left(self.entries, (ceiling,))
        found = [obj for _, _, object_id in self.entries[start:stop] if (obj := table.get(object_id)) is not None]
        return found + [obj for object_id in self.odd if (obj := table.get(object_id)) is not None]


def _table_signature(store: HubSpotStore, table: dict[str, JSON]) -> tuple[Any, ...]:
    return (id(table), len(table), next(reversed(table), None), getattr(store, "version", None))


@dataclass
class _Backend:
    schema: _Schema
    history: dict[tuple[str, str], dict[str, list[JSON]]] = field(default_factory=dict)
    id_indexes: dict[str, _IdIndex] = field(default_factory=dict)
    reverse: dict[tuple[str, str], _ReverseIndex] = field(default_factory=dict)
    stamps: dict[str, _StampIndex] = field(default_factory=dict)
    association_version: int = 0
    tokens: _Tokens = field(default_factory=_Tokens)

    def stamp_index(self, store: HubSpotStore, object_type: str, table: dict[str, JSON]) -> _StampIndex:
        """The modified-date index of a table, rebuilt if the table changed behind the stand-in's back."""
        index = self.stamps.setdefault(object_type, _StampIndex())
        signature = _table_signature(store, table)
        if index.signature != signature:
            index.rebuild(table, _modified_field(object_type), signature)
        return index

    def current_stamps(self, store: HubSpotStore, object_type: str, table: dict[str, JSON]) -> _StampIndex | None:
        """The index if it is current (call before one of the stand-in's own writes, to keep it so)."""
        index = self.stamps.get(object_type)
        return index if index is not None and index.signature == _table_signature(store, table) else None

    def restamped(
        self, store: HubSpotStore, object_type: str, index: _StampIndex | None, object_id: str, old: Any, new: Any
    ) -> None:
        """After an own write moved (or, with ``old=None``, created) one object's modified date."""
        if index is None:
            return
        index.remove(object_id, old)
        index.add(object_id, new)
        index.signature = _table_signature(store, store.objects[object_type])

    def ids_in_order(self, object_type: str, table: dict[str, JSON]) -> list[tuple[int, str]]:
        """``(numeric id, id)`` ascending (see :class:`_IdIndex` for how it stays current)."""
        return self.id_indexes.setdefault(object_type, _IdIndex()).sync(table)

    def reverse_links(self, store: HubSpotStore, from_type: str, to_type: str) -> _ReverseIndex:
        """The inverse of every stored ``(to_type, *, from_type)`` association, keyed for reads from ``from_type``."""
        index = self.reverse.setdefault((from_type, to_type), _ReverseIndex())
        count = len(store.associations)
        if index.count == count and index.version == self.association_version:
            return index
        by_key: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
        for (f_type, f_id, t_type), links in store.associations.items():
            if f_type != to_type or t_type != from_type:
                continue
            for t_id, type_id in links:
                inverse = _ASSOC_INVERSE.get(type_id)
                if inverse is not None:
                    by_key.setdefault((from_type, t_id, to_type), []).append((f_id, inverse))
        index.by_key, index.count, index.version = by_key, count, self.association_version
        return index

    def wrote_associations(self, count_before: int, count_after: int) -> None:
        """The stand-in stored both directions itself: keep reverse indexes that were current before."""
        for index in self.reverse.values():
            if index.count == count_before and index.version == self.association_version:
                index.count = count_after

    def record(self, object_type: str, object_id: str, changes: Mapping[str, str], entry: Mapping[str, Any]) -> None:
        per_object = self.history.setdefault((object_type, object_id), {})
        for name, value in changes.items():
            per_object.setdefault(name, []).append({"value": value, **entry})


_BACKENDS: dict[int, tuple[weakref.ref[HubSpotStore], _Backend]] = {}
_BACKENDS_LOCK: Final = threading.Lock()


def _backend(world: World) -> _Backend:
    """The schema, history, caches and token book of this world's HubSpot store (shared by every app over it)."""
    store = world.hubspot
    key = id(store)
    with _BACKENDS_LOCK:
        entry = _BACKENDS.get(key)
        if entry is not None and entry[0]() is store:
            return entry[1]
        with store.lock:
            backend = _Backend(schema=_seed_schema(store, hs_time(world.anchor - timedelta(days=900))))
        _BACKENDS[key] = (weakref.ref(store, lambda _ref: _BACKENDS.pop(key, None)), backend)
        return backend


# ---------------------------------------------------------------------------------------------
# Writes: validation and normalisation
# ---------------------------------------------------------------------------------------------


def _options_text(prop: Mapping[str, Any]) -> str:
    parts = [
        f'label: "{o["label"]}"\nvalue: "{o["value"]}"\ndisplay_order: {o.get("displayOrder", 0)}\n'
        "hidden: false\nread_only: false\n"
        for o in prop.get("options", [])
    ]
    return "[" + ", ".join(parts) + "]"


def _normalise_value(prop: Mapping[str, Any], raw: Any, owners: Mapping[str, Any]) -> tuple[str, _Problem | None]:
    """The stored string for ``raw`` written to ``prop``, or the problem HubSpot would report."""
    name = str(prop["name"])
    text = _to_text(raw)
    if text == "":
        return "", None
    kind = prop["type"]
    if kind == "number":
        if _number(text) is None:
            return text, _Problem("property", "INVALID_FLOAT", f"{text!r} is not a valid number", name)
        return text, None
    if kind == "datetime":
        ms = _instant_ms(text)
        if ms is None:
            return text, _Problem("property", "INVALID_DATETIME", f"{text!r} is not a valid datetime", name)
        return _ms_to_iso(ms), None
    if kind == "date":
        ms = _instant_ms(text)
        if ms is None:
            return text, _Problem("property", "INVALID_DATE", f"{text!r} is not a valid date", name)
        if ms % 86_400_000:
            at = _EPOCH + timedelta(milliseconds=ms)
            message = f"{text} is at {at.strftime('%H:%M:%S.%f')[:-3]} UTC, not midnight!"
            return text, _Problem("property", "INVALID_DATE", message, name)
        return (_EPOCH + timedelta(milliseconds=ms)).date().isoformat(), None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            return text, _Problem("property", "INVALID_BOOLEAN", f"{text!r} is not a valid boolean", name)
        return text.lower(), None
    if kind == "enumeration":
        if name == "hubspot_owner_id":
            if text not in owners:
                return text, _Problem("property", "INVALID_OPTION", f"{text} is not a valid owner id", name)
            return text, None
        allowed = {str(o["value"]) for o in prop.get("options", [])}
        values = text.split(";") if prop.get("fieldType") == "checkbox" else [text]
        for value in values:
            if value and value not in allowed:
                message = f"{value} was not one of the allowed options: {_options_text(prop)}"
                return text, _Problem("property", "INVALID_OPTION", message, name)
    return text, None


def _validate_properties(
    schema: _Schema,
    object_type: str,
    properties: Any,
    owners: Mapping[str, Any],
    *,
    creating: bool,
) -> tuple[dict[str, str], list[_Problem]]:
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise _validation("Invalid input JSON: `properties` must be an object")
    props = schema.ensure(object_type)
    clean: dict[str, str] = {}
    problems: list[_Problem] = []
    for name, raw in properties.items():
        prop = props.get(name)
        if prop is None or prop.get("archived"):
            problems.append(_Problem("property", "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist', name))
            continue
        if name in _always_properties(object_type):
            if name == "hs_object_id":
                problems.append(_Problem("property", "READ_ONLY_VALUE", f'Property "{name}" is read only', name))
            continue  # the server stamps create/modified dates itself
        if prop.get("calculated"):
            message = f'Property "{name}" is a calculated property and cannot be set'
            problems.append(_Problem("property", "READ_ONLY_VALUE", message, name))
            continue
        if (prop.get("modificationMetadata") or {}).get("readOnlyValue"):  # hs_updated_by_user_id…
            problems.append(_Problem("property", "READ_ONLY_VALUE", f'Property "{name}" is read only', name))
            continue
        value, problem = _normalise_value(prop, raw, owners)
        if problem is not None:
            problems.append(problem)
        else:
            clean[name] = value
    if creating:
        reported = {p.name for p in problems}
        for name in _required_on_create(object_type):
            if not clean.get(name) and name not in reported:
                message = f'Property "{name}" is required'
                problems.append(_Problem("property", "REQUIRED_PROPERTY", message, name))
    return clean, problems


# ---------------------------------------------------------------------------------------------
# Search (developers.hubspot.com/docs/api/crm/search)
# ---------------------------------------------------------------------------------------------

_Value = float | int | str
_Getter = Callable[[Mapping[str, Any]], _Value | None]
_Predicate = Callable[[Mapping[str, Any]], bool]
_OPERATORS: Final = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


def _kind(props: Mapping[str, JSON], name: str) -> str:
    if name == "hs_object_id":
        return "number"
    prop = props.get(name)
    kind = str(prop["type"]) if prop is not None else "string"
    return "instant" if kind in ("datetime", "date") else kind


def _getter(name: str, kind: str) -> _Getter:
    """Read one property of an object in its comparison domain (``None`` when unset).

    Tight closures on purpose: search runs one over every object of the type per request.
    """
    if name == "hs_object_id":

        def object_id(obj: Mapping[str, Any]) -> _Value | None:
            raw = obj["properties"].get("hs_object_id") or obj["id"]
            return _number(raw if type(raw) is str else str(raw))

        return object_id
    if kind == "number":

        def number(obj: Mapping[str, Any]) -> _Value | None:
            raw = obj["properties"].get(name)
            if raw is None or raw == "":
                return None
            return _number(raw if type(raw) is str else str(raw))

        return number
    if kind == "instant":

        def instant(obj: Mapping[str, Any]) -> _Value | None:
            raw = obj["properties"].get(name)
            if raw is None or raw == "":
                return None
            return _instant_ms(raw if type(raw) is str else str(raw))

        return instant

    def text(obj: Mapping[str, Any]) -> _Value | None:
        raw = obj["properties"].get(name)
        if raw is None or raw == "":
            return None
        return (raw if type(raw) is str else str(raw)).lower()

    return text


def _coerce(kind: str, name: str, raw: Any) -> _Value:
    """A filter value in the property's comparison domain; strings compare case-insensitively."""
    text = _to_text(raw).strip()
    if kind == "number":
        number = _number(text)
        if number is None:
            raise _validation(f"{text!r} is not a valid number for property {name}")
        return number
    if kind == "instant":
        ms = _instant_ms(text)
        if ms is None:
            raise _validation(
                f"{text!r} is not a valid datetime for property {name}: use epoch milliseconds or ISO-8601"
            )
        return ms
    return text.lower()


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT.split(text) if t]


def _compile_filter(props: Mapping[str, JSON], spec: Any) -> _Predicate | _Range:
    """One filter as a predicate, or as a :class:`_Range` when it bounds a date/datetime property."""
    if not isinstance(spec, dict):
        raise _validation("Invalid input JSON: a filter must be an object")
    name, operator = spec.get("propertyName"), spec.get("operator")
    if not isinstance(name, str) or not name:
        raise _validation("Invalid input JSON: filter is missing propertyName")
    if operator not in _OPERATORS:
        raise _validation(
            f'Invalid input JSON: Cannot deserialize value of type `FilterOperatorEnum` from String "{operator}": '
            f"not one of the values accepted for Enum class: {sorted(_OPERATORS)}"
        )
    kind = _kind(props, name)
    get = _getter(name, kind)
    problem = (
        "Invalid input JSON: Cannot construct instance of `com.hubspot.inbounddb.publicobject.core.v3.search.Filter`"
    )
    if operator == "HAS_PROPERTY":
        return lambda obj: get(obj) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda obj: get(obj) is None
    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise _validation(f"{problem}, problem: operator {operator} requires values")
        wanted = {_coerce(kind, name, v) for v in values}
        if operator == "IN":
            return lambda obj: get(obj) in wanted
        return lambda obj: get(obj) not in wanted
    if spec.get("value") is None:
        raise _validation(f"{problem}, problem: operator {operator} requires a value")
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = _to_text(spec["value"]).strip().lower()

        def contains(obj: Mapping[str, Any]) -> bool:
            raw = obj["properties"].get(name)
            if raw in (None, ""):
                return False
            text = str(raw).lower()
            if "*" in pattern:
                return fnmatchcase(text, pattern) or any(fnmatchcase(t, pattern) for t in _tokens(text))
            return text == pattern or pattern in _tokens(text)

        if operator == "CONTAINS_TOKEN":
            return contains
        return lambda obj: not contains(obj)
    value = _coerce(kind, name, spec["value"])
    if kind == "instant" and operator in ("EQ", "LT", "LTE", "GT", "GTE", "BETWEEN"):
        assert isinstance(value, int)
        if operator == "BETWEEN":
            if spec.get("highValue") is None:
                raise _validation(f"{problem}, problem: operator BETWEEN requires a highValue")
            high = _coerce(kind, name, spec["highValue"])
            assert isinstance(high, int)
            return _Range(name, value, high + 1)
        bounds: dict[str, tuple[int | None, int | None]] = {
            "EQ": (value, value + 1),
            "LT": (None, value),
            "LTE": (None, value + 1),
            "GT": (value + 1, None),
            "GTE": (value, None),
        }
        low, high_ms = bounds[operator]
        return _Range(name, low, high_ms)
    if operator == "EQ":
        return lambda obj: get(obj) == value
    if operator == "NEQ":
        return lambda obj: get(obj) != value
    if operator == "BETWEEN":
        if spec.get("highValue") is None:
            raise _validation(f"{problem}, problem: operator BETWEEN requires a highValue")
        high = _coerce(kind, name, spec["highValue"])
        return lambda obj: _between(get(obj), value, high)
    return _comparison(get, operator, value)


_COMPARISONS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


def _between(found: _Value | None, low: _Value, high: _Value) -> bool:
    return found is not None and bool(low <= found <= high)  # type: ignore[operator]


def _comparison(get: _Getter, operator_name: str, value: _Value) -> _Predicate:
    compare = _COMPARISONS[operator_name]

    def check(obj: Mapping[str, Any]) -> bool:
        found = get(obj)
        return found is not None and bool(compare(found, value))

    return check


@dataclass(frozen=True, slots=True)
class _Range:
    """A date/datetime filter as the half-open interval ``[low, high)`` of epoch milliseconds.

    Applied as one list comprehension that compares HubSpot's canonical timestamps
    (``2026-06-01T12:00:00.000Z``: fixed width, so string order is time order) as strings, and
    parses only the values in any other shape (dates, epoch-ms strings, offsets). This keeps a
    window search over a million engagements at about a tenth of a second with no index, so
    nothing can go stale when tests edit ``world.hubspot.objects`` directly.
    """

    name: str
    low: int | None
    high: int | None

    def intersect(self, other: _Range) -> _Range:
        lows = [b for b in (self.low, other.low) if b is not None]
        highs = [b for b in (self.high, other.high) if b is not None]
        return _Range(self.name, max(lows) if lows else None, min(highs) if highs else None)

    def bounds(self) -> tuple[str, str]:
        """``[floor, ceiling)`` as canonical timestamp strings.

        Canonical values have four-digit years, so bounds outside [_MIN_MS, _MAX_MS] become "" or
        "~" (which sorts after every digit); values in any other shape take the parsing path.
        """
        low, high = self.low, self.high
        floor = "" if low is None or low < _MIN_MS else "~" if low > _MAX_MS else _ms_to_iso(low)
        ceiling = "~" if high is None or high > _MAX_MS else "" if high < _MIN_MS else _ms_to_iso(high)
        return floor, ceiling

    def apply(self, objects: Iterable[JSON], *, live_only: bool = False) -> list[JSON]:
        name, low, high = self.name, self.low, self.high
        if low is not None and high is not None and low >= high:
            return []
        floor, ceiling = self.bounds()

        def parsed(value: Any) -> bool:
            ms = _instant_ms(value if type(value) is str else str(value))
            return ms is not None and (low is None or ms >= low) and (high is None or ms < high)

        if live_only:
            return [
                obj
                for obj in objects
                if (v := obj["properties"].get(name))
                and not obj.get("archived")
                and (floor <= v < ceiling if v.__class__ is str and len(v) == 24 and v[23] == "Z" else parsed(v))
            ]
        return [
            obj
            for obj in objects
            if (v := obj["properties"].get(name))
            and (floor <= v < ceiling if v.__class__ is str and len(v) == 24 and v[23] == "Z" else parsed(v))
        ]


@dataclass
class _Group:
    """One filter group: its date ranges (applied first, they narrow fastest) and its other checks."""

    ranges: dict[str, _Range] = field(default_factory=dict)
    checks: list[_Predicate] = field(default_factory=list)

    def add(self, compiled: _Predicate | _Range) -> None:
        if isinstance(compiled, _Range):
            known = self.ranges.get(compiled.name)
            self.ranges[compiled.name] = compiled if known is None else known.intersect(compiled)
        else:
            self.checks.append(compiled)

    def select(
        self, objects: Iterable[JSON], index: Callable[[_Range], list[JSON]] | None = None, indexed: str = ""
    ) -> list[JSON]:
        """The live (not archived) objects that pass every filter of the group.

        With an ``index`` and a range on the ``indexed`` property, the candidates (a superset of
        the matches) come from ``index(range)`` instead of ``objects``; every range is still applied.
        """
        ranges = list(self.ranges.values())
        if index is not None and indexed in self.ranges:
            objects = index(self.ranges[indexed])
        if ranges:
            survivors = ranges[0].apply(objects, live_only=True)
            for extra in ranges[1:]:
                survivors = extra.apply(survivors)
        else:
            survivors = [obj for obj in objects if not obj.get("archived")]
        for check in self.checks:
            survivors = [obj for obj in survivors if check(obj)]
        return survivors


def _compile_groups(props: Mapping[str, JSON], groups: Any) -> list[_Group]:
    """Filter groups: filters ANDed within a group, groups ORed."""
    if groups in (None, []):
        return []
    if not isinstance(groups, list):
        raise _validation("Invalid input JSON: filterGroups must be a list")
    if len(groups) > MAX_FILTER_GROUPS:
        raise _validation(
            f"Too many filter groups: {len(groups)}. The maximum is {MAX_FILTER_GROUPS}.",
            context={"filterGroups": [str(len(groups))]},
        )
    total = 0
    compiled: list[_Group] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise _validation("Invalid input JSON: each filter group needs a list of filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise _validation(
                f"Too many filters in a filter group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}.",
                context={"filters": [str(len(filters))]},
            )
        total += len(filters)
        one = _Group()
        for spec in filters:
            one.add(_compile_filter(props, spec))
        compiled.append(one)
    if total > MAX_FILTERS:
        raise _validation(
            f"Too many filters: {total}. A search can contain at most {MAX_FILTERS} filters in total.",
            context={"filters": [str(total)]},
        )
    return compiled


def _narrow(
    objects: Collection[JSON],
    groups: Sequence[_Group],
    *,
    modified: str = "",
    index: Callable[[], Callable[[_Range], list[JSON]]] | None = None,
) -> list[JSON]:
    """Live objects matching any group, ascending by numeric id (HubSpot's default order).

    A group whose first range is on the ``modified`` date takes its candidates from ``index()``
    (built on first use) instead of a pass over every object.
    """

    def select(group: _Group) -> list[JSON]:
        if index is not None and modified in group.ranges:
            return group.select(objects, index(), modified)
        return group.select(objects)

    if not groups:
        matched = [obj for obj in objects if not obj.get("archived")]
    elif len(groups) == 1:
        matched = select(groups[0])
    else:
        union: dict[int, JSON] = {}
        for group in groups:
            union.update((id(obj), obj) for obj in select(group))
        matched = list(union.values())
    matched.sort(key=_id_key)  # tables are mostly in id order already: nearly linear
    return matched


def _query_predicate(object_type: str, query: Any) -> _Predicate | None:
    """Free-text ``query``: every word must start a token of one of the type's default searchable properties."""
    if not isinstance(query, str) or not query.strip():
        return None
    words = _tokens(query.lower())
    fields = _QUERY_FIELDS.get(object_type, ("name",))

    def matches(obj: Mapping[str, Any]) -> bool:
        tokens = [t for f in fields for t in _tokens(str(obj["properties"].get(f) or "").lower())]
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return matches


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _association_name(from_type: str, to_type: str, type_id: int) -> str:
    """The v3 name of an association type (``deal_to_company_unlabeled``), for object reads."""
    known = _ASSOC_BY_ID.get(type_id)
    if known is not None and known.from_type == from_type:
        return known.name
    return f"{_SINGULAR.get(from_type, from_type)}_to_{_SINGULAR.get(to_type, to_type)}"


def _page_token(offset: int) -> str:
    """An opaque paging cursor, as HubSpot's v4 associations hand out (base64, e.g. ``MTAw``)."""
    return base64.b64encode(str(offset).encode()).decode()


def _page_offset(token: str | None) -> int:
    """The offset of a cursor from :func:`_page_token`; a plain number is accepted too."""
    raw = (token or "").strip()
    if not raw:
        return 0
    if _INT_RE.fullmatch(raw):
        return max(0, int(raw))
    try:
        decoded = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not _INT_RE.fullmatch(decoded):
        raise _validation(f"Invalid value for after: {raw!r} is not a paging cursor this API handed out")
    return max(0, int(decoded))


def _store_both_ways(
    store: HubSpotStore, backend: _Backend, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int
) -> None:
    """Store an association in both directions (the inverse type from :data:`ASSOCIATION_TYPES`)."""
    pairs = [(from_type, from_id, to_type, to_id, type_id)]
    inverse = _ASSOC_INVERSE.get(type_id)
    if inverse is not None:
        pairs.append((to_type, to_id, from_type, from_id, inverse))
    with store.lock:
        before = len(store.associations)
        for f_type, f_id, t_type, t_id, t_type_id in pairs:
            existing = store.associations.get((f_type, f_id, t_type), [])
            if (t_id, t_type_id) not in existing:
                store.associate(f_type, f_id, t_type, t_id, t_type_id)
        backend.wrote_associations(before, len(store.associations))


class _Api:
    """The route handlers over one world; every store access holds ``world.hubspot.lock``."""

    def __init__(self, world: World, state: State) -> None:
        self.world = world
        self.store = world.hubspot
        self.backend = _backend(world)
        self.schema = self.backend.schema
        self.state = state

    # -- helpers -------------------------------------------------------------------------------

    def object_type(self, raw: str) -> str:
        name = raw.strip().lower()
        name = _TYPE_IDS.get(name, name)
        plural = _PLURAL.get(name, name)
        if plural in _SINGULAR or (plural in self.store.objects and plural != "owners"):
            return plural
        raise _validation(f"Unable to infer object type from: {raw}")

    def now(self) -> str:
        return hs_time(self.world.now())

    def table(self, object_type: str) -> dict[str, JSON]:
        return self.store.table(object_type)

    def owners(self) -> dict[str, JSON]:
        return self.store.objects.get("owners", {})

    def find(self, object_type: str, object_id: str, *, id_property: str | None = None) -> JSON | None:
        table = self.table(object_type)
        if id_property in (None, "", "hs_object_id"):
            return table.get(object_id)
        for obj in table.values():
            if str(obj["properties"].get(id_property, "")) == object_id:
                return obj
        return None

    def render(
        self,
        object_type: str,
        obj: Mapping[str, Any],
        properties: Sequence[str] | None,
        *,
        with_history: Sequence[str] | None = None,
        associations: Sequence[str] | None = None,
        trace_id: str | None = None,
    ) -> JSON:
        props: Mapping[str, Any] = obj.get("properties", {})
        known = self.schema.ensure(object_type)
        if properties is None:
            names: Iterable[str] = _DEFAULT_PROPERTIES.get(object_type, _always_properties(object_type))
        else:
            wanted = [p for p in properties if p in known or p in props]
            names = dict.fromkeys([*wanted, *_always_properties(object_type)])
        out_props: JSON = {}
        for name in names:
            value = props.get(name)
            if name == "hs_object_id" and value in (None, ""):
                value = obj["id"]
            out_props[name] = None if value is None else str(value)
        out: JSON = {
            "id": str(obj["id"]),
            "properties": out_props,
            "createdAt": obj.get("createdAt"),
            "updatedAt": obj.get("updatedAt"),
            "archived": bool(obj.get("archived")),
        }
        if obj.get("archived"):
            out["archivedAt"] = obj.get("archivedAt")
        if with_history:
            out["propertiesWithHistory"] = {
                name: self.history(object_type, obj, name) for name in with_history if name in known or name in props
            }
        if associations:
            embedded = self.embedded_associations(object_type, str(obj["id"]), associations)
            if embedded:
                out["associations"] = embedded
        if trace_id is not None:
            out["objectWriteTraceId"] = trace_id
        return out

    def history(self, object_type: str, obj: Mapping[str, Any], name: str) -> list[JSON]:
        """Newest first; a value with no recorded write is reported as imported at the last update."""
        entries = self.backend.history.get((object_type, str(obj["id"])), {}).get(name, [])
        if entries:
            return [dict(e) for e in reversed(entries)]
        value = obj.get("properties", {}).get(name)
        if value in (None, ""):
            return []
        stamp = obj.get("updatedAt") or obj.get("createdAt")
        return [{"value": str(value), "timestamp": stamp, "sourceType": "IMPORT", "sourceId": None}]

    def embedded_associations(self, object_type: str, object_id: str, wanted: Sequence[str]) -> JSON:
        """The v3 ``associations`` of an object read: one row per (id, type name), capped per type.

        Keyed by the plural object type; a primary association also lists its unlabeled twin
        (``deal_to_company`` and ``deal_to_company_unlabeled``), as HubSpot does. Beyond
        ``app.state.embedded_association_limit`` targets the collection carries ``paging.next``,
        which points at the v4 per-object endpoint.
        """
        limit: int | None = getattr(self.state, "embedded_association_limit", EMBEDDED_ASSOCIATION_LIMIT)
        out: JSON = {}
        for raw in wanted:
            try:
                to_type = self.object_type(raw)
            except _ApiError:
                continue
            linked = self.linked(object_type, object_id, to_type)
            page = linked if limit is None else linked[:limit]
            rows = [
                {"id": to_id, "type": _association_name(object_type, to_type, t)}
                for to_id, types in page
                for t in types
            ]
            if not rows:
                continue
            collection: JSON = {"results": rows}
            if len(page) < len(linked):
                after = _page_token(len(page))
                link = f"/crm/v4/objects/{object_type}/{object_id}/associations/{to_type}?after={after}"
                collection["paging"] = {"next": {"after": after, "link": link}}
            out[to_type] = collection
        return out

    def linked(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, list[int]]]:
        """Live (not archived) associated ids in first-association order, with their type ids.

        Reads both what is stored from this side and the inverse of what is stored from the other
        side, and adds the unlabeled twin of every primary or parent/child type.
        """
        grouped: dict[str, list[int]] = {}
        targets = self.store.objects.get(to_type, {})
        key = (from_type, from_id, to_type)
        direct = self.store.associations.get(key, ())
        inverse = self.backend.reverse_links(self.store, from_type, to_type).by_key.get(key, ())
        for links in (direct, inverse):
            for to_id, type_id in links:
                target = targets.get(to_id)
                if target is None or target.get("archived"):
                    continue
                types = grouped.setdefault(to_id, [])
                if type_id not in types:
                    types.append(type_id)
                implied = _IMPLIED.get(type_id)
                if implied is not None and implied not in types:
                    types.append(implied)
        return list(grouped.items())

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        """Store an association and its inverse, as HubSpot does (v4 reads work from either side)."""
        _store_both_ways(self.store, self.backend, from_type, from_id, to_type, to_id, type_id)

    def check_associations(self, object_type: str, specs: Any) -> tuple[list[tuple[str, str, int]], list[_Problem]]:
        """Validate inline create associations: ``[(to_type, to_id, type_id)]`` and the problems found."""
        if specs in (None, []):
            return [], []
        if not isinstance(specs, list):
            raise _validation("Invalid input JSON: `associations` must be a list")
        links: list[tuple[str, str, int]] = []
        problems: list[_Problem] = []
        for spec in specs:
            to = spec.get("to") if isinstance(spec, dict) else None
            types = spec.get("types") if isinstance(spec, dict) else None
            if not isinstance(to, dict) or to.get("id") in (None, "") or not isinstance(types, list) or not types:
                raise _validation("Invalid input JSON: an association needs `to.id` and `types`")
            to_id = _to_text(to["id"])
            for assoc_type in types:
                category = assoc_type.get("associationCategory") if isinstance(assoc_type, dict) else None
                type_id = assoc_type.get("associationTypeId") if isinstance(assoc_type, dict) else None
                if category != "HUBSPOT_DEFINED" or not isinstance(type_id, int):
                    raise _validation(f"Invalid association type {assoc_type!r}: only HUBSPOT_DEFINED types exist here")
                to_type = _ASSOC_TARGET.get((object_type, type_id))
                if to_type is None:
                    message = (
                        f"{type_id} is not a valid association type id for {_SINGULAR.get(object_type, object_type)}"
                    )
                    problems.append(_Problem("association", "INVALID_ASSOCIATION_TYPE", message, to_id))
                    continue
                target = self.store.objects.get(to_type, {}).get(to_id)
                if target is None or target.get("archived"):
                    singular = _SINGULAR.get(to_type, to_type).upper()
                    message = f"Object {to_id} of type {singular} does not exist"
                    problems.append(_Problem("association", "INVALID_OBJECT_IDS", message, to_id))
                    continue
                links.append((to_type, to_id, type_id))
        return links, problems

    def create_object(self, object_type: str, props: Mapping[str, str], links: Sequence[tuple[str, str, int]]) -> JSON:
        now = self.now()
        object_id = self.store.new_id()
        stored = {
            **props,
            **_derived(object_type, props, {}),
            "hs_object_id": object_id,
            _created_field(object_type): now,
            _modified_field(object_type): now,
        }
        obj: JSON = {
            "id": object_id,
            "properties": stored,
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "archivedAt": None,
        }
        table = self.table(object_type)
        stamps = self.backend.current_stamps(self.store, object_type, table)
        table[object_id] = obj
        self.backend.restamped(self.store, object_type, stamps, object_id, None, now)
        self.backend.record(object_type, object_id, props, _api_source(now))
        for to_type, to_id, type_id in links:
            self.associate(object_type, object_id, to_type, to_id, type_id)
        return obj

    def update_object(self, object_type: str, obj: JSON, props: Mapping[str, str]) -> None:
        """Apply changed values only; an update that changes nothing leaves the modstamp alone."""
        current = obj["properties"]
        changes = {k: v for k, v in props.items() if str(current.get(k) or "") != v}
        if not changes:
            return
        _stamp(self.world, self.backend, object_type, obj, changes, _api_source(self.now()))

    def refused(self, object_type: str, values: Mapping[str, Any]) -> ItemFault | None:
        """The refusal a test armed with :func:`refuse_items` for this input, if any."""
        return take_item_fault(self.store.item_faults, self.store.lock, object_type, values)

    def archive_object(self, obj: JSON) -> None:
        """Archive without touching ``hs_lastmodifieddate``: the real API's blind spot for incremental sync."""
        if not obj.get("archived"):
            obj["archived"] = True
            obj["archivedAt"] = self.now()

    def duplicate_email(self, object_type: str, props: Mapping[str, str], pending: set[str]) -> str | None:
        email = props.get("email", "").lower()
        if object_type != "contacts" or not email:
            return None
        if email in pending:
            return "pending"
        for obj in self.table("contacts").values():
            if not obj.get("archived") and str(obj["properties"].get("email", "")).lower() == email:
                return str(obj["id"])
        return None

    # -- objects (developers.hubspot.com/docs/api/crm/companies, .../crm/tasks) ----------------

    async def list_objects(self, request: Request) -> Response:
        # GET /crm/v3/objects/{objectType} (developers.hubspot.com/docs/api/crm/companies "Retrieve")
        object_type = self.object_type(request.path_params["object_type"])
        limit = _int_param(request, "limit", 10, low=1, high=LIST_PAGE_MAX)
        after_raw = request.query_params.get("after") or "0"
        if not _INT_RE.fullmatch(after_raw):
            raise _validation(f"Invalid value for query parameter after: {after_raw!r}")
        after = int(after_raw)
        archived = _bool_param(request, "archived")
        properties = _list_param(request, "properties")
        with_history = _list_param(request, "propertiesWithHistory")
        associations = _list_param(request, "associations")
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
        archived = _bool_param(request, "archived")
        with self.store.lock:
            obj = self.find(object_type, object_id, id_property=request.query_params.get("idProperty"))
            if obj is None or bool(obj.get("archived")) != archived:
                raise _not_found(object_id)
            body = self.render(
                object_type,
                obj,
                _list_param(request, "properties"),
                with_history=_list_param(request, "propertiesWithHistory"),
                associations=_list_param(request, "associations"),
            )
        return JSONResponse(body)

    async def create_one(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType} (developers.hubspot.com/docs/api/crm/companies "Create")
        object_type = self.object_type(request.path_params["object_type"])
        body = _body_object(await _json_body(request))
        with self.store.lock:
            props, problems = _validate_properties(
                self.schema, object_type, body.get("properties"), self.owners(), creating=True
            )
            links, link_problems = self.check_associations(object_type, body.get("associations"))
            if problems or link_problems:
                raise _problems_error([*problems, *link_problems])
            existing = self.duplicate_email(object_type, props, set())
            if existing is not None:
                raise _ApiError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
            obj = self.create_object(object_type, props, links)
            out = self.render(object_type, obj, list(props))
        return JSONResponse(out, status_code=201)

    async def update_one(self, request: Request) -> Response:
        # PATCH /crm/v3/objects/{objectType}/{objectId} (developers.hubspot.com/docs/api/crm/companies "Update")
        object_type = self.object_type(request.path_params["object_type"])
        object_id = request.path_params["object_id"]
        body = _body_object(await _json_body(request))
        with self.store.lock:
            obj = self.find(object_type, object_id, id_property=request.query_params.get("idProperty"))
            if obj is None or obj.get("archived"):
                raise _not_found(object_id)
            props, problems = _validate_properties(
                self.schema, object_type, body.get("properties"), self.owners(), creating=False
            )
            if problems:
                raise _problems_error(problems)
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

    async def batch_create(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/batch/create (developers.hubspot.com/docs/api/crm/tasks "Batch create";
        # multi-status via objectWriteTraceId: developers.hubspot.com/docs/api/crm/using-object-apis)
        object_type = self.object_type(request.path_params["object_type"])
        inputs = _inputs(_body_object(await _json_body(request)), maximum=BATCH_MAX)
        started = self.now()
        traced = bool(inputs) and all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        with self.store.lock:
            checked: list[
                tuple[JSON, dict[str, str], list[tuple[str, str, int]], list[_Problem], ItemFault | None]
            ] = []
            emails: set[str] = set()
            for item in inputs:
                props, problems = _validate_properties(
                    self.schema, object_type, item.get("properties"), self.owners(), creating=True
                )
                links, link_problems = self.check_associations(object_type, item.get("associations"))
                existing = self.duplicate_email(object_type, props, emails)
                if existing is not None:
                    raise _ApiError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
                if props.get("email"):
                    emails.add(props["email"].lower())
                problems = [*problems, *link_problems]
                fault = None if problems else self.refused(object_type, props)
                checked.append((item, props, links, problems, fault))
            failed = [problems for _, _, _, problems, _ in checked if problems]
            if failed and not traced:
                raise _problems_error([p for problems in failed for p in problems])
            refused = [fault for *_, fault in checked if fault is not None]
            if refused and not traced:
                raise _ApiError(400, refused[0].message, refused[0].code)
            results: list[JSON] = []
            errors: list[JSON] = []
            for item, props, links, problems, fault in checked:
                trace = item.get("objectWriteTraceId")
                if fault is not None:
                    errors.append(_standard_error(fault.code, fault.message, {"objectWriteTraceId": [str(trace)]}))
                    continue
                if problems:
                    message, extra = _problems_message(problems)
                    error = _standard_error("VALIDATION_ERROR", message, {"objectWriteTraceId": [str(trace)]})
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
        inputs = _inputs(_body_object(await _json_body(request)), maximum=BATCH_MAX)
        started = self.now()
        ids = [_to_text(i.get("id")) for i in inputs]
        if len(set(ids)) != len(ids):
            raise _validation(
                "Duplicate IDs found in batch input", context={"ids": sorted({i for i in ids if ids.count(i) > 1})}
            )
        traced = bool(inputs) and all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        with self.store.lock:
            planned: list[tuple[JSON, JSON, dict[str, str]]] = []
            problems: list[_Problem] = []
            missing: list[str] = []
            for item, object_id in zip(inputs, ids, strict=True):
                props, found = _validate_properties(
                    self.schema, object_type, item.get("properties"), self.owners(), creating=False
                )
                problems.extend(found)
                obj = self.find(object_type, object_id, id_property=item.get("idProperty"))
                if obj is None or obj.get("archived"):
                    missing.append(object_id)
                    continue
                planned.append((item, obj, props))
            if problems:
                raise _problems_error(problems)
            errors: list[JSON] = [_missing_error(object_type, missing)] if missing else []
            results = []
            faults = [self.refused(object_type, {**props, "hs_object_id": str(obj["id"])}) for _, obj, props in planned]
            if not traced and (fault := next((f for f in faults if f is not None), None)) is not None:
                raise _ApiError(400, fault.message, fault.code)
            for (item, obj, props), fault in zip(planned, faults, strict=True):
                trace = item.get("objectWriteTraceId")
                if fault is not None:
                    errors.append(_standard_error(fault.code, fault.message, {"objectWriteTraceId": [str(trace)]}))
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
        body = _body_object(await _json_body(request))
        inputs = _inputs(body, maximum=BATCH_MAX)
        archived = _bool_param(request, "archived")
        properties = body.get("properties") or None
        with_history = body.get("propertiesWithHistory") or None
        if with_history and len(inputs) > HISTORY_BATCH_MAX:
            raise _validation(
                "The maximum number of inputs supported in a batch request for property histories is "
                f"{HISTORY_BATCH_MAX}. Please reduce the number of items and try again."
            )
        started = self.now()
        with self.store.lock:
            results: list[JSON] = []
            missing: list[str] = []
            for item in inputs:
                object_id = _to_text(item.get("id"))
                obj = self.find(object_type, object_id, id_property=body.get("idProperty"))
                if obj is None or bool(obj.get("archived")) != archived:
                    missing.append(object_id)
                    continue
                results.append(self.render(object_type, obj, properties, with_history=with_history))
        out: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if missing:
            out |= {"numErrors": 1, "errors": [_missing_error(object_type, missing)]}
            return JSONResponse(out, status_code=207)
        return JSONResponse(out)

    async def batch_archive(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/batch/archive (developers.hubspot.com/docs/api/crm/companies, batch archive)
        object_type = self.object_type(request.path_params["object_type"])
        inputs = _inputs(_body_object(await _json_body(request)), maximum=BATCH_MAX)
        with self.store.lock:
            table = self.table(object_type)
            for item in inputs:
                obj = table.get(_to_text(item.get("id")))
                if obj is not None:
                    self.archive_object(obj)
        return Response(status_code=204)

    async def search(self, request: Request) -> Response:
        # POST /crm/v3/objects/{objectType}/search (developers.hubspot.com/docs/api/crm/search)
        object_type = self.object_type(request.path_params["object_type"])
        raw = await request.body()
        if len(raw) > SEARCH_BODY_MAX:
            raise _validation(
                f"The request body is {len(raw)} characters long; a search query can contain at most "
                f"{SEARCH_BODY_MAX} characters."
            )
        body = _body_object(await _json_body(request))
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or limit < 0:
            raise _validation(f"Invalid input JSON: limit must be a non-negative integer, got {limit!r}")
        if limit > SEARCH_PAGE_MAX:
            raise _validation(
                f"Paging limit exceeded: requested {limit} results per page, the maximum is {SEARCH_PAGE_MAX}.",
                context={"limit": [str(limit)]},
            )
        after_raw = _to_text(body.get("after")).strip() or "0"
        if not _INT_RE.fullmatch(after_raw) or int(after_raw) < 0:
            raise _validation(f"Invalid input JSON: after must be a non-negative integer offset, got {after_raw!r}")
        after = int(after_raw)
        cap: int = getattr(self.state, "search_cap", SEARCH_CAP)
        if after + limit > cap:
            raise _validation(
                f"Search results are limited to {cap:,} total results for any given query; cannot page past "
                f"result {cap:,} (after={after}, limit={limit}). Narrow the query with filters.",
                context={"after": [after_raw]},
            )
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise _validation("Invalid input JSON: sorts must be a list")
        if len(sorts) > 1:
            raise _validation(f"Only one sort is supported per search, got {len(sorts)}.")
        sort_name, descending = "hs_object_id", False
        if sorts:
            sort = sorts[0]
            if isinstance(sort, str):
                descending, sort_name = sort.startswith("-"), sort.lstrip("-")
            elif isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
                sort_name = sort["propertyName"]
                direction = sort.get("direction", "ASCENDING")
                if direction not in ("ASCENDING", "DESCENDING"):
                    raise _validation(f"Invalid input JSON: sort direction {direction!r}")
                descending = direction == "DESCENDING"
            else:
                raise _validation("Invalid input JSON: a sort needs a propertyName")
        properties = body.get("properties") or None
        if isinstance(properties, str):
            properties = [p.strip() for p in properties.split(",") if p.strip()]
        with self.store.lock:
            props = self.schema.ensure(object_type)
            groups = _compile_groups(props, body.get("filterGroups"))
            query = _query_predicate(object_type, body.get("query"))
            # Small tables: one pass over every object, so no edit can go unseen. Big ones: the
            # modified-date index (see _StampIndex for what it notices).
            table = self.table(object_type)
            index_from: Callable[[], Callable[[_Range], list[JSON]]] | None = None
            if len(table) >= getattr(self.state, "search_index_min", SEARCH_INDEX_MIN):

                def index_from() -> Callable[[_Range], list[JSON]]:
                    stamps = self.backend.stamp_index(self.store, object_type, table)
                    return lambda window: stamps.candidates(table, window)

            matched = _narrow(table.values(), groups, modified=_modified_field(object_type), index=index_from)
            if query is not None:
                matched = [obj for obj in matched if query(obj)]
            if sort_name != "hs_object_id" or descending:
                get = _getter(sort_name, _kind(props, sort_name))
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

    # -- properties (developers.hubspot.com/docs/api/crm/properties) ---------------------------

    async def list_properties(self, request: Request) -> Response:
        # GET /crm/v3/properties/{objectType}
        object_type = self.object_type(request.path_params["object_type"])
        archived = _bool_param(request, "archived")
        with self.store.lock:
            props = self.schema.ensure(object_type)
            results = [p for p in props.values() if bool(p.get("archived")) == archived]
            results = [_property_out(p, self.owners()) for p in results]
        return JSONResponse({"results": results})

    async def get_property(self, request: Request) -> Response:
        # GET /crm/v3/properties/{objectType}/{propertyName}
        object_type = self.object_type(request.path_params["object_type"])
        name = request.path_params["name"]
        with self.store.lock:
            prop = self.schema.ensure(object_type).get(name)
            if prop is None:
                raise _ApiError(
                    404, f"Unable to find property {name} for object type {object_type}", "OBJECT_NOT_FOUND"
                )
            out = _property_out(prop, self.owners())
        return JSONResponse(out)

    async def create_property(self, request: Request) -> Response:
        # POST /crm/v3/properties/{objectType} (returns 201; an existing name is a 409 CONFLICT)
        object_type = self.object_type(request.path_params["object_type"])
        body = _body_object(await _json_body(request))
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise _validation(f"Invalid input JSON: missing required properties {missing}")
        type_, field_type = body["type"], body["fieldType"]
        if field_type not in _VALID_FIELD_TYPES.get(type_, frozenset()):
            raise _validation(f"Invalid property definition: fieldType {field_type!r} is not valid for type {type_!r}")
        with self.store.lock:
            props = self.schema.ensure(object_type)
            groups = self.schema.groups.setdefault(object_type, {})
            name = str(body["name"])
            if name in props:
                raise _ApiError(409, f"Property named '{name}' already exists.", "CONFLICT")
            if body["groupName"] not in groups:
                raise _validation(f"Property group {body['groupName']} does not exist.")
            options = [
                _option(str(o.get("value")), str(o.get("label", o.get("value"))), int(o.get("displayOrder", i)))
                for i, o in enumerate(body.get("options") or [])
                if isinstance(o, dict)
            ]
            spec = _Def(name, str(body["label"]), type_, field_type, str(body["groupName"]), custom=True)
            prop = _property_json(spec, hubspot_defined=False, created_at=self.now(), options=options)
            prop["description"] = str(body.get("description") or "")
            prop["hasUniqueValue"] = bool(body.get("hasUniqueValue", False))
            prop["hidden"] = bool(body.get("hidden", False))
            prop["formField"] = bool(body.get("formField", False))
            if isinstance(body.get("displayOrder"), int):
                prop["displayOrder"] = body["displayOrder"]
            props[name] = prop
            out = _property_out(prop, self.owners())
        return JSONResponse(out, status_code=201)

    async def list_groups(self, request: Request) -> Response:
        # GET /crm/v3/properties/{objectType}/groups
        object_type = self.object_type(request.path_params["object_type"])
        with self.store.lock:
            self.schema.ensure(object_type)
            results = [dict(g) for g in self.schema.groups.get(object_type, {}).values()]
        return JSONResponse({"results": results})

    async def create_group(self, request: Request) -> Response:
        # POST /crm/v3/properties/{objectType}/groups (returns 201; an existing name is a 409 CONFLICT)
        object_type = self.object_type(request.path_params["object_type"])
        body = _body_object(await _json_body(request))
        if not body.get("name") or not body.get("label"):
            raise _validation("Invalid input JSON: a property group needs a name and a label")
        with self.store.lock:
            self.schema.ensure(object_type)
            groups = self.schema.groups.setdefault(object_type, {})
            name = str(body["name"])
            if name in groups:
                raise _ApiError(409, f"Property group named '{name}' already exists.", "CONFLICT")
            order = body.get("displayOrder")
            group = {
                "name": name,
                "label": str(body["label"]),
                "displayOrder": order if isinstance(order, int) else -1,
                "archived": False,
            }
            groups[name] = group
        return JSONResponse(dict(group), status_code=201)

    # -- associations v4 (developers.hubspot.com/docs/api/crm/associations) --------------------

    def association_page(
        self, request: Request, from_type: str, from_id: str, to_type: str, offset: int, size: int
    ) -> JSON | None:
        """One page of an object's associations in v4 shape, or ``None`` when it has none."""
        linked = self.linked(from_type, from_id, to_type)
        if not linked:
            return None
        page = linked[offset : offset + size]
        out: JSON = {"from": {"id": from_id}, "to": [_v4_target(i, t) for i, t in page]}
        if offset + len(page) < len(linked):
            after = _page_token(offset + len(page))
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
        inputs = _inputs(_body_object(await _json_body(request)), maximum=ASSOCIATION_BATCH_READ_MAX)
        size: int = getattr(self.state, "association_page_size", ASSOCIATION_PAGE_SIZE)
        started = self.now()
        with self.store.lock:
            results: list[JSON] = []
            errors: list[JSON] = []
            for item in inputs:
                from_id = _to_text(item.get("id"))
                page = self.association_page(
                    request, from_type, from_id, to_type, _page_offset(item.get("after")), size
                )
                if page is None:
                    message = (
                        f"No {_SINGULAR.get(to_type, to_type)} is associated with "
                        f"{_SINGULAR.get(from_type, from_type)} {from_id}."
                    )
                    errors.append(
                        _standard_error(
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
        limit = _int_param(request, "limit", 500, low=1, high=500)
        offset = _page_offset(request.query_params.get("after"))
        with self.store.lock:
            page = self.association_page(request, from_type, from_id, to_type, offset, limit)
        out: JSON = {"results": page["to"] if page else []}
        if page and "paging" in page:
            out["paging"] = page["paging"]
        return JSONResponse(out)

    # -- OAuth (developers.hubspot.com/docs/api/oauth/tokens) -----------------------------------

    async def oauth_token(self, request: Request) -> Response:
        # POST /oauth/v1/token (developers.hubspot.com/docs/api/oauth/tokens, "Refresh an access token"):
        # form-encoded grant_type=refresh_token, client_id, client_secret, refresh_token. Errors are
        # 400 {"status": "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" | ..., "message": ...}, not the CRM error shape.
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        auth = self.world.auth["hubspot"]
        grant = form.get("grant_type", "")

        def refuse(status: str, message: str) -> Response:
            body = {"status": status, "message": message, "correlationId": _correlation_id()}
            if status == "BAD_REFRESH_TOKEN":
                body |= {"error": "invalid_grant", "error_description": message}
            return JSONResponse(body, status_code=400)

        if grant != "refresh_token":
            return refuse("BAD_GRANT_TYPE", f"grant_type {grant!r} is not supported here; use refresh_token")
        with auth.lock:
            if form.get("client_id") != auth.client_id:
                return refuse("BAD_CLIENT_ID", "missing or unknown client id")
            if form.get("client_secret") != auth.client_secret:
                return refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
            refresh_token = form.get("refresh_token", "")
            if refresh_token not in auth.refresh_tokens:
                return refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            lifetime: int | None = getattr(self.state, "token_expires_in", None)
            token = self.backend.tokens.issue(auth, self.world.now(), lifetime)
        body = {
            "token_type": "bearer",
            "refresh_token": refresh_token,  # HubSpot refresh tokens do not rotate
            "access_token": token,
            "expires_in": lifetime if lifetime is not None else TOKEN_EXPIRES_IN,
        }
        return JSONResponse(body)

    # -- owners (developers.hubspot.com/docs/api/crm/owners) -----------------------------------

    async def list_owners(self, request: Request) -> Response:
        # GET /crm/v3/owners
        limit = _int_param(request, "limit", 100, low=1, high=OWNERS_PAGE_MAX)
        after_raw = request.query_params.get("after") or "0"
        if not _INT_RE.fullmatch(after_raw):
            raise _validation(f"Invalid value for query parameter after: {after_raw!r}")
        archived = _bool_param(request, "archived")
        email = request.query_params.get("email")
        with self.store.lock:
            owners = sorted(self.owners().values(), key=lambda o: _numeric_id(str(o["id"])))
            chosen = [
                o
                for o in owners
                if bool(o.get("archived")) == archived
                and _numeric_id(str(o["id"])) >= int(after_raw)
                and (email is None or str(o.get("email", "")).lower() == email.lower())
            ]
            page = [_owner_out(o) for o in chosen[:limit]]
        out: JSON = {"results": page}
        if len(chosen) > limit:
            next_after = str(_numeric_id(str(chosen[limit]["id"])))
            out["paging"] = {
                "next": {"after": next_after, "link": f"{request.base_url}crm/v3/owners?after={next_after}"}
            }
        return JSONResponse(out)

    async def get_owner(self, request: Request) -> Response:
        # GET /crm/v3/owners/{ownerId}
        owner_id = request.path_params["owner_id"]
        by_user = request.query_params.get("idProperty") == "userId"
        archived = _bool_param(request, "archived")
        with self.store.lock:
            found = [
                o
                for o in self.owners().values()
                if (str(o.get("userId")) if by_user else str(o["id"])) == owner_id
                and bool(o.get("archived")) == archived
            ]
            if not found:
                raise _ApiError(404, f"No owner found with id {owner_id}", "OBJECT_NOT_FOUND")
            out = _owner_out(found[0])
        return JSONResponse(out)


def _derived(object_type: str, changes: Mapping[str, str], current: Mapping[str, Any]) -> dict[str, str]:
    """The calculated properties HubSpot recomputes in the same write (deal closed flags, line item amount)."""
    if object_type == "deals" and "dealstage" in changes:
        stage = changes["dealstage"]
        return {
            "hs_is_closed": "true" if stage in ("closedwon", "closedlost") else "false",
            "hs_is_closed_won": "true" if stage == "closedwon" else "false",
        }
    if object_type == "line_items" and ("price" in changes or "quantity" in changes):
        price = _number(str(changes.get("price", current.get("price")) or ""))
        quantity = _number(str(changes.get("quantity", current.get("quantity")) or ""))
        if price is not None and quantity is not None:
            return {"amount": _to_text(price * quantity)}
    return {}


def _stamp(
    world: World,
    backend: _Backend,
    object_type: str,
    obj: JSON,
    changes: Mapping[str, str],
    entry: Mapping[str, Any] | None,
    *,
    derive: bool = True,
) -> str:
    """Apply ``changes`` and a new modstamp (``world.now()``) to one object, keeping indexes and history current."""
    store = world.hubspot
    now = hs_time(world.now())
    modified = _modified_field(object_type)
    stamps = backend.current_stamps(store, object_type, store.table(object_type))
    old = obj["properties"].get(modified)
    obj["properties"].update(changes)
    if derive:
        obj["properties"].update(_derived(object_type, changes, obj["properties"]))
    obj["properties"][modified] = now
    obj["updatedAt"] = now
    backend.restamped(store, object_type, stamps, str(obj["id"]), old, now)
    if entry is not None and changes:
        backend.record(object_type, str(obj["id"]), changes, {**entry, "timestamp": now})
    return now


def _api_source(now: str) -> JSON:
    return {"timestamp": now, "sourceType": "INTEGRATION", "sourceId": API_SOURCE_ID}


def _not_found(object_id: str) -> _ApiError:
    return _ApiError(
        404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND", context={"id": [object_id]}
    )


def _missing_error(object_type: str, ids: Sequence[str]) -> JSON:
    singular = _SINGULAR.get(object_type, object_type).upper()
    message = f"Could not get some {singular} objects, they may be deleted or not exist. Check that ids are valid."
    return _standard_error("OBJECT_NOT_FOUND", message, {"ids": list(ids)})


def _v4_target(to_id: str, type_ids: Sequence[int]) -> JSON:
    return {
        "toObjectId": int(to_id) if _INT_RE.fullmatch(to_id) else to_id,
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": None} for t in type_ids],
    }


def _bisect(ordered: Sequence[tuple[int, str]], after: int) -> int:
    low, high = 0, len(ordered)
    while low < high:
        mid = (low + high) // 2
        if ordered[mid][0] < after:
            low = mid + 1
        else:
            high = mid
    return low


def _property_out(prop: Mapping[str, Any], owners: Mapping[str, Any]) -> JSON:
    out = dict(prop)
    out["options"] = [dict(o) for o in prop.get("options", [])]
    if prop.get("name") == "hubspot_owner_id":
        active = sorted((o for o in owners.values() if not o.get("archived")), key=lambda o: _numeric_id(str(o["id"])))
        out["options"] = [
            _option(str(o["id"]), f"{o.get('firstName', '')} {o.get('lastName', '')}".strip(), i)
            for i, o in enumerate(active)
        ]
    return out


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


# ---------------------------------------------------------------------------------------------
# Public surface
# ---------------------------------------------------------------------------------------------


def edit_as_user(
    world: World,
    object_type: str,
    object_id: str,
    properties: Mapping[str, Any],
    user_id: int | str,
) -> JSON:
    """Change an object as a person in the HubSpot UI would: history ``CRM_UI``, modstamp bumped.

    Lets tests tell upsync's own writes (``INTEGRATION``) from a rep's edits. Values are stored
    as strings, unvalidated (the UI validated them). Raises ``KeyError`` if the object is unknown.
    Returns the stored object.
    """
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        changes = {name: _to_text(value) for name, value in properties.items()}
        entry: JSON = {"sourceType": "CRM_UI", "sourceId": f"userId:{user_id}"}
        if str(user_id).isdigit():
            entry["updatedByUserId"] = int(user_id)
        _stamp(world, _backend(world), object_type, obj, changes, entry, derive=False)
        if str(user_id).isdigit():
            obj["properties"]["hs_updated_by_user_id"] = str(user_id)
        return obj


def refuse_items(
    world: World,
    predicate: Callable[[Mapping[str, Any]], bool],
    *,
    category: str = "VALIDATION_ERROR",
    message: str = "Property values were not valid",
    times: int = 1,
    object_type: str | None = None,
) -> ItemFault:
    """Make batch create/update refuse the next ``times`` inputs matching ``predicate``.

    ``predicate`` sees the input's properties as validated (an update's also carry
    ``hs_object_id``). When every input of the request carries an ``objectWriteTraceId`` the
    refused one comes back in a 207 multi-status as a ``StandardError`` whose context names its
    trace id, and the others are written (developers.hubspot.com/docs/api-reference/error-handling,
    "Multi-status errors"); otherwise the whole request fails with 400 and nothing is written.
    Returns the armed fault (its ``times`` counts down as it fires).
    """
    fault = ItemFault(predicate=predicate, code=category, message=message, times=times, object_type=object_type)
    with world.hubspot.lock:
        world.hubspot.item_faults.append(fault)
    return fault


def remove_property(world: World, object_type: str, name: str) -> None:
    """Forget a property definition, as in a portal where it was never created: the properties
    API no longer lists it and writes naming it get ``PROPERTY_DOESNT_EXIST``; a later
    ``POST /crm/v3/properties/{objectType}`` may create it again. Raises ``KeyError`` if unknown."""
    backend = _backend(world)
    with world.hubspot.lock:
        del backend.schema.ensure(object_type)[name]


def remove_group(world: World, object_type: str, name: str) -> None:
    """Forget a property group and every property in it (see :func:`remove_property`)."""
    backend = _backend(world)
    with world.hubspot.lock:
        props = backend.schema.ensure(object_type)
        del backend.schema.groups[object_type][name]
        for prop_name in [n for n, p in props.items() if p.get("groupName") == name]:
            del props[prop_name]


def archive(world: World, object_type: str, object_id: str, *, at: datetime | None = None) -> JSON:
    """Archive an object as HubSpot does: ``archived``/``archivedAt`` set, ``hs_lastmodifieddate`` untouched.

    So the object leaves search (and a modified-since search never sees the delete) and shows up
    in ``GET /crm/v3/objects/{type}?archived=true``. ``at`` defaults to ``world.now()``. Raises
    ``KeyError`` if the object is unknown. Returns the stored object.
    """
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        if not obj.get("archived"):
            obj["archived"] = True
            obj["archivedAt"] = hs_time(at or world.now())
        return obj


def restore(world: World, object_type: str, object_id: str, *, touch: bool = True) -> JSON:
    """Bring an archived object back (HubSpot's "restore" within 90 days of the delete).

    ``touch`` (the default) stamps a new ``hs_lastmodifieddate``, so an incremental sync sees the
    object again; ``touch=False`` restores silently. Raises ``KeyError`` if the object is unknown.
    """
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        obj["archived"] = False
        obj["archivedAt"] = None
        if touch:
            _stamp(world, _backend(world), object_type, obj, {}, None)
        return obj


def mass_update(
    world: World,
    object_type: str,
    ids: Iterable[str],
    properties: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> str:
    """Stamp many objects with ONE identical modstamp, as a HubSpot batch update or pipeline edit does.

    Every listed object gets ``properties`` (stored as strings, unvalidated; may be empty: a
    "touch") and the same ``hs_lastmodifieddate`` (contacts: ``lastmodifieddate``) = ``at`` or
    ``world.now()``, with history ``BATCH_UPDATE``. Thousands of objects on one millisecond are
    what breaks timestamp-restart pagination past search's 10,000 cap (airbytehq/airbyte#43317).
    Archived objects are skipped. Raises ``KeyError`` on an unknown id before changing anything.
    Returns the timestamp written.
    """
    backend = _backend(world)
    store = world.hubspot
    stamp = hs_time(at or world.now())
    changes = {name: _to_text(value) for name, value in (properties or {}).items()}
    entry: JSON = {"timestamp": stamp, "sourceType": "BATCH_UPDATE", "sourceId": None}
    modified = _modified_field(object_type)
    with store.lock:
        table = store.objects[object_type]
        objects = [table[object_id] for object_id in ids]
        backend.stamps.pop(object_type, None)  # thousands of moves: cheaper to rebuild on the next search
        for obj in objects:
            if obj.get("archived"):
                continue
            obj["properties"].update(changes)
            obj["properties"][modified] = stamp
            obj["updatedAt"] = stamp
            if changes:
                backend.record(object_type, str(obj["id"]), changes, entry)
    return stamp


def recalculate(world: World, object_type: str, object_id: str, values: Mapping[str, Any]) -> JSON:
    """Change calculated properties (``health_rollup``) the way HubSpot recomputes them.

    The value and its history (``CALCULATED``) change; ``hs_lastmodifieddate`` and ``updatedAt``
    do not, so only a full re-read finds the new value. Raises ``ValueError`` for a property that
    is not calculated and ``KeyError`` for an unknown object. Returns the stored object.
    """
    backend = _backend(world)
    store = world.hubspot
    with store.lock:
        props = backend.schema.ensure(object_type)
        plain = [name for name in values if not props.get(name, {}).get("calculated")]
        if plain:
            raise ValueError(f"not calculated properties of {object_type}: {', '.join(sorted(plain))}")
        obj = store.objects[object_type][object_id]
        changes = {name: _to_text(value) for name, value in values.items()}
        obj["properties"].update(changes)
        entry: JSON = {"timestamp": hs_time(world.now()), "sourceType": "CALCULATED", "sourceId": None}
        backend.record(object_type, object_id, changes, entry)
        return obj


def invalidate(world: World) -> None:
    """Forget every index kept over ``world.hubspot``; the next request rebuilds what it needs.

    Needed only after editing a *big* table (``app.state.search_index_min`` objects or more) in
    place, by writing ``world.hubspot.objects`` directly, in a way that moves an object's modified
    date into a search window, or after appending to an association list the stand-in already
    indexed. Adding or removing objects or association keys is noticed without it.
    """
    backend = _backend(world)
    with world.hubspot.lock:
        backend.id_indexes.clear()
        backend.stamps.clear()
        backend.reverse.clear()
        backend.association_version += 1


def associate(world: World, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
    """Associate two objects, storing the inverse too (the inverse type from :data:`ASSOCIATION_TYPES`).

    Tests should prefer this to appending to ``world.hubspot.associations`` lists directly: the
    stand-in notices new association *keys*, not entries appended to a list it already indexed.
    """
    _store_both_ways(world.hubspot, _backend(world), from_type, from_id, to_type, to_id, type_id)


def create_hubspot_app(world: World) -> Starlette:
    """The HubSpot stand-in over ``world``; see the module docstring for ``app.state`` settings."""
    state = State()
    api = _Api(world, state)
    objects = "/crm/v3/objects/{object_type}"
    routes = [
        Route("/oauth/v1/token", api.oauth_token, methods=["POST"]),
        Route(objects, api.list_objects, methods=["GET"]),
        Route(objects, api.create_one, methods=["POST"]),
        Route(f"{objects}/search", api.search, methods=["POST"]),
        Route(f"{objects}/batch/create", api.batch_create, methods=["POST"]),
        Route(f"{objects}/batch/update", api.batch_update, methods=["POST"]),
        Route(f"{objects}/batch/read", api.batch_read, methods=["POST"]),
        Route(f"{objects}/batch/archive", api.batch_archive, methods=["POST"]),
        Route(objects + "/{object_id}", api.get_object, methods=["GET"]),
        Route(objects + "/{object_id}", api.update_one, methods=["PATCH"]),
        Route(objects + "/{object_id}", api.archive_one, methods=["DELETE"]),
        Route("/crm/v3/properties/{object_type}", api.list_properties, methods=["GET"]),
        Route("/crm/v3/properties/{object_type}", api.create_property, methods=["POST"]),
        Route("/crm/v3/properties/{object_type}/groups", api.list_groups, methods=["GET"]),
        Route("/crm/v3/properties/{object_type}/groups", api.create_group, methods=["POST"]),
        Route("/crm/v3/properties/{object_type}/{name}", api.get_property, methods=["GET"]),
        Route("/crm/v4/associations/{from_type}/{to_type}/batch/read", api.associations_batch_read, methods=["POST"]),
        Route("/crm/v4/objects/{object_type}/{object_id}/associations/{to_type}", api.associations_of, methods=["GET"]),
        Route("/crm/v3/owners", api.list_owners, methods=["GET"]),
        Route("/crm/v3/owners/", api.list_owners, methods=["GET"]),
        Route("/crm/v3/owners/{owner_id}", api.get_owner, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={_ApiError: _api_error_handler, HTTPException: _http_error_handler},
    )
    app.state = state
    state.limits = None
    state.search_cap = SEARCH_CAP
    state.rate = RateCounters()
    state.token_expires_in = None
    state.association_page_size = ASSOCIATION_PAGE_SIZE
    state.embedded_association_limit = EMBEDDED_ASSOCIATION_LIMIT
    state.search_index_min = SEARCH_INDEX_MIN
    app.add_middleware(_Gate, world=world, state=state, tokens=api.backend.tokens)
    return app
