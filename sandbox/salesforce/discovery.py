"""Discovery: versions, resources, limits and describes."""

from __future__ import annotations

from starlette.responses import Response

from sandbox.salesforce.base import HandlerBase
from sandbox.salesforce.http import Call, json_response, version_label
from sandbox.salesforce.metadata import SObjectSpec
from sandbox.salesforce.settings import FIRST_API_VERSION, LATEST_API_VERSION, MAX_COLLECTION_RECORDS


class DiscoveryHandlers(HandlerBase):
    """Versions, resources, limits, describe global and per-sObject describes."""

    def versions(self) -> Response:
        # REST API Developer Guide › Versions: resources_versions.htm
        latest = int(LATEST_API_VERSION.split(".")[0])
        return json_response(
            200,
            [
                {"label": version_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(FIRST_API_VERSION, latest + 1)
            ],
        )

    def resources(self, call: Call) -> Response:
        # REST API Developer Guide › Resources by Version: resources_discoveryresource.htm
        names = ("limits", "query", "queryAll", "sobjects", "composite", "jobs")
        return json_response(200, {name: f"{call.base}/{name}" for name in names})

    def limits(self, call: Call) -> Response:
        # REST API Developer Guide › Limits: resources_limits.htm
        usage = self.usage
        remaining = max(0, usage.daily_max - usage.used)
        jobs_left = max(0, usage.bulk_jobs_max - usage.bulk_jobs_used)
        return json_response(
            200,
            {
                "DailyApiRequests": {"Max": usage.daily_max, "Remaining": remaining},
                "DailyBulkV2QueryJobs": {"Max": usage.bulk_jobs_max, "Remaining": jobs_left},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            },
        )

    def describe_global(self, call: Call) -> Response:
        # REST API Developer Guide › Describe Global: resources_describeGlobal.htm
        sobjects = [spec.summary(call.version) for spec in self._org.by_name.values()]
        return json_response(200, {"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION_RECORDS, "sobjects": sobjects})

    def basic_info(self, call: Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Basic Information: resources_sobject_basic_info.htm
        return json_response(200, {"objectDescribe": spec.summary(call.version), "recentItems": []})

    def describe(self, call: Call, spec: SObjectSpec) -> Response:
        # REST API Developer Guide › sObject Describe: resources_sobject_describe.htm
        payload = spec.summary(call.version)
        removed = self.world.salesforce.removed_fields
        payload["fields"] = [f.describe() for f in spec.fields if (spec.name, f.name) not in removed]
        return json_response(200, payload)
