"""The Salesforce REST API stand-in: authentication, allocation, routing to the handler groups."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote

from starlette.responses import Response

from sandbox.salesforce.bulk import BulkError
from sandbox.salesforce.composite import CompositeHandlers
from sandbox.salesforce.discovery import DiscoveryHandlers
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.http import VERSION_RE, Call, json_response
from sandbox.salesforce.oauth import OAuthHandlers
from sandbox.salesforce.queries import QueryHandlers
from sandbox.salesforce.rows import RowHandlers


class SalesforceApi(OAuthHandlers, DiscoveryHandlers, QueryHandlers, RowHandlers, CompositeHandlers):
    """Request routing and handlers; one per app, state shared through the world."""

    def handle(self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        if raw_path.rstrip("/") == "/services/oauth2/token":
            return self.token(method, headers, body)
        try:
            response = self._route(method, raw_path, query, headers, body)
        except ApiError as exc:
            response = json_response(exc.status, exc.body())
        except BulkError as exc:
            response = json_response(exc.status, [{"errorCode": exc.error_code, "message": exc.message}])
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
            raise not_found()
        rest = segments[2:]
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params.setdefault(key, value)
        if not rest:
            if method != "GET":
                raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET")
            return self.versions()
        match = VERSION_RE.match(rest[0])
        if match is None:
            raise not_found()
        self._authenticate(headers)
        if not self.usage.take():
            # REST API Developer Guide › Status Codes and Error Responses (403): errorcodes.htm
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        version = f"{int(match.group(1))}.{match.group(2)}"
        call = Call(method, tuple(rest[1:]), version, params, headers, body)
        return self._dispatch(call)

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        # REST API Developer Guide › Status Codes and Error Responses (401): errorcodes.htm
        # A token is good while world.auth["salesforce"] holds it: AuthState.expire() ends every session.
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not self.world.auth["salesforce"].valid(token.strip()):
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _dispatch(self, call: Call) -> Response:
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
        raise not_found()

    def _dispatch_jobs(self, call: Call) -> Response:
        p = call.path
        n = len(p)
        if n == 2:
            call.allow("GET", "POST")
            return self.bulk_list(call) if call.method == "GET" else self.bulk_create(call)
        if n == 3:
            call.allow("GET", "PATCH", "DELETE")
            if call.method == "GET":
                return json_response(200, self.bulk.info(p[2]))
            if call.method == "PATCH":
                # Bulk API 2.0 › Abort a Query Job: query_abort_job.htm
                return json_response(200, self.bulk.abort(p[2], call.json()))
            # Bulk API 2.0 › Delete a Query Job: query_delete_job.htm (204, no body)
            self.bulk.delete(p[2])
            return Response(status_code=204)
        if n == 4 and p[3] == "results":
            call.allow("GET")
            return self.bulk_results(call, p[2])
        raise not_found()

    def _dispatch_sobjects(self, call: Call) -> Response:
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
        raise not_found()
