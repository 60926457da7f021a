"""Alembic migrations of the state database (one revision per schema version)."""
