"""The product usage API over httpx: configurable auth and pagination, error mapping, file import.

With ``connectors/usage/rest/``, one of two importers of httpx (with ``connectors/webhook.py``).
Every customer's usage API differs, so ``[usage]`` chooses: auth ``bearer`` (a token),
``api_key`` (a header) or ``oauth2`` (client credentials, refreshed on expiry or on a 401, as
an ``httpx.Auth`` flow); pagination by ``cursor`` (a body field), ``next_link`` (a URL in the
body), ``page``, ``offset`` or ``link_header`` (RFC 8288). The bundled sandbox serves each (see
``sandbox/usage/__init__.py``). An API of another shape is declared as
``[usage.resources.<name>]`` (``connectors/usage/rest/``).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

from connectors.base import Page, Stream, Unchanged, to_page
from connectors.http import Route, call_with_retry, redact, ssl_context
from connectors.oauth import renew_delay
from connectors.settings import RetrySettings
from connectors.usage.rest.errors import error_text, retry_after_seconds
from connectors.usage.rest.resources import RestDaily, RestSource, RestWorkspaces
from connectors.usage.rest.settings import DAILY, WORKSPACES
from connectors.usage.settings import UsageSettings
from connectors.usage.streams import DailyUsage, Workspaces, get_path
from core.clock import system_clock
from core.config import secret
from core.errors import AuthError, ConnectorError, RateLimitError, ResponseShapeError, UpstreamError
from core.records import CursorSpec, Deletion, Window

__all__ = ["ClientCredentials", "UsageClient", "UsageConnector", "read_usage_file", "translated"]

T = TypeVar("T")
SYSTEM = "usage"
TOKEN_LIFETIME = 3600.0
"""Assumed when a token answer has no ``expires_in`` (RFC 6749 §5.1 makes it optional)."""
TOKEN_RENEW_MARGIN = 60.0
"""A token is renewed this many seconds before it expires, so a request never carries a dying one."""


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}Z"


def _server_now(response: httpx.Response) -> datetime:
    """The server's clock (its ``Date`` header), which a ``Retry-After`` date is measured on; else ours."""
    try:
        at = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return system_clock()
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


API = Route(SYSTEM, "usage.base_url", "the usage API")
"""The route named in errors when a caller knows no better (the client passes its own)."""


@contextmanager
def translated(stream: str | None, *, token: str = "", route: Route = API) -> Iterator[None]:
    """Map httpx exceptions onto upsync's hierarchy (the URL is kept, never the headers)."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        response = exc.response
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        code, text = error_text(body)
        message = redact(text, token)
        said = f"{code}: {message}" if code and message else code or message
        if status in (401, 403):
            raise AuthError(
                f"{status} {said}".rstrip(),
                system=SYSTEM,
                stream=stream,
                hint="check the credentials named in [usage]",
            ) from exc
        if status == 429:
            raise RateLimitError(
                f"rate limited (429){': ' + message if message else ''}",
                system=SYSTEM,
                stream=stream,
                retry_after=retry_after_seconds(response.headers.get("Retry-After"), now=_server_now(response)),
            ) from exc
        if status >= 500:
            raise UpstreamError(f"server error {status}", system=SYSTEM, stream=stream) from exc
        raise ConnectorError(f"{status} {said}".rstrip(), system=SYSTEM, stream=stream) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError("timed out", system=SYSTEM, stream=stream) from exc
    except httpx.HTTPError as exc:
        proxy = isinstance(exc, httpx.ProxyError)  # the proxy answered CONNECT with an error: "403 Forbidden"
        failure = route.failure(exc, stream, via_proxy=proxy, detail=str(exc)[:80] if proxy else "")
        if failure is not None:
            raise failure from exc
        raise UpstreamError(
            f"request failed ({type(exc).__name__})", system=SYSTEM, stream=stream, hint="check usage.base_url"
        ) from exc
    except ValueError as exc:
        raise ResponseShapeError(f"unexpected response: {exc}"[:200], system=SYSTEM, stream=stream) from exc


class ClientCredentials(httpx.Auth):
    """OAuth 2.0 client credentials (RFC 6749 §4.4) as an httpx auth flow (sans-I/O).

    Fetches a token before the first request and when it is about to expire, and retries a
    request once with a fresh token after a 401.
    """

    requires_response_body = True

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.token: str | None = None
        self.expires_at = 0.0

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
        )

    def _take(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            response.read()
            raise httpx.HTTPStatusError("token request refused", request=response.request, response=response)
        body = response.json()
        self.token = str(body["access_token"])
        self.expires_at = self.clock() + (renew_delay(body, lifetime=TOKEN_LIFETIME, margin=TOKEN_RENEW_MARGIN) or 0.0)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token is None or self.clock() >= self.expires_at:
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


class UsageClient:
    def __init__(
        self,
        settings: UsageSettings,
        env: Mapping[str, str],
        retry: RetrySettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self._sleep = sleep
        self.route = Route.of(SYSTEM, "usage.base_url", settings.base_url, env)
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        self._secret = secret(env, settings.token_env)
        if settings.auth == "bearer":
            headers["Authorization"] = f"Bearer {self._secret}"
        elif settings.auth == "api_key":
            headers[settings.api_key_header] = self._secret
        else:
            oauth = settings.oauth
            if oauth is None:
                raise AuthError(
                    "usage.auth = 'oauth2' needs a [usage.oauth] section", system=SYSTEM, hint="add [usage.oauth]"
                )
            form = oauth.form(env, f"{settings.base_url}/oauth/token")
            self._secret = form.get("client_secret", "")
            auth = ClientCredentials(form["token_url"], form["client_id"], form.get("client_secret", ""))
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(settings.read_timeout_seconds, connect=settings.connect_timeout_seconds),
            verify=ssl_context(settings.ca_file, system=SYSTEM),
            transport=transport,
            # httpx reads HTTPS_PROXY, ALL_PROXY and NO_PROXY itself, as connectors.http does for the
            # CRM clients (self.route names that proxy in errors); the CA stays the configured one
            # (verify is a context), and httpx reads no ~/.netrc unless asked.
            trust_env=True,
        )
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    def _call(self, fn: Callable[[], T], *, stream: str) -> T:
        def attempt() -> T:
            self.calls += 1
            with translated(stream, token=self._secret, route=self.route):
                return fn()

        return call_with_retry(attempt, policy=self.retry, sleep=self._sleep, system=SYSTEM, stream=stream)

    def _get(self, url: str, params: Mapping[str, Any] | None) -> httpx.Response:
        response = self._http.get(url, params=dict(params) if params is not None else None)
        response.raise_for_status()
        return response

    def get(self, url: str, params: Mapping[str, Any] | None, *, stream: str) -> httpx.Response:
        """One GET through the retry policy (counted in ``calls``), its errors translated."""
        return self._call(partial(self._get, url, dict(params) if params is not None else None), stream=stream)

    def pages(self, path: str, params: Mapping[str, Any], items_field: str, *, stream: str) -> Iterator[list[Any]]:
        """Every page of a list endpoint in the configured pagination style."""
        s = self.settings
        style = s.pagination
        query: dict[str, Any] | None = dict(params)
        url = path
        page_no, offset = 1, 0
        seen: set[str] = set()
        while True:
            if query is not None:
                if style == "page":
                    query[s.page_param] = page_no
                elif style == "offset":
                    query[s.offset_param] = offset
            response = self._call(partial(self._get, url, query), stream=stream)
            body = response.json()
            items = get_path(body, items_field) if items_field else body
            if not isinstance(items, list):
                raise ResponseShapeError(f"no list at {items_field!r} in the response", system=SYSTEM, stream=stream)
            yield items
            if not items:
                return
            next_url: str | None = None
            if style == "cursor":
                cursor = get_path(body, s.next_cursor_field)
                if not cursor:
                    return
                assert query is not None
                query[s.cursor_param] = cursor
                marker = str(cursor)
            elif style == "next_link":
                next_url = get_path(body, s.next_link_field)
                marker = str(next_url)
            elif style == "link_header":
                next_url = response.links.get("next", {}).get("url")
                marker = str(next_url)
            elif style == "page":
                total_pages = get_path(body, s.total_pages_field)
                if total_pages is not None and page_no >= int(total_pages):
                    return
                page_no += 1
                marker = str(page_no)
            else:
                offset += len(items)
                total = get_path(body, s.total_field)
                if total is not None and offset >= int(total):
                    return
                marker = str(offset)
            if style in ("next_link", "link_header"):
                if not next_url:
                    return
                url, query = str(next_url), None  # the link carries every parameter
            if marker in seen:
                raise ResponseShapeError("pagination loop: the same next page twice", system=SYSTEM, stream=stream)
            seen.add(marker)


class _DailyReader:
    def __init__(self, client: UsageClient, decl: DailyUsage) -> None:
        self.client = client
        self.decl = decl

    name = DailyUsage.name
    kind = DailyUsage.kind

    @property
    def spec(self) -> CursorSpec:
        return self.decl.spec

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        if window is None:
            raise ValueError("usage.daily is incremental: it needs a window")
        s = self.client.settings
        params: dict[str, Any] = {s.since_param: _iso(window.start), s.limit_param: s.page_size}
        if s.until_param:
            params[s.until_param] = _iso(window.end)
        for items in self.client.pages(s.path, params, s.items_field, stream=self.name):
            page = to_page(items, self.decl.to_record, self.name)
            if not s.until_param:  # the API cannot bound the window: drop what is past the signpost
                page = Page(
                    records=[r for r in page.records if r.cursor_value < window.end],
                    problems=page.problems,
                    checkpoint=page.checkpoint,
                )
            yield page

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None


class _WorkspaceReader:
    def __init__(self, client: UsageClient, path: str) -> None:
        self.client = client
        self.path = path
        self.decl = Workspaces()

    name = Workspaces.name
    kind = Workspaces.kind
    spec = None

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        s = self.client.settings
        for items in self.client.pages(
            self.path, {s.limit_param: s.page_size}, s.workspaces_items_field, stream=self.name
        ):
            yield to_page(items, self.decl.to_record, self.name)

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None


class UsageConnector:
    system = "usage"

    def __init__(
        self,
        settings: UsageSettings,
        env: Mapping[str, str],
        retry: RetrySettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = UsageClient(settings, env, retry, transport=transport, sleep=sleep)
        daily = DailyUsage(fields=settings.fields, lookback=timedelta(seconds=settings.lookback_seconds))
        readers: list[Stream] = []
        resources = settings.resources
        source = RestSource(self.client, resources)
        if WORKSPACES in resources:
            keep = DAILY in resources and resources[DAILY].parent == WORKSPACES
            readers.append(RestWorkspaces(source, keep=keep))
        elif settings.workspaces_path:
            readers.append(_WorkspaceReader(self.client, settings.workspaces_path))
        readers.append(
            RestDaily(source, lookback=daily.lookback) if DAILY in resources else _DailyReader(self.client, daily)
        )
        self.streams: tuple[Stream, ...] = tuple(readers)

    def close(self) -> None:
        self.client.close()


def read_usage_file(path: Path, settings: UsageSettings, *, batch: int = 5000) -> Iterator[Page]:
    """Pages of usage records from a historical export: NDJSON (one item per line, read with the
    ``[usage.fields]`` mapping) or CSV (columns named as the canonical metrics; maps as JSON text).
    A line that cannot be read (not UTF-8, not JSON, a value that is no finite number…) is named
    ``file:line`` with the reason in the page's problems; the other lines are read all the same."""
    decl = DailyUsage(fields=settings.fields)
    csv_decl = DailyUsage()
    suffix = path.suffix.lower()
    # A stray byte must cost its line, not the file: undecodable bytes are kept as surrogates and
    # the line holding one is reported. utf-8-sig: a spreadsheet's export starts with a BOM.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        if suffix == ".csv":
            table = csv.DictReader(handle)
            rows: Iterator[tuple[int, Any]] = ((table.line_num, row) for row in table)
            reader = csv_decl
        elif suffix in (".ndjson", ".jsonl", ".json"):
            rows = ((i + 1, line) for i, line in enumerate(handle) if line.strip())
            reader = decl
        else:
            raise ConnectorError(
                f"cannot import {path.name}: unknown format", system=SYSTEM, hint="use a .csv or .ndjson export"
            )
        records, problems = [], []
        for line_no, raw in rows:
            try:
                _check_utf8(raw)
                item = json.loads(raw) if isinstance(raw, str) else raw
                records.append(reader.to_record(item))
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                problems.append(f"{path.name}:{line_no}: {type(exc).__name__}: {exc}")
            if len(records) >= batch:
                yield Page(records=records, problems=problems)
                records, problems = [], []
        yield Page(records=records, problems=problems)


def _check_utf8(raw: str | Mapping[str | None, Any]) -> None:
    """ValueError naming the first byte of a line (or CSV row) that is not UTF-8."""
    texts = [raw] if isinstance(raw, str) else [str(v) for kv in raw.items() for v in kv]
    for text in texts:
        for column, char in enumerate(text, start=1):
            if "\udc80" <= char <= "\udcff":
                raise ValueError(f"byte 0x{ord(char) - 0xDC00:02x} is not UTF-8 (column {column})")
