"""Request plumbing: one parsed REST call, JSON responses, API version names and numbers."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from sandbox.salesforce.errors import ApiError

_JSON = "application/json;charset=UTF-8"
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
VERSION_RE = re.compile(r"^v(\d{1,3})\.(\d)$")
LOCATOR_RE = re.compile(r"^(01g[a-zA-Z0-9]{12,15})-(\d+)$")


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: tuple[str, ...]  # segments after /services/data/vXX.X
    version: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            raise ApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character in request body at [line:{line}, column:{column}]"
            ) from None

    def allow(self, *methods: str) -> None:
        if self.method not in methods:
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{self.method}' not allowed. Allowed are {','.join(methods)}",
            )

    def flag(self, name: str) -> bool:
        return self.params.get(name, "").lower() == "true"


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (``compare_digest`` on str refuses it)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def oauth_error(status: int, error: str, description: str) -> Response:
    """An OAuth error: ``{"error", "error_description"}``, not the REST error array."""
    return json_response(status, {"error": error, "error_description": description})


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=_JSON, headers=dict(headers or {}))


def version_label(major: int) -> str:
    """Release name of an API version: v59.0 is Winter '24, v60.0 Spring '24, v61.0 Summer '24…"""
    season = ("Winter", "Spring", "Summer")[(major - 59) % 3]
    return f"{season} '{(24 + (major - 59) // 3) % 100:02d}"


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)
