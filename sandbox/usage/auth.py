"""Client authentication: OAuth 2.0 error bodies, Basic credentials, constant-time comparison."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Final, Literal
from urllib.parse import unquote_plus

from starlette.responses import JSONResponse, Response

REALM: Final = "usage"


def oauth_error(status: int, error: str, description: str, *, challenge: bool = False) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if challenge:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def basic_credentials(header: str) -> tuple[str, str] | Literal[False] | None:
    """``(client_id, secret)`` from an ``Authorization: Basic`` header, ``None`` without one, ``False`` if malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return False
    # RFC 6749 §2.3.1: both are form-urlencoded before being joined.
    return unquote_plus(client_id), unquote_plus(secret)


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
