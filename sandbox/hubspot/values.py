"""Property values as HubSpot keeps them: instants, numbers and text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from sandbox.world import hs_time

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS: Final = -30_610_224_000_000  # 1000-01-01T00:00:00.000Z and
MAX_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the instants hs_time prints in 24 characters

INT_RE: Final = re.compile(r"-?\d+")
TOKEN_SPLIT: Final = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=1 << 20)
def instant_ms(raw: str) -> int | None:
    """Epoch ms from an epoch-ms string, an ISO-8601 datetime, or an ISO date (midnight UTC)."""
    text = raw.strip()
    if not text:
        return None
    if INT_RE.fullmatch(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - EPOCH) // timedelta(milliseconds=1)


@lru_cache(maxsize=1 << 20)
def parse_number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def ms_to_iso(ms: int) -> str:
    return hs_time(EPOCH + timedelta(milliseconds=ms))


def to_text(value: Any) -> str:
    """HubSpot keeps every property value as a string; ``null`` clears it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
