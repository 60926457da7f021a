"""The Salesforce REST API stand-in: SOQL queries, describes and record writes over ``world.salesforce``.

It speaks the REST API Developer Guide's shapes, status codes and error bodies closely enough
that the real simple-salesforce client (and our connector) cannot tell it from an org: bearer
auth with the real 401 body, ``Sforce-Limit-Info`` on every response and a daily request
allocation, query cursors snapshotted at the first page, sObject Collections with per-record
results and ``allOrNone`` rollback, and the field-level validation errors a real org returns
(too long, bad picklist value, inactive owner, dangling reference, duplicate external id).

Every endpoint handler cites the page of the REST API Developer Guide it imitates; the base
address is ``https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/``.
Handlers run in Starlette's thread pool and hold ``world.salesforce.lock`` while they read or
write the store, so tests can inspect ``world.salesforce.objects`` between calls.
"""

from __future__ import annotations

import calendar
import hmac
import json
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import soql
from sandbox.world import World, sf_id, sf_time

__all__ = [
    "DAILY_API_REQUESTS",
    "DEFAULT_BATCH_SIZE",
    "LATEST_API_VERSION",
    "MAX_COLLECTION_RECORDS",
    "MAX_OPEN_CURSORS",
    "MAX_RETRIEVE_IDS",
    "MIN_BATCH_SIZE",
    "SCHEMA",
    "SOBJECTS",
    "ApiUsage",
    "FieldSpec",
    "SObjectSpec",
    "SalesforceApi",
    "api_usage",
    "create_salesforce_app",
    "edit_as_user",
]

DOCS = "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/"

# Settings (defaults are Salesforce's own numbers; override per app or per test).
DAILY_API_REQUESTS = 15_000  # a Developer/Enterprise org's daily allocation (Sforce-Limit-Info total)
DEFAULT_BATCH_SIZE = 2_000  # Sforce-Query-Options batchSize default and maximum
MIN_BATCH_SIZE = 200  # … and minimum (headers_queryoptions.htm)
MAX_COLLECTION_RECORDS = 200  # sObject Collections create/update/upsert/delete
MAX_RETRIEVE_IDS = 2_000  # sObject Collections retrieve
MAX_OPEN_CURSORS = 10  # open query cursors per user; the oldest is dropped (INVALID_QUERY_LOCATOR)
LATEST_API_VERSION = "62.0"
FIRST_API_VERSION = 20
UPSERT_BODY_SINCE = (46, 0)  # upsert of an existing record answers 200 + body from v46.0 (204 before)
RECYCLE_BIN_DAYS = 15  # how far back /deleted can see
REPLICATION_WINDOW_DAYS = 30  # how far back /updated and /deleted accept a start

_JSON = "application/json;charset=UTF-8"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_VERSION_RE = re.compile(r"^v(\d{1,3})\.(\d)$")
_LOCATOR_RE = re.compile(r"^(01g[a-zA-Z0-9]{12,15})-(\d+)$")
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}

# --- metadata ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One field as ``describe`` reports it, plus the default a create fills in."""

    name: str
    type: str
    label: str
    length: int = 0
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    reference_to: tuple[str, ...] = ()

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultedOnCreate": self.default is not None or self.name in _SYSTEM_SET,
            "filterable": True,
            "sortable": self.type != "textarea",
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default,
                    "label": value,
                    "value": value,
                    "validFor": None,
                }
                for value in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.name[:-2] if self.type == "reference" and self.name.endswith("Id") else None,
        }


@dataclass(frozen=True, kw_only=True)
class SObjectSpec:
    """An sObject's describe: its key prefix (first three characters of its Ids) and fields."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)
    by_lower: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    def summary(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": True,
            "retrieveable": True,
            "replicateable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
# Fields the platform sets itself on create (describe reports them as defaultedOnCreate).
_SYSTEM_SET = frozenset(
    {"Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}
)
_TEXT_TYPES = soql.STRING_TYPES
_NUMBER_TYPES = soql.NUMBER_TYPES


def _text(name: str, label: str, length: int, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="string", label=label, length=length, **kw)


def _ref(name: str, label: str, *targets: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="reference", label=label, length=18, reference_to=targets, **kw)


def _system(name: str, label: str, type_: str, *, length: int = 0, **kw: Any) -> FieldSpec:
    length = 18 if type_ in ("id", "reference") else length
    return FieldSpec(name=name, type=type_, label=label, length=length, createable=False, updateable=False, **kw)


def _audit() -> tuple[FieldSpec, ...]:
    return (
        _system("CreatedDate", "Created Date", "datetime", nillable=False),
        _system("CreatedById", "Created By ID", "reference", nillable=False, reference_to=("User",)),
        _system("LastModifiedDate", "Last Modified Date", "datetime", nillable=False),
        _system("LastModifiedById", "Last Modified By ID", "reference", nillable=False, reference_to=("User",)),
        _system("SystemModstamp", "System Modstamp", "datetime", nillable=False),
        _system("IsDeleted", "Deleted", "boolean", nillable=False, default=False),
    )


_INDUSTRIES = (
    *("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction"),
    *("Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental"),
    *("Finance", "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Recreation"),
    *("Retail", "Shipping", "Technology", "Telecommunications", "Transportation", "Utilities", "Other"),
)
_ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TASK_PRIORITIES = ("High", "Normal", "Low")
_CONTRACT_STATUS_CODES = {"Draft": "Draft", "In Approval Process": "InApproval", "Activated": "Activated"}

_ACCOUNT = SObjectSpec(
    name="Account",
    label="Account",
    label_plural="Accounts",
    key_prefix="001",
    fields=(
        _system("Id", "Account ID", "id", nillable=False),
        _text("Name", "Account Name", 255, nillable=False),
        _ref("OwnerId", "Owner ID", "User", nillable=False),
        FieldSpec(name="Website", type="url", label="Website", length=255),
        FieldSpec(name="Industry", type="picklist", label="Industry", length=255, picklist=_INDUSTRIES),
        FieldSpec(name="NumberOfEmployees", type="int", label="Employees"),
        FieldSpec(name="Type", type="picklist", label="Account Type", length=255, picklist=_ACCOUNT_TYPES),
        _ref("ParentId", "Parent Account ID", "Account"),
        _text("Workspace_Id__c", "Workspace Id", 80, external_id=True, unique=True),
        FieldSpec(name="Seats_Purchased__c", type="double", label="Seats Purchased"),
        FieldSpec(name="Upsync_Health_Score__c", type="double", label="Upsync Health Score"),
        _text("Upsync_Health_Band__c", "Upsync Health Band", 20),
        FieldSpec(name="Upsync_Expansion_Score__c", type="double", label="Upsync Expansion Score"),
        _text("Upsync_Next_Best_Action__c", "Upsync Next Best Action", 255),
        _text("Upsync_Last_Signal__c", "Upsync Last Signal", 255),
        FieldSpec(name="Upsync_Playbook_Url__c", type="url", label="Upsync Playbook Url", length=255),
        FieldSpec(name="Upsync_As_Of__c", type="datetime", label="Upsync As Of"),
        *_audit(),
    ),
)
_CONTRACT = SObjectSpec(
    name="Contract",
    label="Contract",
    label_plural="Contracts",
    key_prefix="800",
    fields=(
        _system("Id", "Contract ID", "id", nillable=False),
        _ref("AccountId", "Account ID", "Account", nillable=False),
        FieldSpec(
            name="Status",
            type="picklist",
            label="Status",
            length=40,
            picklist=tuple(_CONTRACT_STATUS_CODES),
            restricted=True,
            nillable=False,
            default="Draft",
        ),
        _system(
            "StatusCode", "Status Category", "picklist", nillable=False, picklist=("Draft", "InApproval", "Activated")
        ),
        FieldSpec(name="StartDate", type="date", label="Contract Start Date"),
        _system("EndDate", "Contract End Date", "date"),
        FieldSpec(name="ContractTerm", type="int", label="Contract Term"),
        *_audit(),
    ),
)
_USER = SObjectSpec(
    name="User",
    label="User",
    label_plural="Users",
    key_prefix="005",
    createable=False,
    updateable=False,
    deletable=False,
    fields=(
        _system("Id", "User ID", "id", nillable=False),
        _system("Name", "Full Name", "string", length=121, nillable=False),
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, nillable=False),
        FieldSpec(name="Email", type="email", label="Email", length=128, nillable=False),
        FieldSpec(name="IsActive", type="boolean", label="Active", nillable=False, default=True),
        _system("SystemModstamp", "System Modstamp", "datetime", nillable=False),
    ),
)
_TASK = SObjectSpec(
    name="Task",
    label="Task",
    label_plural="Tasks",
    key_prefix="00T",
    fields=(
        _system("Id", "Activity ID", "id", nillable=False),
        _text("Subject", "Subject", 255),
        FieldSpec(name="Description", type="textarea", label="Description", length=32000),
        FieldSpec(name="ActivityDate", type="date", label="Due Date Only"),
        FieldSpec(
            name="Status",
            type="picklist",
            label="Status",
            length=255,
            picklist=TASK_STATUSES,
            restricted=True,
            nillable=False,
            default="Not Started",
        ),
        FieldSpec(
            name="Priority",
            type="picklist",
            label="Priority",
            length=40,
            picklist=TASK_PRIORITIES,
            restricted=True,
            nillable=False,
            default="Normal",
        ),
        _ref("OwnerId", "Assigned To ID", "User", nillable=False),
        _ref("WhatId", "Related To ID", "Account", "Contract"),
        _ref("WhoId", "Name ID", "Contact", "Lead"),
        _system("IsClosed", "Closed", "boolean", nillable=False, default=False),
        _text("Upsync_Sync_Key__c", "Upsync Sync Key", 80, external_id=True, unique=True),
        *_audit(),
    ),
)

SOBJECTS: dict[str, SObjectSpec] = {spec.name: spec for spec in (_ACCOUNT, _CONTRACT, _USER, _TASK)}
"""The sObjects the stand-in knows, by API name."""
SCHEMA: dict[str, dict[str, str]] = {spec.name: {f.name: f.type for f in spec.fields} for spec in SOBJECTS.values()}
"""``SOBJECTS`` as ``soql.Schema`` (sObject → field → type)."""
_BY_LOWER = {name.lower(): spec for name, spec in SOBJECTS.items()}
_BY_PREFIX = {spec.key_prefix: spec for spec in SOBJECTS.values()}
_KNOWN_PREFIXES = {**{s.key_prefix: s.name for s in SOBJECTS.values()}, "003": "Contact", "00Q": "Lead"}


# --- API usage -----------------------------------------------------------------------------


@dataclass
class ApiUsage:
    """The org's daily request counter reported in ``Sforce-Limit-Info`` and ``/limits``.

    Shared by every app built over the same world, as the allocation is per org. Tests may set
    ``used`` to put the org near its limit.
    """

    daily_max: int = DAILY_API_REQUESTS
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self) -> bool:
        """Count one request; False (and nothing counted) once the allocation is spent."""
        with self._lock:
            if self.used >= self.daily_max:
                return False
            self.used += 1
            return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self.daily_max}"


_USAGE: dict[int, ApiUsage] = {}
_USAGE_LOCK = threading.Lock()


def api_usage(world: World) -> ApiUsage:
    """The request counter of ``world``'s org (created on first use, dropped with the world)."""
    key = id(world)
    with _USAGE_LOCK:
        usage = _USAGE.get(key)
        if usage is None:
            usage = _USAGE[key] = ApiUsage()
            weakref.finalize(world, _USAGE.pop, key, None)
        return usage


# --- errors --------------------------------------------------------------------------------


class _ApiError(Exception):
    """A whole-request failure: HTTP ``status`` with the REST error array body."""

    def __init__(self, status: int, error_code: str, message: str, *, fields: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            error["fields"] = list(self.fields)
        return [error]


@dataclass(frozen=True, slots=True)
class _RecordError:
    """One record's failure inside a write (a SaveResult/UpsertResult error)."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": list(self.fields)}

    def as_api_error(self) -> _ApiError:
        return _ApiError(400, self.status_code, self.message, fields=self.fields)


def _not_found(message: str = "The requested resource does not exist") -> _ApiError:
    return _ApiError(404, "NOT_FOUND", message)


def _too_many(limit: int) -> _ApiError:
    return _ApiError(
        400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} records into this call"
    )


def _no_such_column(name: str, spec: SObjectSpec) -> _ApiError:
    return _ApiError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{spec.name}'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names.",
    )


# --- request plumbing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: tuple[str, ...]  # segments after /services/data/vXX.X
    version: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            raise _ApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character in request body at [line:{line}, column:{column}]"
            ) from None

    def allow(self, *methods: str) -> None:
        if self.method not in methods:
            raise _ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{self.method}' not allowed. Allowed are {','.join(methods)}",
            )

    def flag(self, name: str) -> bool:
        return self.params.get(name, "").lower() == "true"


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=_JSON, headers=dict(headers or {}))


def _version_label(major: int) -> str:
    """Release name of an API version: v59.0 is Winter '24, v60.0 Spring '24, v61.0 Summer '24…"""
    season = ("Winter", "Spring", "Summer")[(major - 59) % 3]
    return f"{season} '{(24 + (major - 59) // 3) % 100:02d}"


# --- coercion of written values ------------------------------------------------------------


def _parser_error(spec: FieldSpec, value: Any) -> _ApiError:
    token = {bool: "VALUE_TRUE" if value else "VALUE_FALSE", int: "VALUE_NUMBER_INT", float: "VALUE_NUMBER_FLOAT"}.get(
        type(value), "VALUE_STRING" if isinstance(value, str) else "START_OBJECT"
    )
    xsd = _SOAP_TYPES.get(spec.type, "xsd:string").split(":")[1]
    return _ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {xsd} from {token} value {value} or request may be missing a required "
        "field at [line:1, column:1]",
    )


def _coerce(spec: FieldSpec, value: Any) -> Any:
    """A JSON value as the store keeps it for ``spec``'s type; refuses what Salesforce cannot deserialize."""
    if value is None:
        return None
    t = spec.type
    if t in _TEXT_TYPES or t in ("id", "reference"):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float) and (t not in ("id", "reference") or isinstance(value, str)):
            return str(value)
        raise _parser_error(spec, value)
    if t == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise _parser_error(spec, value)
    if t in _NUMBER_TYPES:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _parser_error(spec, value)
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _parser_error(spec, value)
    if t == "date":
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise _parser_error(spec, value)
    if t == "datetime":
        if isinstance(value, str):
            try:
                return soql.canonical_datetime(value)
            except ValueError:
                pass
        raise _parser_error(spec, value)
    return value


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _derive(spec: SObjectSpec, row: dict[str, Any]) -> None:
    """Recompute the fields the platform calculates (Task.IsClosed, Contract.StatusCode/EndDate)."""
    if spec is _TASK:
        row["IsClosed"] = row.get("Status") == "Completed"
    elif spec is _CONTRACT:
        row["StatusCode"] = _CONTRACT_STATUS_CODES.get(row.get("Status") or "", "Draft")
        start, term = row.get("StartDate"), row.get("ContractTerm")
        if start and term:
            row["EndDate"] = (_add_months(date.fromisoformat(start), int(term)) - timedelta(days=1)).isoformat()


def _index_key(value: Any) -> Any:
    """External ids and unique fields match case-insensitively (Salesforce's default)."""
    if value is None:
        return None
    return value.casefold() if isinstance(value, str) else str(value)


# --- one write call ------------------------------------------------------------------------


class _Writer:
    """Applies one request's records in order; can roll them all back (allOrNone).

    Must be used while holding ``world.salesforce.lock``. Unique-field indexes are built once
    per call (a linear scan) and kept current as records are written, so a 200-record upsert
    costs one scan, not 200.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.store = world.salesforce
        self.now = sf_time(world.now())
        self.user_id = world.salesforce.integration_user_id
        self._undo: list[tuple[str, str, dict[str, Any] | None]] = []
        self._indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}

    def table(self, spec: SObjectSpec) -> dict[str, dict[str, Any]]:
        return self.store.table(spec.name)

    def index(self, spec: SObjectSpec, name: str) -> dict[Any, set[str]]:
        key = (spec.name, name)
        index = self._indexes.get(key)
        if index is None:
            index = {}
            for record_id, row in self.table(spec).items():
                value = _index_key(row.get(name))
                if value is not None and row.get("IsDeleted") is not True:
                    index.setdefault(value, set()).add(record_id)
            self._indexes[key] = index
        return index

    def put(self, spec: SObjectSpec, row: dict[str, Any]) -> None:
        table = self.table(spec)
        record_id = row["Id"]
        old = table.get(record_id)
        self._undo.append((spec.name, record_id, old))
        for (sobject, name), index in self._indexes.items():
            if sobject != spec.name:
                continue
            if old is not None and (key := _index_key(old.get(name))) is not None:
                index.get(key, set()).discard(record_id)
            if row.get("IsDeleted") is not True and (key := _index_key(row.get(name))) is not None:
                index.setdefault(key, set()).add(record_id)
        table[record_id] = row

    def rollback(self) -> None:
        for sobject, record_id, old in reversed(self._undo):
            table = self.store.table(sobject)
            if old is None:
                table.pop(record_id, None)
            else:
                table[record_id] = old
        self._undo.clear()
        self._indexes.clear()

    def find(self, spec: SObjectSpec, record_id: Any) -> dict[str, Any] | _RecordError:
        """The live row ``record_id`` of ``spec``, or the error a write to it gets."""
        if not isinstance(record_id, str) or not _ID_RE.match(record_id) or record_id[:3] != spec.key_prefix:
            return _RecordError("MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", ("Id",))
        row = self.table(spec).get(record_id)
        if row is None:
            return _RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if row.get("IsDeleted") is True:
            return _RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return row

    # validation, in the order a real save runs it: field access, required, size, picklist, lookups, uniqueness
    def check(
        self, spec: SObjectSpec, values: Mapping[str, Any], *, insert: bool, own_id: str | None
    ) -> _RecordError | None:
        locked = [n for n in values if not (spec.by_name[n].createable if insert else spec.by_name[n].updateable)]
        if locked:
            return _RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                tuple(locked),
            )
        if insert:
            missing = [
                f.name
                for f in spec.fields
                if f.createable
                and not f.nillable
                and values.get(f.name) is None
                and (f.name in values or (f.default is None and f.name not in _SYSTEM_SET))
            ]
        else:
            missing = [n for n, v in values.items() if v is None and not spec.by_name[n].nillable]
        if missing:
            return _RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing)
            )
        for name, value in values.items():
            f = spec.by_name[name]
            if isinstance(value, str) and f.length and (f.type in _TEXT_TYPES) and len(value) > f.length:
                return _RecordError(
                    "STRING_TOO_LONG", f"{f.label}: data value too large: {value} (max length={f.length})", (name,)
                )
            if f.restricted and value is not None and value not in f.picklist:
                return _RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {value}",
                    (name,),
                )
        for name, value in values.items():
            f = spec.by_name[name]
            if f.type == "reference" and value is not None and (error := self.check_reference(spec, f, value)):
                return error
        for name, value in values.items():
            f = spec.by_name[name]
            if not f.unique or value is None:
                continue
            clash = sorted(self.index(spec, name).get(_index_key(value), set()) - {own_id})
            if clash:
                return _RecordError(
                    "DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record with id: {clash[0]}"
                )
        return None

    def check_reference(self, spec: SObjectSpec, f: FieldSpec, value: str) -> _RecordError | None:
        if not _ID_RE.match(value):
            return _RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", (f.name,))
        if _KNOWN_PREFIXES.get(value[:3]) not in f.reference_to:
            return _RecordError(
                "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", (f.name,)
            )
        target = self.store.objects.get(_KNOWN_PREFIXES[value[:3]], {}).get(value)
        if target is None or target.get("IsDeleted") is True:
            return _RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", (f.name,))
        if f.name == "OwnerId" and target.get("IsActive") is not True:
            return _RecordError(
                "INACTIVE_OWNER_OR_USER", f"operation performed with inactive user [{value}] as owner of {spec.name}"
            )
        return None

    def insert(self, spec: SObjectSpec, values: dict[str, Any]) -> str | _RecordError:
        if "Id" in values:
            return _RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",))
        if not spec.createable:
            return _RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {spec.name}")
        error = self.check(spec, values, insert=True, own_id=None)
        if error is not None:
            return error
        row: dict[str, Any] = {f.name: f.default for f in spec.fields}
        if "OwnerId" in row:
            row["OwnerId"] = self.user_id
        row.update(values)
        row["Id"] = self.store.new_id(spec.key_prefix)
        for name, value in (
            ("CreatedDate", self.now),
            ("CreatedById", self.user_id),
            ("LastModifiedDate", self.now),
            ("LastModifiedById", self.user_id),
            ("SystemModstamp", self.now),
            ("IsDeleted", False),
        ):
            if name in row:
                row[name] = value
        _derive(spec, row)
        self.put(spec, row)
        return str(row["Id"])

    def update(self, spec: SObjectSpec, record_id: str, values: Mapping[str, Any]) -> _RecordError | None:
        found = self.find(spec, record_id)
        if isinstance(found, _RecordError):
            return found
        if not spec.updateable:
            return _RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {spec.name}")
        error = self.check(spec, values, insert=False, own_id=record_id)
        if error is not None:
            return error
        row = {**found, **values}
        for name, value in (
            ("LastModifiedDate", self.now),
            ("LastModifiedById", self.user_id),
            ("SystemModstamp", self.now),
        ):
            if name in spec.by_name:
                row[name] = value
        _derive(spec, row)
        self.put(spec, row)
        return None

    def delete(self, record_id: Any) -> _RecordError | None:
        spec = _BY_PREFIX.get(record_id[:3]) if isinstance(record_id, str) and _ID_RE.match(record_id) else None
        if spec is None:
            return _RecordError("MALFORMED_ID", f"malformed id {record_id}")
        if not spec.deletable:
            return _RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {spec.name}")
        found = self.find(spec, record_id)
        if isinstance(found, _RecordError):
            return found
        # Deleting moves the row to the Recycle Bin: queryAll still sees it, with a new SystemModstamp.
        self.put(spec, {**found, "IsDeleted": True, "SystemModstamp": self.now})
        return None


# --- query cursors -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cursor:
    spec: SObjectSpec
    fields: tuple[str, ...]
    rows: list[tuple[Any, ...]]  # (Id, *fields) snapshotted when the query ran
    batch_size: int
    include_deleted: bool


class _Cursors:
    """The open query locators, oldest dropped first beyond ``limit`` (as Salesforce does)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self._count = 0

    def open(self, cursor: _Cursor) -> str:
        with self._lock:
            self._count += 1
            locator = sf_id("01g", self._count)
            self._open[locator] = cursor
            while len(self._open) > self.limit:
                self._open.popitem(last=False)
            return locator

    def get(self, locator: str) -> _Cursor | None:
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is not None:
                self._open.move_to_end(locator)
            return cursor


# --- the API -------------------------------------------------------------------------------


class SalesforceApi:
    """Request routing and handlers; one per app, state shared through the world."""

    def __init__(self, world: World, usage: ApiUsage, *, max_open_cursors: int = MAX_OPEN_CURSORS) -> None:
        self.world = world
        self.usage = usage
        self.cursors = _Cursors(max_open_cursors)

    # entry point --------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        try:
            response = self._route(method, raw_path, query, headers, body)
        except _ApiError as exc:
            response = _json(exc.status, exc.body())
        # REST API Developer Guide › Limit Info Header: headers_api_usage.htm
        response.headers["Sforce-Limit-Info"] = self.usage.header()
        return response

    def _route(self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        segments = [unquote(s) for s in raw_path.split("/")]
        while segments and segments[-1] == "":
            segments.pop()  # clients call with and without a trailing slash
        if segments[:1] == [""]:
            segments.pop(0)
        if segments[:2] != ["services", "data"]:
            raise _not_found()
        rest = segments[2:]
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params.setdefault(key, value)
        if not rest:
            if method != "GET":
                raise _ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET")
            return self.versions()
        match = _VERSION_RE.match(rest[0])
        if match is None:
            raise _not_found()
        self._authenticate(headers)
        if not self.usage.take():
            raise _ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        version = f"{int(match.group(1))}.{match.group(2)}"
        call = _Call(method, tuple(rest[1:]), version, params, headers, body)
        return self._dispatch(call)

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        # REST API Developer Guide › Status Codes and Error Responses (401): errorcodes.htm
        scheme, _, token = headers.get("authorization", "").partition(" ")
        expected = self.world.tokens["salesforce"]
        if scheme.lower() not in ("bearer", "oauth") or not hmac.compare_digest(token.strip(), expected):
            raise _ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _dispatch(self, call: _Call) -> Response:
        p = call.path
        n = len(p)
        if n == 0:
            call.allow("GET")
            return self.resources(call)
        head = p[0]
        if head == "limits" and n == 1:
            call.allow("GET")
            return self.limits(call)
        if head in ("query", "queryAll") and n in (1, 2):
            call.allow("GET")
            if n == 1:
                return self.query(call, include_deleted=head == "queryAll")
            return self.query_more(call, p[1])
        if head == "sobjects":
            return self._dispatch_sobjects(call)
        if head == "composite" and n >= 2 and p[1] == "sobjects":
            if n == 2:
                call.allow("POST", "PATCH", "DELETE")
                if call.method == "POST":
                    return self.collection_create(call)
                if call.method == "PATCH":
                    return self.collection_update(call)
                return self.collection_delete(call)
            spec = self._sobject(p[2])
            if n == 3:
                call.allow("GET", "POST")
                return self.collection_retrieve(call, spec)
            if n == 4:
                call.allow("PATCH")
                return self.collection_upsert(call, spec, p[3])
        raise _not_found()

    def _dispatch_sobjects(self, call: _Call) -> Response:
        p = call.path
        n = len(p)
        if n == 1:
            call.allow("GET")
            return self.describe_global(call)
        spec = self._sobject(p[1])
        if n == 2:
            call.allow("GET", "POST")
            return self.basic_info(call, spec) if call.method == "GET" else self.create(call, spec)
        if n == 3 and p[2] == "describe":
            call.allow("GET")
            return self.describe(call, spec)
        if n == 3 and p[2] in ("deleted", "updated"):
            call.allow("GET")
            return self.replication(call, spec, deleted=p[2] == "deleted")
        if n == 3:
            call.allow("GET", "PATCH", "DELETE")
            if call.method == "GET":
                return self.retrieve(call, spec, p[2])
            if call.method == "PATCH":
                return self.update(call, spec, p[2])
            return self.delete(call, spec, p[2])
        if n == 4:
            call.allow("GET", "PATCH", "DELETE")
            if call.method == "PATCH":
                return self.upsert(call, spec, p[2], p[3])
            return self.by_external_id(call, spec, p[2], p[3])
        raise _not_found()

    @staticmethod
    def _sobject(name: str) -> SObjectSpec:
        spec = _BY_LOWER.get(name.lower())
        if spec is None:
            raise _not_found()
        return spec

    # discovery ----------------------------------------------------------------------------
    def versions(self) -> Response:
        # REST API Developer Guide › Versions: resources_versions.htm
        latest = int(LATEST_API_VERSION.split(".")[0])
        return _json(
            200,
            [
                {"label": _version_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(FIRST_API_VERSION, latest + 1)
            ],
        )

    def resources(self, call: _Call) -> Response:
        # REST API Developer Guide › Resources by Version: resources_discoveryresource.htm
        names = ("limits", "query", "queryAll", "sobjects", "composite")
        return _json(200, {name: f"{call.base}/{name}" for name in names})

    def limits(self, call: _Call) -> Response:
        # REST API Developer Guide › Limits: resources_limits.htm
        remaining = max(0, self.usage.daily_max - self.usage.used)
        return _json(
            200,
            {
                "DailyApiRequests": {"Max": self.usage.daily_max, "Remaining": remaining},
                "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            },
        )

    def describe_global(self, call: _Call) -> Response:
        # REST API Developer Guide › Describe Global: resources_describeGlobal.htm
        sobjects = [spec.summary(call.version) for spec in SOBJECTS.values()]
        return _json(200, {"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION_RECORDS, "sobjects": sobjects})

    def basic_info(self, call: _Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Basic Information: resources_sobject_basic_info.htm
        return _json(200, {"objectDescribe": spec.summary(call.version), "recentItems": []})

    def describe(self, call: _Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Describe: resources_sobject_describe.htm
        payload = spec.summary(call.version)
        payload["fields"] = [f.describe() for f in spec.fields]
        return _json(200, payload)

    # queries --------------------------------------------------------------------------------
    def query(self, call: _Call, *, include_deleted: bool) -> Response:
        # REST API Developer Guide › Query: resources_query.htm; QueryAll: resources_queryall.htm
        # Page size: Query Options Header: headers_queryoptions.htm
        text = call.params.get("q", "")
        if not text.strip():
            raise _ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            compiled = soql.prepare(text, SCHEMA)
        except soql.SoqlError as exc:
            raise _ApiError(400, exc.error_code, exc.message) from None
        spec = SOBJECTS[compiled.sobject]
        store = self.world.salesforce
        with store.lock:
            table = store.objects.get(spec.name, {})
            rows: Iterable[Mapping[str, Any]] = table.values()
            if not include_deleted:
                rows = (row for row in rows if row.get("IsDeleted") is not True)
            selected = compiled.select(rows)
            if compiled.count:
                return _json(200, {"totalSize": len(selected), "done": True, "records": []})
            columns = ("Id", *compiled.fields)
            snapshot = [tuple(row.get(name) for name in columns) for row in selected]
        cursor = _Cursor(spec, compiled.fields, snapshot, _batch_size(call.headers), include_deleted)
        return self._page(call, cursor, None, 0)

    def query_more(self, call: _Call, token: str) -> Response:
        # REST API Developer Guide › Query (retrieving the remaining results): resources_query.htm
        match = _LOCATOR_RE.match(token)
        cursor = self.cursors.get(match.group(1)) if match else None
        if match is None or cursor is None:
            raise _ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(call, cursor, match.group(1), int(match.group(2)))

    def _page(self, call: _Call, cursor: _Cursor, locator: str | None, start: int) -> Response:
        total = len(cursor.rows)
        end = min(total, start + cursor.batch_size)
        payload: dict[str, Any] = {"totalSize": total, "done": end >= total}
        if end < total:
            locator = locator or self.cursors.open(cursor)
            kind = "queryAll" if cursor.include_deleted else "query"
            payload["nextRecordsUrl"] = f"{call.base}/{kind}/{locator}-{end}"
        payload["records"] = _records(cursor.spec, cursor.fields, cursor.rows[start:end], call.base)
        return _json(200, payload)

    def replication(self, call: _Call, spec: SObjectSpec, *, deleted: bool) -> Response:
        # REST API Developer Guide › sObject Get Deleted: resources_getdeleted.htm;
        # sObject Get Updated: resources_getupdated.htm
        try:
            start = soql.canonical_datetime(call.params["start"])
            end = soql.canonical_datetime(call.params["end"])
        except KeyError:
            raise _ApiError(400, "MISSING_ARGUMENT", "start and end must both be specified") from None
        except ValueError:
            raise _ApiError(400, "INVALID_REPLICATION_DATE", "start and end must be ISO-8601 datetimes") from None
        if end <= start:
            raise _ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        now = self.world.now()
        oldest = sf_time(now - timedelta(days=REPLICATION_WINDOW_DAYS))
        if start < oldest:
            raise _ApiError(
                400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {REPLICATION_WINDOW_DAYS} days ago"
            )
        latest = min(end, sf_time(now.replace(second=0, microsecond=0)))
        store = self.world.salesforce
        with store.lock:
            hits = [
                (row["Id"], row.get("SystemModstamp"))
                for row in store.objects.get(spec.name, {}).values()
                if (row.get("IsDeleted") is True) == deleted
                and start <= soql.canonical_datetime(row.get("SystemModstamp") or start) < latest
            ]
        if deleted:
            earliest = sf_time((now - timedelta(days=RECYCLE_BIN_DAYS)).replace(second=0, microsecond=0))
            records = [{"id": record_id, "deletedDate": stamp} for record_id, stamp in sorted(hits)]
            return _json(
                200, {"deletedRecords": records, "earliestDateAvailable": earliest, "latestDateCovered": latest}
            )
        return _json(200, {"ids": sorted(record_id for record_id, _ in hits), "latestDateCovered": latest})

    # single records -------------------------------------------------------------------------
    def create(self, call: _Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Basic Information (POST creates): resources_sobject_basic_info_post.htm
        values = _parse_values(spec, _object(call.json()))
        with self.world.salesforce.lock:
            outcome = _Writer(self.world).insert(spec, values)
        if isinstance(outcome, _RecordError):
            raise outcome.as_api_error()
        return _json(201, {"id": outcome, "success": True, "errors": []})

    def retrieve(self, call: _Call, spec: SObjectSpec, record_id: str) -> Response:
        # REST API Developer Guide › sObject Rows (GET): resources_sobject_retrieve_get.htm
        fields = _field_list(spec, call.params.get("fields"))
        with self.world.salesforce.lock:
            found = _Writer(self.world).find(spec, record_id)
            if isinstance(found, _RecordError):
                if found.status_code == "ENTITY_IS_DELETED":
                    raise _ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
                raise _not_found()
            record = _records(spec, fields, [tuple(found.get(n) for n in ("Id", *fields))], call.base)[0]
        return _json(200, record)

    def update(self, call: _Call, spec: SObjectSpec, record_id: str) -> Response:
        # REST API Developer Guide › sObject Rows (PATCH): resources_sobject_retrieve_patch.htm
        values = _parse_values(spec, _object(call.json()))
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            found = writer.find(spec, record_id)
            if isinstance(found, _RecordError):
                raise _row_missing(found)
            error = writer.update(spec, record_id, values)
        if error is not None:
            raise error.as_api_error()
        return Response(status_code=204)

    def delete(self, call: _Call, spec: SObjectSpec, record_id: str) -> Response:
        # REST API Developer Guide › sObject Rows (DELETE): resources_sobject_retrieve_delete.htm
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            found = writer.find(spec, record_id)
            if isinstance(found, _RecordError):
                raise _row_missing(found)
            error = writer.delete(record_id)
        if error is not None:
            raise error.as_api_error()
        return Response(status_code=204)

    def by_external_id(self, call: _Call, spec: SObjectSpec, field_name: str, value: str) -> Response:
        # REST API Developer Guide › sObject Rows by External ID (GET, DELETE): resources_sobject_upsert.htm
        ext = _external_field(spec, field_name)
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            ids = sorted(writer.index(spec, ext.name).get(_index_key(value), set()))
            if not ids:
                raise _not_found()
            if len(ids) > 1:
                return _json(300, [f"{call.base}/sobjects/{spec.name}/{record_id}" for record_id in ids])
            if call.method == "DELETE":
                error = writer.delete(ids[0])
                if error is not None:
                    raise error.as_api_error()
                return Response(status_code=204)
            fields = _field_list(spec, call.params.get("fields"))
            row = writer.table(spec)[ids[0]]
            record = _records(spec, fields, [tuple(row.get(n) for n in ("Id", *fields))], call.base)[0]
        return _json(200, record)

    def upsert(self, call: _Call, spec: SObjectSpec, field_name: str, value: str) -> Response:
        # REST API Developer Guide › Upsert Records Using sObject Rows by External ID:
        # resources_sobject_upsert_patch.htm (201 created; 200 + body from v46.0, else 204, when updated;
        # 300 when the value matches several records; updateOnly=true never creates)
        ext = _external_field(spec, field_name)
        values = _parse_values(spec, _object(call.json()))
        key = _coerce(ext, value)
        if "Id" in values:
            raise _ApiError(400, "INVALID_FIELD", "Id not allowed in an upsert by external id", fields=["Id"])
        if ext.name in values and _index_key(values[ext.name]) != _index_key(key):
            raise _ApiError(
                400, "INVALID_FIELD", f"{ext.name} in the request body does not match the URL", fields=[ext.name]
            )
        values.pop(ext.name, None)
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            ids = sorted(writer.index(spec, ext.name).get(_index_key(key), set()))
            if len(ids) > 1:
                return _json(300, [f"{call.base}/sobjects/{spec.name}/{record_id}" for record_id in ids])
            if ids:
                error = writer.update(spec, ids[0], values)
                if error is not None:
                    raise error.as_api_error()
                if _version_tuple(call.version) < UPSERT_BODY_SINCE:
                    return Response(status_code=204)
                return _json(200, {"id": ids[0], "success": True, "errors": [], "created": False})
            if call.flag("updateOnly"):
                raise _not_found()
            outcome = writer.insert(spec, {**values, ext.name: key})
        if isinstance(outcome, _RecordError):
            raise outcome.as_api_error()
        return _json(201, {"id": outcome, "success": True, "errors": [], "created": True})

    # sObject Collections ------------------------------------------------------------------
    def collection_create(self, call: _Call) -> Response:
        # REST API Developer Guide › Create Records Using sObject Collections:
        # resources_composite_sobjects_collections_create.htm
        all_or_none, raw_records = _collection_body(call.json())
        drafts = [(spec, _parse_values(spec, raw)) for spec, raw in _typed(raw_records)]
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            outcomes = [writer.insert(spec, values) for spec, values in drafts]
            failed = any(isinstance(o, _RecordError) for o in outcomes)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if isinstance(outcome, _RecordError):
                results.append({"success": False, "errors": [outcome.as_json()]})
            elif failed and all_or_none:
                results.append({"success": False, "errors": [_ROLLED_BACK]})
            else:
                results.append({"id": outcome, "success": True, "errors": []})
        return _json(200, results)

    def collection_update(self, call: _Call) -> Response:
        # REST API Developer Guide › Update Records Using sObject Collections:
        # resources_composite_sobjects_collections_update.htm
        all_or_none, raw_records = _collection_body(call.json())
        drafts = []
        for spec, raw in _typed(raw_records):
            values = _parse_values(spec, raw)
            drafts.append((spec, values.pop("Id", None), values))
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            outcomes: list[_RecordError | None] = []
            for spec, record_id, values in drafts:
                if record_id is None:
                    outcomes.append(_RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
                else:
                    outcomes.append(writer.update(spec, record_id, values))
            failed = any(outcome is not None for outcome in outcomes)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for (_, record_id, _), error in zip(drafts, outcomes, strict=True):
            if error is not None:
                results.append({"success": False, "errors": [error.as_json()]})
            elif failed and all_or_none:
                results.append({"id": record_id, "success": False, "errors": [_ROLLED_BACK]})
            else:
                results.append({"id": record_id, "success": True, "errors": []})
        return _json(200, results)

    def collection_upsert(self, call: _Call, spec: SObjectSpec, field_name: str) -> Response:
        # REST API Developer Guide › Upsert Records Using sObject Collections:
        # resources_composite_sobjects_collections_upsert.htm
        ext = _external_field(spec, field_name)
        all_or_none, raw_records = _collection_body(call.json())
        drafts: list[dict[str, Any]] = []
        for record_spec, raw in _typed(raw_records):
            if record_spec is not spec:
                raise _ApiError(400, "INVALID_TYPE", f"Records in this request must all be of type {spec.name}")
            drafts.append(_parse_values(spec, raw))
        keys = [_index_key(values.get(ext.name)) for values in drafts]
        seen: dict[Any, int] = {}
        for key in keys:
            if key is not None:
                seen[key] = seen.get(key, 0) + 1
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            outcomes: list[tuple[str | None, bool, _RecordError | None]] = []
            for values, key in zip(drafts, keys, strict=True):
                outcomes.append(self._upsert_one(writer, spec, ext, values, key, duplicated=seen.get(key, 0) > 1))
            failed = any(error is not None for _, _, error in outcomes)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for record_id, created, error in outcomes:
            if error is not None:
                results.append({"success": False, "errors": [error.as_json()], "created": False})
            elif failed and all_or_none:
                rolled: dict[str, Any] = {} if created else {"id": record_id}
                results.append({**rolled, "success": False, "errors": [_ROLLED_BACK], "created": False})
            else:
                results.append({"id": record_id, "success": True, "errors": [], "created": created})
        return _json(200, results)

    @staticmethod
    def _upsert_one(
        writer: _Writer, spec: SObjectSpec, ext: FieldSpec, values: dict[str, Any], key: Any, *, duplicated: bool
    ) -> tuple[str | None, bool, _RecordError | None]:
        if key is None:
            return None, False, _RecordError("MISSING_ARGUMENT", f"{ext.name} not specified")
        if duplicated:  # every record sharing the value fails, none is written
            return None, False, _RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {values[ext.name]}")
        if "Id" in values:
            return None, False, _RecordError("INVALID_FIELD", "Id not allowed in an upsert by external id", ("Id",))
        ids = sorted(writer.index(spec, ext.name).get(key, set()))
        if len(ids) > 1:
            message = f"{ext.name}: more than one record found for external id field: [{', '.join(ids)}]"
            return None, False, _RecordError("DUPLICATE_EXTERNAL_ID", message, (ext.name,))
        if ids:
            changes = {name: value for name, value in values.items() if name != ext.name}
            return ids[0], False, writer.update(spec, ids[0], changes)
        outcome = writer.insert(spec, values)
        if isinstance(outcome, _RecordError):
            return None, True, outcome
        return outcome, True, None

    def collection_delete(self, call: _Call) -> Response:
        # REST API Developer Guide › Delete Records Using sObject Collections:
        # resources_composite_sobjects_collections_delete.htm
        ids = [i for i in call.params.get("ids", "").split(",") if i]
        if not ids:
            raise _ApiError(400, "MISSING_ARGUMENT", "ids must be specified")
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise _too_many(MAX_COLLECTION_RECORDS)
        all_or_none = call.flag("allOrNone")
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            errors = [writer.delete(record_id) for record_id in ids]
            failed = any(error is not None for error in errors)
            if failed and all_or_none:
                writer.rollback()
        results: list[dict[str, Any]] = []
        for record_id, error in zip(ids, errors, strict=True):
            if error is not None:
                results.append({"id": record_id, "success": False, "errors": [error.as_json()]})
            elif failed and all_or_none:
                results.append({"id": record_id, "success": False, "errors": [_ROLLED_BACK]})
            else:
                results.append({"id": record_id, "success": True, "errors": []})
        return _json(200, results)

    def collection_retrieve(self, call: _Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › Get Records Using sObject Collections (GET, or POST with a body):
        # resources_composite_sobjects_collections_retrieve.htm
        if call.method == "POST":
            body = _object(call.json())
            ids, names = body.get("ids"), body.get("fields")
            if not isinstance(ids, list) or not isinstance(names, list):
                raise _ApiError(400, "JSON_PARSER_ERROR", "The request body must hold the lists ids and fields")
            id_list, field_param = [str(i) for i in ids], ",".join(str(n) for n in names)
        else:
            id_list = [i for i in call.params.get("ids", "").split(",") if i]
            field_param = call.params.get("fields", "")
        if not field_param:
            raise _ApiError(400, "MISSING_ARGUMENT", "fields must be specified")
        if len(id_list) > MAX_RETRIEVE_IDS:
            raise _too_many(MAX_RETRIEVE_IDS)
        fields = _field_list(spec, field_param)
        with self.world.salesforce.lock:
            table = self.world.salesforce.objects.get(spec.name, {})
            rows = [table.get(record_id) for record_id in id_list]
            found = [
                None if row is None or row.get("IsDeleted") is True else tuple(row.get(n) for n in ("Id", *fields))
                for row in rows
            ]
        records = [None if snap is None else _records(spec, fields, [snap], call.base)[0] for snap in found]
        return _json(200, records)


# --- helpers for handlers ------------------------------------------------------------------


def _version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def _batch_size(headers: Mapping[str, str]) -> int:
    """``Sforce-Query-Options: batchSize=N``, clamped to 200..2000 as Salesforce does."""
    for option in headers.get("sforce-query-options", "").split(","):
        name, _, value = option.partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH_SIZE, min(DEFAULT_BATCH_SIZE, int(value)))
    return DEFAULT_BATCH_SIZE


def _records(
    spec: SObjectSpec, fields: Sequence[str], rows: Iterable[tuple[Any, ...]], base: str
) -> list[dict[str, Any]]:
    """REST records: ``attributes`` then the fields in the order asked; number fields as JSON doubles."""
    url = f"{base}/sobjects/{spec.name}/"
    doubles = [i + 1 for i, name in enumerate(fields) if spec.by_name[name].type in _NUMBER_TYPES - {"int"}]
    records = []
    for row in rows:
        values = list(row)
        for i in doubles:
            value = values[i]
            if isinstance(value, int) and not isinstance(value, bool):
                values[i] = float(value)
        record: dict[str, Any] = {"attributes": {"type": spec.name, "url": f"{url}{values[0]}"}}
        record.update(zip(fields, values[1:], strict=True))
        records.append(record)
    return records


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: a JSON object was expected")
    return payload


def _parse_values(spec: SObjectSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of one record body, by canonical name and coerced; ``attributes`` is skipped.

    An unknown field or an undeserializable value fails the whole request, as in Salesforce
    (the body is deserialized before any record is saved).
    """
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "attributes":
            continue
        spec_field = spec.by_lower.get(key.lower())
        if spec_field is None:
            raise _ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}")
        values[spec_field.name] = _coerce(spec_field, value)
    return values


def _collection_body(payload: Any) -> tuple[bool, list[dict[str, Any]]]:
    body = _object(payload)
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _ApiError(400, "JSON_PARSER_ERROR", "records must be a list of JSON objects")
    if len(records) > MAX_COLLECTION_RECORDS:
        raise _too_many(MAX_COLLECTION_RECORDS)
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise _ApiError(400, "JSON_PARSER_ERROR", "allOrNone must be a boolean")
    return all_or_none, records


def _typed(records: Iterable[dict[str, Any]]) -> Iterable[tuple[SObjectSpec, dict[str, Any]]]:
    """Each record with the sObject named in its ``attributes.type`` (required in Collections)."""
    for raw in records:
        attributes = raw.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name:
            raise _ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        spec = _BY_LOWER.get(name.lower())
        if spec is None:
            raise _ApiError(
                400,
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
                "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        yield spec, raw


def _field_list(spec: SObjectSpec, param: str | None) -> tuple[str, ...]:
    """Canonical names of a ``fields=a,b`` parameter; every field when absent."""
    if not param:
        return tuple(f.name for f in spec.fields)
    names: list[str] = []
    for raw in param.split(","):
        name = raw.strip()
        spec_field = spec.by_lower.get(name.lower())
        if spec_field is None:
            raise _no_such_column(name, spec)
        if spec_field.name not in names:
            names.append(spec_field.name)
    return tuple(names)


def _external_field(spec: SObjectSpec, name: str) -> FieldSpec:
    spec_field = spec.by_lower.get(name.lower())
    if spec_field is None:
        raise _not_found(f"Provided external ID field does not exist or is not accessible: {name}")
    if not spec_field.external_id:
        raise _ApiError(
            400, "INVALID_FIELD", f"Field {spec_field.name} is not an External ID field on {spec.name}", fields=[name]
        )
    return spec_field


def _row_missing(error: _RecordError) -> _ApiError:
    if error.status_code == "ENTITY_IS_DELETED":
        return _ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
    return _not_found()


def edit_as_user(world: World, sobject: str, record_id: str, values: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """Change a record as a person in the Salesforce UI would: ``LastModifiedById`` = ``user_id``, stamps bumped.

    Lets tests tell upsync's own writes (by the integration user) from a rep's edits. Values
    are stored as given, unvalidated (the UI validated them). Raises ``KeyError`` if the record
    is unknown. Returns a copy of the stored row.
    """
    store = world.salesforce
    with store.lock:
        table = store.objects[sobject]
        row = {**table[record_id], **values}
        now = sf_time(world.now())
        spec = SOBJECTS.get(sobject)
        for name, value in (("LastModifiedDate", now), ("SystemModstamp", now), ("LastModifiedById", user_id)):
            if spec is None or name in spec.by_name:
                row[name] = value
        if spec is not None:
            _derive(spec, row)
        table[record_id] = row
        return dict(row)


# --- the app -------------------------------------------------------------------------------


def create_salesforce_app(
    world: World, *, daily_api_requests: int | None = None, max_open_cursors: int = MAX_OPEN_CURSORS
) -> Starlette:
    """The Salesforce REST stand-in over ``world``; ``app.state.salesforce`` is its ``SalesforceApi``.

    ``daily_api_requests`` sets the org's allocation (default ``DAILY_API_REQUESTS``); past it
    every call gets 403 ``REQUEST_LIMIT_EXCEEDED``.
    """
    usage = api_usage(world)
    if daily_api_requests is not None:
        usage.daily_max = daily_api_requests
    api = SalesforceApi(world, usage, max_open_cursors=max_open_cursors)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        query = request.scope.get("query_string", b"").decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await run_in_threadpool(api.handle, request.method, raw_path.decode("latin-1"), query, headers, body)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    app.state.salesforce = api
    return app
