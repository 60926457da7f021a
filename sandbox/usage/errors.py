"""The usage API's error bodies and the handlers that answer with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class UsageError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        parameter: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"code": code, "message": message}
        if parameter is not None:
            self.error["parameter"] = parameter
        self.error.update(extra)
        self.headers = dict(headers or {})


def invalid_parameter(parameter: str, message: str) -> UsageError:
    return UsageError(400, "invalid_parameter", message, parameter)


async def usage_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UsageError)
    return JSONResponse({"error": exc.error}, status_code=exc.status, headers=exc.headers or None)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
    return JSONResponse(
        {"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code, headers=exc.headers
    )
