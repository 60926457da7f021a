"""Bring a state database to the current schema with Alembic, or refuse one it cannot read.

An empty database is built by the migrations themselves, so every install, new or upgraded,
runs the same code. A state.db from before migrations existed (schema versions 1–5, told by
``meta.schema_version``) is upgraded in place by the first revision. One written by a newer
upsync (a higher ``schema_version``, or a revision this release does not know) is refused
rather than guessed at. ``meta.schema_version`` is kept current so that an older upsync can
recognise a newer database and refuse it too.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from core.errors import StateError
from sync.store.lease import advisory_key

__all__ = ["SCHEMA_VERSION", "prepare", "schema_version"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    return config


def _version(revision: str) -> int:
    """``v6`` or ``v6_crm_extra`` → 6: a revision is named for the schema version it makes."""
    return int(revision.removeprefix("v").split("_", 1)[0])


_HEAD = ScriptDirectory(str(_SCRIPTS)).get_current_head()
assert _HEAD is not None
SCHEMA_VERSION = _version(_HEAD)
"""The schema version this release writes: its newest migration (``v<N>``)."""


def prepare(engine: Engine) -> None:
    """Create, upgrade or refuse the database behind ``engine`` (one transaction)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # replicas opening one new database at once: one migrates
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key("migrate")})
        tables = set(sa.inspect(conn).get_table_names())
        if tables and "meta" not in tables:
            raise StateError(
                "the state database holds tables but no upsync schema version",
                hint="point --state at an upsync state.db or at an empty database",
            )
        if "meta" in tables:
            _check_readable(conn)
        command.upgrade(_config(conn), "head")
        _set_version(conn, SCHEMA_VERSION)


def _check_readable(conn: Connection) -> None:
    row = conn.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    try:
        version = int(row[0]) if row else 0
    except ValueError:
        version = 0
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state.db has schema version {version}; this upsync understands up to {SCHEMA_VERSION}",
            hint="upgrade upsync, or point --state at another database",
        )
    if version < 1:
        raise StateError(f"state.db has an invalid schema version {row[0] if row else None!r}")
    current = MigrationContext.configure(conn).get_current_revision()
    known = {script.revision for script in ScriptDirectory(str(_SCRIPTS)).walk_revisions()}
    if current is not None and current not in known:
        raise StateError(
            f"state.db was migrated by a newer upsync (revision {current!r})",
            hint="upgrade upsync, or point --state at another database",
        )


def _set_version(conn: Connection, version: int) -> None:
    updated = conn.execute(
        sa.text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)}
    ).rowcount
    if not updated:
        conn.execute(sa.text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"), {"v": str(version)})


def schema_version(conn: Connection) -> int:
    """The schema version the database is at (``meta.schema_version``)."""
    return int(conn.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar_one())
