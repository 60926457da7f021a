"""What an API's error answer says, whatever its shape, and when it may be asked again. Pure.

APIs put their error text in many places: ``{"message": …}``, ``{"detail": …}`` (RFC 9457
problem details, Django REST framework), ``{"error": "…"}`` or ``{"error": {"code", "message" |
"detail" | "description"}}``, ``{"error_description": …}`` (OAuth 2.0, RFC 6749 §5.2) and
``{"errors": ["…"]}`` or ``{"errors": [{"message" | "detail": …}]}`` (JSON:API, GraphQL).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["error_text", "retry_after_seconds"]

_TEXT_KEYS = ("message", "detail", "error_description", "description", "title", "msg")
_CODE_KEYS = ("code", "type", "error_code")
_MAX = 300


def _text_of(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, Mapping):
        for key in _TEXT_KEYS:
            value = node.get(key)
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, Mapping | list) and (inner := _text_of(value)):
                return inner
        return ""
    if isinstance(node, list):
        return "; ".join(text for text in (_text_of(entry) for entry in node[:5]) if text)
    return ""


def _code_of(node: Any) -> str:
    if isinstance(node, Mapping):
        for key in _CODE_KEYS:
            value = node.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return ""


def error_text(body: Any) -> tuple[str, str]:
    """(code, message) of an error body; either may be "" (a body of another shape, or none)."""
    if isinstance(body, str):
        return "", body.strip()[:_MAX]
    if isinstance(body, list):
        return "", _text_of(body)[:_MAX]
    if not isinstance(body, Mapping):
        return "", ""
    error = body.get("error")
    errors = body.get("errors")
    code, message = "", ""
    if isinstance(error, Mapping):
        code, message = _code_of(error), _text_of(error)
    elif isinstance(error, str) and error.strip():
        code = error  # OAuth: {"error": "invalid_client", "error_description": "…"}; else the text itself
        message = _text_of(body)
        if not message:
            code, message = "", error
    if not message and isinstance(errors, list | Mapping):
        message = _text_of(errors)
        if not code and isinstance(errors, list) and errors:
            code = _code_of(errors[0])
    if not message:
        message = _text_of(body)
    return code or _code_of(body), message.strip()[:_MAX]


def retry_after_seconds(value: str | None, *, now: datetime | None) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) as seconds from ``now``: delay-seconds, or an HTTP-date
    (IMF-fixdate, or the obsolete RFC 850 and asctime forms). None when absent or unreadable, or
    a date without a ``now`` to measure it from; a date already past is 0."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    if raw.isdigit():
        return float(raw)
    if now is None:
        return None
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:  # asctime has no zone; HTTP dates are GMT
        at = at.replace(tzinfo=timezone.utc)
    return max(0.0, (at - now).total_seconds())
