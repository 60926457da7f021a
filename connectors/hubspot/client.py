"""HubSpot CRM through hubspot-api-client: search, lists, associations v4, owners, tasks, auth.

The only importer of ``hubspot`` (and of urllib3, its transport). Each generated sub-package
has its own ``ApiException``, so ``translated`` catches every one used; their ``str()`` dumps
headers and body, so it is never logged: only the status and HubSpot's category are kept.
API objects are built once (each ``client.crm.X.Y_api`` access builds a new connection pool).
Every call first takes a token from the general bucket (and searches from the search bucket
too), so upsync stays under the account's limits instead of bouncing off them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.objects.tasks import ApiException as TasksApiException
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.owners import ApiException as OwnersApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from connectors.http import Route, SlidingWindow, redact, ssl_context
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.streams import TASK_TO_COMPANY
from connectors.oauth import TokenCache, TokenClient
from connectors.settings import RetrySettings
from core.errors import (
    AuthError,
    ConnectorError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseShapeError,
    UpstreamError,
)

__all__ = ["API_EXCEPTIONS", "HubSpotClient", "translated"]

T = TypeVar("T")
SYSTEM = "hubspot"
SEARCH_LIMIT = 5
"""CRM search: 5 requests per second per account (search API reference, limits)."""
ASSOCIATIONS_BATCH = 1000
"""Associations v4 batch read takes at most 1,000 ids."""
TOKEN_RENEW_MARGIN = 300.0
"""A token upsync obtained is renewed once under 300 s of its ``expires_in`` (30 minutes) remain,
so a long run renews it between calls instead of meeting a 401 mid-page."""
API_EXCEPTIONS: tuple[type[Exception], ...] = (
    CompaniesApiException,
    ObjectsApiException,
    TasksApiException,
    OwnersApiException,
    AssociationsApiException,
    PropertiesApiException,
)


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


PORTAL = Route(SYSTEM, "hubspot.base_url", "the HubSpot API")
"""The route named in errors when a caller knows no better (the client passes its own)."""


@contextmanager
def translated(stream: str | None, *, token: str = "", route: Route = PORTAL) -> Iterator[None]:
    """Map hubspot-api-client / urllib3 exceptions onto upsync's hierarchy, redacted."""
    try:
        yield
    except AttributeError as exc:
        # The SDK turns a TLS failure into ApiException(status=0) without a body, then fails to
        # decode that body: the AttributeError's context is the ApiException, whose context is
        # urllib3's SSLError. Anything else is a bug, and stays one.
        wrapped = exc.__context__
        if not isinstance(wrapped, API_EXCEPTIONS) or getattr(wrapped, "status", None) != 0:
            raise
        failure = route.failure(wrapped, stream)
        raise (failure or UpstreamError("no answer (the SDK's status 0)", system=SYSTEM, stream=stream)) from exc
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
                hint="rotate the token in the environment variable named by hubspot.token_env, "
                "or configure [hubspot.oauth] so upsync refreshes it",
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
            policy = body.get("policyName")
            raise RateLimitError(
                f"rate limited (429 {policy})" if policy else "rate limited (429)",
                system=SYSTEM,
                stream=stream,
                retry_after=_retry_after(exc),
            ) from exc
        if status == 0 and (failure := route.failure(exc, stream)) is not None:
            raise failure from exc
        if status >= 500 or status == 0:
            raise UpstreamError(f"server error {status}", system=SYSTEM, stream=stream) from exc
        raise ConnectorError(
            f"{status} {category}: {message}",
            system=SYSTEM,
            stream=stream,
            hint="check the HubSpot property and object names in config.toml ([hubspot])",
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        failure = route.failure(exc, stream, via_proxy=isinstance(exc, urllib3.exceptions.ProxyError))
        if failure is not None:
            raise failure from exc
        # NewConnectionError is a ConnectTimeoutError too: only a real timeout says "timed out"
        timed_out = isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
            exc, urllib3.exceptions.NewConnectionError
        )
        what = "timed out" if timed_out else "connection failed"
        raise UpstreamError(
            f"{what} ({type(exc).__name__})",
            system=SYSTEM,
            stream=stream,
            hint="check hubspot.base_url and the network",
        ) from exc
    except ValueError as exc:  # the SDK raises ValueError on bodies it cannot deserialize
        raise ResponseShapeError(f"unexpected response shape: {exc}"[:200], system=SYSTEM, stream=stream) from exc


class HubSpotClient(TokenClient):
    """One HubSpot API client with throttling, timeouts, retries, token refresh and translated errors."""

    system = SYSTEM
    renew_margin = TOKEN_RENEW_MARGIN
    transport_errors = (urllib3.exceptions.HTTPError,)

    def __init__(
        self,
        settings: HubSpotSettings,
        token: str | None,
        retry: RetrySettings,
        *,
        oauth: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        env: Mapping[str, str] | None = None,
        cache: TokenCache | None = None,
    ) -> None:
        super().__init__(token, oauth, retry, sleep=sleep, cache=cache)
        self.settings = settings
        self._timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        # The SDK's urllib3 reads no proxy from the environment: connectors.http decides it as for
        # every client (HTTPS_PROXY, NO_PROXY), and the SDK's Configuration.proxy carries it.
        self.route = Route.of(SYSTEM, "hubspot.base_url", settings.base_url, env or {})
        token_url = (oauth or {}).get("token_url")
        self._token_route = Route.of(SYSTEM, "hubspot.oauth.token_url", token_url, env or {}) if token_url else None
        self._http = _pool(self._token_route, ssl_context(settings.ca_file, system=SYSTEM))
        self._token = self._initial_token()
        api = HubSpot(
            access_token=self._token,
            host=settings.base_url,
            ssl_ca_cert=str(settings.ca_file) if settings.ca_file else None,
            # retries are ours (tenacity, per error class); urllib3's would re-send POSTs blindly
            retry=urllib3.Retry(total=False),
            **_proxy_config(self.route.proxy),
        )
        self._search = api.crm.objects.search_api
        self._objects = api.crm.objects.basic_api
        self._associations = api.crm.associations.v4.batch_api
        self._owners = api.crm.owners.owners_api
        self._tasks_batch = api.crm.objects.tasks.batch_api
        self._batch = api.crm.objects.batch_api
        self._properties = api.crm.properties.core_api
        self._groups = api.crm.properties.groups_api
        self._apis = (
            self._search,
            self._objects,
            self._associations,
            self._owners,
            self._tasks_batch,
            self._batch,
            self._properties,
            self._groups,
        )
        self.general = SlidingWindow(max(1, math.floor(settings.requests_per_10s * settings.throttle_share)), 10.0)
        # search: HubSpot's 5 per second, spread so that on average search_per_second are sent
        self.search_bucket = SlidingWindow(SEARCH_LIMIT, SEARCH_LIMIT / settings.search_per_second)
        self.calls = 0
        self.search_calls = 0

    def close(self) -> None:
        """Close every API object's connection pool (the SDK only does so when collected)."""
        for api in self._apis:
            api.api_client.rest_client.pool_manager.clear()
            api.api_client.close()
        self._http.clear()

    # -- auth ----------------------------------------------------------------------------------

    def _post_token(self, url: str, form: Mapping[str, str]) -> tuple[int, Mapping[str, Any]]:
        with translated("oauth", route=self._token_route or self.route):
            return self._post_form(url, form)

    def _post_form(self, url: str, form: Mapping[str, str]) -> tuple[int, Mapping[str, Any]]:
        response = self._http.request(
            "POST",
            url,
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=urllib3.Timeout(connect=self._timeout[0], read=self._timeout[1]),
            retries=False,
        )
        try:
            answer = json.loads(response.data or b"{}")
        except ValueError:
            answer = {}
        return response.status, answer if isinstance(answer, dict) else {}

    def _use_token(self, token: str) -> None:
        for api in self._apis:
            api.api_client.configuration.access_token = token

    def _call(self, fn: Callable[[], T], *, stream: str | None, idempotent: bool = True, search: bool = False) -> T:
        """One API call: paced by the buckets, retried on retryable errors, the token renewed or refreshed."""

        def attempt() -> T:
            if search:
                self.search_bucket.acquire()
                self.search_calls += 1
            self.general.acquire()
            self.calls += 1
            with translated(stream, token=self._token, route=self.route):
                return fn()

        return self._authorized(attempt, idempotent=idempotent, stream=stream)

    # -- reads ---------------------------------------------------------------------------------

    def search(
        self, object_type: str, body: Mapping[str, Any], *, stream: str
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One CRM search page: (results as dicts, the next ``after`` or None, total)."""
        request = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(filters=[Filter(**_snake(f)) for f in group["filters"]])
                for group in body.get("filterGroups", [])
            ],
            sorts=body.get("sorts"),
            properties=body.get("properties"),
            limit=body.get("limit"),
            after=body.get("after"),
        )
        page = self._call(
            partial(
                self._search.do_search,
                object_type,
                public_object_search_request=request,
                _request_timeout=self._timeout,
            ),
            stream=stream,
            search=True,
        )
        after = page.paging.next.after if page.paging and page.paging.next else None
        return [r.to_dict() for r in page.results], after, int(page.total or 0)

    def archived(self, object_type: str, *, stream: str) -> Iterator[list[dict[str, Any]]]:
        """Archived records of a type (search never returns them), 100 a page."""
        after: str | None = None
        while True:
            page = self._call(
                partial(
                    self._objects.get_page,
                    object_type,
                    limit=100,
                    after=after,
                    archived=True,
                    _request_timeout=self._timeout,
                ),
                stream=stream,
            )
            yield [r.to_dict() for r in page.results]
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    def associations(
        self, from_type: str, to_type: str, ids: Sequence[str], *, stream: str
    ) -> dict[str, list[tuple[str, list[int]]]]:
        """Associations v4 batch read: from-id → [(to-id, type ids)], ≤ 1,000 ids a call, long lists paged."""
        out: dict[str, list[tuple[str, list[int]]]] = {}
        pending: list[tuple[str, str | None]] = [(i, None) for i in ids]
        while pending:
            chunk, pending = pending[:ASSOCIATIONS_BATCH], pending[ASSOCIATIONS_BATCH:]
            batch = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=i, after=a) for i, a in chunk]
            )
            response = self._call(
                partial(
                    self._associations.get_page,
                    from_type,
                    to_type,
                    batch_input_public_fetch_associations_batch_request=batch,
                    _request_timeout=self._timeout,
                ),
                stream=stream,
            )
            for result in response.results or []:
                from_id = str(result._from.id)
                targets = out.setdefault(from_id, [])
                for target in result.to or []:
                    targets.append((str(target.to_object_id), [t.type_id for t in target.association_types or []]))
                if result.paging and result.paging.next and result.paging.next.after:
                    pending.append((from_id, result.paging.next.after))
        return out

    def owners(self, *, archived: bool) -> Iterator[list[dict[str, Any]]]:
        after: str | None = None
        while True:
            page = self._call(
                partial(
                    self._owners.get_page, limit=500, after=after, archived=archived, _request_timeout=self._timeout
                ),
                stream="hubspot.owners",
            )
            yield [o.to_dict() for o in page.results]
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    # -- writes --------------------------------------------------------------------------------

    def create_tasks(
        self, inputs: Sequence[tuple[Mapping[str, str], str, str]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Batch-create tasks ``(properties, company_id, trace_id)`` (≤ 100), each tied to its company:
        (created, errors). With a trace id on every input a refused one comes back among the
        errors of a 207 (its context names the trace id) while the others are created.

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
            partial(
                self._tasks_batch.create,
                batch_input_simple_public_object_batch_input_for_create=batch,
                _request_timeout=self._timeout,
            ),
            stream="write tasks",
            idempotent=False,
        )
        return _batch_outcome(response)

    def update_batch(
        self, object_type: str, inputs: Sequence[tuple[str, Mapping[str, str], str]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Batch update ``(id, properties, trace_id)`` (≤ 100): (updated, errors). Ids that do not
        exist come back in a 207 error naming them; setting the same values twice is harmless,
        so the call is retried like a read."""
        batch = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=object_id, properties=dict(props), object_write_trace_id=trace_id)
                for object_id, props, trace_id in inputs
            ]
        )
        response = self._call(
            partial(
                self._batch.update,
                object_type,
                batch_input_simple_public_object_batch_input=batch,
                _request_timeout=self._timeout,
            ),
            stream=f"write {object_type}",
        )
        return _batch_outcome(response)

    def read_batch(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str], *, with_history: Sequence[str] = ()
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Batch read by id (≤ 100; ≤ 50 with ``with_history``): (records, errors for missing ids)."""
        request = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=list(properties),
            properties_with_history=list(with_history) or None,
        )
        response = self._call(
            partial(
                self._batch.read,
                object_type,
                batch_read_input_simple_public_object_id=request,
                _request_timeout=self._timeout,
            ),
            stream=f"read {object_type}",
        )
        results, errors = _batch_outcome(response)
        for record in results:  # to_dict() leaves the history entries as models
            history = record.get("properties_with_history") or {}
            for name, entries in history.items():
                history[name] = [e.to_dict() if hasattr(e, "to_dict") else e for e in entries or []]
        return results, errors

    # -- schema --------------------------------------------------------------------------------

    def properties(self, object_type: str) -> list[dict[str, Any]]:
        """Every (live) property definition of an object type: name, type, fieldType, groupName…"""
        response = self._call(
            partial(self._properties.get_all, object_type, archived=False, _request_timeout=self._timeout),
            stream=f"schema {object_type}",
        )
        return [p.to_dict() for p in response.results or []]

    def groups(self, object_type: str) -> list[dict[str, Any]]:
        response = self._call(
            partial(self._groups.get_all, object_type, _request_timeout=self._timeout),
            stream=f"schema {object_type}",
        )
        return [g.to_dict() for g in response.results or []]

    def create_group(self, object_type: str, name: str, label: str) -> bool:
        """Create a property group; False when it exists already (409)."""
        return self._create_once(
            partial(
                self._groups.create,
                object_type,
                PropertyGroupCreate(name=name, label=label),
                _request_timeout=self._timeout,
            ),
            stream=f"schema {object_type}",
        )

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> bool:
        """Create a property (``name``, ``label``, ``type``, ``field_type``, ``group_name``…);
        False when one of that name exists already (409)."""
        return self._create_once(
            partial(self._properties.create, object_type, PropertyCreate(**definition), _request_timeout=self._timeout),
            stream=f"schema {object_type}",
        )

    def _create_once(self, fn: Callable[[], object], *, stream: str) -> bool:
        """A create whose 409 CONFLICT means "already there" (a concurrent setup, or this very
        create retried after its answer was lost): not an error, so it is safe to retry."""

        def attempt() -> bool:
            try:
                fn()
            except PropertiesApiException as exc:
                if getattr(exc, "status", None) == 409:
                    return False
                raise
            return True

        return self._call(attempt, stream=stream)

    def search_all(
        self, object_type: str, filters: Sequence[Mapping[str, Any]], properties: Sequence[str], *, stream: str
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of records matching all ``filters`` (API camelCase), 200 at a time."""
        after: str | None = None
        while True:
            body = {"filterGroups": [{"filters": list(filters)}], "properties": list(properties), "limit": 200}
            if after:
                body["after"] = after
            results, after, _total = self.search(object_type, body, stream=stream)
            yield results
            if not after:
                return


def _proxy_config(proxy: str | None) -> dict[str, Any]:
    """The SDK Configuration's ``proxy`` (and ``proxy_headers``: urllib3 sends no password it
    finds in the proxy URL, so it goes in a Proxy-Authorization header)."""
    if proxy is None:
        return {}
    url = urllib3.util.parse_url(proxy)
    config: dict[str, Any] = {"proxy": url._replace(auth=None).url}
    if url.auth:
        config["proxy_headers"] = urllib3.util.make_headers(proxy_basic_auth=url.auth)
    return config


def _pool(route: Route | None, context: Any) -> urllib3.PoolManager:
    """The token endpoint's pool: through the proxy when its route has one."""
    proxy = _proxy_config(route.proxy if route else None)
    if not proxy:
        return urllib3.PoolManager(ssl_context=context)
    return urllib3.ProxyManager(proxy["proxy"], proxy_headers=proxy.get("proxy_headers"), ssl_context=context)


def _batch_outcome(response: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(results, errors) of a batch response: a 207 carries ``errors`` (StandardError dicts)."""
    results = [r.to_dict() for r in getattr(response, "results", None) or []]
    errors = [e.to_dict() for e in getattr(response, "errors", None) or []]
    return results, errors


def _snake(api_filter: Mapping[str, Any]) -> dict[str, Any]:
    """A search filter in the API's camelCase → the SDK model's keyword arguments."""
    names = {"propertyName": "property_name", "highValue": "high_value"}
    return {names.get(k, k): v for k, v in api_filter.items()}
