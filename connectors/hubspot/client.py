"""HubSpot CRM through hubspot-api-client: search paging, owners, tasks, error mapping.

The only importer of ``hubspot`` (and of urllib3, its transport). Each generated sub-package
has its own ``ApiException``, so ``translated`` catches every one used; their ``str()`` dumps
headers and body, so it is never logged: only the status and HubSpot's category are kept.
API objects are built once (each ``client.crm.X.Y_api`` access builds a new connection pool).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import Filter as CompanyFilter
from hubspot.crm.companies import FilterGroup as CompanyFilterGroup
from hubspot.crm.companies import PublicObjectSearchRequest as CompanySearch
from hubspot.crm.objects.tasks import ApiException as TasksApiException
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.objects.tasks import PublicObjectSearchRequest as TaskSearch
from hubspot.crm.owners import ApiException as OwnersApiException

from connectors.http import call_with_retry, redact
from sync.errors import (
    AuthError,
    ConnectorError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseShapeError,
    UpstreamError,
)
from sync.settings import HubSpotSettings, RetrySettings

__all__ = ["VENDOR_ERRORS", "HubSpotClient", "translated"]

T = TypeVar("T")
SYSTEM = "hubspot"
TASK_TO_COMPANY = 192
"""HUBSPOT_DEFINED association type id: task → company (associations v4 type list)."""
API_EXCEPTIONS: tuple[type[Exception], ...] = (CompaniesApiException, TasksApiException, OwnersApiException)
VENDOR_ERRORS: tuple[type[BaseException], ...] = (*API_EXCEPTIONS, urllib3.exceptions.HTTPError, ValueError)
"""Every exception a call can raise that ``translated`` maps (tests assert the mapping is total)."""


def _body(exc: Any) -> dict[str, Any]:
    try:
        data = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(exc: Any) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@contextmanager
def translated(stream: str | None, *, token: str = "") -> Iterator[None]:
    """Map hubspot-api-client / urllib3 exceptions onto upsync's hierarchy, redacted."""
    try:
        yield
    except API_EXCEPTIONS as exc:
        status = int(getattr(exc, "status", 0) or 0)
        body = _body(exc)
        category = str(body.get("category") or body.get("errorType") or "")
        message = redact(str(body.get("message") or ""), token)
        if status == 401:
            raise AuthError(
                f"401 {category or 'unauthorized'}",
                system=SYSTEM,
                stream=stream,
                hint="rotate the private-app token in the environment variable named by hubspot.token_env",
            ) from exc
        if status == 403:
            raise AuthError(
                f"403 {category}: {message}", system=SYSTEM, stream=stream, hint="grant the app the missing scope"
            ) from exc
        if status == 429:
            if body.get("policyName") == "DAILY":
                raise QuotaExhaustedError(
                    "daily API limit reached (429 DAILY)",
                    system=SYSTEM,
                    stream=stream,
                    hint="upsync stops until the account's midnight; the cursor is kept",
                ) from exc
            raise RateLimitError(
                f"rate limited (429 {body.get('policyName') or ''})".replace(" )", ")"),
                system=SYSTEM,
                stream=stream,
                retry_after=_retry_after(exc),
            ) from exc
        if status >= 500 or status == 0:
            raise UpstreamError(f"server error {status}", system=SYSTEM, stream=stream) from exc
        raise ConnectorError(
            f"{status} {category}: {message}",
            system=SYSTEM,
            stream=stream,
            hint="check the HubSpot property names in config.toml ([hubspot])",
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        what = "timed out" if isinstance(exc, urllib3.exceptions.TimeoutError) else "connection failed"
        raise UpstreamError(
            f"{what} ({type(exc).__name__})",
            system=SYSTEM,
            stream=stream,
            hint="check hubspot.base_url and the network",
        ) from exc
    except ValueError as exc:  # the SDK raises ValueError on bodies it cannot deserialize
        raise ResponseShapeError(f"unexpected response shape: {exc}"[:200], system=SYSTEM, stream=stream) from exc


class HubSpotClient:
    """One HubSpot API client with timeouts, retries and translated errors."""

    def __init__(self, settings: HubSpotSettings, token: str, retry: RetrySettings) -> None:
        self.settings = settings
        self.retry = retry
        self._token = token
        self._timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        api = HubSpot(
            access_token=token,
            host=settings.base_url,
            ssl_ca_cert=str(settings.ca_file) if settings.ca_file else None,
            # retries are ours (tenacity, per error class); urllib3's would re-send POSTs blindly
            retry=urllib3.Retry(total=False),
        )
        self._companies_search = api.crm.companies.search_api
        self._owners = api.crm.owners.owners_api
        self._tasks_batch = api.crm.objects.tasks.batch_api
        self._tasks_search = api.crm.objects.tasks.search_api

    def close(self) -> None:
        """Close every API object's connection pool (the SDK only does so when collected)."""
        for api in (self._companies_search, self._owners, self._tasks_batch, self._tasks_search):
            api.api_client.rest_client.pool_manager.clear()
            api.api_client.close()

    def _call(self, fn: Callable[[], T], *, stream: str | None, idempotent: bool = True) -> T:
        def attempt() -> T:
            with translated(stream, token=self._token):
                return fn()

        return call_with_retry(attempt, policy=self.retry, idempotent=idempotent)

    def search_companies(self, body: Mapping[str, Any], *, stream: str) -> tuple[list[dict[str, Any]], str | None, int]:
        """One search page: (results as dicts, the next ``after`` or None, total)."""
        request = CompanySearch(
            filter_groups=[
                CompanyFilterGroup(filters=[CompanyFilter(**_snake(f)) for f in group["filters"]])
                for group in body.get("filterGroups", [])
            ],
            sorts=body.get("sorts"),
            properties=body.get("properties"),
            limit=body.get("limit"),
            after=body.get("after"),
        )
        page = self._call(
            lambda: self._companies_search.do_search(
                public_object_search_request=request, _request_timeout=self._timeout
            ),
            stream=stream,
        )
        after = page.paging.next.after if page.paging and page.paging.next else None
        return [r.to_dict() for r in page.results], after, int(page.total or 0)

    def owners(self, *, archived: bool) -> Iterator[list[dict[str, Any]]]:
        after: str | None = None
        while True:
            page = self._call(
                lambda a=after: self._owners.get_page(  # type: ignore[misc]
                    limit=500, after=a, archived=archived, _request_timeout=self._timeout
                ),
                stream="hubspot.owners",
            )
            yield [o.to_dict() for o in page.results]
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    def create_tasks(self, inputs: Sequence[tuple[Mapping[str, str], str, str]]) -> list[dict[str, Any]]:
        """Batch-create tasks ``(properties, company_id, trace_id)`` (≤ 100), each tied to its company.

        Not idempotent: retried only on 429. After a timeout or 5xx the caller must reconcile by
        sync key before creating again.
        """
        batch = BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties=dict(props),
                    object_write_trace_id=trace_id,
                    associations=[
                        PublicAssociationsForObject(
                            to=PublicObjectId(id=company_id),
                            types=[
                                AssociationSpec(
                                    association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO_COMPANY
                                )
                            ],
                        )
                    ],
                )
                for props, company_id, trace_id in inputs
            ]
        )
        response = self._call(
            lambda: self._tasks_batch.create(
                batch_input_simple_public_object_batch_input_for_create=batch, _request_timeout=self._timeout
            ),
            stream="write tasks",
            idempotent=False,
        )
        return [r.to_dict() for r in response.results or []]

    def search_tasks(
        self, filters: Sequence[Mapping[str, Any]], properties: Sequence[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of tasks matching all ``filters`` (dicts of Filter fields), 200 at a time."""
        after: str | None = None
        while True:
            request = TaskSearch(
                filter_groups=[FilterGroup(filters=[Filter(**_snake(f)) for f in filters])],
                properties=list(properties),
                limit=200,
                after=after,
            )
            page = self._call(
                lambda r=request: self._tasks_search.do_search(  # type: ignore[misc]
                    public_object_search_request=r, _request_timeout=self._timeout
                ),
                stream="read tasks",
            )
            yield [r.to_dict() for r in page.results]
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return


def _snake(api_filter: Mapping[str, Any]) -> dict[str, Any]:
    """A search filter in the API's camelCase → the SDK model's keyword arguments."""
    names = {"propertyName": "property_name", "highValue": "high_value"}
    return {names.get(k, k): v for k, v in api_filter.items()}
