"""Reads in bulk: SOQL queries and their cursors, replication (/deleted, /updated), Bulk API 2.0 jobs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from starlette.responses import Response, StreamingResponse

from sandbox.salesforce import soql
from sandbox.salesforce.base import HandlerBase
from sandbox.salesforce.cursors import Cursor
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.http import LOCATOR_RE, Call, json_response
from sandbox.salesforce.metadata import SObjectSpec
from sandbox.salesforce.payloads import rest_records
from sandbox.world import sf_time


class QueryHandlers(HandlerBase):
    """Query, queryAll and their next pages, getDeleted/getUpdated, and Bulk query jobs."""

    def query(self, call: Call, *, include_deleted: bool) -> Response:
        # REST API Developer Guide › Query: resources_query.htm; QueryAll: resources_queryall.htm
        # Page size: Query Options Header: headers_queryoptions.htm
        text = call.params.get("q", "")
        if not text.strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            compiled = soql.prepare(text, self._schema())
        except soql.SoqlError as exc:
            raise ApiError(400, exc.error_code, exc.message) from None
        spec = self._org.by_name[compiled.sobject]
        store = self.world.salesforce
        with store.lock:  # read the store as it is now: tests edit it directly between calls
            rows = store.objects.get(spec.name, {}).values()
            if compiled.count:
                total = len(compiled.select(rows, include_deleted=include_deleted))
                return json_response(200, {"totalSize": total, "done": True, "records": []})
            snapshot = compiled.snapshot(rows, ("Id", *compiled.fields), include_deleted=include_deleted)
        cursor = Cursor(spec, compiled.fields, snapshot, self._batch_size(call.headers), include_deleted)
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

    def query_more(self, call: Call, token: str) -> Response:
        # REST API Developer Guide › Query (retrieving the remaining results): resources_query.htm
        match = LOCATOR_RE.match(token)
        cursor = self.cursors.get(match.group(1)) if match else None
        if match is None or cursor is None:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(call, cursor, match.group(1), int(match.group(2)))

    def _page(self, call: Call, cursor: Cursor, locator: str | None, start: int) -> Response:
        total = len(cursor.rows)
        end = min(total, start + cursor.batch_size)
        payload: dict[str, Any] = {"totalSize": total, "done": end >= total}
        if end < total:
            locator = locator or self.cursors.open(cursor)
            kind = "queryAll" if cursor.include_deleted else "query"
            payload["nextRecordsUrl"] = f"{call.base}/{kind}/{locator}-{end}"
        payload["records"] = rest_records(cursor.spec, cursor.fields, cursor.rows[start:end], call.base)
        return json_response(200, payload)

    def replication(self, call: Call, spec: SObjectSpec, *, deleted: bool) -> Response:
        # REST API Developer Guide › sObject Get Deleted: resources_getdeleted.htm;
        # sObject Get Updated: resources_getupdated.htm; rules from SOAP API Developer Guide ›
        # getDeleted() / getUpdated() (sforce_api_calls_getdeleted.htm).
        try:
            start = soql.canonical_datetime(call.params["start"])
            end = soql.canonical_datetime(call.params["end"])
        except KeyError:
            raise ApiError(400, "MISSING_ARGUMENT", "start and end must both be specified") from None
        except ValueError:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "start and end must be ISO-8601 datetimes") from None
        if soql.parse_datetime(end) - soql.parse_datetime(start) <= timedelta(minutes=1):
            raise ApiError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        now = self.world.now()
        days = self.settings.recycle_bin_days if deleted else self.settings.replication_window_days
        if start < sf_time(now - timedelta(days=days)):
            raise ApiError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago")
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
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"More than {self.settings.max_replication_ids} ids found: choose a narrower start and end",
            )
        if deleted:
            earliest = sf_time((now - timedelta(days=days)).replace(second=0, microsecond=0))
            records = [{"id": record_id, "deletedDate": stamp} for record_id, stamp in sorted(hits)]
            return json_response(
                200, {"deletedRecords": records, "earliestDateAvailable": earliest, "latestDateCovered": latest}
            )
        return json_response(200, {"ids": sorted(record_id for record_id, _ in hits), "latestDateCovered": latest})

    # Bulk API 2.0 query jobs ---------------------------------------------------------------
    def bulk_create(self, call: Call) -> Response:
        # Bulk API 2.0 Developer Guide › Create a Query Job: query_create_job.htm
        job = self.bulk.create(
            call.json(),
            version=call.version,
            user_id=self.world.salesforce.integration_user_id,
            take_budget=self.usage.take_bulk_job,
        )
        return json_response(200, job)

    def bulk_list(self, call: Call) -> Response:
        # Bulk API 2.0 Developer Guide › Get Information About All Query Jobs: query_get_all_jobs.htm
        return json_response(200, self.bulk.list(base=call.base, params=call.params))

    def bulk_results(self, call: Call, job_id: str) -> Response:
        # Bulk API 2.0 Developer Guide › Get Results for a Query Job: query_get_job_results.htm
        pieces, headers = self.bulk.results(job_id, version=call.version, params=call.params)
        return StreamingResponse(pieces, status_code=200, media_type="text/csv", headers=headers)
