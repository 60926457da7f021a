"""Alembic's entry point: migrations run on the connection the store hands over, in its transaction."""

from __future__ import annotations

from alembic import context

from sync.store.schema import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA)
with context.begin_transaction():
    context.run_migrations()
