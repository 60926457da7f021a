"""HubSpot's error bodies: the raised API error and its handlers, validation problems, 207 item errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.object_types import JSON, SINGULAR


def correlation_id() -> str:
    return str(uuid.uuid4())


class ApiError(Exception):
    """A HubSpot error response, raised from anywhere in a handler."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {"status": "error", "message": message, "correlationId": correlation_id()}
        self.body.update(extra)
        self.body["category"] = category


def validation(message: str, **extra: Any) -> ApiError:
    return ApiError(400, message, "VALIDATION_ERROR", **extra)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
    body = {"status": "error", "message": exc.detail, "correlationId": correlation_id(), "category": category}
    return JSONResponse(body, status_code=exc.status_code)


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid value in a write; ``kind`` decides the top-level message HubSpot uses."""

    kind: Literal["property", "association"]
    code: str
    message: str
    name: str

    def detail(self) -> JSON:
        key = "propertyName" if self.kind == "property" else "toObjectId"
        return {"message": self.message, "code": self.code, "context": {key: [self.name]}}


def problems_message(problems: Sequence[Problem]) -> tuple[str, dict[str, Any]]:
    props = [p for p in problems if p.kind == "property"]
    if props:
        listed = [
            {
                "isValid": False,
                "message": p.message,
                "error": p.code,
                "name": p.name,
                "localizedErrorMessage": p.message,
            }
            for p in props
        ]
        return "Property values were not valid: " + json.dumps(listed, separators=(",", ":")), {}
    ids = [p.name for p in problems]
    return "One or more associations are invalid", {
        "subCategory": "crm.associations.INVALID_OBJECT_IDS",
        "context": {"ids": ids},
    }


def problems_error(problems: Sequence[Problem]) -> ApiError:
    message, extra = problems_message(problems)
    return validation(message, errors=[p.detail() for p in problems], **extra)


def standard_error(category: str, message: str, context: Mapping[str, list[str]], **extra: Any) -> JSON:
    """A ``StandardError`` of a 207 body; the client model requires every one of these keys."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": dict(context),
        "errors": [],
        "links": {},
        **extra,
    }


def not_found(object_id: str) -> ApiError:
    return ApiError(
        404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND", context={"id": [object_id]}
    )


def missing_error(object_type: str, ids: Sequence[str]) -> JSON:
    singular = SINGULAR.get(object_type, object_type).upper()
    message = f"Could not get some {singular} objects, they may be deleted or not exist. Check that ids are valid."
    return standard_error("OBJECT_NOT_FOUND", message, {"ids": list(ids)})
