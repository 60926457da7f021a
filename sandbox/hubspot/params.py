"""Reading requests: query parameters, JSON bodies, batch inputs and paging cursors."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request

from sandbox.hubspot.errors import validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.values import INT_RE


def bool_param(request: Request, name: str) -> bool:
    """``true``/``false`` and Python's ``True``/``False`` (what hubspot-api-client sends)."""
    return request.query_params.get(name, "false").strip().lower() == "true"


def list_param(request: Request, name: str) -> list[str] | None:
    """A list query parameter given repeated (``a=1&a=2``) or comma-separated (``a=1,2``)."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    return [part.strip() for item in raw for part in item.split(",") if part.strip()]


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation(f"Invalid value for query parameter {name}: {raw!r} is not an integer") from None
    if not low <= value <= high:
        raise validation(f"{name} must be between {low} and {high}, got {value}")
    return value


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise validation(f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def body_object(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: expected an object")
    return body


def batch_inputs(body: JSON, *, maximum: int) -> list[JSON]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON: `inputs` must be a list of objects")
    if len(inputs) > maximum:
        raise validation(
            f"Too many inputs: {len(inputs)}. A batch request can contain at most {maximum} inputs.",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


def page_token(offset: int) -> str:
    """An opaque paging cursor, as HubSpot's v4 associations hand out (base64, e.g. ``MTAw``)."""
    return base64.b64encode(str(offset).encode()).decode()


def page_offset(token: str | None) -> int:
    """The offset of a cursor from :func:`page_token`; a plain number is accepted too."""
    raw = (token or "").strip()
    if not raw:
        return 0
    if INT_RE.fullmatch(raw):
        return max(0, int(raw))
    try:
        decoded = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not INT_RE.fullmatch(decoded):
        raise validation(f"Invalid value for after: {raw!r} is not a paging cursor this API handed out")
    return max(0, int(decoded))
