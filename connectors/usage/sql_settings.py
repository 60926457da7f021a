"""``[usage.sql]``: usage read from a SQL warehouse (``[usage] source = "sql"``) instead of the API.

The database's address, credentials included, is a SQLAlchemy URL held by an environment
variable (``url_env``), like every other secret: the file only names the variable. The query
reads one row per (workspace, day) and takes the cursor's window as the bound parameters
``:since`` and ``:until``; the row's columns are named by ``[usage.fields]``.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from core.config import Section, check_env_name

__all__ = ["BIND_PARAMETER", "WINDOW_PARAMETERS", "UsageSqlSettings", "bound_names"]

BIND_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)", re.UNICODE)
"""A ``:name`` bound parameter as SQLAlchemy's ``text()`` finds it (``sqlalchemy.sql.elements``):
not a ``::type`` cast, not an escaped ``\\:``."""

WINDOW_PARAMETERS = ("since", "until")
"""What upsync binds: the window ``[since, until)`` on the rows' modification time."""


def bound_names(query: str) -> list[str]:
    """The bound parameters ``query`` uses, in order of first use."""
    return list(dict.fromkeys(BIND_PARAMETER.findall(query)))


class UsageSqlSettings(Section):
    url_env: str = Field("USAGE_SQL_URL", description="environment variable holding the SQLAlchemy URL")
    query: str = Field(description="one row per (workspace, day) modified in [:since, :until)")
    workspaces_query: str | None = Field(None, description="columns id, domain, name: the identity fallback")
    batch_size: int = Field(50_000, ge=100, le=1_000_000)
    """Rows fetched, converted and stored at a time (dlt's sql_database reads 50,000 per chunk)."""

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return check_env_name(value)

    @field_validator("query")
    @classmethod
    def _window_bound(cls, value: str) -> str:
        used = bound_names(value)
        unknown = [n for n in used if n not in WINDOW_PARAMETERS]
        if unknown:
            raise ValueError(
                f"the query uses :{', :'.join(unknown)}, which upsync does not bind; it binds :since and :until "
                "(the window on the rows' modification time; write a literal value into the query itself)"
            )
        missing = [n for n in WINDOW_PARAMETERS if n not in used]
        if missing:
            raise ValueError(
                f"the query does not use :{', :'.join(missing)}: read only the rows modified in the window, "
                "e.g. WHERE loaded_at >= :since AND loaded_at < :until"
            )
        return value

    @field_validator("workspaces_query")
    @classmethod
    def _nothing_bound(cls, value: str | None) -> str | None:
        used = bound_names(value or "")
        if used:
            raise ValueError(f"the workspaces query is read whole: it binds nothing (it uses :{', :'.join(used)})")
        return value
