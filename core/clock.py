"""The one clock: the only place that reads the system's time; tests and ``--as-of`` fix it.

Every time-dependent step takes ``as_of`` (or a :data:`Clock`) from its caller, so a cycle can be
replayed as of any moment and a test runs the same on any day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone

from core.errors import ConfigError

__all__ = ["Clock", "fixed_clock", "make_clock", "parse_instant", "system_clock"]

Clock = Callable[[], datetime]
"""Where every time-dependent step takes the current moment from: the system clock, or ``--as-of``."""


def system_clock() -> datetime:
    """Now, tz-aware UTC."""
    return datetime.now(timezone.utc)


def fixed_clock(at: datetime) -> Clock:
    """A clock that always answers ``at``."""
    return lambda: at


def parse_instant(text: str, *, what: str = "--as-of") -> datetime:
    """An ISO-8601 date or date-time as tz-aware UTC (naive values are taken as UTC)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        try:
            at = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise ConfigError(
                f"{what} {text!r} is not an ISO-8601 date or datetime", hint="e.g. 2026-06-01T12:00Z"
            ) from None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def make_clock(as_of: str | None) -> Clock:
    """The system clock, or one fixed at ``as_of`` (``--as-of``)."""
    return system_clock if as_of is None else fixed_clock(parse_instant(as_of))
