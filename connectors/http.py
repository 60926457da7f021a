"""Shared retry policy (tenacity, honouring Retry-After), call meter, TLS context and route (proxy,
and what a failure to connect means) for every connector.

Retries key on the error's class (``exc.retryable``), never on message text. A write that is
not idempotent (HubSpot batch create) is retried only on a 429, which the server answers
before doing anything; after a timeout or a 5xx its fate is unknown and the ledger reconciles
it by key on the next run instead.

Every attempt :func:`call_with_retry` makes, retried ones included, is counted per system and
stream in :data:`METER`: the one place that sees them all, so the write summary and ``/metrics``
count the calls really sent (and the time they and their backoff took), not the batches planned.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from connectors.settings import RetrySettings
from core.errors import (
    ConfigError,
    QuotaExhaustedError,
    RateLimitError,
    RefusedError,
    ShutdownError,
    UnreachableError,
    UpsyncError,
)

__all__ = [
    "METER",
    "ApiBudget",
    "CallCount",
    "CallMeter",
    "Route",
    "SlidingWindow",
    "call_with_retry",
    "proxy_for",
    "redact",
    "ssl_context",
]

T = TypeVar("T")
log = logging.getLogger("upsync.http")


def trusted_ca(system: str, ca_file: Path | None) -> Path | None:
    """``ca_file`` once it is known to be a readable CA bundle: an operator's wrong path is a
    configuration error naming the key, not a TLS failure in the middle of a run."""
    if ca_file is None:
        return None
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{system}.ca_file: cannot read a CA bundle from {ca_file} ({exc.strerror or exc})",
            hint="point ca_file at a PEM file of CA certificates, or leave it out to trust the system's CAs",
        ) from None
    return ca_file


def ssl_context(ca_file: Path | None, *, system: str = "") -> ssl.SSLContext:
    """The system trust store, plus ``ca_file`` when the config names one (a stand-in, a proxy)."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(trusted_ca(system, ca_file)))
    return ctx


def _env(env: Mapping[str, str], name: str) -> str:
    """``name`` from the environment, the lowercase spelling first (as curl reads them)."""
    return (env.get(name.lower()) or env.get(name.upper()) or "").strip()


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy a call to ``url`` goes through, as curl decides it: ``HTTPS_PROXY`` (``HTTP_PROXY``
    for an http:// URL, ``ALL_PROXY`` for either), unless ``NO_PROXY`` names the host (a suffix of it,
    ``*``, or a network such as ``10.0.0.0/8``). A proxy without a scheme is an http:// one."""
    parts = urlsplit(url)
    proxy = _env(env, f"{parts.scheme}_proxy") or _env(env, "all_proxy")
    if not proxy or _bypassed(parts.hostname or "", parts.netloc.rsplit("@", 1)[-1], _env(env, "no_proxy")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypassed(host: str, netloc: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names the host: ``*``, the host or a domain it is in (``.example.com``
    and ``example.com`` alike), ``host:port``, or a network holding its address."""
    host, netloc = host.lower(), netloc.lower()
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    for entry in no_proxy.lower().split(","):
        name = entry.strip().lstrip(".")
        if name == "*" or name in (host, netloc) or (name and host.endswith("." + name)):
            return True
        if address is not None and "/" in name:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                continue
    return False


def shown_proxy(proxy: str) -> str:
    """A proxy URL fit for a message: its user and password (if any) masked."""
    parts = urlsplit(proxy)
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl() if "@" in parts.netloc else proxy


PROXY_HINT = "check HTTPS_PROXY (or https_proxy) names a proxy that is up; list hosts reached directly in NO_PROXY"


@dataclass(frozen=True, slots=True)
class Route:
    """How a client reaches its system: the configured URL (and the key naming it), and the proxy
    in between when the environment names one. Knowing the route, a failure to connect becomes a
    message about the thing that failed (the host, its certificate, the proxy) and what to fix."""

    system: str
    key: str
    url: str
    proxy: str | None = None

    @classmethod
    def of(cls, system: str, key: str, url: str, env: Mapping[str, str]) -> Route:
        return cls(system, key, url, proxy_for(url, env))

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.rsplit("@", 1)[-1] or self.url

    def failure(
        self, exc: BaseException, stream: str | None, *, via_proxy: bool = False, detail: str = ""
    ) -> UnreachableError | None:
        """What ``exc`` (a vendor's exception, with the socket or TLS error it wraps) says about the
        route, or None when it is no failure to connect (a reset, a timeout: retried as usual).
        ``via_proxy``: the vendor's own exception says the proxy failed; ``detail`` its answer."""
        chain = list(_chain(exc))
        untrusted = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        if untrusted is not None:
            why = untrusted.verify_message or untrusted.reason or "verification failed"
            return UnreachableError(
                f"the TLS certificate of {self.host} is not trusted ({why})",
                hint=f"set {self.system}.ca_file to the CA that issued it (behind a TLS-inspecting proxy: its CA)",
                system=self.system,
                stream=stream,
            )
        refused = any(isinstance(e, ConnectionRefusedError) for e in chain)
        unresolved = any(isinstance(e, socket.gaierror) for e in chain)
        if self.proxy is not None and (via_proxy or refused or unresolved):
            shown = shown_proxy(self.proxy)
            if refused or unresolved:
                what = "refused the connection" if refused else "does not resolve"
                return (RefusedError if refused else UnreachableError)(
                    f"the proxy {shown} {what} (HTTPS_PROXY, on the way to {self.host})",
                    hint=PROXY_HINT,
                    system=self.system,
                    stream=stream,
                )
            detail = detail or next((_tunnel_answer(e) for e in chain if _tunnel_answer(e)), "")
            answer = f" ({detail})" if detail else ""
            return UnreachableError(
                f"the proxy {shown} would not open a tunnel to {self.host}{answer}",
                hint=PROXY_HINT,
                system=self.system,
                stream=stream,
            )
        if unresolved:
            return UnreachableError(
                f"the host of {self.key} ({self.host}) does not resolve",
                hint=f"check the host name in {self.key} and this machine's DNS; "
                "where only a proxy reaches the internet, set HTTPS_PROXY",
                system=self.system,
                stream=stream,
            )
        if refused:
            return RefusedError(
                f"{self.host} refused the connection",
                hint=f"check the host and port in {self.key}, and that the service is up",
                system=self.system,
                stream=stream,
            )
        tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
        if tls is not None:
            return UnreachableError(
                f"the TLS handshake with {self.host} failed ({tls.reason or type(tls).__name__})",
                hint=f"check that {self.key} is the service's https:// address; behind a proxy, check HTTPS_PROXY",
                system=self.system,
                stream=stream,
            )
        return None


def _tunnel_answer(exc: BaseException) -> str:
    """The proxy's answer to CONNECT, as http.client reports a refused tunnel (requests, urllib3)."""
    prefix = "Tunnel connection failed: "
    text = str(exc) if isinstance(exc, OSError) else ""
    return text.removeprefix(prefix).strip()[:80] if text.startswith(prefix) else ""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: causes, contexts, and the ones vendors keep in
    ``reason`` (urllib3), ``original_error`` or their arguments (requests)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            getattr(current, "original_error", None),
            *current.args,
        )
        todo.extend(e for e in linked if isinstance(e, BaseException))


def redact(text: str, *secrets: str, limit: int = 300) -> str:
    """A short excerpt of ``text`` that is safe to log: secrets masked, length capped."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= limit else text[:limit] + "…"


def interruptible_sleep(stop: threading.Event, *, system: str) -> Callable[[float], None]:
    """A backoff sleep that ends at once, with :class:`ShutdownError`, when ``stop`` is set."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise ShutdownError("stopping: the call was not retried", system=system, hint="the next start resumes")

    return sleep


@dataclass(slots=True)
class CallCount:
    """What one system and stream's calls came to: every attempt, and how they went."""

    attempts: int = 0  # every request sent, retries included
    retried: int = 0  # attempts that were a retry of a failed one
    errors: int = 0  # attempts that failed (a 429 included)
    rate_limited: int = 0  # attempts answered 429 (or the vendor's equivalent)
    seconds: float = 0.0  # time spent in the attempts
    waited: float = 0.0  # time spent in backoff between them

    def __add__(self, other: CallCount) -> CallCount:
        return CallCount(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(CallCount)))

    def __sub__(self, other: CallCount) -> CallCount:
        return CallCount(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(CallCount)))


class CallMeter:
    """Counts of every API attempt by (system, stream); thread-safe, only ever growing.

    Readers take a :meth:`snapshot` and subtract an earlier one: a cycle's share is the
    difference, while ``/metrics`` exposes the running totals as Prometheus counters.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], CallCount] = {}

    def _count(self, system: str, stream: str | None) -> CallCount:
        return self._counts.setdefault((system, stream or ""), CallCount())

    def attempted(
        self, system: str, stream: str | None, *, seconds: float, retry: bool, error: BaseException | None
    ) -> None:
        with self._lock:
            count = self._count(system, stream)
            count.attempts += 1
            count.retried += retry
            count.seconds += seconds
            if error is not None:
                count.errors += 1
                count.rate_limited += isinstance(error, RateLimitError)

    def waited(self, system: str, stream: str | None, seconds: float) -> None:
        with self._lock:
            self._count(system, stream).waited += seconds

    def snapshot(self) -> dict[tuple[str, str], CallCount]:
        """A copy of every (system, stream)'s counts so far."""
        with self._lock:
            return {key: count + CallCount() for key, count in self._counts.items()}

    def total(self, system: str, snapshot: Mapping[tuple[str, str], CallCount] | None = None) -> CallCount:
        """One system's counts over all its streams (now, or in ``snapshot``)."""
        counts = self.snapshot() if snapshot is None else snapshot
        total = CallCount()
        for (name, _), count in counts.items():
            if name == system:
                total = total + count
        return total


METER = CallMeter()
"""The process's call meter: every connector's calls go through :func:`call_with_retry`."""


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetrySettings,
    idempotent: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    system: str = "",
    stream: str | None = None,
    meter: CallMeter = METER,
) -> T:
    """Run ``fn``, retrying retryable UpsyncErrors per ``policy``; the last error is re-raised.
    Each attempt and each backoff is counted in ``meter`` under ``system`` and ``stream``."""
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        began = time.monotonic()
        error: BaseException | None = None
        try:
            return fn()
        except BaseException as exc:
            error = exc
            raise
        finally:
            meter.attempted(system, stream, seconds=time.monotonic() - began, retry=attempts > 1, error=error)

    def backoff_sleep(seconds: float) -> None:
        began = time.monotonic()
        try:
            sleep(seconds)
        finally:
            meter.waited(system, stream, time.monotonic() - began)

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
        log.warning(
            "retrying after %s (attempt %d of %d)",
            exc,
            state.attempt_number,
            policy.attempts,
            extra={"system": system or None, "stream": stream},
        )

    retrying = Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.give_up_after_seconds),
        wait=wait,
        sleep=backoff_sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return retrying(attempt)


class ApiBudget:
    """One CRM's API allowance for a run, shared by reads and writes.

    Reads stop once this run has used ``run_share`` of the daily allocation (less the share
    reserved for writes, which reach reps), or once the org as a whole has used ``org_share`` of
    it: the cursor is kept and the next scheduled run resumes. ``observe`` feeds the org-wide
    count from the API's own header (Salesforce ``Sforce-Limit-Info``).
    """

    def __init__(
        self,
        *,
        system: str,
        run_share: float = 0.25,
        org_share: float = 0.80,
        write_reserve: float = 0.10,
        daily_total: int | None = None,
    ) -> None:
        self.system = system
        self.run_share = run_share
        self.org_share = org_share
        self.write_reserve = write_reserve
        self.daily_total = daily_total
        self.org_used: int | None = None
        self.calls = 0

    def observe(self, *, used: int, total: int) -> None:
        self.org_used = used
        self.daily_total = total

    def charge(self, *, write: bool, stream: str | None = None) -> None:
        """Count one call about to be made; raise QuotaExhaustedError when it would overspend."""
        if self.daily_total:
            run_limit = self.run_share * self.daily_total
            read_limit = run_limit * (1 - self.write_reserve)
            if self.org_used is not None and self.org_used >= self.org_share * self.daily_total:
                raise QuotaExhaustedError(
                    f"org has used {self.org_used} of {self.daily_total} daily API calls (over {self.org_share:.0%})",
                    system=self.system,
                    stream=stream,
                    hint="upsync resumes at the next scheduled run; raise org_quota_share to allow more",
                )
            limit = run_limit if write else read_limit
            if self.calls >= limit:
                raise QuotaExhaustedError(
                    f"this run has used {self.calls} API calls, its share of the daily {self.daily_total}",
                    system=self.system,
                    stream=stream,
                    hint="upsync resumes at the next scheduled run; raise run_quota_share to allow more",
                )
        self.calls += 1


class SlidingWindow:
    """Client-side throttle: at most ``limit`` calls in any ``window`` seconds.

    HubSpot counts requests in rolling windows (100 per 10 s, search 5 per 1 s), so a limiter of
    the same shape is exact: it never sends the call that would be refused, and never waits
    longer than the window requires. (A token bucket admits its burst plus a window's refill in
    one window, overshooting the same limit.) Waiting here is cheaper than a 429: HubSpot counts
    errors against the app, and 429s inside the 10-second window fail even with retries.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window positive")
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0

    def acquire(self) -> None:
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            wait = self._sent[0] + self.window - now
            if wait > 0:
                self.waited += wait
                self._sleep(wait)
            self._sent.popleft()
            now = max(now, self._clock())
        self._sent.append(now)
