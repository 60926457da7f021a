"""The per-second token bucket behind ``rate_limit_per_second``."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """A token bucket holding one second's worth of requests (at least one)."""

    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.capacity = max(1.0, per_second)
        self.tokens = self.capacity
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> float:
        """0 if a request may pass now (and count it), else the seconds until one may."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate
