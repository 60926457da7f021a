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
API 2.0 query jobs (``sandbox.salesforce.bulk``).

Every endpoint handler cites the page of the guide it imitates; the REST base address is
``https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/``. Handlers run in
Starlette's thread pool and hold ``world.salesforce.lock`` while they read or write the store;
nothing is cached between requests, so a test may change ``world.salesforce.objects`` directly
(add rows, edit fields, give thousands of rows one ``SystemModstamp``) and the next request
sees it. Limits and sizes are settings (``OrgSettings``, ``ApiUsage``) a test can
lower to force many pages, many Bulk chunks or a spent allocation.
"""

from sandbox.salesforce.api import SalesforceApi
from sandbox.salesforce.app import create_salesforce_app
from sandbox.salesforce.bulk import BulkSettings
from sandbox.salesforce.edits import (
    LOCK_MESSAGE,
    edit_as_user,
    hard_delete,
    recalculate,
    refuse_items,
    remove_field,
    soft_delete,
)
from sandbox.salesforce.metadata import FieldSpec, SObjectSpec
from sandbox.salesforce.settings import (
    BULK_DAILY_QUERY_JOBS,
    DAILY_API_REQUESTS,
    DEFAULT_BATCH_SIZE,
    LATEST_API_VERSION,
    MAX_COLLECTION_RECORDS,
    MAX_OPEN_CURSORS,
    MAX_REPLICATION_IDS,
    MAX_RETRIEVE_IDS,
    MIN_BATCH_SIZE,
    ORG_ID,
    RECYCLE_BIN_DAYS,
    REPLICATION_WINDOW_DAYS,
    ApiUsage,
    OrgSettings,
    api_usage,
)
from sandbox.salesforce.sobjects import SCHEMA, SOBJECTS

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
    "OrgSettings",
    "SObjectSpec",
    "SalesforceApi",
    "api_usage",
    "create_salesforce_app",
    "edit_as_user",
    "hard_delete",
    "recalculate",
    "refuse_items",
    "remove_field",
    "soft_delete",
]
