"""Rate limits (developers.hubspot.com/docs/api/usage-details): the policies, counters and headers."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

Policy = Literal["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"]
_POLICIES: Final[frozenset[Policy]] = frozenset({"TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"})


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSpotLimits:
    """The account's API limits; set one on ``app.state.limits`` to enforce them.

    ``None`` for a limit leaves that policy unenforced. The defaults are the Free/Starter
    private-app tier: 100 requests per rolling 10 s, search 5 per second (its own bucket: search
    requests do not use the general one), 250,000 per day (both kinds count).

    ``retry_after`` decides the ``Retry-After`` header of a 429, because HubSpot sends one on some
    429s and not on others and a client must cope with both: ``None`` sends none, a number sends
    that many seconds, ``"window"`` sends the whole seconds until the refused policy admits a
    request again (the rolling window frees a slot, or the next day starts). ``retry_after_on``
    limits it to some policies (say, only ``{"SECONDLY"}``).
    """

    per_10s: int | None = 100
    search_per_s: int | None = 5
    daily: int | None = 250_000
    retry_after: int | Literal["window"] | None = None
    retry_after_on: frozenset[Policy] = _POLICIES


_DISPLAY_LIMITS: Final = HubSpotLimits()


@dataclass(frozen=True, slots=True)
class _Admission:
    """The limiter's answer: the policy that refused (or ``None``), the headers, the seconds to wait."""

    refused: Policy | None
    headers: dict[str, str]
    wait: float = 0.0


class RateCounters:
    """Sliding windows of admitted requests on real monotonic time, and today's total.

    Windows: the general rolling 10 s (and its last second, for the ``Secondly`` headers) and the
    search 1 s bucket. Wall time, not ``world.now()``, because benchmarks measure real throttling.
    The day is the world's day (``today``), so ``Daily-Remaining`` resets at the sandbox's midnight.
    Requests refused with 429 are not counted, so a client that backs off recovers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._general: deque[float] = deque()
        self._general_1s: deque[float] = deque()
        self._search: deque[float] = deque()
        self._daily = 0
        self._day: date | None = None

    def reset(self) -> None:
        """Forget every admitted request (windows and today's count)."""
        with self._lock:
            self._general.clear()
            self._general_1s.clear()
            self._search.clear()
            self._daily = 0

    def consume_daily(self, requests: int) -> None:
        """Count ``requests`` more against today's quota, as if another integration had made them.

        How a test brings the account to its ``DAILY`` limit without making 250,000 calls.
        """
        with self._lock:
            self._daily += requests

    def admit(
        self,
        limits: HubSpotLimits | None,
        *,
        search: bool,
        today: date,
        count: bool = True,
        seconds_to_midnight: float = 0.0,
    ) -> _Admission:
        """Count one request unless it is over an enforced limit; return the refusal and headers.

        ``count=False`` only reports the headers (for requests refused before the limiter, e.g. 401).
        """
        with self._lock:
            now = self._clock()
            for window, span in ((self._general, 10.0), (self._general_1s, 1.0), (self._search, 1.0)):
                while window and window[0] <= now - span:
                    window.popleft()
            if self._day != today:
                if self._day is not None:  # a new day (the first request only dates what was consumed)
                    self._daily = 0
                self._day = today
            if not count:
                return _Admission(None, self._headers(limits, search=search))
            refused: Policy | None = None
            wait = 0.0
            if limits is not None:
                if limits.daily is not None and self._daily >= limits.daily:
                    refused, wait = "DAILY", seconds_to_midnight
                elif search and limits.search_per_s is not None and len(self._search) >= limits.search_per_s:
                    refused = "SECONDLY"
                    wait = self._search[-limits.search_per_s] + 1.0 - now if limits.search_per_s else 1.0
                elif not search and limits.per_10s is not None and len(self._general) >= limits.per_10s:
                    refused = "TEN_SECONDLY_ROLLING"
                    wait = self._general[-limits.per_10s] + 10.0 - now if limits.per_10s else 10.0
            if refused is None:
                self._daily += 1
                if search:
                    self._search.append(now)
                else:
                    self._general.append(now)
                    self._general_1s.append(now)
            return _Admission(refused, self._headers(limits, search=search), max(0.0, wait))

    def _headers(self, limits: HubSpotLimits | None, *, search: bool) -> dict[str, str]:
        eff = limits or _DISPLAY_LIMITS
        per_10s = eff.per_10s if eff.per_10s is not None else _DISPLAY_LIMITS.per_10s or 100
        daily = eff.daily if eff.daily is not None else _DISPLAY_LIMITS.daily or 250_000
        if search:
            secondly = eff.search_per_s if eff.search_per_s is not None else _DISPLAY_LIMITS.search_per_s or 5
            in_second = len(self._search)
        else:
            secondly = max(1, per_10s // 10)
            in_second = len(self._general_1s)
        return {
            "X-HubSpot-RateLimit-Daily": str(daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - self._daily)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, per_10s - len(self._general))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - in_second)),
        }


RATE_MESSAGES: Final[dict[Policy, str]] = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def retry_after_header(limits: HubSpotLimits, policy: Policy, wait: float) -> str | None:
    if limits.retry_after is None or policy not in limits.retry_after_on:
        return None
    if limits.retry_after == "window":
        return str(max(1, math.ceil(wait)))
    return str(limits.retry_after)
