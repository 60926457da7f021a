"""Shared retry policy (tenacity, honouring Retry-After) and TLS context for every connector.

Retries key on the error's class (``exc.retryable``), never on message text. A write that is
not idempotent (HubSpot batch create) is retried only on a 429, which the server answers
before doing anything; after a timeout or a 5xx its fate is unknown and the ledger reconciles
it by key on the next run instead.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from sync.errors import RateLimitError, UpsyncError
from sync.settings import RetrySettings

__all__ = ["call_with_retry", "redact", "ssl_context"]

T = TypeVar("T")
log = logging.getLogger("upsync.http")


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system trust store, plus ``ca_file`` when the config names one (a stand-in, a proxy)."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    return ctx


def redact(text: str, *secrets: str, limit: int = 300) -> str:
    """A short excerpt of ``text`` that is safe to log: secrets masked, length capped."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= limit else text[:limit] + "…"


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetrySettings,
    idempotent: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn``, retrying retryable UpsyncErrors per ``policy``; the last error is re-raised."""

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, UpsyncError) or not exc.retryable:
            return False
        return idempotent or isinstance(exc, RateLimitError)

    backoff = wait_exponential_jitter(multiplier=policy.initial_seconds, max=policy.max_seconds)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.give_up_after_seconds)
        return float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("retrying after %s (attempt %d of %d)", exc, state.attempt_number, policy.attempts)

    retrying = Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.give_up_after_seconds),
        wait=wait,
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return retrying(fn)
