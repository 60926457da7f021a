"""Query parameters, instants as the API normalises them, paging cursors and Link headers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from starlette.datastructures import URL
from starlette.requests import Request

from sandbox.usage.errors import invalid_parameter

_CURSOR_VERSION: Final = 1


@lru_cache(maxsize=1 << 17)
def normalise_instant(raw: str) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, or ``None`` if ``raw`` is not ISO-8601.

    Cached: a world's rows share few distinct stamps, and equal stamps then share one string.
    """
    # Fast path for the API's own format (``2026-06-01T01:07:00Z``): millions of rows are keyed at once.
    if len(raw) == 20 and raw[19] == "Z" and raw[10] == "T" and raw[4] == raw[7] == "-" and raw[13] == raw[16] == ":":
        try:
            datetime.fromisoformat(raw)
        except ValueError:
            return None
        return raw[:19] + ".000000Z"
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def display_instant(normalised: str) -> str:
    """Second precision when there are no fractions, as the API always wrote them."""
    return normalised.replace(".000000Z", "Z")


def instant_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    normalised = normalise_instant(raw)
    if normalised is None:
        raise invalid_parameter(name, f"{name} must be an ISO-8601 datetime such as 2026-05-01T00:00:00Z, got {raw!r}")
    return normalised


def int_param(request: Request, name: str, *, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(name, f"{name} must be an integer {bounds}, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise invalid_parameter(name, f"{name} must be {bounds}, got {value}")
    return value


def encode_cursor(key: Sequence[str]) -> str:
    payload = json.dumps({"v": _CURSOR_VERSION, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, size: int, *, instant_first: bool, issued_as: str) -> tuple[str, ...]:
    """The sort key a cursor was issued after; raises ``UsageError`` for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = payload["k"]
        if payload["v"] != _CURSOR_VERSION or len(key) != size or not all(isinstance(part, str) for part in key):
            raise ValueError(key)
        if instant_first and normalise_instant(key[0]) != key[0]:
            raise ValueError(key[0])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise invalid_parameter("cursor", f"cursor is not a {issued_as} this API issued") from None
    return tuple(key)


def link_to(url: URL, rel: str) -> str:
    return f'<{url}>; rel="{rel}"'
