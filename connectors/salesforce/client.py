"""Salesforce REST through simple-salesforce: paging, error mapping (its only importer).

simple-salesforce has no retries and no default timeout, and its login helpers are hard-wired
to ``*.salesforce.com``: upsync passes ``instance_url`` + a token (session id) itself, sets
timeouts on every call, and wraps every call in ``translated`` + the shared retry policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

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

from connectors.http import call_with_retry, redact
from sync.errors import (
    AuthError,
    ConnectorError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseShapeError,
    UpstreamError,
)
from sync.settings import RetrySettings, SalesforceSettings

__all__ = ["SalesforceClient", "translated"]

T = TypeVar("T")
SYSTEM = "salesforce"
VENDOR_ERRORS: tuple[type[BaseException], ...] = (
    SalesforceError,
    requests.RequestException,
    ValueError,  # a body that is not JSON
)
"""Every exception a call can raise that ``translated`` maps (tests assert the mapping is total)."""


def _error_code(content: Any) -> tuple[str, str]:
    """(errorCode, message) from Salesforce's error body: a JSON array of {message, errorCode}."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, Mapping):
        return str(content.get("errorCode") or content.get("error", "")), str(
            content.get("message") or content.get("error_description", "")
        )
    return "", ""


@contextmanager
def translated(stream: str | None, *, token: str = "") -> Iterator[None]:
    """Map simple-salesforce / requests exceptions onto upsync's hierarchy, redacted."""
    try:
        yield
    except SalesforceExpiredSession as exc:
        raise AuthError(
            "session expired or invalid (401 INVALID_SESSION_ID)",
            system=SYSTEM,
            stream=stream,
            hint="refresh the token in the environment variable named by salesforce.token_env",
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
    except requests.ConnectionError as exc:
        raise UpstreamError(
            "connection failed", system=SYSTEM, stream=stream, hint="check salesforce.instance_url and the network"
        ) from exc
    except requests.RequestException as exc:
        raise UpstreamError(f"request failed: {type(exc).__name__}", system=SYSTEM, stream=stream) from exc
    except (ValueError, json.JSONDecodeError) as exc:
        raise ResponseShapeError("response body is not JSON", system=SYSTEM, stream=stream) from exc


class SalesforceClient:
    """One authenticated REST session with timeouts, retries and translated errors."""

    def __init__(self, settings: SalesforceSettings, token: str, retry: RetrySettings) -> None:
        self.settings = settings
        self.retry = retry
        self._token = token
        session = requests.Session()
        # This machine (and many CI images) exports REQUESTS_CA_BUNDLE, which requests merges over
        # session.verify: ignore the environment so the configured CA file is the one used.
        session.trust_env = False
        session.verify = str(settings.ca_file) if settings.ca_file else True
        self._session = session
        self._sf = Salesforce(
            instance_url=settings.instance_url,
            session_id=token,
            session=session,
            version=settings.api_version,
        )
        self._timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)

    def close(self) -> None:
        self._session.close()

    def _call(self, fn: Callable[[], T], *, stream: str | None, idempotent: bool = True) -> T:
        def attempt() -> T:
            with translated(stream, token=self._token):
                return fn()

        return call_with_retry(attempt, policy=self.retry, idempotent=idempotent)

    def query_pages(self, soql: str, *, stream: str, include_deleted: bool = True) -> Iterator[list[dict[str, Any]]]:
        """Pages of a SOQL query (``queryAll`` by default, so soft-deleted rows arrive with IsDeleted)."""
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}
        result: dict[str, Any] = self._call(
            lambda: self._sf.query(soql, include_deleted=include_deleted, headers=headers, timeout=self._timeout),
            stream=stream,
        )
        while True:
            records = result.get("records")
            if not isinstance(records, list):
                raise ResponseShapeError("query response has no records list", system=SYSTEM, stream=stream)
            yield [_strip_attributes(r) for r in records]
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            result = self._call(partial(self._query_more, next_url, headers), stream=stream)

    def _query_more(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = self._sf.query_more(
            url, identifier_is_url=True, headers=headers, timeout=self._timeout
        )
        return result

    def query_all(self, soql: str, *, stream: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in self.query_pages(soql, stream=stream or "query", include_deleted=False):
            rows.extend(page)
        return rows

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
            lambda: self._sf.restful(path, method="PATCH", json=body, timeout=self._timeout), stream=f"write {sobject}"
        )
        if not isinstance(result, list) or len(result) != len(records):
            raise ResponseShapeError(
                f"collection upsert returned {type(result).__name__} for {len(records)} records",
                system=SYSTEM,
                stream=f"write {sobject}",
            )
        return result


def _strip_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "attributes"}
