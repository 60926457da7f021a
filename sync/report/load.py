"""The page's frames from the store, for ``upsync report --html``."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from core.tables import OutcomeTables
from sync.report.data import ReportData
from sync.report.measures import tasks_per_owner
from sync.store import Store

__all__ = ["report_data"]

HEALTH_DAYS = 365
"""Health bands are charted for the year up to the period's end."""


def report_data(
    store: Store,
    *,
    system: str,
    first: date,
    last: date,
    outcome_days: int,
    funnel: pl.DataFrame,
    tables: OutcomeTables,
    lift: pl.DataFrame,
    mrr: pl.DataFrame,
    currency: str | None = None,
) -> ReportData:
    """Everything the page shows for tasks created ``first``..``last``: ``funnel`` is the report's
    own (:func:`rules.metrics.funnel`), ``tables`` the outcome frames it was computed from, ``lift``
    the report's lift (:func:`rules.lift.lift`), ``mrr`` the book's MRR in ``currency``
    (:func:`sync.cli.revenue.book_mrr`)."""
    ledger = store.task_owners(system, since=first, until=last)
    return ReportData(
        system=system,
        first=first,
        last=last,
        outcome_days=outcome_days,
        currency=currency,
        mrr=mrr,
        funnel=funnel,
        lift=lift,
        health=store.health_band_counts(system, since=last - timedelta(days=HEALTH_DAYS), until=last),
        owners=tasks_per_owner(ledger, tables.tasks, store.owner_names(system), since=first, until=last),
    )
