"""The product usage API over httpx: bearer auth, cursor pagination, error mapping.

The only importer of httpx. The API is our own (documented in ``sandbox/usage.py`` and the
README): ``GET /v1/usage/daily?updated_since=…&updated_before=…&limit=…&cursor=…`` answers
``{"data": [...], "next_cursor": "…" | null}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

import httpx

from connectors.base import BoundStream, required_window
from connectors.http import call_with_retry, redact, ssl_context
from connectors.usage.streams import DailyUsage
from sync.errors import AuthError, ConnectorError, RateLimitError, ResponseShapeError, UpstreamError
from sync.records import Window
from sync.settings import RetrySettings, UsageSettings

__all__ = ["VENDOR_ERRORS", "UsageClient", "UsageConnector", "translated"]

T = TypeVar("T")
SYSTEM = "usage"
VENDOR_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, ValueError)


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}Z"


@contextmanager
def translated(stream: str | None, *, token: str = "") -> Iterator[None]:
    """Map httpx exceptions onto upsync's hierarchy (the URL is kept, never the headers)."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        response = exc.response
        status = response.status_code
        try:
            detail = response.json().get("error", {})
        except ValueError:
            detail = {}
        code = str(detail.get("code", "")) if isinstance(detail, dict) else ""
        message = redact(str(detail.get("message", "")) if isinstance(detail, dict) else "", token)
        if status in (401, 403):
            raise AuthError(
                f"{status} {code}", system=SYSTEM, stream=stream, hint="check the token named by usage.token_env"
            ) from exc
        if status == 429:
            retry_after = response.headers.get("Retry-After")
            raise RateLimitError(
                "rate limited (429)",
                system=SYSTEM,
                stream=stream,
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            ) from exc
        if status >= 500:
            raise UpstreamError(f"server error {status}", system=SYSTEM, stream=stream) from exc
        raise ConnectorError(f"{status} {code}: {message}", system=SYSTEM, stream=stream) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError("timed out", system=SYSTEM, stream=stream) from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"request failed ({type(exc).__name__})", system=SYSTEM, stream=stream, hint="check usage.base_url"
        ) from exc
    except ValueError as exc:
        raise ResponseShapeError("response body is not JSON", system=SYSTEM, stream=stream) from exc


class UsageClient:
    def __init__(self, settings: UsageSettings, token: str, retry: RetrySettings, *, transport: Any = None) -> None:
        self.settings = settings
        self.retry = retry
        self._token = token
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(settings.read_timeout_seconds, connect=settings.connect_timeout_seconds),
            verify=ssl_context(settings.ca_file),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, fn: Callable[[], T], *, stream: str) -> T:
        def attempt() -> T:
            with translated(stream, token=self._token):
                return fn()

        return call_with_retry(attempt, policy=self.retry)

    def _get_page(self, params: dict[str, Any]) -> dict[str, Any]:
        response = self._http.get("/v1/usage/daily", params=params)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ValueError("no data list")
        return body

    def daily_pages(self, window: Window, *, stream: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of daily rows updated in ``window``, ascending; follows ``next_cursor``."""
        params: dict[str, Any] = {
            "updated_since": _iso(window.start),
            "updated_before": _iso(window.end),
            "limit": self.settings.page_size,
        }
        seen_cursors: set[str] = set()
        while True:
            body = self._call(partial(self._get_page, dict(params)), stream=stream)
            yield body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return
            if cursor in seen_cursors:
                raise ResponseShapeError("pagination loop: the same next_cursor twice", system=SYSTEM, stream=stream)
            seen_cursors.add(cursor)
            params["cursor"] = cursor


class UsageConnector:
    system = "usage"

    def __init__(self, settings: UsageSettings, token: str, retry: RetrySettings, *, transport: Any = None) -> None:
        self.client = UsageClient(settings, token, retry, transport=transport)
        daily = DailyUsage(lookback=timedelta(seconds=settings.lookback_seconds))
        self.streams = (
            BoundStream(
                name=daily.name,
                spec=daily.spec,
                pages=lambda window: self.client.daily_pages(required_window(window), stream=daily.name),
                to_record=daily.to_record,
            ),
        )

    def close(self) -> None:
        self.client.close()
