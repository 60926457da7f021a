"""Written values: coercion to each field type and the fields the platform derives on save."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.metadata import SOAP_TYPES, FieldSpec, SObjectSpec
from sandbox.salesforce.sobjects import ACCOUNT, CONTRACT_STATUS_CODES, OPPORTUNITY


def _parser_error(spec: FieldSpec, value: Any) -> ApiError:
    token = {bool: "VALUE_TRUE" if value else "VALUE_FALSE", int: "VALUE_NUMBER_INT", float: "VALUE_NUMBER_FLOAT"}.get(
        type(value), "VALUE_STRING" if isinstance(value, str) else "START_OBJECT"
    )
    xsd = SOAP_TYPES.get(spec.type, "xsd:string").split(":")[1]
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {xsd} from {token} value {value} or request may be missing a required "
        "field at [line:1, column:1]",
    )


def coerce(spec: FieldSpec, value: Any) -> Any:
    """A JSON value as the store keeps it for ``spec``'s type; refuses what Salesforce cannot deserialize."""
    if value is None:
        return None
    t = spec.type
    if t in soql.STRING_TYPES or t in ("id", "reference"):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float) and (t not in ("id", "reference") or isinstance(value, str)):
            return str(value)
        raise _parser_error(spec, value)
    if t == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise _parser_error(spec, value)
    if t in soql.NUMBER_TYPES:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _parser_error(spec, value)
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _parser_error(spec, value)
    if t == "date":
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise _parser_error(spec, value)
    if t == "datetime":
        if isinstance(value, str):
            try:
                return soql.canonical_datetime(value)
            except ValueError:
                pass
        raise _parser_error(spec, value)
    return value


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _activity_account(what_id: Any, objects: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Any:
    """Task/Event ``AccountId``: the Account the activity's ``WhatId`` points at, or null.

    An Account id is the account itself, an Opportunity id gives the opportunity's account;
    anything else (or nothing) gives null.
    """
    if not isinstance(what_id, str):
        return None
    prefix = what_id[:3]
    if prefix == ACCOUNT.key_prefix:
        return what_id
    if prefix == OPPORTUNITY.key_prefix:
        opportunity = objects.get(OPPORTUNITY.name, {}).get(what_id)
        return None if opportunity is None else opportunity.get("AccountId")
    return None


def derive(
    spec: SObjectSpec, row: dict[str, Any], objects: Mapping[str, Mapping[str, Mapping[str, Any]]], now: str
) -> None:
    """Recompute the read-only fields the platform derives on every save.

    Task/Event ``AccountId`` from ``WhatId``; ``IsClosed`` from Task and Case ``Status`` (and
    Case ``ClosedDate`` when it closes); Opportunity ``IsClosed``/``IsWon`` from ``StageName``;
    Event ``ActivityDate`` from ``ActivityDateTime``; Contract ``StatusCode``/``EndDate``;
    line-item ``TotalPrice``. Formula fields (``Account.Health_Rollup__c``) are not saved
    values and are left as the store has them.
    """
    name = spec.name
    if name in ("Task", "Event"):
        row["AccountId"] = _activity_account(row.get("WhatId"), objects)
        if name == "Task":
            row["IsClosed"] = row.get("Status") == "Completed"
        elif isinstance(at := row.get("ActivityDateTime"), str):
            row["ActivityDate"] = at[:10]  # the canonical form is UTC
    elif name == "Opportunity":
        stage = row.get("StageName")
        row["IsClosed"] = stage in ("Closed Won", "Closed Lost")
        row["IsWon"] = stage == "Closed Won"
    elif name == "Case":
        closed = row.get("Status") == "Closed"
        if closed and not row.get("IsClosed"):
            row["ClosedDate"] = now
        elif not closed:
            row["ClosedDate"] = None
        row["IsClosed"] = closed
    elif name == "Contract":
        row["StatusCode"] = CONTRACT_STATUS_CODES.get(row.get("Status") or "", "Draft")
        start, term = row.get("StartDate"), row.get("ContractTerm")
        if start and term:
            row["EndDate"] = (_add_months(date.fromisoformat(start), int(term)) - timedelta(days=1)).isoformat()
    elif name == "OpportunityLineItem":
        quantity, unit, total = row.get("Quantity"), row.get("UnitPrice"), row.get("TotalPrice")
        if quantity is not None and unit is not None:
            row["TotalPrice"] = float(quantity) * float(unit)
        elif quantity and total is not None:
            row["UnitPrice"] = float(total) / float(quantity)


def index_key(value: Any) -> Any:
    """External ids and unique fields match case-insensitively (Salesforce's default)."""
    if value is None:
        return None
    return value.casefold() if isinstance(value, str) else str(value)
