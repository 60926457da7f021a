"""Alert webhooks over httpx: one small JSON POST, a short timeout, retried on a 429, a 5xx or a timeout.

A second importer of httpx beside the usage client, on purpose: the receiver is its own outside
system (Slack, PagerDuty, an ops gateway) with its own errors, and each system's errors are
translated at its own boundary. A webhook URL often carries a token in its path, so no message
raised here names it: errors say the status, never the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from connectors.http import call_with_retry, ssl_context
from connectors.settings import RetrySettings
from core.errors import ConnectorError, RateLimitError, UpstreamError

__all__ = ["SYSTEM", "post_json"]

SYSTEM = "alerts"


@contextmanager
def translated() -> Iterator[None]:
    """Map httpx exceptions onto upsync's hierarchy, without the URL."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status == 429:
            retry_after = exc.response.headers.get("Retry-After", "")
            raise RateLimitError(
                "webhook rate limited (429)",
                system=SYSTEM,
                retry_after=float(retry_after) if retry_after.isdigit() else None,
            ) from None
        if status >= 500:
            raise UpstreamError(f"webhook answered {status}", system=SYSTEM) from None
        raise ConnectorError(
            f"webhook refused the alert ({status})", system=SYSTEM, hint="check the URL named in [alerts]"
        ) from None
    except httpx.TimeoutException:
        raise UpstreamError("webhook timed out", system=SYSTEM) from None
    except httpx.HTTPError as exc:
        raise UpstreamError(f"webhook unreachable ({type(exc).__name__})", system=SYSTEM) from None


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout_seconds: float,
    policy: RetrySettings,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as JSON to ``url``; the receiver's status once it accepts it (2xx).

    Raises a ConnectorError once the retries are spent (each attempt and wait is counted under
    system ``alerts`` in the call meter, as every connector's are). ``from None`` throughout:
    httpx's own exceptions name the URL, and a chained one would print it with the traceback.
    """
    timeout = httpx.Timeout(timeout_seconds)
    with httpx.Client(timeout=timeout, verify=ssl_context(None), follow_redirects=False) as client:

        def attempt() -> int:
            with translated():
                response = client.post(url, json=dict(payload))
                response.raise_for_status()
            return response.status_code

        return call_with_retry(attempt, policy=policy, sleep=sleep, system=SYSTEM, stream="webhook")
