"""The frames the pure layers read: the rules' inputs and the outcome measures' inputs.

Each frame is a projection of a canonical table (:mod:`core.canonical`), so its columns and
types are derived, never written again; the store fills them, tests build them from rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from core.canonical import frame_schema

__all__ = [
    "OUTCOME_INPUTS",
    "OUTCOME_SCHEMAS",
    "REVENUE_INPUTS",
    "REVENUE_SCHEMAS",
    "RULE_INPUTS",
    "TABLE_SCHEMAS",
    "OutcomeTables",
    "Projection",
    "RevenueTables",
    "Tables",
    "frame",
]


@dataclass(frozen=True, slots=True)
class Projection:
    """Which columns of which canonical table one input frame holds."""

    table: str
    columns: tuple[str, ...]
    measures: tuple[str, ...] = ()  # whole-number counts read as floats (the features divide them)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return frame_schema(self.table, self.columns, measures=self.measures)


_USAGE_MEASURES = (
    "active_users",
    "weekly_active_users",
    "seats_used",
    "seats_limit",
    "storage_used_gb",
    "storage_limit_gb",
    "api_calls_used",
    "api_calls_limit",
    "integrations",
    "premium_feature_views",
    "trials_started",
    "pricing_page_views",
)
_OPPORTUNITIES = Projection(
    "opportunities",
    ("crm_id", "account_id", "opp_type", "deal_kind", "is_closed", "is_won", "close_date", "amount", "created_at"),
)

RUN_GRACE_DAYS = 7
"""A signal seen again within this many days of its last sighting continues its run (its episode):
days the daemon did not run, or a condition flickering on noisy data (seats at 79 % for a few
days), do not start a new one; a week without it does."""

RULE_INPUTS: dict[str, Projection] = {
    "accounts": Projection(
        "accounts",
        (
            "crm_id",
            "name",
            "owner_id",
            "parent_id",
            "workspace_id",
            "industry",
            "employees",
            "account_type",
            "lifecycle_stage",
            "seats_purchased",
            "health_rollup",
            "contract_end",
            "created_at",
            "do_not_contact",
            "nps",
            "csat",
            "crm_fields",
        ),
    ),
    "owners": Projection("owners", ("crm_id", "name", "email", "active")),
    "contracts": Projection("contracts", ("account_id", "status", "start_date", "end_date", "created_at")),
    "opportunities": _OPPORTUNITIES,
    "line_items": Projection("line_items", ("opportunity_id", "product_id", "term_start", "term_end")),
    "products": Projection("products", ("crm_id", "name", "family")),
    "assets": Projection("assets", ("account_id", "product_id", "name", "status", "purchase_date", "usage_end_date")),
    "contacts": Projection("contacts", ("crm_id", "account_id", "department", "title", "created_at")),
    "activities": Projection(
        "activities",
        (
            "crm_id",
            "account_id",
            "contact_id",
            "activity_type",
            "subject",
            "status",
            "activity_at",
            "sync_key",
            "modified_at",
        ),
    ),
    "tickets": Projection(
        "tickets", ("account_id", "priority", "is_closed", "is_escalated", "created_at", "closed_at")
    ),
    "usage": Projection(
        "usage_daily",
        ("workspace_id", "day", "updated_at", *_USAGE_MEASURES, "feature_events", "users_by_department"),
        measures=_USAGE_MEASURES,
    ),
    "account_events": Projection("account_events", ("account_id", "field", "old_value", "new_value", "changed_at")),
    "ledger": Projection("ledger", ("key", "rule_id", "account_id", "window", "state", "created_at")),
    "health": Projection("health_daily", ("account_id", "day", "score", "band")),
    "signals": Projection(
        "signal_log", ("account_id", "rule_id", "first_fired_on", "last_fired_on", "last_seen_on", "run_started_on")
    ),
}
"""The rules' input frames (:class:`Tables`): name → projection."""

OUTCOME_INPUTS: dict[str, Projection] = {
    "ledger": Projection("ledger", ("key", "rule_id", "account_id", "window", "state", "created_at", "closed_at")),
    "tasks": Projection("activities", ("sync_key", "account_id", "status", "is_closed", "modified_at")),
    "opportunities": _OPPORTUNITIES,
    "signal_log": Projection("signal_log", ("account_id", "rule_id", "first_fired_on", "last_fired_on", "blocked_by")),
    "accounts": Projection("accounts", ("crm_id", "account_type", "lifecycle_stage", "contract_end")),
    "contracts": Projection("contracts", ("account_id", "status", "start_date", "end_date")),
    "control": Projection("control_arm", ("rule_id", "account_id", "period", "day")),
}
"""The outcome measures' input frames (:class:`OutcomeTables`): name → projection."""

REVENUE_INPUTS: dict[str, Projection] = {
    "opportunities": Projection("opportunities", ("crm_id", "account_id", "is_won", "close_date", "currency")),
    "line_items": Projection(
        "line_items",
        (
            "crm_id",
            "opportunity_id",
            "product_id",
            "total_price",
            "service_date",
            "term_start",
            "term_end",
            "mrr",
            "billing_frequency",
        ),
    ),
    "products": Projection("products", ("crm_id", "name", "family")),
    "contracts": Projection("contracts", ("account_id", "status", "start_date", "end_date")),
    "accounts": Projection("accounts", ("crm_id", "name", "account_type", "industry", "lifecycle_stage", "owner_id")),
}
"""What MRR per account and month is derived from (:class:`RevenueTables`, ``rules/mrr.py``)."""

TABLE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {name: p.schema for name, p in RULE_INPUTS.items()}
REVENUE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {name: p.schema for name, p in REVENUE_INPUTS.items()}
OUTCOME_SCHEMAS: dict[str, dict[str, pl.DataType]] = {name: p.schema for name, p in OUTCOME_INPUTS.items()}


def _empty(schemas: Mapping[str, Mapping[str, pl.DataType]], name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schemas[name]))


def _conform(df: pl.DataFrame, want: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Exactly ``want``'s columns and types: extra columns dropped, missing ones null."""
    return df.select(
        [
            (pl.col(c).cast(t, strict=False) if c in df.columns else pl.lit(None, dtype=t)).alias(c)
            for c, t in want.items()
        ]
    )


def frame(
    name: str, rows: Sequence[Mapping[str, Any]], *, schemas: Mapping[str, Mapping[str, pl.DataType]] = TABLE_SCHEMAS
) -> pl.DataFrame:
    """One input frame from rows of plain values (dicts accepted for the JSON columns)."""
    schema = dict(schemas[name])
    data: dict[str, list[Any]] = {c: [] for c in schema}
    for row in rows:
        for c in schema:
            value = row.get(c)
            if isinstance(value, dict):
                value = json.dumps(value)
            data[c].append(value)
    return pl.DataFrame(data, schema=schema, strict=False)


def _frames(
    schemas: Mapping[str, Mapping[str, pl.DataType]], rows: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, Any]:
    unknown = [name for name in rows if name not in schemas]
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}; tables are {', '.join(schemas)}")
    return {name: frame(name, items, schemas=schemas) for name, items in rows.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Tables:
    """One CRM's live records (deleted ones excluded) as frames, plus upsync's own history.

    ``accounts.workspace_id`` is already resolved (the CRM field, else the workspace matched by
    domain). ``usage`` holds only the window a computation needs (the store trims it).
    """

    accounts: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "accounts"))
    owners: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "owners"))
    contracts: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "contracts"))
    opportunities: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "opportunities"))
    line_items: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "line_items"))
    products: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "products"))
    assets: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "assets"))
    contacts: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "contacts"))
    activities: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "activities"))
    tickets: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "tickets"))
    usage: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "usage"))
    account_events: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "account_events"))
    ledger: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "ledger"))
    health: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "health"))
    signals: pl.DataFrame = field(default_factory=lambda: _empty(TABLE_SCHEMAS, "signals"))
    conformed: bool = field(default=False, repr=False, compare=False)
    """Set by :meth:`checked`: the frames already have their schema, checking again is free."""

    @classmethod
    def from_rows(cls, **rows: Sequence[Mapping[str, Any]]) -> Tables:
        """Frames from plain rows (tests, small stores): missing columns are null, types coerced."""
        return cls(**_frames(TABLE_SCHEMAS, rows))

    def checked(self) -> Tables:
        """Every frame with exactly its schema's columns and types (extra columns dropped)."""
        if self.conformed:
            return self
        frames: dict[str, Any] = {name: _conform(getattr(self, name), schema) for name, schema in TABLE_SCHEMAS.items()}
        return Tables(**frames, conformed=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeTables:
    """What the outcome measures read, for one CRM.

    ``ledger``: every task upsync wrote (key = the sync key; ``closed_at`` once upsync closed it
    itself). ``tasks``: upsync's tasks as read back from the CRM (activities carrying a sync key,
    latest state). ``opportunities``, ``accounts`` and ``contracts``: live CRM records.
    ``signal_log``: per (account, rule), the first day it was seen and the last day it fired unblocked.
    ``control``: per (rule, account, window) kept in the rule's control group, the day its task
    would have been created.
    """

    ledger: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "ledger"))
    tasks: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "tasks"))
    opportunities: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "opportunities"))
    signal_log: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "signal_log"))
    accounts: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "accounts"))
    contracts: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "contracts"))
    control: pl.DataFrame = field(default_factory=lambda: _empty(OUTCOME_SCHEMAS, "control"))

    @classmethod
    def from_rows(cls, **rows: Sequence[Mapping[str, Any]]) -> OutcomeTables:
        """Frames from plain rows (tests, small stores): missing columns are null, types coerced."""
        return cls(**_frames(OUTCOME_SCHEMAS, rows))

    def checked(self) -> OutcomeTables:
        """Every frame with exactly its schema's columns and types (extra columns dropped, missing ones null)."""
        return OutcomeTables(**{name: _conform(getattr(self, name), s) for name, s in OUTCOME_SCHEMAS.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class RevenueTables:
    """One CRM's live won-deal inputs of MRR: deals, their line items, products, contracts, accounts."""

    opportunities: pl.DataFrame = field(default_factory=lambda: _empty(REVENUE_SCHEMAS, "opportunities"))
    line_items: pl.DataFrame = field(default_factory=lambda: _empty(REVENUE_SCHEMAS, "line_items"))
    products: pl.DataFrame = field(default_factory=lambda: _empty(REVENUE_SCHEMAS, "products"))
    contracts: pl.DataFrame = field(default_factory=lambda: _empty(REVENUE_SCHEMAS, "contracts"))
    accounts: pl.DataFrame = field(default_factory=lambda: _empty(REVENUE_SCHEMAS, "accounts"))

    @classmethod
    def from_rows(cls, **rows: Sequence[Mapping[str, Any]]) -> RevenueTables:
        """Frames from plain rows (tests, small stores): missing columns are null, types coerced."""
        return cls(**_frames(REVENUE_SCHEMAS, rows))
