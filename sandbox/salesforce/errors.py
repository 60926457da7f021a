"""REST error bodies: whole-request failures and per-record save errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.metadata import SObjectSpec

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


class ApiError(Exception):
    """A whole-request failure: HTTP ``status`` with the REST error array body."""

    def __init__(self, status: int, error_code: str, message: str, *, fields: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            error["fields"] = list(self.fields)
        return [error]


@dataclass(frozen=True, slots=True)
class RecordError:
    """One record's failure inside a write (a SaveResult/UpsertResult error)."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": list(self.fields)}

    def as_api_error(self) -> ApiError:
        return ApiError(400, self.status_code, self.message, fields=self.fields)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def too_many(limit: int) -> ApiError:
    return ApiError(
        400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} records into this call"
    )


def no_such_column(name: str, spec: SObjectSpec) -> ApiError:
    return ApiError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{spec.name}'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names.",
    )
