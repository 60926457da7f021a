"""Bulk API 2.0 query jobs of the Salesforce stand-in: job lifecycle, result snapshots and CSV chunks.

A backfill of a million Tasks goes through Bulk API 2.0, not REST paging, so the stand-in has
to serve it the way an org does, or the connector's Bulk path is never exercised before it
meets one. Jobs follow the Bulk API 2.0 Developer Guide › Query jobs
(``https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/``):

- a created job is ``UploadComplete``; each job-info read moves it on, and it reports
  ``InProgress`` for ``BulkSettings.job_polls`` reads before ``JobComplete``, so a client
  really has to poll;
- the query runs when the job completes: its rows are snapshotted then, already in their
  CSV form, and later writes to the store do not change them;
- results come in chunks of ``maxRecords`` rows with ``Sforce-NumberOfRecords`` and
  ``Sforce-Locator`` (the next chunk, ``null`` after the last), as CSV with every value
  quoted, ``""`` for null, ``true``/``false`` and the job's delimiter and line ending;
  chunks are streamed in pieces, never built as one string.

The routing, auth and API-request accounting stay in ``sandbox.salesforce``; this module
knows jobs, the store and the SOQL evaluator only."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.http import version_tuple
from sandbox.world import World, sf_id, sf_time

JOB_KEY_PREFIX = "750"  # the key prefix of AsyncApexJob/bulk job ids
FIRST_BULK_QUERY_VERSION = (47, 0)  # Bulk API 2.0 query jobs exist from v47.0
COLUMNS_IN_ORDER_SINCE = (50, 0)  # before v50.0 result columns came alphabetically
JOB_LIST_PAGE = 1_000

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_OPERATIONS = ("query", "queryAll")
_ABORTABLE = ("UploadComplete", "InProgress")
_DOUBLES = soql.NUMBER_TYPES - {"int"}
_BOOLEAN_TEXT = {True: "true", False: "false"}


@dataclass
class BulkSettings:
    """How the stand-in's Bulk API 2.0 behaves; mutable, read on every request.

    ``job_polls``: job-info reads answered ``InProgress`` before ``JobComplete``.
    ``max_records``: the largest result chunk, also the chunk size when a request gives no
    ``maxRecords`` (a real org cuts chunks by size; tests lower this to force many chunks).
    ``zulu_datetimes``: write datetimes as ``…000Z`` instead of the REST form ``…000+0000``.
    ``piece_rows``: rows per streamed piece of a chunk (memory, not protocol).
    ``retained_rows``: result rows kept across completed jobs; past it the oldest completed
    jobs are dropped (their URLs answer 404, as results past the org's retention do), so a
    benchmark that never deletes its jobs does not hold every million-row result forever.
    """

    job_polls: int = 1
    max_records: int = 50_000
    zulu_datetimes: bool = False
    piece_rows: int = 5_000
    retained_rows: int = 5_000_000


class BulkError(Exception):
    """A refused Bulk request: HTTP ``status`` with the REST error array body."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


@dataclass
class QueryJob:
    """One query job and, once complete, its result rows (tuples of CSV-ready values)."""

    id: str
    operation: str
    sobject: str
    query: soql.CompiledQuery
    columns: tuple[str, ...]
    types: tuple[str, ...]
    version: str
    line_ending: str
    delimiter: str
    created_by: str
    created: str
    modstamp: str
    state: str = "UploadComplete"
    polls_left: int = 0
    rows: list[tuple[Any, ...]] | None = None
    processing_ms: int = 0

    def info(self, *, full: bool = True) -> dict[str, Any]:
        """Get Information About a Query Job (``full``) or its entry in the job list."""
        payload: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "jobType": "V2Query",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if full:
            payload["numberRecordsProcessed"] = len(self.rows) if self.rows is not None else 0
            payload["retries"] = 0
            payload["totalProcessingTime"] = self.processing_ms
            payload["isPkChunkingSupported"] = True
        return payload


def encode_locator(offset: int) -> str:
    """A result locator as an org writes one: base64 of the row offset, unpadded (``MTAwMDA``)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    """The row offset of a locator; ``ValueError`` for one this stand-in never issued."""
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(locator) from None
    if not text.isdigit():
        raise ValueError(locator)
    return int(text)


class QueryJobs:
    """The query jobs of one stand-in app, over ``world.salesforce``."""

    def __init__(self, world: World, schema: soql.Schema, settings: BulkSettings) -> None:
        self.world = world
        self.schema = schema
        self.settings = settings
        self._jobs: OrderedDict[str, QueryJob] = OrderedDict()
        self._lock = threading.Lock()
        self._count = 0

    # Bulk API 2.0 › Create a Query Job: query_create_job.htm
    def create(self, body: Any, *, version: str, user_id: str, take_budget: Callable[[], bool]) -> dict[str, Any]:
        """Validate and register a job; ``take_budget`` counts it against the daily job limit."""
        if version_tuple(version) < FIRST_BULK_QUERY_VERSION:
            raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")
        if not isinstance(body, dict):
            raise BulkError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in _OPERATIONS:
            raise BulkError(400, "INVALIDJOB", f"Invalid operation: {operation} (expected query or queryAll)")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise BulkError(400, "INVALIDJOB", "Query is required for query jobs")
        if body.get("contentType", "CSV") != "CSV":
            raise BulkError(400, "INVALIDJOB", f"Unsupported contentType: {body.get('contentType')}")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if not isinstance(delimiter, str) or delimiter not in _DELIMITERS:
            raise BulkError(400, "INVALIDJOB", f"Invalid columnDelimiter: {delimiter}")
        if not isinstance(line_ending, str) or line_ending not in _LINE_ENDINGS:
            raise BulkError(400, "INVALIDJOB", f"Invalid lineEnding: {line_ending}")
        try:
            compiled = soql.prepare(text, self.schema)
        except soql.SoqlError as exc:
            raise BulkError(400, exc.error_code, exc.message) from None
        if compiled.count:  # Bulk API 2.0 does not support aggregate functions or OFFSET
            raise BulkError(400, "API_ERROR", "Aggregate queries (COUNT()) are not supported by Bulk API 2.0")
        if compiled.offset:
            raise BulkError(400, "API_ERROR", "OFFSET is not supported by Bulk API 2.0 queries")
        if not take_budget():
            raise BulkError(400, "LIMIT_EXCEEDED", "Bulk API 2.0 query jobs: the daily limit is exceeded")
        columns = compiled.fields
        if version_tuple(version) < COLUMNS_IN_ORDER_SINCE:
            columns = tuple(sorted(columns))
        types = self.schema[compiled.sobject]
        now = sf_time(self.world.now())
        with self._lock:
            self._count += 1
            job = QueryJob(
                id=sf_id(JOB_KEY_PREFIX, self._count),
                operation=operation,
                sobject=compiled.sobject,
                query=compiled,
                columns=columns,
                types=tuple(types[name] for name in columns),
                version=version,
                line_ending=line_ending,
                delimiter=delimiter,
                created_by=user_id,
                created=now,
                modstamp=now,
                polls_left=max(0, self.settings.job_polls),
            )
            self._jobs[job.id] = job
        created = job.info(full=False)
        del created["jobType"]  # the create response has no jobType
        return created

    def _job(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    # Bulk API 2.0 › Get Information About a Query Job: query_get_one_job.htm
    def info(self, job_id: str) -> dict[str, Any]:
        """The job's state; a read of an unfinished job advances it (UploadComplete → InProgress → JobComplete)."""
        job = self._job(job_id)
        with self._lock:
            advance = job.state in _ABORTABLE
            if advance and job.polls_left > 0:
                job.polls_left -= 1
                job.state = "InProgress"
                advance = False
        if advance:
            self._complete(job)
        return job.info()

    def _complete(self, job: QueryJob) -> None:
        """Run the job's query against the store now and keep its CSV-ready rows."""
        started = time.monotonic()
        store = self.world.salesforce
        with store.lock:
            table = store.objects.get(job.sobject, {})
            rows = job.query.snapshot(table.values(), job.columns, include_deleted=job.operation == "queryAll")
        rows = _csv_ready(rows, job.types, zulu=self.settings.zulu_datetimes)
        with self._lock:
            if job.state in _ABORTABLE:  # not aborted or deleted meanwhile
                job.rows = rows
                job.state = "JobComplete"
                job.processing_ms = int((time.monotonic() - started) * 1000)
                job.modstamp = sf_time(self.world.now())
            self._expire(keep=job.id)

    def _expire(self, *, keep: str) -> None:
        """Drop the oldest completed jobs while their results exceed ``retained_rows``; lock held."""
        budget = self.settings.retained_rows
        retained = sum(len(j.rows) for j in self._jobs.values() if j.rows is not None)
        for job_id, job in list(self._jobs.items()):
            if retained <= budget:
                break
            if job_id != keep and job.rows is not None:
                retained -= len(job.rows)
                job.rows = None
                del self._jobs[job_id]

    # Bulk API 2.0 › Get Results for a Query Job: query_get_job_results.htm
    def results(
        self, job_id: str, *, version: str, params: Mapping[str, str]
    ) -> tuple[Iterator[bytes], dict[str, str]]:
        """One chunk of results as streamed CSV pieces, with its ``Sforce-*`` headers."""
        job = self._job(job_id)
        if version != job.version:
            raise BulkError(409, "INVALIDJOB", f"Use API version {job.version}, the version the job was created with")
        rows = job.rows
        if job.state != "JobComplete" or rows is None:
            raise BulkError(400, "INVALIDJOBSTATE", f"Results are not available: the job is in state {job.state}")
        limit = self.settings.max_records
        raw_max = params.get("maxRecords")
        if raw_max is not None:
            if not raw_max.isdigit() or int(raw_max) < 1:
                raise BulkError(400, "INVALIDJOB", f"maxRecords must be a positive integer: {raw_max}")
            limit = min(limit, int(raw_max))
        locator = params.get("locator", "")
        try:
            start = decode_locator(locator) if locator and locator != "null" else 0
        except ValueError:
            raise BulkError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        if start > len(rows):
            raise BulkError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        end = min(len(rows), start + limit)
        headers = {
            "Sforce-NumberOfRecords": str(end - start),
            "Sforce-Locator": encode_locator(end) if end < len(rows) else "null",
        }
        return self._csv(job, rows, start, end), headers

    def _csv(self, job: QueryJob, rows: list[tuple[Any, ...]], start: int, end: int) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=_DELIMITERS[job.delimiter],
            lineterminator=_LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(job.columns)
        piece = max(1, self.settings.piece_rows)
        for low in range(start, end, piece):
            writer.writerows(rows[low : min(end, low + piece)])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if start >= end:  # an empty chunk still has its header row
            yield buffer.getvalue().encode()

    # Bulk API 2.0 › Abort a Query Job: query_abort_job.htm
    def abort(self, job_id: str, body: Any) -> dict[str, Any]:
        job = self._job(job_id)
        state = body.get("state") if isinstance(body, dict) else None
        if state != "Aborted":
            raise BulkError(400, "INVALIDJOBSTATE", f"A query job can only be set to Aborted, not {state}")
        with self._lock:
            if job.state not in _ABORTABLE:
                raise BulkError(400, "INVALIDJOBSTATE", f"Cannot abort a job in state {job.state}")
            job.state = "Aborted"
            job.modstamp = sf_time(self.world.now())
        return job.info(full=False)

    # Bulk API 2.0 › Delete a Query Job: query_delete_job.htm
    def delete(self, job_id: str) -> None:
        job = self._job(job_id)
        with self._lock:
            if job.state == "InProgress":
                raise BulkError(400, "INVALIDJOBSTATE", "Cannot delete a job in state InProgress")
            self._jobs.pop(job_id, None)
            job.rows = None

    # Bulk API 2.0 › Get Information About All Query Jobs: query_get_all_jobs.htm
    def list(self, *, base: str, params: Mapping[str, str]) -> dict[str, Any]:
        locator = params.get("queryLocator", "")
        try:
            start = decode_locator(locator) if locator else 0
        except ValueError:
            raise BulkError(400, "INVALIDLOCATOR", f"Invalid queryLocator: {locator}") from None
        with self._lock:
            jobs = list(self._jobs.values())
        job_type = params.get("jobType")
        if job_type and job_type != "V2Query":
            jobs = []
        page = jobs[start : start + JOB_LIST_PAGE]
        done = start + JOB_LIST_PAGE >= len(jobs)
        next_url = None if done else f"{base}/jobs/query?queryLocator={encode_locator(start + JOB_LIST_PAGE)}"
        return {"done": done, "records": [job.info(full=False) for job in page], "nextRecordsUrl": next_url}

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


def _csv_ready(rows: list[tuple[Any, ...]], types: tuple[str, ...], *, zulu: bool) -> list[tuple[Any, ...]]:
    """Rows with the values the CSV writer cannot take as they are rewritten, column by column.

    Booleans become ``true``/``false``, whole numbers in double fields ``25.0`` (as the REST
    API shows them), and with ``zulu`` datetimes end in ``Z``. The conversion works on
    columns (``zip``/``map`` run in C) so a million rows cost a few C-level passes, not a
    Python call per value.
    """
    converters: dict[int, Callable[[Any], Any]] = {}
    for i, type_ in enumerate(types):
        if type_ == "boolean":
            converters[i] = _boolean_text
        elif type_ in _DOUBLES:
            converters[i] = _double
        elif type_ == "datetime" and zulu:
            converters[i] = _zulu
    if not converters or not rows:
        return rows
    with soql.gc_paused():
        columns = list(zip(*rows, strict=True))
        for i, convert in converters.items():
            column = columns[i]
            if convert is _boolean_text:  # dict.get(value, value): C all the way
                columns[i] = tuple(map(_BOOLEAN_TEXT.get, column, column))
            else:
                columns[i] = tuple(map(convert, column))
        return list(zip(*columns, strict=True))


def _boolean_text(value: Any) -> Any:
    return _BOOLEAN_TEXT.get(value, value) if value.__class__ is bool else value


def _double(value: Any) -> Any:
    return float(value) if value.__class__ is int else value


def _zulu(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"
    return value
