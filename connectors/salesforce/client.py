"""Salesforce REST and Bulk API 2.0 through simple-salesforce: paging, quota, refresh, error mapping.

The only importer of simple_salesforce (and of requests, its transport). simple-salesforce has
no retries and no default timeout, and its login helpers are hard-wired to ``*.salesforce.com``:
upsync passes ``instance_url`` + a token itself, sets timeouts on every call, wraps every call
in ``translated`` + the shared retry policy, refreshes the session once on a 401 when OAuth is
configured, and charges every call to the run's API budget (``Sforce-Limit-Info``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import SoqlFormatter
from simple_salesforce.util import call_salesforce

from connectors.columns import parse_utc, utc_millis
from connectors.http import ApiBudget, Route, redact, trusted_ca
from connectors.oauth import TokenCache, TokenClient
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.streams import Soql
from connectors.settings import RetrySettings
from core.errors import (
    AuthError,
    ConnectorError,
    QueryTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseShapeError,
    UpstreamError,
)

__all__ = ["SalesforceClient", "format_query", "translated"]

T = TypeVar("T")
SYSTEM = "salesforce"
SESSION_RENEW_SECONDS = 15 * 60
"""A session upsync obtained is renewed this often: Salesforce's token answer states no lifetime, and
an org's session timeout can be as short as 15 minutes, so a long run renews rather than meet a 401."""
log = logging.getLogger("upsync.salesforce")


def _error_code(content: Any) -> tuple[str, str]:
    """(errorCode, message) from Salesforce's error body: a JSON array of {message, errorCode}."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, Mapping):
        return str(content.get("errorCode") or content.get("error", "")), str(
            content.get("message") or content.get("error_description", "")
        )
    return "", ""


class _SoqlFormatter(SoqlFormatter):
    """simple-salesforce's SOQL quoting, but datetimes as UTC with milliseconds (``…T12:00:00.000Z``):
    its own rendering drops the milliseconds, and a cursor window's bounds carry them (SystemModstamp
    is compared to the millisecond)."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if isinstance(value, datetime) and not format_spec:
            return utc_millis(value)
        return super().format_field(value, format_spec)


def format_query(query: Soql) -> str:
    """The text of ``query``: its values quoted as simple-salesforce's ``format_soql`` quotes them
    (strings escaped, lists parenthesised, None as null), its ``:literal`` parts as they are."""
    return _SoqlFormatter().vformat(query.template, (), query.params)


ORG = Route(SYSTEM, "salesforce.instance_url", "the Salesforce org")
"""The route named in errors when a caller knows no better (the client passes its own)."""


@contextmanager
def translated(stream: str | None, *, token: str = "", route: Route = ORG) -> Iterator[None]:
    """Map simple-salesforce / requests exceptions onto upsync's hierarchy, redacted."""
    try:
        yield
    except SalesforceExpiredSession as exc:
        raise AuthError(
            "session expired or invalid (401 INVALID_SESSION_ID)",
            system=SYSTEM,
            stream=stream,
            hint="refresh the token in the environment variable named by salesforce.token_env, "
            "or configure [salesforce.oauth] so upsync refreshes it",
        ) from exc
    except SalesforceRefusedRequest as exc:
        code, message = _error_code(exc.content)
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise QuotaExhaustedError(
                "daily API request limit exceeded (403 REQUEST_LIMIT_EXCEEDED)",
                system=SYSTEM,
                stream=stream,
                hint="upsync stops here and resumes at the next scheduled run; the cursor is kept",
            ) from exc
        raise AuthError(
            f"request refused (403 {code}): {redact(message, token)}",
            system=SYSTEM,
            stream=stream,
            hint="give the integration user the permission named above",
        ) from exc
    except (SalesforceMalformedRequest, SalesforceResourceNotFound, SalesforceMoreThanOneRecord) as exc:
        code, message = _error_code(exc.content)
        if code == "QUERY_TIMEOUT":
            raise QueryTimeoutError(
                "query timed out on the server (QUERY_TIMEOUT)", system=SYSTEM, stream=stream
            ) from exc
        raise ConnectorError(
            f"{exc.status} {code}: {redact(message, token)}",
            system=SYSTEM,
            stream=stream,
            hint="check the Salesforce field and object names in config.toml ([salesforce])",
        ) from exc
    except SalesforceGeneralError as exc:
        code, message = _error_code(exc.content)
        if exc.status in (429, 420) or code == "REQUEST_LIMIT_EXCEEDED":
            raise RateLimitError(f"rate limited ({exc.status} {code})", system=SYSTEM, stream=stream) from exc
        if exc.status >= 500 or exc.status == 406:
            raise UpstreamError(f"server error {exc.status} {code}", system=SYSTEM, stream=stream) from exc
        raise ConnectorError(
            f"unexpected {exc.status} {code}: {redact(message, token)}", system=SYSTEM, stream=stream
        ) from exc
    except SalesforceError as exc:
        raise ConnectorError(f"{type(exc).__name__} {exc.status}", system=SYSTEM, stream=stream) from exc
    except requests.Timeout as exc:
        raise UpstreamError("timed out", system=SYSTEM, stream=stream) from exc
    except requests.ConnectionError as exc:  # ProxyError and SSLError are ConnectionErrors too
        failure = route.failure(exc, stream, via_proxy=isinstance(exc, requests.exceptions.ProxyError))
        if failure is not None:
            raise failure from exc
        raise UpstreamError(
            "connection failed", system=SYSTEM, stream=stream, hint="check salesforce.instance_url and the network"
        ) from exc
    except requests.RequestException as exc:
        raise UpstreamError(f"request failed: {type(exc).__name__}", system=SYSTEM, stream=stream) from exc
    except (ValueError, json.JSONDecodeError) as exc:
        raise ResponseShapeError("response body is not JSON", system=SYSTEM, stream=stream) from exc


class SalesforceClient(TokenClient):
    """One authenticated REST session with timeouts, retries, a quota budget and translated errors."""

    system = SYSTEM
    token_lifetime = SESSION_RENEW_SECONDS
    transport_errors = (requests.RequestException,)

    def __init__(
        self,
        settings: SalesforceSettings,
        token: str | None,
        retry: RetrySettings,
        *,
        oauth: Mapping[str, str] | None = None,
        budget: ApiBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        env: Mapping[str, str] | None = None,
        cache: TokenCache | None = None,
    ) -> None:
        super().__init__(token, oauth, retry, sleep=sleep, cache=cache)
        self.settings = settings
        self.route = Route.of(SYSTEM, "salesforce.instance_url", settings.instance_url, env or {})
        self.budget = budget or ApiBudget(
            system=SYSTEM,
            run_share=settings.run_quota_share,
            org_share=settings.org_quota_share,
            write_reserve=settings.write_reserve_share,
        )
        self.identity_user_id: str | None = None  # the API user, when upsync obtained the session itself
        session = requests.Session()
        # This machine (and many CI images) exports REQUESTS_CA_BUNDLE, which requests merges over
        # session.verify: ignore the environment so the configured CA file is the one used (and so
        # no ~/.netrc password is ever sent). The proxy the environment names is then given here,
        # per host, as connectors.http decides it for every client (HTTPS_PROXY, NO_PROXY).
        session.trust_env = False
        token_url = (oauth or {}).get("token_url")
        self._token_route = Route.of(SYSTEM, "salesforce.oauth.token_url", token_url, env or {}) if token_url else None
        for route in (self.route, self._token_route):
            if route is not None and route.proxy is not None:
                session.proxies[f"{urlsplit(route.url).scheme}://{urlsplit(route.url).hostname}"] = route.proxy
        ca_file = trusted_ca(SYSTEM, settings.ca_file)
        session.verify = str(ca_file) if ca_file else True
        self._session = session
        self._timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        self._token = self._initial_token()
        self._sf = Salesforce(
            instance_url=settings.instance_url,
            session_id=self._token,
            session=session,
            version=settings.api_version,
        )

    def close(self) -> None:
        self._session.close()

    # -- auth ----------------------------------------------------------------------------------

    def _post_token(self, url: str, form: Mapping[str, str]) -> tuple[int, Mapping[str, Any]]:
        with translated("oauth", route=self._token_route or self.route):
            response = self._session.post(url, data=dict(form), timeout=self._timeout)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, answer if isinstance(answer, dict) else {}

    def _token_answered(self, answer: Mapping[str, Any]) -> None:
        # The identity URL ends in the user's id: https://login…/id/<org id>/<user id> (OAuth 2.0
        # token response, Salesforce Help › remoteaccess_oauth_refresh_token_flow.htm).
        identity = str(answer.get("id") or "").rstrip("/")
        if identity.count("/") >= 2:
            self.identity_user_id = identity.rsplit("/", 1)[-1] or None

    def _use_token(self, token: str) -> None:
        self._sf.session_id = token
        self._sf.headers["Authorization"] = "Bearer " + token

    def _call(self, fn: Callable[[], T], *, stream: str | None, idempotent: bool = True, write: bool = False) -> T:
        """One API call: budget charged, retried on retryable errors, the session renewed or refreshed."""

        def attempt() -> T:
            self.budget.charge(write=write, stream=stream)
            with translated(stream, token=self._token, route=self.route):
                result = fn()
            usage = getattr(self._sf, "api_usage", {}).get("api-usage")
            if usage is not None:
                self.budget.observe(used=usage.used, total=usage.total)
            return result

        return self._authorized(attempt, idempotent=idempotent, stream=stream)

    # -- reads --------------------------------------------------------------------------------

    def query_pages(
        self, query: Soql, *, stream: str, include_deleted: bool = True
    ) -> Generator[tuple[list[dict[str, Any]], int], None, None]:
        """Pages of a SOQL query with the query's ``totalSize`` (``queryAll`` by default, so
        soft-deleted rows arrive with IsDeleted)."""
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}
        soql = format_query(query)
        result: dict[str, Any] = self._call(
            partial(self._sf.query, soql, include_deleted=include_deleted, headers=headers, timeout=self._timeout),
            stream=stream,
        )
        total = int(result.get("totalSize") or 0)
        seen_urls: set[str] = set()
        while True:
            records = result.get("records")
            if not isinstance(records, list):
                raise ResponseShapeError("query response has no records list", system=SYSTEM, stream=stream)
            yield [_strip_attributes(r) for r in records], total
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            if next_url in seen_urls:
                raise ResponseShapeError("pagination loop: nextRecordsUrl repeated", system=SYSTEM, stream=stream)
            seen_urls.add(next_url)
            result = self._call(partial(self._query_more, next_url, headers), stream=stream)

    def _query_more(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = self._sf.query_more(
            url, identifier_is_url=True, headers=headers, timeout=self._timeout
        )
        return result

    def query_all(self, query: Soql, *, stream: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page, _total in self.query_pages(query, stream=stream or "query", include_deleted=False):
            rows.extend(page)
        return rows

    def bulk_query_pages(self, sobject: str, query: Soql, *, stream: str) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 ``queryAll`` job: create, poll (2 s → 20 s), download chunks of
        ``bulk_chunk`` rows by ``Sforce-Locator``, then delete the job, so that its results (the
        org's data) do not stay on the server for the seven days a finished job is kept."""
        base = "jobs/query"
        job = self._call(
            partial(
                self._sf.restful,
                base,
                method="POST",
                json={"operation": "queryAll", "query": format_query(query), "contentType": "CSV", "lineEnding": "LF"},
                timeout=self._timeout,
            ),
            stream=stream,
            idempotent=False,
        )
        if not isinstance(job, dict) or "id" not in job:
            raise ResponseShapeError("bulk job creation answered without an id", system=SYSTEM, stream=stream)
        job_id = str(job["id"])
        try:
            delay = self.settings.bulk_poll_seconds
            while True:
                info = self._call(partial(self._sf.restful, f"{base}/{job_id}", timeout=self._timeout), stream=stream)
                state = info.get("state") if isinstance(info, dict) else None
                if state == "JobComplete":
                    break
                if state in ("Failed", "Aborted"):
                    raise ConnectorError(
                        f"bulk job {job_id} for {sobject} {state}: {(info or {}).get('errorMessage', '')}"[:300],
                        system=SYSTEM,
                        stream=stream,
                    )
                self._sleep(delay)
                delay = min(delay * 2, self.settings.bulk_poll_max_seconds)
            locator = ""
            while True:
                params: dict[str, Any] = {"maxRecords": self.settings.bulk_chunk}
                if locator:
                    params["locator"] = locator
                response = self._call(partial(self._bulk_results, job_id, params), stream=stream)
                response_locator = response.headers.get("Sforce-Locator", "")
                text = response.content.decode("utf-8").replace("\x00", "")
                del response
                rows = csv.DictReader(io.StringIO(text))
                while page := list(itertools.islice(rows, self.settings.page_size)):
                    yield page  # a chunk is up to 50,000 rows: hand it on in pages, memory stays flat
                locator = response_locator
                if not locator or locator == "null":
                    return
        finally:
            try:
                self._call(partial(self._sf.restful, f"{base}/{job_id}", method="DELETE"), stream=stream)
            except ConnectorError as exc:  # a leftover job expires on its own after 7 days
                log.warning("could not delete bulk job %s: %s", job_id, exc)

    def _bulk_results(self, job_id: str, params: Mapping[str, Any]) -> requests.Response:
        url = f"{self._sf.base_url}jobs/query/{job_id}/results"
        headers = dict(self._sf.headers)
        headers["Accept"] = "text/csv"
        return call_salesforce(
            url,
            "GET",
            self._session,
            headers,
            params=dict(params),
            timeout=(
                self.settings.connect_timeout_seconds,
                self.settings.bulk_read_timeout_seconds,
            ),
        )

    def deleted(
        self, sobject: str, start: datetime, end: datetime, *, stream: str
    ) -> tuple[list[dict[str, Any]], datetime | None]:
        """``GET /sobjects/{obj}/deleted``: ids deleted in [start, end] (≤ 30 days back) and the
        ``latestDateCovered`` to resume from."""
        sf_type = getattr(self._sf, sobject)
        result = self._call(partial(sf_type.deleted, start, end), stream=stream)
        latest = result.get("latestDateCovered")
        return list(result.get("deletedRecords") or []), parse_utc(latest) if latest else None

    # -- writes --------------------------------------------------------------------------------

    def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert (≤ 200, allOrNone=false): one result per record, in order.

        Upsert on an external id is idempotent, so it is safe to retry after a timeout.
        """
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        result = self._call(
            partial(self._sf.restful, path, method="PATCH", json=body, timeout=self._timeout),
            stream=f"write {sobject}",
            write=True,
        )
        if not isinstance(result, list) or len(result) != len(records):
            raise ResponseShapeError(
                f"collection upsert returned {type(result).__name__} for {len(records)} records",
                system=SYSTEM,
                stream=f"write {sobject}",
            )
        return result

    def update_collection(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections update by Id (``PATCH /composite/sobjects``, ≤ 200, allOrNone=false):
        one SaveResult per record, in order. An update by Id is an overwrite, safe to retry."""
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        result = self._call(
            partial(self._sf.restful, "composite/sobjects", method="PATCH", json=body, timeout=self._timeout),
            stream=f"write {sobject}",
            write=True,
        )
        if not isinstance(result, list) or len(result) != len(records):
            raise ResponseShapeError(
                f"collection update returned {type(result).__name__} for {len(records)} records",
                system=SYSTEM,
                stream=f"write {sobject}",
            )
        return result

    def describe(self, sobject: str) -> dict[str, Any]:
        """``GET /sobjects/{sobject}/describe``: the object's fields with type, externalId, updateable."""
        result = self._call(
            partial(self._sf.restful, f"sobjects/{sobject}/describe", timeout=self._timeout),
            stream=f"describe {sobject}",
        )
        if not isinstance(result, dict) or not isinstance(result.get("fields"), list):
            raise ResponseShapeError(f"describe of {sobject} has no fields list", system=SYSTEM)
        return result


def _strip_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "attributes"}
