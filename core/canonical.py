"""The canonical schema, defined once: every table upsync keeps, whichever CRM a record came from.

Connectors turn Salesforce Accounts and HubSpot companies alike into ``accounts`` records;
rules read only these tables. The store builds its database tables from :data:`KINDS` and
:data:`HISTORY`; the rules' input frames (:mod:`core.tables`) are projections of them, their
polars types derived by :func:`frame_schema`.

Every CRM kind is keyed on ``(system, crm_id)``, except a kind that gathers several of the CRM's
object types: CRM ids are unique per object type only (HubSpot numbers tasks, calls and notes each
on their own), so ``activities`` (HubSpot's five engagement objects, Salesforce Task and Event) is
keyed on ``(system, object_type, crm_id)``, ``object_type`` being the CRM's own name of the type
(``tasks``, ``calls``…, ``Task``, ``Event``). Every CRM kind also carries ``deleted`` (soft/hard deletes
and archives stop a record contributing to signals without losing it), ``modified_at`` (the
cursor value), ``synced_at``, ``source`` (the stream that wrote it) and ``seen_pass`` (which
full pass of that stream last saw it: a record a complete full pass did not see is gone).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

__all__ = ["CRM_COMMON", "HISTORY", "KINDS", "ColumnType", "Table", "frame_schema", "table"]

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
class Table:
    """One table: its name, primary key, typed columns and indexes.

    ``required`` columns are NOT NULL besides the key; ``serial`` is an auto-numbered key.
    """

    name: str
    key: tuple[str, ...]
    columns: Mapping[str, ColumnType]
    indexes: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    required: tuple[str, ...] = ()
    serial: bool = False


def _crm(name: str, columns: Mapping[str, ColumnType], *indexes: tuple[str, ...]) -> Table:
    return Table(name=name, key=("system", "crm_id"), columns={**CRM_COMMON, **columns}, indexes=indexes)


def _typed_crm(name: str, columns: Mapping[str, ColumnType], *indexes: tuple[str, ...]) -> Table:
    """A CRM kind that gathers several object types: keyed by the type as well (their ids may repeat)."""
    return Table(
        name=name,
        key=("system", "object_type", "crm_id"),
        columns={**CRM_COMMON, "object_type": "text", **columns},
        indexes=indexes,
    )


KINDS: dict[str, Table] = {
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
                # the admin's own fields ([salesforce] extra_fields, [hubspot] extra_properties):
                # lower-cased API name → typed value, read by the rules as crm.<name>
                "crm_fields": "json",
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
                "deal_kind": "text",
                "stage": "text",
                "is_closed": "bool",
                "is_won": "bool",
                "close_date": "date",
                "amount": "float",
                # the deal's ISO currency (HubSpot deal_currency_code, Salesforce CurrencyIsoCode in a
                # multi-currency org); none: the org's single currency ([revenue] currency)
                "currency": "text",
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
                # a recurring line item's term (HubSpot hs_recurring_billing_start/end_date):
                # on a won deal, a contract term like a Salesforce Contract's
                "term_start": "date",
                "term_end": "date",
                # HubSpot's own monthly amount (hs_mrr) and billing frequency (recurringbillingfrequency)
                # of a recurring line: what the MRR derivation prefers (rules/mrr.py)
                "mrr": "float",
                "billing_frequency": "text",
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
        _typed_crm(
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
        Table(
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
        Table(
            name="workspaces",
            key=("workspace_id",),
            columns={"workspace_id": "text", "name": "text", "domain": "text", "updated_at": "datetime"},
            indexes=(("domain",),),
        ),
    )
}

"""The canonical record kinds: what connectors write and the rules read."""

HISTORY: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="ledger",
            key=("key",),
            columns={
                "key": "text",
                "system": "text",
                "rule_id": "text",
                "account_id": "text",
                "window": "text",
                "state": "text",
                "crm_id": "text",
                "attempts": "int",
                "last_error": "text",
                "created_at": "datetime",
                "updated_at": "datetime",
                "owner_id": "text",
                "priority": "text",
                "due_on": "date",
                "step": "text",
                "body": "text",
                "closed_at": "datetime",
                "held": "text",
                "provenance": "text",
            },
            indexes=(("system",),),
            required=("system", "rule_id", "account_id", "window", "state", "attempts", "created_at", "updated_at"),
        ),
        Table(
            # what upsync last wrote to one of its own fields on one account (so a value someone
            # else put there is recognised), or, once ``held`` is set, the value a person put there
            name="field_ledger",
            key=("system", "account_id", "field"),
            columns={
                "system": "text",
                "account_id": "text",
                "field": "text",
                "value": "text",
                "state": "text",
                "write_key": "text",
                "written_at": "datetime",
                "held": "text",
                "last_error": "text",
                "provenance": "text",
            },
            required=("state", "written_at"),
        ),
        Table(
            # a tracked account field the CRM overwrote in place (employees, parent…): life events
            # need the old value, which the canonical row no longer has
            name="account_events",
            key=("id",),
            columns={
                "id": "int",
                "system": "text",
                "account_id": "text",
                "field": "text",
                "old_value": "text",
                "new_value": "text",
                "changed_at": "datetime",
            },
            indexes=(("system",), ("account_id",)),
            required=("system", "account_id", "field", "changed_at"),
            serial=True,
        ),
        Table(
            # one account's health score on one day: the history trends are read from
            name="health_daily",
            key=("system", "account_id", "day"),
            columns={
                "system": "text",
                "account_id": "text",
                "day": "date",
                "score": "float",
                "band": "text",
                "components": "text",
            },
            required=("score", "band", "components"),
        ),
        Table(
            # when a rule last fired (unblocked) on an account, and why it was last held back
            name="signal_log",
            key=("system", "account_id", "rule_id"),
            columns={
                "system": "text",
                "account_id": "text",
                "rule_id": "text",
                "first_fired_on": "date",
                "last_fired_on": "date",
                "last_seen_on": "date",
                # the first day of the current run of days the rule fired (an "episode" window)
                "run_started_on": "date",
                "blocked_by": "text",
            },
            required=("first_fired_on", "last_seen_on"),
        ),
        Table(
            # an account kept in a rule's control group for one window (no task), and the day its
            # task would have been created: the lift's comparison arm (rules/plan/control.py)
            name="control_arm",
            key=("system", "rule_id", "account_id", "period"),
            columns={
                "system": "text",
                "rule_id": "text",
                "account_id": "text",
                "period": "text",
                "day": "date",
                "recorded_at": "datetime",
            },
            required=("day", "recorded_at"),
        ),
    )
}
"""upsync's own history that the rules and the measures read back: the write-back ledgers, the
account change log, daily health scores, the signal log and the control groups."""


def table(name: str) -> Table:
    """A canonical kind or a history table, by name."""
    return KINDS[name] if name in KINDS else HISTORY[name]


_POLARS: dict[ColumnType, pl.DataType] = {
    "text": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
    "json": pl.String(),  # JSON text: the frames parse what they need
}


def frame_schema(name: str, columns: Sequence[str], *, measures: Collection[str] = ()) -> dict[str, pl.DataType]:
    """The polars schema of a projection of table ``name``: ``columns`` in that order, typed as the
    table declares them; ``measures`` (whole-number counts the features divide) are read as floats."""
    t = table(name)
    unknown = [c for c in columns if c not in t.columns]
    if unknown:
        raise KeyError(f"{name} has no column {', '.join(unknown)}")
    return {c: pl.Float64() if c in measures else _POLARS[t.columns[c]] for c in columns}
