"""The frames one report page is built from: read from the store by the CLI, synthetic in tests and the bench."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from rules.lift import LIFT_SCHEMA
from rules.metrics import FUNNEL_SCHEMA
from rules.revenue import MRR_SCHEMA

__all__ = ["HEALTH_COUNTS_SCHEMA", "LIFT_SCHEMA", "OWNER_TASKS_SCHEMA", "ReportData"]

HEALTH_COUNTS_SCHEMA: dict[str, pl.DataType] = {"day": pl.Date(), "band": pl.String(), "accounts": pl.Int64()}
"""Accounts per health band on each day the store has scores for (aggregated where it is read)."""

OWNER_TASKS_SCHEMA: dict[str, pl.DataType] = {
    "owner": pl.String(),
    "created": pl.Int64(),
    "completed": pl.Int64(),
    "open": pl.Int64(),
}
"""Per owner (their name), upsync's tasks created in the period, and of those completed and still open."""


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """Everything one page shows. Any frame may be empty: its section then says why, in a line.

    ``mrr`` is in one currency (:data:`rules.revenue.MRR_SCHEMA`); ``funnel`` is
    :func:`rules.metrics.funnel`'s frame (its ``TOTAL`` row included) for the tasks created from
    ``first`` to ``last``; ``currency`` names the unit of MRR and won revenue (None: the MRR
    frame's own, else amounts are shown without a unit).
    """

    system: str
    first: date
    last: date
    outcome_days: int
    currency: str | None = None
    mrr: pl.DataFrame = field(default_factory=lambda: _empty(MRR_SCHEMA))
    funnel: pl.DataFrame = field(default_factory=lambda: _empty(FUNNEL_SCHEMA))
    lift: pl.DataFrame = field(default_factory=lambda: _empty(LIFT_SCHEMA))
    health: pl.DataFrame = field(default_factory=lambda: _empty(HEALTH_COUNTS_SCHEMA))
    owners: pl.DataFrame = field(default_factory=lambda: _empty(OWNER_TASKS_SCHEMA))
