"""Alembic revisions: ``v<N>`` brings the state database to schema version N."""
