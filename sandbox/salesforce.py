"""The Salesforce REST API stand-in: SOQL, describes, writes, deletes and Bulk query jobs over ``world.salesforce``.

It speaks the REST API Developer Guide's shapes, status codes and error bodies closely enough
that the real simple-salesforce client (and our connector) cannot tell it from an org: bearer
auth against ``world.auth["salesforce"]`` with the real 401 body and an OAuth 2.0 token
endpoint (refresh-token and client-credentials grants), ``Sforce-Limit-Info`` on every
response and a daily request allocation, query cursors snapshotted at the first page, sObject
Collections with per-record results and ``allOrNone`` rollback, the field-level validation
errors a real org returns (too long, bad picklist value, inactive owner, dangling reference,
duplicate external id), the platform's derived fields (``IsClosed``, ``IsWon``, activity
``AccountId``…), soft and hard deletes as ``queryAll`` and ``/deleted`` report them, and Bulk
API 2.0 query jobs (``sandbox.bulk``).

Every endpoint handler cites the page of the guide it imitates; the REST base address is
``https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/``. Handlers run in
Starlette's thread pool and hold ``world.salesforce.lock`` while they read or write the store;
nothing is cached between requests, so a test may change ``world.salesforce.objects`` directly
(add rows, edit fields, give thousands of rows one ``SystemModstamp``) and the next request
sees it. Limits and sizes are settings (``SalesforceSettings``, ``ApiUsage``) a test can
lower to force many pages, many Bulk chunks or a spent allocation.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sandbox import soql
from sandbox.bulk import BulkError, BulkSettings, QueryJobs
from sandbox.world import ItemFault, World, sf_id, sf_time, take_item_fault

__all__ = [
    "BULK_DAILY_QUERY_JOBS",
    "DAILY_API_REQUESTS",
    "DEFAULT_BATCH_SIZE",
    "LATEST_API_VERSION",
    "LOCK_MESSAGE",
    "MAX_COLLECTION_RECORDS",
    "MAX_OPEN_CURSORS",
    "MAX_REPLICATION_IDS",
    "MAX_RETRIEVE_IDS",
    "MIN_BATCH_SIZE",
    "ORG_ID",
    "RECYCLE_BIN_DAYS",
    "REPLICATION_WINDOW_DAYS",
    "SCHEMA",
    "SOBJECTS",
    "ApiUsage",
    "BulkSettings",
    "FieldSpec",
    "SObjectSpec",
    "SalesforceApi",
    "SalesforceSettings",
    "api_usage",
    "create_salesforce_app",
    "edit_as_user",
    "hard_delete",
    "refuse_items",
    "remove_field",
    "soft_delete",
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
RECYCLE_BIN_DAYS = 15  # how far back /deleted can see (getDeleted: "no more than 15 days")
REPLICATION_WINDOW_DAYS = 30  # how far back /updated accepts a start
MAX_REPLICATION_IDS = 600_000  # /deleted and /updated answer EXCEEDED_ID_LIMIT above this
BULK_DAILY_QUERY_JOBS = 10_000  # Bulk API 2.0 query jobs per rolling 24 hours (DailyBulkV2QueryJobs)
ORG_ID = sf_id("00D", 1)  # the stand-in org's id, as in the OAuth identity URL

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
    formula: str | None = None  # a formula field: calculated on read, never written through the API
    precision: int = 0
    scale: int = 0

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def calculated(self) -> bool:
        return self.formula is not None

    def describe(self) -> dict[str, Any]:
        text = self.type in _TEXT_TYPES
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": self.length * 3 if text else 18 if self.type in ("id", "reference") else 0,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "custom": self.custom,
            "calculated": self.calculated,
            "calculatedFormula": self.formula,
            "autoNumber": False,
            "caseSensitive": False,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "nameField": self.name == "Name",
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultValue": None if self.name in _SYSTEM_SET else self.default,
            "defaultedOnCreate": self.default is not None or self.name in _SYSTEM_SET,
            "filterable": self.type != "textarea",
            "groupable": self.type not in ("textarea", "double", "currency", "percent", "datetime"),
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
            "polymorphicForeignKey": len(self.reference_to) > 1,
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
    "currency": "xsd:double",
    "percent": "xsd:double",
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


def _number(
    name: str, label: str, type_: str = "double", *, precision: int = 18, scale: int = 2, **kw: Any
) -> FieldSpec:
    return FieldSpec(name=name, type=type_, label=label, precision=precision, scale=scale, **kw)


def _picklist(name: str, label: str, values: tuple[str, ...], **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="picklist", label=label, length=kw.pop("length", 255), picklist=values, **kw)


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
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
OPPORTUNITY_STAGES = (
    *("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers"),
    *("Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"),
)
OPPORTUNITY_TYPES = (
    "New Business",
    "Existing Business - Upgrade",
    "Existing Business - Cross-sell",
    "Existing Business - Renewal",
)
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
CASE_PRIORITIES = ("High", "Medium", "Low")
ASSET_STATUSES = ("Purchased", "Shipped", "Installed", "Registered", "Obsolete")
_CONTRACT_STATUS_CODES = {"Draft": "Draft", "In Approval Process": "InApproval", "Activated": "Activated"}
# Activities may relate to most business objects; these are the ones the stand-in knows.
_WHAT_TARGETS = ("Account", "Opportunity", "Contract", "Case", "Asset", "Product2")
_WHO_TARGETS = ("Contact", "Lead")
HEALTH_ROLLUP_FORMULA = "Upsync_Health_Score__c * 0.6 + Upsync_Expansion_Score__c * 0.4"

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
        _picklist("Industry", "Industry", _INDUSTRIES),
        _number("NumberOfEmployees", "Employees", "int", precision=0, scale=0),
        _picklist("Type", "Account Type", _ACCOUNT_TYPES),
        _ref("ParentId", "Parent Account ID", "Account"),
        _text("Workspace_Id__c", "Workspace Id", 80, external_id=True, unique=True),
        _number("Seats_Purchased__c", "Seats Purchased", scale=0),
        # A formula: its value changes when its inputs do, without a SystemModstamp change.
        _number("Health_Rollup__c", "Health Rollup", createable=False, updateable=False, formula=HEALTH_ROLLUP_FORMULA),
        # Account facts a survey tool or the legal team keeps (upsync reads them when configured; guards G6, G1).
        # A Checkbox custom field describes as type "boolean", soapType xsd:boolean, never null, defaultValue
        # false; Number and Percent as "double"/"percent" (xsd:double, percent values are 0–100, not 0–1):
        # Object Reference, "Field Types" / Schema.DisplayType.
        FieldSpec(name="Do_Not_Contact__c", type="boolean", label="Do Not Contact", nillable=False, default=False),
        _number("NPS__c", "NPS", precision=3, scale=1),
        _number("CSAT__c", "CSAT", "percent", precision=5, scale=1),
        _number("Upsync_Health_Score__c", "Upsync Health Score"),
        _text("Upsync_Health_Band__c", "Upsync Health Band", 20),
        _number("Upsync_Expansion_Score__c", "Upsync Expansion Score"),
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
        _picklist(
            "Status",
            "Status",
            tuple(_CONTRACT_STATUS_CODES),
            length=40,
            restricted=True,
            nillable=False,
            default="Draft",
        ),
        _system(
            "StatusCode", "Status Category", "picklist", nillable=False, picklist=("Draft", "InApproval", "Activated")
        ),
        FieldSpec(name="StartDate", type="date", label="Contract Start Date"),
        _system("EndDate", "Contract End Date", "date"),
        _number("ContractTerm", "Contract Term", "int", precision=0, scale=0),
        _ref("OwnerId", "Owner ID", "User", nillable=False),
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
_OPPORTUNITY = SObjectSpec(
    name="Opportunity",
    label="Opportunity",
    label_plural="Opportunities",
    key_prefix="006",
    fields=(
        _system("Id", "Opportunity ID", "id", nillable=False),
        _ref("AccountId", "Account ID", "Account"),
        _text("Name", "Name", 120, nillable=False),
        _picklist("Type", "Opportunity Type", OPPORTUNITY_TYPES),
        _picklist("StageName", "Stage", OPPORTUNITY_STAGES, restricted=True, nillable=False),
        _system("IsClosed", "Closed", "boolean", nillable=False, default=False),
        _system("IsWon", "Won", "boolean", nillable=False, default=False),
        FieldSpec(name="CloseDate", type="date", label="Close Date", nillable=False),
        _number("Amount", "Amount", "currency"),
        _ref("OwnerId", "Owner ID", "User", nillable=False),
        *_audit(),
    ),
)
_PRODUCT = SObjectSpec(
    name="Product2",
    label="Product",
    label_plural="Products",
    key_prefix="01t",
    fields=(
        _system("Id", "Product ID", "id", nillable=False),
        _text("Name", "Product Name", 255, nillable=False),
        _text("ProductCode", "Product Code", 255),
        _picklist("Family", "Product Family", ("Platform", "Add-on", "Services", "Support")),
        FieldSpec(name="IsActive", type="boolean", label="Active", nillable=False, default=False),
        *_audit(),
    ),
)
_LINE_ITEM = SObjectSpec(
    name="OpportunityLineItem",
    label="Opportunity Product",
    label_plural="Opportunity Product",
    key_prefix="00k",
    fields=(
        _system("Id", "Line Item ID", "id", nillable=False),
        # The parent and the product are set on create and never change.
        _ref("OpportunityId", "Opportunity ID", "Opportunity", nillable=False, updateable=False),
        _ref("Product2Id", "Product ID", "Product2", updateable=False),
        _number("Quantity", "Quantity", nillable=False),
        _number("UnitPrice", "Sales Price", "currency"),
        _number("TotalPrice", "Total Price", "currency"),
        FieldSpec(name="ServiceDate", type="date", label="Date"),
        *_audit(),
    ),
)
_ASSET = SObjectSpec(
    name="Asset",
    label="Asset",
    label_plural="Assets",
    key_prefix="02i",
    fields=(
        _system("Id", "Asset ID", "id", nillable=False),
        _ref("AccountId", "Account ID", "Account"),
        _ref("Product2Id", "Product ID", "Product2"),
        _text("Name", "Asset Name", 255, nillable=False),
        _number("Quantity", "Quantity"),
        _picklist("Status", "Status", ASSET_STATUSES),
        FieldSpec(name="PurchaseDate", type="date", label="Purchase Date"),
        FieldSpec(name="InstallDate", type="date", label="Install Date"),
        FieldSpec(name="UsageEndDate", type="date", label="Usage End Date"),
        _ref("OwnerId", "Owner ID", "User", nillable=False),
        *_audit(),
    ),
)
_CONTACT = SObjectSpec(
    name="Contact",
    label="Contact",
    label_plural="Contacts",
    key_prefix="003",
    fields=(
        _system("Id", "Contact ID", "id", nillable=False),
        _ref("AccountId", "Account ID", "Account"),
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, nillable=False),
        FieldSpec(name="Email", type="email", label="Email", length=80),
        _text("Title", "Title", 128),
        _text("Department", "Department", 80),
        _ref("OwnerId", "Owner ID", "User", nillable=False),
        *_audit(),
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
        _picklist("Status", "Status", TASK_STATUSES, restricted=True, nillable=False, default="Not Started"),
        _picklist(
            "Priority", "Priority", TASK_PRIORITIES, length=40, restricted=True, nillable=False, default="Normal"
        ),
        # Set on create only, like the real TaskSubtype.
        _picklist("TaskSubtype", "Task Subtype", TASK_SUBTYPES, length=40, restricted=True, updateable=False),
        _ref("OwnerId", "Assigned To ID", "User", nillable=False),
        _ref("WhatId", "Related To ID", *_WHAT_TARGETS),
        _ref("WhoId", "Name ID", *_WHO_TARGETS),
        _system("AccountId", "Account ID", "reference", reference_to=("Account",)),
        _system("IsClosed", "Closed", "boolean", nillable=False, default=False),
        _text("Upsync_Sync_Key__c", "Upsync Sync Key", 80, external_id=True, unique=True),
        *_audit(),
    ),
)
_EVENT = SObjectSpec(
    name="Event",
    label="Event",
    label_plural="Events",
    key_prefix="00U",
    fields=(
        _system("Id", "Activity ID", "id", nillable=False),
        _text("Subject", "Subject", 255),
        FieldSpec(name="Description", type="textarea", label="Description", length=32000),
        FieldSpec(name="ActivityDate", type="date", label="Due Date Only"),
        FieldSpec(name="ActivityDateTime", type="datetime", label="Due Date Time"),
        _number("DurationInMinutes", "Duration", "int", precision=0, scale=0),
        _ref("OwnerId", "Assigned To ID", "User", nillable=False),
        _ref("WhatId", "Related To ID", *_WHAT_TARGETS),
        _ref("WhoId", "Name ID", *_WHO_TARGETS),
        _system("AccountId", "Account ID", "reference", reference_to=("Account",)),
        *_audit(),
    ),
)
_CASE = SObjectSpec(
    name="Case",
    label="Case",
    label_plural="Cases",
    key_prefix="500",
    fields=(
        _system("Id", "Case ID", "id", nillable=False),
        _ref("AccountId", "Account ID", "Account"),
        _ref("ContactId", "Contact ID", "Contact"),
        _text("Subject", "Subject", 255),
        _picklist("Status", "Status", CASE_STATUSES, length=40, restricted=True, nillable=False, default="New"),
        _picklist("Priority", "Priority", CASE_PRIORITIES, length=40, default="Medium"),
        _picklist("Origin", "Case Origin", ("Phone", "Email", "Web"), length=40),
        _system("IsClosed", "Closed", "boolean", nillable=False, default=False),
        FieldSpec(name="IsEscalated", type="boolean", label="Escalated", nillable=False, default=False),
        _system("ClosedDate", "Closed Date", "datetime"),
        _ref("OwnerId", "Owner ID", "User", nillable=False),
        *_audit(),
    ),
)

SOBJECTS: dict[str, SObjectSpec] = {
    spec.name: spec
    for spec in (
        _ACCOUNT,
        _CONTRACT,
        _USER,
        _OPPORTUNITY,
        _PRODUCT,
        _LINE_ITEM,
        _ASSET,
        _CONTACT,
        _TASK,
        _EVENT,
        _CASE,
    )
}
"""The sObjects the stand-in knows, by API name (every object of connectors/OBJECTS.md)."""
SCHEMA: dict[str, dict[str, str]] = {spec.name: {f.name: f.type for f in spec.fields} for spec in SOBJECTS.values()}
"""``SOBJECTS`` as ``soql.Schema`` (sObject → field → type)."""
_BY_LOWER = {name.lower(): spec for name, spec in SOBJECTS.items()}
_BY_PREFIX = {spec.key_prefix: spec for spec in SOBJECTS.values()}
_KNOWN_PREFIXES = {**{s.key_prefix: s.name for s in SOBJECTS.values()}, "00Q": "Lead"}


# --- API usage -----------------------------------------------------------------------------


@dataclass
class ApiUsage:
    """The org's rolling 24-hour allocations: REST requests and Bulk API 2.0 query jobs.

    Reported in ``Sforce-Limit-Info`` and ``/limits``; shared by every app built over the same
    world, as allocations are per org. Tests set ``used`` (or ``bulk_jobs_used``) to put the
    org near its limit: past ``daily_max`` every call is refused with 403
    ``REQUEST_LIMIT_EXCEEDED``, past ``bulk_jobs_max`` a job creation with 400 ``LIMIT_EXCEEDED``.
    Nothing resets by itself (a test's day is short); ``reset()`` starts a new day.
    """

    daily_max: int = DAILY_API_REQUESTS
    used: int = 0
    bulk_jobs_max: int = BULK_DAILY_QUERY_JOBS
    bulk_jobs_used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self) -> bool:
        """Count one request; False (and nothing counted) once the allocation is spent."""
        with self._lock:
            if self.used >= self.daily_max:
                return False
            self.used += 1
            return True

    def take_bulk_job(self) -> bool:
        """Count one Bulk query job; False (and nothing counted) once the day's jobs are spent."""
        with self._lock:
            if self.bulk_jobs_used >= self.bulk_jobs_max:
                return False
            self.bulk_jobs_used += 1
            return True

    def reset(self) -> None:
        with self._lock:
            self.used = 0
            self.bulk_jobs_used = 0

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


@dataclass
class SalesforceSettings:
    """Sizes and windows of one stand-in app; mutable, read on every request.

    Defaults are Salesforce's own numbers. ``max_batch_size`` is the REST query page size by
    default and its ceiling (``Sforce-Query-Options: batchSize`` is clamped into
    ``min(min_batch_size, max_batch_size)..max_batch_size``): a test with 300 rows sets it to
    50 to get six pages. The per-org allocations live in ``ApiUsage``.
    """

    max_batch_size: int = DEFAULT_BATCH_SIZE
    min_batch_size: int = MIN_BATCH_SIZE
    max_open_cursors: int = MAX_OPEN_CURSORS
    recycle_bin_days: int = RECYCLE_BIN_DAYS
    replication_window_days: int = REPLICATION_WINDOW_DAYS
    max_replication_ids: int = MAX_REPLICATION_IDS
    bulk: BulkSettings = field(default_factory=BulkSettings)


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


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (``compare_digest`` on str refuses it)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _oauth_error(status: int, error: str, description: str) -> Response:
    """An OAuth error: ``{"error", "error_description"}``, not the REST error array."""
    return _json(status, {"error": error, "error_description": description})


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


def _activity_account(what_id: Any, objects: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Any:
    """Task/Event ``AccountId``: the Account the activity's ``WhatId`` points at, or null.

    An Account id is the account itself, an Opportunity id gives the opportunity's account;
    anything else (or nothing) gives null.
    """
    if not isinstance(what_id, str):
        return None
    prefix = what_id[:3]
    if prefix == _ACCOUNT.key_prefix:
        return what_id
    if prefix == _OPPORTUNITY.key_prefix:
        opportunity = objects.get(_OPPORTUNITY.name, {}).get(what_id)
        return None if opportunity is None else opportunity.get("AccountId")
    return None


def _derive(
    spec: SObjectSpec, row: dict[str, Any], objects: Mapping[str, Mapping[str, Mapping[str, Any]]], now: str
) -> None:
    """Recompute the read-only fields the platform derives on every save.

    Task/Event ``AccountId`` from ``WhatId``; ``IsClosed`` from Task and Case ``Status`` (and
    Case ``ClosedDate`` when it closes); Opportunity ``IsClosed``/``IsWon`` from ``StageName``;
    Event ``ActivityDate`` from ``ActivityDateTime``; Contract ``StatusCode``/``EndDate``;
    line-item ``TotalPrice``. Formula fields (``Account.Health_Rollup__c``) are not saved
    values and are left as the store has them.
    """
    name = spec.name
    if name in ("Task", "Event"):
        row["AccountId"] = _activity_account(row.get("WhatId"), objects)
        if name == "Task":
            row["IsClosed"] = row.get("Status") == "Completed"
        elif isinstance(at := row.get("ActivityDateTime"), str):
            row["ActivityDate"] = at[:10]  # the canonical form is UTC
    elif name == "Opportunity":
        stage = row.get("StageName")
        row["IsClosed"] = stage in ("Closed Won", "Closed Lost")
        row["IsWon"] = stage == "Closed Won"
    elif name == "Case":
        closed = row.get("Status") == "Closed"
        if closed and not row.get("IsClosed"):
            row["ClosedDate"] = now
        elif not closed:
            row["ClosedDate"] = None
        row["IsClosed"] = closed
    elif name == "Contract":
        row["StatusCode"] = _CONTRACT_STATUS_CODES.get(row.get("Status") or "", "Draft")
        start, term = row.get("StartDate"), row.get("ContractTerm")
        if start and term:
            row["EndDate"] = (_add_months(date.fromisoformat(start), int(term)) - timedelta(days=1)).isoformat()
    elif name == "OpportunityLineItem":
        quantity, unit, total = row.get("Quantity"), row.get("UnitPrice"), row.get("TotalPrice")
        if quantity is not None and unit is not None:
            row["TotalPrice"] = float(quantity) * float(unit)
        elif quantity and total is not None:
            row["UnitPrice"] = float(total) / float(quantity)


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
        _derive(spec, row, self.store.objects, self.now)
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
        _derive(spec, row, self.store.objects, self.now)
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

    def __init__(self, settings: SalesforceSettings) -> None:
        self.settings = settings
        self._open: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self._count = 0

    def open(self, cursor: _Cursor) -> str:
        with self._lock:
            self._count += 1
            locator = sf_id("01g", self._count)
            self._open[locator] = cursor
            while len(self._open) > max(1, self.settings.max_open_cursors):
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

    def __init__(self, world: World, usage: ApiUsage, settings: SalesforceSettings | None = None) -> None:
        self.world = world
        self.usage = usage
        self.settings = settings or SalesforceSettings()
        self.cursors = _Cursors(self.settings)
        self.bulk = QueryJobs(world, SCHEMA, self.settings.bulk)

    # entry point --------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        if raw_path.rstrip("/") == "/services/oauth2/token":
            return self.token(method, headers, body)
        try:
            response = self._route(method, raw_path, query, headers, body)
        except _ApiError as exc:
            response = _json(exc.status, exc.body())
        except BulkError as exc:
            response = _json(exc.status, [{"errorCode": exc.error_code, "message": exc.message}])
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
            # REST API Developer Guide › Status Codes and Error Responses (403): errorcodes.htm
            raise _ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        version = f"{int(match.group(1))}.{match.group(2)}"
        call = _Call(method, tuple(rest[1:]), version, params, headers, body)
        return self._dispatch(call)

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        # REST API Developer Guide › Status Codes and Error Responses (401): errorcodes.htm
        # A token is good while world.auth["salesforce"] holds it: AuthState.expire() ends every session.
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not self.world.auth["salesforce"].valid(token.strip()):
            raise _ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    # OAuth 2.0 ------------------------------------------------------------------------------
    def token(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        """The token endpoint: refresh-token and client-credentials grants against ``world.auth``.

        Salesforce Help › OAuth 2.0 Refresh Token Flow for Renewed Sessions
        (remoteaccess_oauth_refresh_token_flow.htm) and OAuth 2.0 Client Credentials Flow for
        Server-to-Server Integration (remoteaccess_oauth_client_credentials_flow.htm); errors as
        in OAuth 2.0 Authorization Errors (remoteaccess_oauth_flow_errors.htm). Token calls are
        not API requests: no allocation is spent and no ``Sforce-Limit-Info`` is sent.
        """
        if method != "POST":
            return _oauth_error(400, "invalid_request", "must use HTTP POST")
        form: dict[str, str] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(key, value)
        auth = self.world.auth["salesforce"]
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "client_credentials"):
            return _oauth_error(400, "unsupported_grant_type", "grant type not supported")
        if not _same(form.get("client_id", ""), auth.client_id):
            return _oauth_error(400, "invalid_client_id", "client identifier invalid")
        secret = form.get("client_secret")
        if grant == "client_credentials" and secret is None:
            return _oauth_error(400, "invalid_client", "invalid client credentials")
        if secret is not None and not _same(secret, auth.client_secret):
            return _oauth_error(400, "invalid_client", "invalid client credentials")
        if grant == "refresh_token":
            with auth.lock:
                known = form.get("refresh_token", "") in auth.refresh_tokens
            if not known:
                return _oauth_error(400, "invalid_grant", "expired access/refresh token")
        access_token = auth.issue()
        host = headers.get("host", "localhost")
        instance_url = f"https://{host}"
        identity = f"{instance_url}/id/{ORG_ID}/{self.world.salesforce.integration_user_id or sf_id('005', 1)}"
        issued_at = str(int(self.world.now().timestamp() * 1000))
        # The signature is HMAC-SHA256 over id + issued_at, keyed with the client secret.
        digest = hmac.new(auth.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        payload = {
            "access_token": access_token,
            "signature": base64.b64encode(digest).decode(),
            "scope": "api refresh_token" if grant == "refresh_token" else "api",
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        return _json(200, payload, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})

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
        if head == "jobs" and n >= 2 and p[1] == "query":
            return self._dispatch_jobs(call)
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

    def _dispatch_jobs(self, call: _Call) -> Response:
        p = call.path
        n = len(p)
        if n == 2:
            call.allow("GET", "POST")
            return self.bulk_list(call) if call.method == "GET" else self.bulk_create(call)
        if n == 3:
            call.allow("GET", "PATCH", "DELETE")
            if call.method == "GET":
                return _json(200, self.bulk.info(p[2]))
            if call.method == "PATCH":
                # Bulk API 2.0 › Abort a Query Job: query_abort_job.htm
                return _json(200, self.bulk.abort(p[2], call.json()))
            # Bulk API 2.0 › Delete a Query Job: query_delete_job.htm (204, no body)
            self.bulk.delete(p[2])
            return Response(status_code=204)
        if n == 4 and p[3] == "results":
            call.allow("GET")
            return self.bulk_results(call, p[2])
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

    def _values(self, spec: SObjectSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
        return _parse_values(spec, raw, self.world.salesforce.removed_fields)

    def _schema(self) -> dict[str, dict[str, str]]:
        """``SCHEMA`` without the fields a test removed (``remove_field``): SOQL naming one fails."""
        removed = self.world.salesforce.removed_fields
        if not removed:
            return SCHEMA
        return {o: {f: t for f, t in fields.items() if (o, f) not in removed} for o, fields in SCHEMA.items()}

    def _refused(self, spec: SObjectSpec, values: Mapping[str, Any]) -> _RecordError | None:
        """The per-record error a test armed with ``refuse_items`` for this record, if any."""
        store = self.world.salesforce
        fault = take_item_fault(store.item_faults, store.lock, spec.name, values)
        if fault is None:
            return None
        return _RecordError(fault.code, fault.message.format(id=values.get("Id") or "").rstrip(": "))

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
        names = ("limits", "query", "queryAll", "sobjects", "composite", "jobs")
        return _json(200, {name: f"{call.base}/{name}" for name in names})

    def limits(self, call: _Call) -> Response:
        # REST API Developer Guide › Limits: resources_limits.htm
        usage = self.usage
        remaining = max(0, usage.daily_max - usage.used)
        jobs_left = max(0, usage.bulk_jobs_max - usage.bulk_jobs_used)
        return _json(
            200,
            {
                "DailyApiRequests": {"Max": usage.daily_max, "Remaining": remaining},
                "DailyBulkV2QueryJobs": {"Max": usage.bulk_jobs_max, "Remaining": jobs_left},
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
        removed = self.world.salesforce.removed_fields
        payload["fields"] = [f.describe() for f in spec.fields if (spec.name, f.name) not in removed]
        return _json(200, payload)

    # queries --------------------------------------------------------------------------------
    def query(self, call: _Call, *, include_deleted: bool) -> Response:
        # REST API Developer Guide › Query: resources_query.htm; QueryAll: resources_queryall.htm
        # Page size: Query Options Header: headers_queryoptions.htm
        text = call.params.get("q", "")
        if not text.strip():
            raise _ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            compiled = soql.prepare(text, self._schema())
        except soql.SoqlError as exc:
            raise _ApiError(400, exc.error_code, exc.message) from None
        spec = SOBJECTS[compiled.sobject]
        store = self.world.salesforce
        with store.lock:  # read the store as it is now: tests edit it directly between calls
            rows = store.objects.get(spec.name, {}).values()
            if compiled.count:
                total = len(compiled.select(rows, include_deleted=include_deleted))
                return _json(200, {"totalSize": total, "done": True, "records": []})
            snapshot = compiled.snapshot(rows, ("Id", *compiled.fields), include_deleted=include_deleted)
        cursor = _Cursor(spec, compiled.fields, snapshot, self._batch_size(call.headers), include_deleted)
        return self._page(call, cursor, None, 0)

    def _batch_size(self, headers: Mapping[str, str]) -> int:
        """``Sforce-Query-Options: batchSize=N``, clamped into the settings' range as Salesforce clamps it."""
        largest = max(1, self.settings.max_batch_size)
        smallest = max(1, min(self.settings.min_batch_size, largest))
        for option in headers.get("sforce-query-options", "").split(","):
            name, _, value = option.partition("=")
            if name.strip().lower() == "batchsize" and value.strip().isdigit():
                return max(smallest, min(largest, int(value)))
        return largest

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
        # sObject Get Updated: resources_getupdated.htm; rules from SOAP API Developer Guide ›
        # getDeleted() / getUpdated() (sforce_api_calls_getdeleted.htm).
        try:
            start = soql.canonical_datetime(call.params["start"])
            end = soql.canonical_datetime(call.params["end"])
        except KeyError:
            raise _ApiError(400, "MISSING_ARGUMENT", "start and end must both be specified") from None
        except ValueError:
            raise _ApiError(400, "INVALID_REPLICATION_DATE", "start and end must be ISO-8601 datetimes") from None
        if soql.parse_datetime(end) - soql.parse_datetime(start) <= timedelta(minutes=1):
            raise _ApiError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        now = self.world.now()
        days = self.settings.recycle_bin_days if deleted else self.settings.replication_window_days
        if start < sf_time(now - timedelta(days=days)):
            raise _ApiError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago")
        latest = min(end, sf_time(now.replace(second=0, microsecond=0)))
        norm = soql.canonical_or_none
        store = self.world.salesforce
        with store.lock:
            rows = store.objects.get(spec.name, {}).values()
            if deleted:  # the Recycle Bin (soft deletes) and the delete log (hard deletes)
                hits = [
                    (row["Id"], stamp)
                    for row in rows
                    if row.get("IsDeleted") is True
                    and (stamp := norm(row.get("SystemModstamp"))) is not None
                    and start <= stamp < latest
                ]
                hits += [
                    (entry["id"], stamp)
                    for entry in store.deleted_log
                    if entry.get("sobject") == spec.name
                    and (stamp := norm(entry.get("deletedDate"))) is not None
                    and start <= stamp < latest
                ]
            else:
                hits = [
                    (row["Id"], stamp)
                    for row in rows
                    if row.get("IsDeleted") is not True
                    and (stamp := norm(row.get("SystemModstamp"))) is not None
                    and start <= stamp < latest
                ]
        if len(hits) > self.settings.max_replication_ids:
            raise _ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"More than {self.settings.max_replication_ids} ids found: choose a narrower start and end",
            )
        if deleted:
            earliest = sf_time((now - timedelta(days=days)).replace(second=0, microsecond=0))
            records = [{"id": record_id, "deletedDate": stamp} for record_id, stamp in sorted(hits)]
            return _json(
                200, {"deletedRecords": records, "earliestDateAvailable": earliest, "latestDateCovered": latest}
            )
        return _json(200, {"ids": sorted(record_id for record_id, _ in hits), "latestDateCovered": latest})

    # Bulk API 2.0 query jobs ---------------------------------------------------------------
    def bulk_create(self, call: _Call) -> Response:
        # Bulk API 2.0 Developer Guide › Create a Query Job: query_create_job.htm
        job = self.bulk.create(
            call.json(),
            version=call.version,
            user_id=self.world.salesforce.integration_user_id,
            take_budget=self.usage.take_bulk_job,
        )
        return _json(200, job)

    def bulk_list(self, call: _Call) -> Response:
        # Bulk API 2.0 Developer Guide › Get Information About All Query Jobs: query_get_all_jobs.htm
        return _json(200, self.bulk.list(base=call.base, params=call.params))

    def bulk_results(self, call: _Call, job_id: str) -> Response:
        # Bulk API 2.0 Developer Guide › Get Results for a Query Job: query_get_job_results.htm
        pieces, headers = self.bulk.results(job_id, version=call.version, params=call.params)
        return StreamingResponse(pieces, status_code=200, media_type="text/csv", headers=headers)

    # single records -------------------------------------------------------------------------
    def create(self, call: _Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Basic Information (POST creates): resources_sobject_basic_info_post.htm
        values = self._values(spec, _object(call.json()))
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
        values = self._values(spec, _object(call.json()))
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
        values = self._values(spec, _object(call.json()))
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
        drafts = [(spec, self._values(spec, raw)) for spec, raw in _typed(raw_records)]
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            outcomes = [self._refused(spec, values) or writer.insert(spec, values) for spec, values in drafts]
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
            values = self._values(spec, raw)
            drafts.append((spec, values.pop("Id", None), values))
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            outcomes: list[_RecordError | None] = []
            for spec, record_id, values in drafts:
                if record_id is None:
                    outcomes.append(_RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
                elif (refused := self._refused(spec, {"Id": record_id, **values})) is not None:
                    outcomes.append(refused)
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
            drafts.append(self._values(spec, raw))
        keys = [_index_key(values.get(ext.name)) for values in drafts]
        seen: dict[Any, int] = {}
        for key in keys:
            if key is not None:
                seen[key] = seen.get(key, 0) + 1
        with self.world.salesforce.lock:
            writer = _Writer(self.world)
            outcomes: list[tuple[str | None, bool, _RecordError | None]] = []
            for values, key in zip(drafts, keys, strict=True):
                if (refused := self._refused(spec, values)) is not None:
                    outcomes.append((None, False, refused))
                    continue
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


def _parse_values(
    spec: SObjectSpec, raw: Mapping[str, Any], removed: Collection[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The fields of one record body, by canonical name and coerced; ``attributes`` is skipped.

    An unknown field (or one in ``removed``) or an undeserializable value fails the whole
    request, as in Salesforce (the body is deserialized before any record is saved).
    """
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "attributes":
            continue
        spec_field = spec.by_lower.get(key.lower())
        if spec_field is not None and (spec.name, spec_field.name) in removed:
            spec_field = None
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
            _derive(spec, row, store.objects, now)
        table[record_id] = row
        return dict(row)


LOCK_MESSAGE = "unable to obtain exclusive access to this record or 1 records: {id}"
"""Salesforce's UNABLE_TO_LOCK_ROW message (Help › "Unable to lock row - Record currently unavailable
errors", knowledge article 000229525); ``{id}`` is the record's Id when the write names one (an
insert's message ends before it)."""


def refuse_items(
    world: World,
    predicate: Callable[[Mapping[str, Any]], bool],
    *,
    status_code: str = "UNABLE_TO_LOCK_ROW",
    message: str = LOCK_MESSAGE,
    times: int = 1,
    sobject: str | None = None,
) -> ItemFault:
    """Make sObject Collections refuse the next ``times`` records matching ``predicate``.

    ``predicate`` sees the record as sent (canonical field names, ``Id`` included for an update
    by Id, the external id for an upsert). A refused record comes back as the real per-record
    error, ``{"success": false, "errors": [{"statusCode", "message", "fields"}]}`` (REST API
    Developer Guide › sObject Collections: resources_composite_sobjects_collections_update.htm),
    and with ``allOrNone`` false the rest of its request is saved. ``message`` may hold ``{id}``.
    Returns the armed fault (its ``times`` counts down as it fires).
    """
    fault = ItemFault(predicate=predicate, code=status_code, message=message, times=times, object_type=sobject)
    with world.salesforce.lock:
        world.salesforce.item_faults.append(fault)
    return fault


def remove_field(world: World, sobject: str, field_name: str) -> None:
    """Delete a field from the org, as an admin might: ``describe`` no longer lists it, and SOQL
    or a write naming it fails with ``INVALID_FIELD`` (stored values are kept, unreachable).
    Bulk API 2.0 queries still see it. Raises ``KeyError`` for a field the stand-in never had."""
    spec = SOBJECTS[sobject]
    if field_name not in spec.by_name:
        raise KeyError(f"{sobject}.{field_name}")
    with world.salesforce.lock:
        world.salesforce.removed_fields.add((sobject, field_name))


def _stamp(world: World, at: datetime | None) -> str:
    return sf_time(world.now() if at is None else at)


def soft_delete(world: World, sobject: str, record_id: str, *, at: datetime | None = None) -> dict[str, Any]:
    """Move a record to the Recycle Bin, as a user deleting it in the UI does.

    ``IsDeleted`` becomes true and ``SystemModstamp`` moves to ``at`` (default: the server
    clock): ``query`` no longer returns the row, ``queryAll`` does, and ``/deleted`` lists it
    with that stamp as its ``deletedDate``. A past ``at`` lets a test put the delete inside a
    window ``/deleted`` already covers (coverage ends at the last whole minute). Raises
    ``KeyError`` if the record is unknown. Returns a copy of the stored row.
    """
    store = world.salesforce
    with store.lock:
        table = store.objects[sobject]
        row = {**table[record_id], "IsDeleted": True, "SystemModstamp": _stamp(world, at)}
        table[record_id] = row
        return dict(row)


def hard_delete(world: World, sobject: str, record_id: str, *, at: datetime | None = None) -> dict[str, Any]:
    """Remove a record for good (an emptied Recycle Bin, a Bulk ``hardDelete``).

    The row leaves the store, so even ``queryAll`` no longer sees it: only ``/deleted``
    reports it, from ``world.salesforce.deleted_log``. The log entry is
    ``{"sobject", "id", "deletedDate"}``; ``deletedDate`` is ``at``, else the row's own
    deletion stamp if it was already in the Recycle Bin, else the server clock. Raises
    ``KeyError`` if the record is unknown. Returns the log entry.
    """
    store = world.salesforce
    with store.lock:
        row = store.objects[sobject].pop(record_id)
        if at is None and row.get("IsDeleted") is True and row.get("SystemModstamp"):
            deleted = str(row["SystemModstamp"])
        else:
            deleted = _stamp(world, at)
        entry = {"sobject": sobject, "id": record_id, "deletedDate": deleted}
        store.deleted_log.append(entry)
        return dict(entry)


# --- the app -------------------------------------------------------------------------------


def create_salesforce_app(
    world: World,
    *,
    daily_api_requests: int | None = None,
    bulk_daily_jobs: int | None = None,
    max_batch_size: int = DEFAULT_BATCH_SIZE,
    min_batch_size: int = MIN_BATCH_SIZE,
    max_open_cursors: int = MAX_OPEN_CURSORS,
    bulk_job_polls: int = 1,
    bulk_max_records: int = 50_000,
    bulk_zulu_datetimes: bool = False,
    settings: SalesforceSettings | None = None,
) -> Starlette:
    """The Salesforce stand-in over ``world``; ``app.state.salesforce`` is its ``SalesforceApi``.

    Per-org allocations (shared by every app over ``world``, see ``api_usage``):
    ``daily_api_requests`` (default ``DAILY_API_REQUESTS``; once spent every call gets 403
    ``REQUEST_LIMIT_EXCEEDED``) and ``bulk_daily_jobs`` (default ``BULK_DAILY_QUERY_JOBS``).
    Per-app sizes, kept in ``app.state.salesforce.settings`` where a test may change them
    later: REST page sizes ``max_batch_size``/``min_batch_size``, ``max_open_cursors``, and
    for Bulk API 2.0 ``bulk_job_polls`` (job-info reads answered ``InProgress`` before
    ``JobComplete``), ``bulk_max_records`` (largest result chunk) and ``bulk_zulu_datetimes``.
    A whole ``settings`` object, when given, wins over those keywords.
    """
    usage = api_usage(world)
    if daily_api_requests is not None:
        usage.daily_max = daily_api_requests
    if bulk_daily_jobs is not None:
        usage.bulk_jobs_max = bulk_daily_jobs
    if settings is None:
        settings = SalesforceSettings(
            max_batch_size=max_batch_size,
            min_batch_size=min_batch_size,
            max_open_cursors=max_open_cursors,
            bulk=BulkSettings(
                job_polls=bulk_job_polls, max_records=bulk_max_records, zulu_datetimes=bulk_zulu_datetimes
            ),
        )
    api = SalesforceApi(world, usage, settings)

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
