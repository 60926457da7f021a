"""The state database's tables: the canonical schema's (core.canonical) plus the store's own.

Canonical kinds and upsync's history tables are built from their one definition in
:mod:`core.canonical`; only what no other layer reads (schema meta, cursors, runs) is declared
here. Times are stored as naive UTC and read back aware, on every backend.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from core.canonical import HISTORY, KINDS, ColumnType
from core.canonical import Table as Spec
from core.errors import StateError

__all__ = [
    "ACCOUNTS",
    "CONTROL",
    "CURSORS",
    "EVENTS",
    "FIELD_LEDGER",
    "HEALTH",
    "LEDGER",
    "META",
    "METADATA",
    "OWNERS",
    "RUNS",
    "SIGNALS",
    "TABLES",
    "USAGE",
    "WORKSPACES",
    "UTCDateTime",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StateError("naive datetime reached the store", hint="this is a bug: every time must be UTC-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


METADATA = sa.MetaData()

_SA_TYPES: dict[ColumnType, Any] = {
    "text": sa.String,
    "int": sa.BigInteger,  # CRM values (employees, API calls) outgrow 32 bits; history counters use Integer
    "float": sa.Float,
    "bool": sa.Boolean,
    "date": sa.Date,
    "datetime": UTCDateTime,
    "json": sa.JSON,
}


def _table(spec: Spec, *, counter: Any = sa.BigInteger) -> sa.Table:
    types = {**_SA_TYPES, "int": counter}
    columns = []
    for name, ctype in spec.columns.items():
        if spec.serial and name in spec.key:
            columns.append(sa.Column(name, sa.Integer, primary_key=True, autoincrement=True))
            continue
        required = name in spec.key or name in spec.required
        columns.append(sa.Column(name, types[ctype], primary_key=name in spec.key, nullable=not required))
    indexes = [sa.Index(f"ix_{spec.name}_{'_'.join(cols)}", *cols) for cols in spec.indexes]
    return sa.Table(spec.name, METADATA, *columns, *indexes)


TABLES: dict[str, sa.Table] = {
    **{name: _table(spec) for name, spec in KINDS.items()},
    **{name: _table(spec, counter=sa.Integer) for name, spec in HISTORY.items()},
}
"""Every canonical kind and history table, by name."""

META = sa.Table(
    "meta",
    METADATA,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)
CURSORS = sa.Table(
    # one stream position: ``<stream>`` is the incremental cursor; ``<stream>#full`` a full pass in
    # progress (``pass_id``, ``window_end``); ``<stream>#deletes`` how far deletes were read
    "cursors",
    METADATA,
    sa.Column("stream", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_value", UTCDateTime, nullable=False),
    sa.Column("last_key", sa.String, nullable=False, default=""),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("pass_id", sa.String),
    sa.Column("window_end", UTCDateTime),
    sa.Column("full_at", UTCDateTime),
)
RUNS = sa.Table(
    "runs",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("as_of", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status", sa.String, nullable=False, default="running"),
    sa.Column("summary", sa.String, nullable=False, default="{}"),
)

ACCOUNTS = TABLES["accounts"]
OWNERS = TABLES["owners"]
USAGE = TABLES["usage_daily"]
WORKSPACES = TABLES["workspaces"]
LEDGER = TABLES["ledger"]
FIELD_LEDGER = TABLES["field_ledger"]
EVENTS = TABLES["account_events"]
HEALTH = TABLES["health_daily"]
SIGNALS = TABLES["signal_log"]
CONTROL = TABLES["control_arm"]
