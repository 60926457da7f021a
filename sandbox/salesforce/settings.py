"""The org's allocations and each app's sizes: Salesforce's own numbers, overridable per test."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from sandbox.salesforce.bulk import BulkSettings
from sandbox.world import World, sf_id

# Salesforce REST API Developer Guide: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/

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
class OrgSettings:
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
