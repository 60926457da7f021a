"""What every part of the store shares: the engine and the one upsert of the dialect in use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

__all__ = ["StoreBase"]

BATCH = 5000
"""Rows per statement when writing many (bounded parameter lists on every backend)."""


class StoreBase:
    """The database connection and the dialect's ``INSERT … ON CONFLICT`` that every part uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def _upsert_rows(
        self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
    ) -> None:
        """Insert ``rows`` or overwrite the columns they carry where ``keys`` already exist."""
        if not rows:
            return
        stmt = self._insert(table)
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        for start in range(0, len(rows), BATCH):
            conn.execute(
                stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows[start : start + BATCH])
            )
