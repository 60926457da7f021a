"""The canonical model: one table per kind of thing, whichever CRM it came from. Pure data.

Connectors turn Salesforce Accounts and HubSpot companies alike into ``accounts`` records;
rules read only these tables. The store builds its tables from ``KINDS``; features (rules
layer) know the columns without importing the database library.

Every CRM kind is keyed on ``(system, crm_id)`` and also carries ``deleted`` (soft/hard deletes
and archives stop a record contributing to signals without losing it), ``modified_at`` (the
cursor value), ``synced_at``, ``source`` (the stream that wrote it) and ``seen_pass`` (which
full pass of that stream last saw it: a record a complete full pass did not see is gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CRM_COMMON", "KINDS", "ColumnType", "Kind", "kind"]

ColumnType = Literal["text", "int", "float", "bool", "date", "datetime", "json"]

CRM_COMMON: dict[str, ColumnType] = {
    "system": "text",
    "crm_id": "text",
    "deleted": "bool",
    "modified_at": "datetime",
    "synced_at": "datetime",
    "seen_pass": "text",
    "source": "text",
}


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    key: tuple[str, ...]
    columns: Mapping[str, ColumnType]
    indexes: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.key)


def _crm(name: str, columns: Mapping[str, ColumnType], *indexes: tuple[str, ...]) -> Kind:
    return Kind(name=name, key=("system", "crm_id"), columns={**CRM_COMMON, **columns}, indexes=indexes)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _crm(
            "accounts",
            {
                "name": "text",
                "owner_id": "text",
                "parent_id": "text",
                "domain": "text",
                "workspace_id": "text",
                "industry": "text",
                "employees": "int",
                "account_type": "text",
                "lifecycle_stage": "text",
                "seats_purchased": "int",
                "health_rollup": "float",
                "do_not_contact": "bool",
                "nps": "float",
                "csat": "float",
                "contract_end": "date",
                "created_at": "datetime",
                # upsync's own fields as the CRM holds them (canonical name → value; write-back
                # diffs against these without another call) and who last changed the account
                "upsync_fields": "json",
                "last_modified_by": "text",
            },
            ("workspace_id",),
            ("domain",),
        ),
        _crm("owners", {"name": "text", "email": "text", "active": "bool"}),
        _crm(
            "contracts",
            {
                "account_id": "text",
                "status": "text",
                "start_date": "date",
                "end_date": "date",
                "term_months": "int",
                "created_at": "datetime",
            },
            ("account_id",),
        ),
        _crm(
            "opportunities",
            {
                "account_id": "text",
                "name": "text",
                "opp_type": "text",
                "stage": "text",
                "is_closed": "bool",
                "is_won": "bool",
                "close_date": "date",
                "amount": "float",
                "owner_id": "text",
                "created_at": "datetime",
            },
            ("account_id",),
        ),
        _crm("products", {"name": "text", "code": "text", "family": "text", "active": "bool"}),
        _crm(
            "line_items",
            {
                "opportunity_id": "text",
                "product_id": "text",
                "quantity": "float",
                "unit_price": "float",
                "total_price": "float",
                "service_date": "date",
                "created_at": "datetime",
            },
            ("opportunity_id",),
        ),
        _crm(
            "assets",
            {
                "account_id": "text",
                "product_id": "text",
                "name": "text",
                "quantity": "float",
                "status": "text",
                "purchase_date": "date",
                "install_date": "date",
                "usage_end_date": "date",
                "created_at": "datetime",
            },
            ("account_id",),
        ),
        _crm(
            "contacts",
            {
                "account_id": "text",
                "first_name": "text",
                "last_name": "text",
                "email": "text",
                "title": "text",
                "department": "text",
                "created_at": "datetime",
            },
            ("account_id",),
        ),
        _crm(
            "activities",
            {
                "account_id": "text",
                "contact_id": "text",
                "owner_id": "text",
                "activity_type": "text",
                "subject": "text",
                "status": "text",
                "is_closed": "bool",
                "activity_at": "datetime",
                "sync_key": "text",
                "created_by": "text",
                "last_modified_by": "text",
                "created_at": "datetime",
            },
            ("account_id",),
            ("sync_key",),
        ),
        _crm(
            "tickets",
            {
                "account_id": "text",
                "contact_id": "text",
                "status": "text",
                "priority": "text",
                "is_closed": "bool",
                "is_escalated": "bool",
                "created_at": "datetime",
                "closed_at": "datetime",
            },
            ("account_id",),
        ),
        Kind(
            name="usage_daily",
            key=("workspace_id", "day"),
            columns={
                "workspace_id": "text",
                "day": "date",
                "active_users": "int",
                "weekly_active_users": "int",
                "seats_used": "int",
                "seats_limit": "int",
                "storage_used_gb": "float",
                "storage_limit_gb": "float",
                "api_calls_used": "int",
                "api_calls_limit": "int",
                "integrations": "int",
                "premium_feature_views": "int",
                "trials_started": "int",
                "pricing_page_views": "int",
                "feature_events": "json",
                "users_by_department": "json",
                "updated_at": "datetime",
            },
        ),
        Kind(
            name="workspaces",
            key=("workspace_id",),
            columns={"workspace_id": "text", "name": "text", "domain": "text", "updated_at": "datetime"},
            indexes=(("domain",),),
        ),
    )
}


def kind(name: str) -> Kind:
    return KINDS[name]
