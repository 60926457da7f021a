"""Schema version 5 (upsync 0.1), and the upgrade of every state.db written before migrations.

Versions 1 to 4 were built by creating missing tables and adding missing columns; so is their
way to version 5: a table that is missing is created, a column that is missing is added
(nullable; a boolean defaults to false; ``ledger.attempts`` to 0), an index that is missing is
made, and nothing stored is touched. On an empty database this creates version 5 whole.
The tables are written out here as they were in version 5: later versions change them in their
own revisions, never here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "v5"
down_revision = None
branch_labels = None
depends_on = None

TEXT, INT, BIGINT, FLOAT, BOOL, DATE, TIME, JSON = (
    sa.String,
    sa.Integer,
    sa.BigInteger,
    sa.Float,
    sa.Boolean,
    sa.Date,
    sa.DateTime,
    sa.JSON,
)
KEY, NN = "key", "not null"
CRM = (
    ("system", TEXT, KEY),
    ("crm_id", TEXT, KEY),
    ("deleted", BOOL),
    ("modified_at", TIME),
    ("synced_at", TIME),
    ("seen_pass", TEXT),
    ("source", TEXT),
)

V5: dict[str, tuple[tuple[Any, ...], ...]] = {
    "meta": (("key", TEXT, KEY), ("value", TEXT, NN)),
    "cursors": (
        ("stream", TEXT, KEY),
        ("version", INT, NN),
        ("last_value", TIME, NN),
        ("last_key", TEXT, NN),
        ("updated_at", TIME, NN),
        ("pass_id", TEXT),
        ("window_end", TIME),
        ("full_at", TIME),
    ),
    "runs": (
        ("id", INT, KEY),
        ("command", TEXT, NN),
        ("started_at", TIME, NN),
        ("as_of", TIME, NN),
        ("finished_at", TIME),
        ("status", TEXT, NN),
        ("summary", TEXT, NN),
    ),
    "ledger": (
        ("key", TEXT, KEY),
        ("system", TEXT, NN),
        ("rule_id", TEXT, NN),
        ("account_id", TEXT, NN),
        ("window", TEXT, NN),
        ("state", TEXT, NN),
        ("crm_id", TEXT),
        ("attempts", INT, NN),
        ("last_error", TEXT),
        ("created_at", TIME, NN),
        ("updated_at", TIME, NN),
        ("owner_id", TEXT),
        ("priority", TEXT),
        ("due_on", DATE),
        ("step", TEXT),
        ("body", TEXT),
        ("closed_at", TIME),
        ("held", TEXT),
        ("provenance", TEXT),
    ),
    "field_ledger": (
        ("system", TEXT, KEY),
        ("account_id", TEXT, KEY),
        ("field", TEXT, KEY),
        ("value", TEXT),
        ("state", TEXT, NN),
        ("write_key", TEXT),
        ("written_at", TIME, NN),
        ("held", TEXT),
        ("last_error", TEXT),
        ("provenance", TEXT),
    ),
    "account_events": (
        ("id", INT, KEY),
        ("system", TEXT, NN),
        ("account_id", TEXT, NN),
        ("field", TEXT, NN),
        ("old_value", TEXT),
        ("new_value", TEXT),
        ("changed_at", TIME, NN),
    ),
    "health_daily": (
        ("system", TEXT, KEY),
        ("account_id", TEXT, KEY),
        ("day", DATE, KEY),
        ("score", FLOAT, NN),
        ("band", TEXT, NN),
        ("components", TEXT, NN),
    ),
    "signal_log": (
        ("system", TEXT, KEY),
        ("account_id", TEXT, KEY),
        ("rule_id", TEXT, KEY),
        ("first_fired_on", DATE, NN),
        ("last_fired_on", DATE),
        ("last_seen_on", DATE, NN),
        ("blocked_by", TEXT),
    ),
    "accounts": (
        *CRM,
        ("name", TEXT),
        ("owner_id", TEXT),
        ("parent_id", TEXT),
        ("domain", TEXT),
        ("workspace_id", TEXT),
        ("industry", TEXT),
        ("employees", BIGINT),
        ("account_type", TEXT),
        ("lifecycle_stage", TEXT),
        ("seats_purchased", BIGINT),
        ("health_rollup", FLOAT),
        ("do_not_contact", BOOL),
        ("nps", FLOAT),
        ("csat", FLOAT),
        ("contract_end", DATE),
        ("created_at", TIME),
        ("upsync_fields", JSON),
        ("last_modified_by", TEXT),
    ),
    "owners": (*CRM, ("name", TEXT), ("email", TEXT), ("active", BOOL)),
    "contracts": (
        *CRM,
        ("account_id", TEXT),
        ("status", TEXT),
        ("start_date", DATE),
        ("end_date", DATE),
        ("term_months", BIGINT),
        ("created_at", TIME),
    ),
    "opportunities": (
        *CRM,
        ("account_id", TEXT),
        ("name", TEXT),
        ("opp_type", TEXT),
        ("stage", TEXT),
        ("is_closed", BOOL),
        ("is_won", BOOL),
        ("close_date", DATE),
        ("amount", FLOAT),
        ("owner_id", TEXT),
        ("created_at", TIME),
    ),
    "products": (*CRM, ("name", TEXT), ("code", TEXT), ("family", TEXT), ("active", BOOL)),
    "line_items": (
        *CRM,
        ("opportunity_id", TEXT),
        ("product_id", TEXT),
        ("quantity", FLOAT),
        ("unit_price", FLOAT),
        ("total_price", FLOAT),
        ("service_date", DATE),
        ("created_at", TIME),
    ),
    "assets": (
        *CRM,
        ("account_id", TEXT),
        ("product_id", TEXT),
        ("name", TEXT),
        ("quantity", FLOAT),
        ("status", TEXT),
        ("purchase_date", DATE),
        ("install_date", DATE),
        ("usage_end_date", DATE),
        ("created_at", TIME),
    ),
    "contacts": (
        *CRM,
        ("account_id", TEXT),
        ("first_name", TEXT),
        ("last_name", TEXT),
        ("email", TEXT),
        ("title", TEXT),
        ("department", TEXT),
        ("created_at", TIME),
    ),
    "activities": (
        *CRM,
        ("account_id", TEXT),
        ("contact_id", TEXT),
        ("owner_id", TEXT),
        ("activity_type", TEXT),
        ("subject", TEXT),
        ("status", TEXT),
        ("is_closed", BOOL),
        ("activity_at", TIME),
        ("sync_key", TEXT),
        ("created_by", TEXT),
        ("last_modified_by", TEXT),
        ("created_at", TIME),
    ),
    "tickets": (
        *CRM,
        ("account_id", TEXT),
        ("contact_id", TEXT),
        ("status", TEXT),
        ("priority", TEXT),
        ("is_closed", BOOL),
        ("is_escalated", BOOL),
        ("created_at", TIME),
        ("closed_at", TIME),
    ),
    "usage_daily": (
        ("workspace_id", TEXT, KEY),
        ("day", DATE, KEY),
        ("active_users", BIGINT),
        ("weekly_active_users", BIGINT),
        ("seats_used", BIGINT),
        ("seats_limit", BIGINT),
        ("storage_used_gb", FLOAT),
        ("storage_limit_gb", FLOAT),
        ("api_calls_used", BIGINT),
        ("api_calls_limit", BIGINT),
        ("integrations", BIGINT),
        ("premium_feature_views", BIGINT),
        ("trials_started", BIGINT),
        ("pricing_page_views", BIGINT),
        ("feature_events", JSON),
        ("users_by_department", JSON),
        ("updated_at", TIME),
    ),
    "workspaces": (("workspace_id", TEXT, KEY), ("name", TEXT), ("domain", TEXT), ("updated_at", TIME)),
}

INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "ledger": (("system",),),
    "account_events": (("system",), ("account_id",)),
    "accounts": (("workspace_id",), ("domain",)),
    "contracts": (("account_id",),),
    "opportunities": (("account_id",),),
    "line_items": (("opportunity_id",),),
    "assets": (("account_id",),),
    "contacts": (("account_id",),),
    "activities": (("account_id",), ("sync_key",)),
    "tickets": (("account_id",),),
    "workspaces": (("domain",),),
}


def _column(name: str, kind: Any, flag: str | None = None) -> sa.Column[Any]:
    if flag == KEY:
        serial = kind is INT and name == "id"
        return sa.Column(name, kind(), primary_key=True, autoincrement=serial)
    return sa.Column(name, kind(), nullable=flag != NN)


def _added(name: str, kind: Any, flag: str | None = None) -> sa.Column[Any]:
    """A column added to a table that already holds rows: nullable unless it has a default."""
    if name == "attempts":
        return sa.Column(name, kind(), nullable=False, server_default="0")
    if kind is BOOL:
        return sa.Column(name, kind(), server_default=sa.false())
    return sa.Column(name, kind())


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for table, columns in V5.items():
        if table not in existing:
            op.create_table(table, *(_column(*c) for c in columns))
        else:
            present = {c["name"] for c in inspector.get_columns(table)}
            for column in columns:
                if column[0] not in present:
                    op.add_column(table, _added(*column))
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(table)} if table in existing else set()
        for cols in INDEXES.get(table, ()):
            if cols not in indexed:
                op.create_index(f"ix_{table}_{'_'.join(cols)}", table, list(cols))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
