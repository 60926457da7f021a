"""HubSpot CRM v3/v4 stand-in: serves ``world.hubspot`` with the paths, shapes, limits and errors of api.hubapi.com.

It is driven by the real ``hubspot-api-client`` in tests, so every response has the shape the
generated models require, and the behaviours that bite real integrations are reproduced on
purpose (developers.hubspot.com/docs/api/crm/search, .../crm/understanding-the-crm):

- search pages hold at most 200 rows, hide archived objects, and answer 400 once ``after +
  limit`` passes 10,000 (``app.state.search_cap``), while ``paging.next`` keeps pointing there;
- archiving (``DELETE``/``batch/archive``) sets ``archived``/``archivedAt`` but leaves
  ``hs_lastmodifieddate`` alone, so deletes are invisible to a modified-since search;
- batch writes are capped at 100 inputs; a batch create with one bad input fails whole (400
  ``VALIDATION_ERROR``) unless every input carries an ``objectWriteTraceId``, in which case the
  good inputs are created and the bad ones come back in a 207 multi-status;
- rate-limit headers are on every response; enforcement (429 with HubSpot's body, no
  ``Retry-After`` since HubSpot documents none) is off until a test sets
  ``app.state.limits = HubSpotLimits(...)``; add a ``Retry-After`` with a ``sandbox.server.Fault``;
- an update that changes no value changes nothing: no history entry, no new modstamp.

Settings live on ``app.state``: ``limits`` (``HubSpotLimits | None``, default ``None`` = not
enforced), ``search_cap`` (10,000) and ``rate`` (the counters; ``app.state.rate.reset()``).
Property schemas and property history are kept per world, so :func:`edit_as_user` (a change a
person makes in the HubSpot UI, recorded as ``CRM_UI``) and the API (``INTEGRATION``) share them.

Every store access holds ``world.hubspot.lock``. Search is one linear filter pass plus one sort.
"""

from __future__ import annotations

import json
import operator
import re
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any, Final, Literal
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers, State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.world import HubSpotStore, World, hs_time

__all__ = ["API_SOURCE_ID", "HubSpotLimits", "RateCounters", "create_hubspot_app", "edit_as_user"]

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
ASSOCIATION_BATCH_READ_MAX: Final = 1_000
LIST_PAGE_MAX: Final = 100
OWNERS_PAGE_MAX: Final = 500

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
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

# HUBSPOT_DEFINED association types: (from, to, typeId, inverse typeId)
# (developers.hubspot.com/docs/api/crm/associations, "Association type ID values").
_ASSOCIATION_TYPES: Final = (
    ("tasks", "companies", 192, 191),
    ("tasks", "contacts", 204, 203),
    ("tasks", "deals", 216, 215),
    ("notes", "companies", 190, 189),
    ("notes", "contacts", 202, 201),
    ("notes", "deals", 214, 213),
    ("contacts", "companies", 279, 280),
    ("contacts", "companies", 1, 2),
    ("deals", "companies", 341, 342),
    ("deals", "companies", 5, 6),
    ("deals", "contacts", 3, 4),
)
_ASSOC_TARGET: dict[tuple[str, int], str] = {}
_ASSOC_INVERSE: dict[int, int] = {}
for _from, _to, _type_id, _inverse in _ASSOCIATION_TYPES:
    _ASSOC_TARGET[(_from, _type_id)] = _to
    _ASSOC_TARGET[(_to, _inverse)] = _from
    _ASSOC_INVERSE[_type_id] = _inverse
    _ASSOC_INVERSE[_inverse] = _type_id


# ---------------------------------------------------------------------------------------------
# Rate limits (developers.hubspot.com/docs/api/usage-details)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSpotLimits:
    """The account's API limits; set one on ``app.state.limits`` to enforce them.

    ``None`` for a field leaves that policy unenforced. The defaults are the Free/Starter
    private-app tier: 100 requests per rolling 10 s, search 5 per second, 250,000 per day.
    """

    per_10s: int | None = 100
    search_per_s: int | None = 5
    daily: int | None = 250_000


_DISPLAY_LIMITS: Final = HubSpotLimits()
Policy = Literal["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"]


class RateCounters:
    """Sliding windows of admitted requests (10 s general, 1 s search) and today's total.

    Requests refused with 429 are not counted, so a client that backs off recovers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._general: deque[float] = deque()
        self._search: deque[float] = deque()
        self._daily = 0
        self._day: date | None = None

    def reset(self) -> None:
        with self._lock:
            self._general.clear()
            self._search.clear()
            self._daily = 0

    def admit(
        self, limits: HubSpotLimits | None, *, search: bool, today: date, count: bool = True
    ) -> tuple[Policy | None, dict[str, str]]:
        """Count one request unless it is over an enforced limit; return the refusal and headers.

        ``count=False`` only reports the headers (for requests refused before the limiter, e.g. 401).
        """
        with self._lock:
            now = self._clock()
            while self._general and self._general[0] <= now - 10:
                self._general.popleft()
            while self._search and self._search[0] <= now - 1:
                self._search.popleft()
            if self._day != today:
                self._day, self._daily = today, 0
            refused: Policy | None = None
            if not count:
                return None, self._headers(limits, search=search, now=now)
            if limits is not None:
                if limits.daily is not None and self._daily >= limits.daily:
                    refused = "DAILY"
                elif search and limits.search_per_s is not None and len(self._search) >= limits.search_per_s:
                    refused = "SECONDLY"
                elif not search and limits.per_10s is not None and len(self._general) >= limits.per_10s:
                    refused = "TEN_SECONDLY_ROLLING"
            if refused is None:
                self._daily += 1
                (self._search if search else self._general).append(now)
            return refused, self._headers(limits, search=search, now=now)

    def _headers(self, limits: HubSpotLimits | None, *, search: bool, now: float) -> dict[str, str]:
        eff = limits or _DISPLAY_LIMITS
        per_10s = eff.per_10s if eff.per_10s is not None else _DISPLAY_LIMITS.per_10s or 100
        daily = eff.daily if eff.daily is not None else _DISPLAY_LIMITS.daily or 250_000
        if search:
            secondly = eff.search_per_s if eff.search_per_s is not None else _DISPLAY_LIMITS.search_per_s or 5
            in_second = len(self._search)
        else:
            secondly = max(1, per_10s // 10)
            in_second = sum(1 for t in self._general if t > now - 1)
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


class _Gate:
    """ASGI middleware: bearer-token check, rate limiting, and rate-limit headers on every response."""

    def __init__(self, app: ASGIApp, *, world: World, state: State) -> None:
        self.app = app
        self.world = world
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        search = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/search")
        rate: RateCounters = self.state.rate
        token = Headers(scope=scope).get("authorization", "")
        expected = f"Bearer {self.world.tokens['hubspot']}"
        if token != expected:
            _, headers = rate.admit(self.state.limits, search=search, today=self.world.now().date(), count=False)
            body = {
                "status": "error",
                "message": _AUTH_MESSAGE,
                "correlationId": _correlation_id(),
                "category": "INVALID_AUTHENTICATION",
            }
            await JSONResponse(body, status_code=401, headers=headers)(scope, receive, send)
            return
        refused, headers = rate.admit(self.state.limits, search=search, today=self.world.now().date())
        if refused is not None:
            body = {
                "status": "error",
                "message": _RATE_MESSAGES[refused],
                "errorType": "RATE_LIMIT",
                "correlationId": _correlation_id(),
                "policyName": refused,
                "groupName": f"private-app:{API_SOURCE_ID}",
            }
            await JSONResponse(body, status_code=429, headers=headers)(scope, receive, send)
            return
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

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
_TASK_STATUS: Final = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
_TASK_PRIORITY: Final = ("NONE", "LOW", "MEDIUM", "HIGH")
_TASK_TYPE: Final = ("TODO", "CALL", "EMAIL", "LINKED_IN_CONNECT", "LINKED_IN_MESSAGE")
_VALID_FIELD_TYPES: Final[dict[str, frozenset[str]]] = {
    "string": frozenset({"text", "textarea", "file", "html", "phonenumber", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox", "calculation_equation"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}

# name, label, type, fieldType, group, options, readOnlyValue
_Def = tuple[str, str, str, str, str, Sequence[str], bool]


def _created_field(object_type: str) -> str:
    return "hs_createdate" if object_type in _ENGAGEMENTS else "createdate"


def _modified_field(object_type: str) -> str:
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def _always_properties(object_type: str) -> tuple[str, ...]:
    """Returned whatever ``properties`` asks for, as the real API does."""
    return (_created_field(object_type), _modified_field(object_type), "hs_object_id")


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
}


def _info_group(object_type: str) -> str:
    return f"{_SINGULAR.get(object_type, object_type.rstrip('s'))}information"


def _system_defs(object_type: str) -> list[_Def]:
    group = _info_group(object_type)
    created, modified = _created_field(object_type), _modified_field(object_type)
    return [
        ("hs_object_id", "Record ID", "number", "number", group, (), True),
        (created, "Create Date", "datetime", "date", group, (), True),
        (modified, "Last Modified Date", "datetime", "date", group, (), True),
        ("hubspot_owner_id", "Owner", "enumeration", "select", group, (), False),
    ]


def _standard_defs(object_type: str) -> list[_Def]:
    group = _info_group(object_type)
    defs = _system_defs(object_type)
    if object_type == "companies":
        defs += [
            ("name", "Company name", "string", "text", group, (), False),
            ("domain", "Company Domain Name", "string", "text", group, (), False),
            ("industry", "Industry", "enumeration", "select", group, _INDUSTRIES, False),
            ("numberofemployees", "Number of Employees", "number", "number", group, (), False),
            ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _LIFECYCLE, False),
            ("workspace_id", "Workspace ID", "string", "text", group, (), False),
            ("upsync_seats_purchased", "Seats purchased", "number", "number", group, (), False),
            ("upsync_health_score", "Health score", "number", "number", "upsync", (), False),
            ("upsync_health_band", "Health band", "string", "text", "upsync", (), False),
            ("upsync_expansion_score", "Expansion score", "number", "number", "upsync", (), False),
            ("upsync_next_best_action", "Next best action", "string", "textarea", "upsync", (), False),
            ("upsync_last_signal", "Last signal", "string", "textarea", "upsync", (), False),
            ("upsync_playbook_url", "Playbook URL", "string", "text", "upsync", (), False),
            ("upsync_as_of", "Upsync as of", "datetime", "date", "upsync", (), False),
        ]
    elif object_type == "contacts":
        defs += [
            ("email", "Email", "string", "text", group, (), False),
            ("firstname", "First Name", "string", "text", group, (), False),
            ("lastname", "Last Name", "string", "text", group, (), False),
            ("phone", "Phone Number", "string", "phonenumber", group, (), False),
            ("company", "Company Name", "string", "text", group, (), False),
            ("jobtitle", "Job Title", "string", "text", group, (), False),
            ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _LIFECYCLE, False),
        ]
    elif object_type == "deals":
        defs += [
            ("dealname", "Deal Name", "string", "text", group, (), False),
            ("amount", "Amount", "number", "number", group, (), False),
            ("dealstage", "Deal Stage", "enumeration", "radio", group, _DEAL_STAGES, False),
            ("pipeline", "Pipeline", "enumeration", "select", group, ("default",), False),
            ("closedate", "Close Date", "datetime", "date", group, (), False),
        ]
    elif object_type == "tasks":
        defs += [
            ("hs_timestamp", "Due date", "datetime", "date", group, (), False),
            ("hs_task_subject", "Task Title", "string", "text", group, (), False),
            ("hs_task_body", "Notes", "string", "html", group, (), False),
            ("hs_task_status", "Task Status", "enumeration", "select", group, _TASK_STATUS, False),
            ("hs_task_priority", "Priority", "enumeration", "select", group, _TASK_PRIORITY, False),
            ("hs_task_type", "Task Type", "enumeration", "select", group, _TASK_TYPE, False),
            ("upsync_sync_key", "Upsync sync key", "string", "text", "upsync", (), False),
        ]
    elif object_type in _ENGAGEMENTS:
        defs += [("hs_timestamp", "Activity date", "datetime", "date", group, (), False)]
    return defs


def _required_on_create(object_type: str) -> tuple[str, ...]:
    return ("hs_timestamp",) if object_type in _ENGAGEMENTS else ()


def _option(value: str, label: str, order: int) -> JSON:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False, "description": ""}


def _property_json(
    spec: _Def, *, hubspot_defined: bool, created_at: str, options: Sequence[JSON] | None = None
) -> JSON:
    name, label, type_, field_type, group, values, read_only = spec
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "groupName": group,
        "description": "",
        "options": list(options) if options is not None else [_option(v, v, i) for i, v in enumerate(values)],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": name == "hubspot_owner_id",
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not read_only,
        "archived": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "createdAt": created_at,
        "updatedAt": created_at,
    }


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
                custom = spec[0].startswith("upsync_") or spec[0] == "workspace_id"
                props[spec[0]] = _property_json(spec, hubspot_defined=not custom, created_at=self.created_at)
                if spec[4] not in groups:
                    label = (
                        "Upsync" if spec[4] == "upsync" else f"{_SINGULAR.get(object_type, object_type)} information"
                    )
                    groups[spec[4]] = {
                        "name": spec[4],
                        "label": label.capitalize(),
                        "displayOrder": -1,
                        "archived": False,
                    }
            self.properties[object_type] = props
        return props


def _seed_schema(store: HubSpotStore, created_at: str) -> _Schema:
    """Standard properties plus whatever the world's objects carry, with their enum values as options."""
    schema = _Schema(created_at=created_at)
    for object_type, table in store.objects.items():
        if object_type == "owners":
            continue
        props = schema.ensure(object_type)
        seen: dict[str, set[str]] = {}
        for obj in table.values():
            for name, value in obj.get("properties", {}).items():
                if value not in (None, ""):
                    seen.setdefault(name, set()).add(str(value))
        for name, values in seen.items():
            prop = props.get(name)
            if prop is None:
                spec: _Def = (name, name, "string", "text", _info_group(object_type), (), False)
                props[name] = _property_json(spec, hubspot_defined=False, created_at=created_at)
            elif prop["type"] == "enumeration" and name != "hubspot_owner_id":
                known = {o["value"] for o in prop["options"]}
                for value in sorted(values - known):
                    prop["options"].append(_option(value, value.replace("_", " ").title(), len(prop["options"])))
    return schema


# ---------------------------------------------------------------------------------------------
# Per-world backend: schema, property history, sorted-id cache
# ---------------------------------------------------------------------------------------------


@dataclass
class _Backend:
    schema: _Schema
    history: dict[tuple[str, str], dict[str, list[JSON]]] = field(default_factory=dict)
    sorted_ids: dict[str, tuple[tuple[int, str, str], list[tuple[int, str]]]] = field(default_factory=dict)

    def ids_in_order(self, object_type: str, table: dict[str, JSON]) -> list[tuple[int, str]]:
        """``(numeric id, id)`` ascending; cached until the table's size or ends change."""
        if not table:
            return []
        key = (len(table), next(iter(table)), next(reversed(table)))
        cached = self.sorted_ids.get(object_type)
        if cached is not None and cached[0] == key:
            return cached[1]
        ordered = sorted((_numeric_id(i), i) for i in table)
        self.sorted_ids[object_type] = (key, ordered)
        return ordered

    def record(self, object_type: str, object_id: str, changes: Mapping[str, str], entry: Mapping[str, Any]) -> None:
        per_object = self.history.setdefault((object_type, object_id), {})
        for name, value in changes.items():
            per_object.setdefault(name, []).append({"value": value, **entry})


def _numeric_id(object_id: str) -> int:
    try:
        return int(object_id)
    except ValueError:
        return -1


_BACKENDS: dict[int, tuple[weakref.ref[HubSpotStore], _Backend]] = {}
_BACKENDS_LOCK: Final = threading.Lock()


def _backend(world: World) -> _Backend:
    """The schema and history of this world's HubSpot store (shared by every app over it)."""
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


def _compile_filter(props: Mapping[str, JSON], spec: Any) -> _Predicate:
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


def _compile_groups(props: Mapping[str, JSON], groups: Any) -> list[list[_Predicate]]:
    """Filter groups as lists of predicates: ANDed within a group, groups ORed."""
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
    compiled: list[list[_Predicate]] = []
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
        compiled.append([_compile_filter(props, f) for f in filters])
    if total > MAX_FILTERS:
        raise _validation(
            f"Too many filters: {total}. A search can contain at most {MAX_FILTERS} filters in total.",
            context={"filters": [str(total)]},
        )
    return compiled


def _narrow(objects: list[JSON], groups: Sequence[Sequence[_Predicate]]) -> list[JSON]:
    """Objects matching any group, in their original order; each filter only sees the previous survivors."""
    if not groups:
        return objects
    matches: list[list[JSON]] = []
    for group in groups:
        survivors = objects
        for check in group:
            survivors = [obj for obj in survivors if check(obj)]
        matches.append(survivors)
    if len(matches) == 1:
        return matches[0]
    keep = {id(obj) for survivors in matches for obj in survivors}
    return [obj for obj in objects if id(obj) in keep]


def _query_predicate(object_type: str, query: Any) -> _Predicate | None:
    """Free-text ``query``: every word must start a token of one of the type's default text properties."""
    if not isinstance(query, str) or not query.strip():
        return None
    words = _tokens(query.lower())
    fields = [p for p in _DEFAULT_PROPERTIES.get(object_type, ()) if p not in _always_properties(object_type)]
    fields = fields or ["hs_task_subject", "hs_task_body"]

    def matches(obj: Mapping[str, Any]) -> bool:
        tokens = [t for f in fields for t in _tokens(str(obj["properties"].get(f) or "").lower())]
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return matches


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _association_label(from_type: str, to_type: str) -> str:
    return f"{_SINGULAR.get(from_type, from_type)}_to_{_SINGULAR.get(to_type, to_type)}"


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
            linked: JSON = {}
            for raw in associations:
                try:
                    to_type = self.object_type(raw)
                except _ApiError:
                    continue
                results = [
                    {"id": to_id, "type": _association_label(object_type, to_type)}
                    for to_id, _ in self.linked(object_type, str(obj["id"]), to_type)
                ]
                if results:
                    linked[raw] = {"results": results}
            if linked:
                out["associations"] = linked
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

    def linked(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, list[int]]]:
        """Live (not archived) associated ids in first-association order, with their type ids."""
        grouped: dict[str, list[int]] = {}
        targets = self.store.objects.get(to_type, {})
        for to_id, type_id in self.store.associations.get((from_type, from_id, to_type), []):
            target = targets.get(to_id)
            if target is None or target.get("archived"):
                continue
            types = grouped.setdefault(to_id, [])
            if type_id not in types:
                types.append(type_id)
        return list(grouped.items())

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        """Store an association and its inverse, as HubSpot does (v4 reads work from either side)."""
        pairs = [(from_type, from_id, to_type, to_id, type_id)]
        inverse = _ASSOC_INVERSE.get(type_id)
        if inverse is not None:
            pairs.append((to_type, to_id, from_type, from_id, inverse))
        for f_type, f_id, t_type, t_id, t_type_id in pairs:
            existing = self.store.associations.get((f_type, f_id, t_type), [])
            if (t_id, t_type_id) not in existing:
                self.store.associate(f_type, f_id, t_type, t_id, t_type_id)

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
        self.table(object_type)[object_id] = obj
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
        now = self.now()
        current.update(changes)
        current[_modified_field(object_type)] = now
        obj["updatedAt"] = now
        self.backend.record(object_type, str(obj["id"]), changes, _api_source(now))

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
            checked: list[tuple[JSON, dict[str, str], list[tuple[str, str, int]], list[_Problem]]] = []
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
                checked.append((item, props, links, [*problems, *link_problems]))
            failed = [problems for _, _, _, problems in checked if problems]
            if failed and not traced:
                raise _problems_error([p for problems in failed for p in problems])
            results: list[JSON] = []
            errors: list[JSON] = []
            for item, props, links, problems in checked:
                trace = item.get("objectWriteTraceId")
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
            results = []
            for item, obj, props in planned:
                self.update_object(object_type, obj, props)
                results.append(self.render(object_type, obj, list(props), trace_id=item.get("objectWriteTraceId")))
        body: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if missing:
            body |= {"numErrors": 1, "errors": [_missing_error(object_type, missing)]}
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
            table = self.table(object_type)
            live = [
                obj
                for _, object_id in self.backend.ids_in_order(object_type, table)
                if (obj := table.get(object_id)) is not None and not obj.get("archived")
            ]
            matched = _narrow(live, groups)
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
            spec: _Def = (name, str(body["label"]), type_, field_type, str(body["groupName"]), (), False)
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

    async def associations_batch_read(self, request: Request) -> Response:
        # POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read
        from_type = self.object_type(request.path_params["from_type"])
        to_type = self.object_type(request.path_params["to_type"])
        inputs = _inputs(_body_object(await _json_body(request)), maximum=ASSOCIATION_BATCH_READ_MAX)
        started = self.now()
        with self.store.lock:
            results: list[JSON] = []
            errors: list[JSON] = []
            for item in inputs:
                from_id = _to_text(item.get("id"))
                linked = self.linked(from_type, from_id, to_type)
                if not linked:
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
                results.append({"from": {"id": from_id}, "to": [_v4_target(i, t) for i, t in linked]})
        out: JSON = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now()}
        if errors:
            out |= {"numErrors": len(errors), "errors": errors}
            return JSONResponse(out, status_code=207)
        return JSONResponse(out)

    async def associations_of(self, request: Request) -> Response:
        # GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}
        from_type = self.object_type(request.path_params["object_type"])
        to_type = self.object_type(request.path_params["to_type"])
        from_id = request.path_params["object_id"]
        limit = _int_param(request, "limit", 500, low=1, high=500)
        after_raw = request.query_params.get("after") or "0"
        if not _INT_RE.fullmatch(after_raw):
            raise _validation(f"Invalid value for query parameter after: {after_raw!r}")
        after = int(after_raw)
        with self.store.lock:
            linked = self.linked(from_type, from_id, to_type)
        page = linked[after : after + limit]
        out: JSON = {"results": [_v4_target(i, t) for i, t in page]}
        if after + len(page) < len(linked):
            out["paging"] = {"next": {"after": str(after + len(page))}}
        return JSONResponse(out)

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
    backend = _backend(world)
    store = world.hubspot
    with store.lock:
        obj = store.objects[object_type][object_id]
        now = hs_time(world.now())
        changes = {name: _to_text(value) for name, value in properties.items()}
        obj["properties"].update(changes)
        obj["properties"][_modified_field(object_type)] = now
        obj["updatedAt"] = now
        entry: JSON = {"timestamp": now, "sourceType": "CRM_UI", "sourceId": f"userId:{user_id}"}
        if str(user_id).isdigit():
            entry["updatedByUserId"] = int(user_id)
        backend.record(object_type, object_id, changes, entry)
        return obj


def create_hubspot_app(world: World) -> Starlette:
    """The HubSpot stand-in over ``world``; see the module docstring for ``app.state`` settings."""
    state = State()
    api = _Api(world, state)
    objects = "/crm/v3/objects/{object_type}"
    routes = [
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
    app.add_middleware(_Gate, world=world, state=state)
    return app
