"""Small polars expressions every feature computation shares: day spans, counts, safe ratios."""

from __future__ import annotations

from datetime import timedelta

import polars as pl


def day_span(n: int) -> timedelta:
    return timedelta(days=n)


def count_where(cond: pl.Expr) -> pl.Expr:
    return cond.cast(pl.Int64).sum()


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null when the denominator is zero or unknown (never inf)."""
    return pl.when(den != 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)
