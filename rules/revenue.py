"""Revenue measures (M1–M9) over MRR per account and month: the bridge, retention, ARPA, LTV. Pure.

The input is what the CRM's contracts, deals and line items say each account pays each month
(:data:`MRR_SCHEMA`: one row per account, month and product, ``month`` the month's first day);
building it from the CRM's records is the shell's part. Everything here takes that frame and the
period, and reads no clock.

Definitions (``../shared/DOMAIN.md``, M1–M9), for a period from month ``start`` to month ``end``:

- the **cohort** is the accounts paying at ``start``; its starting MRR is what they paid then;
- per cohort account and product: more at ``end`` is **expansion** (an **upsell** on a product it
  paid for at ``start``, a **cross-sell** on one it did not), less is **contraction**, and an
  account paying nothing at ``end`` is **churn** (all it paid at ``start``);
- accounts paying at ``end`` but not at ``start`` are **new** (a returning account included);
- **NRR** = (start + expansion − contraction − churn) / start; **GRR** = (start − contraction −
  churn) / start; **logo churn** = churned accounts / cohort; **ARPA** = MRR / paying accounts;
- **LTV** = ARPA × lifetime (months), the lifetime 1 / monthly logo churn unless one is given:
  seed 004's ¥10,000 a month for 36 months is ¥360,000.

Amounts are in one currency: a frame holding several is refused (:class:`CurrencyError`) unless
``rates`` converts each into the reporting currency.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

__all__ = ["MRR_SCHEMA", "CurrencyError", "Retention", "ltv", "monthly_bridge", "retention", "to_currency"]

MRR_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "month": pl.Date(),
    "product": pl.String(),
    "mrr": pl.Float64(),
    "currency": pl.String(),
}
"""One row per account, month (its first day) and product: what the account pays for it that month."""


class CurrencyError(ValueError):
    """Amounts in several currencies and no rate to convert one of them: never summed silently."""


def to_currency(mrr: pl.DataFrame, currency: str, rates: Mapping[str, float] | None = None) -> pl.DataFrame:
    """``mrr`` in ``currency``: rows already in it as they are, others times ``rates[their currency]``
    (one unit of theirs in ``currency``). Raises :class:`CurrencyError` naming every currency
    without a rate."""
    rates = {**(rates or {}), currency: 1.0}
    found = set(mrr.get_column("currency").drop_nulls().unique().to_list())
    missing = sorted(found - set(rates))
    if missing:
        raise CurrencyError(
            f"MRR in {', '.join(missing)} besides {currency} and no rate for it: "
            f"set a rate per currency (one unit in {currency}), or report each currency apart"
        )
    rate = pl.col("currency").replace_strict(rates, default=1.0, return_dtype=pl.Float64)
    return mrr.with_columns((pl.col("mrr") * rate).alias("mrr"), pl.lit(currency).alias("currency"))


def _one_currency(mrr: pl.DataFrame) -> None:
    found = sorted(mrr.get_column("currency").drop_nulls().unique().to_list())
    if len(found) > 1:
        raise CurrencyError(f"MRR in several currencies ({', '.join(found)}): convert them to one first (to_currency)")


@dataclass(frozen=True, slots=True)
class Retention:
    """The period's bridge from the starting MRR of its cohort, and the ratios M1, M2, M4, M7, M8."""

    start_mrr: float
    expansion: float
    upsell: float
    cross_sell: float
    contraction: float
    churn: float
    new: float
    end_mrr: float
    cohort: int
    churned: int
    paying_at_end: int

    @property
    def nrr(self) -> float | None:
        """M1: (start + expansion − contraction − churn) / start."""
        kept = self.start_mrr + self.expansion - self.contraction - self.churn
        return kept / self.start_mrr if self.start_mrr else None

    @property
    def grr(self) -> float | None:
        """M2: (start − contraction − churn) / start."""
        return (self.start_mrr - self.contraction - self.churn) / self.start_mrr if self.start_mrr else None

    @property
    def logo_churn(self) -> float | None:
        """M7: accounts lost / accounts at start."""
        return self.churned / self.cohort if self.cohort else None

    @property
    def mrr_churn(self) -> float | None:
        """M7: MRR lost to churn / MRR at start."""
        return self.churn / self.start_mrr if self.start_mrr else None

    @property
    def arpa(self) -> float | None:
        """M4: MRR at the end / accounts paying then."""
        return self.end_mrr / self.paying_at_end if self.paying_at_end else None

    @property
    def arr_growth(self) -> float | None:
        """M8: ARR at the end / ARR at the start − 1 (every account: the cohort and the new)."""
        return self.end_mrr / self.start_mrr - 1 if self.start_mrr else None


def _at(mrr: pl.DataFrame, month: date) -> pl.DataFrame:
    return (
        mrr.filter((pl.col("month") == month) & (pl.col("mrr") > 0))
        .group_by("account", "product")
        .agg(pl.col("mrr").sum())
    )


def retention(mrr: pl.DataFrame, *, start: date, end: date) -> Retention:
    """The bridge and ratios from month ``start`` to month ``end`` (first days of months)."""
    _one_currency(mrr)
    first, last = _at(mrr, start), _at(mrr, end)
    both = first.join(last, on=["account", "product"], how="full", coalesce=True, suffix="_end").with_columns(
        pl.col("mrr").fill_null(0.0).alias("was"), pl.col("mrr_end").fill_null(0.0).alias("now")
    )
    accounts = both.group_by("account").agg(
        pl.col("was").sum().alias("was"),
        pl.col("now").sum().alias("now"),
    )
    cohort = accounts.filter(pl.col("was") > 0)
    churned = cohort.filter(pl.col("now") <= 0)
    staying = both.join(cohort.filter(pl.col("now") > 0).select("account"), on="account", how="semi")
    delta = pl.col("now") - pl.col("was")
    grew = staying.filter(delta > 0)
    return Retention(
        start_mrr=float(cohort.get_column("was").sum()),
        expansion=float(grew.select(delta.sum()).item() or 0.0),
        upsell=float(grew.filter(pl.col("was") > 0).select(delta.sum()).item() or 0.0),
        cross_sell=float(grew.filter(pl.col("was") <= 0).select(delta.sum()).item() or 0.0),
        contraction=float(staying.filter(delta < 0).select((-delta).sum()).item() or 0.0),
        churn=float(churned.get_column("was").sum()),
        new=float(accounts.filter(pl.col("was") <= 0).get_column("now").sum()),
        end_mrr=float(accounts.get_column("now").sum()),
        cohort=cohort.height,
        churned=churned.height,
        paying_at_end=accounts.filter(pl.col("now") > 0).height,
    )


def monthly_bridge(mrr: pl.DataFrame) -> pl.DataFrame:
    """Month by month (from the second month the frame holds): the MRR bridge of each month from
    the one before it: month, start, new, expansion, contraction, churn, end. A returning account
    is new again in the month it returns."""
    _one_currency(mrr)
    months = sorted(mrr.get_column("month").unique().to_list())
    rows = []
    for before, month in itertools.pairwise(months):
        r = retention(mrr, start=before, end=month)
        rows.append(
            {
                "month": month,
                "start": r.start_mrr,
                "new": r.new,
                "expansion": r.expansion,
                "contraction": r.contraction,
                "churn": r.churn,
                "end": r.end_mrr,
            }
        )
    schema = {"month": pl.Date, **{c: pl.Float64 for c in ("start", "new", "expansion", "contraction", "churn", "end")}}
    return pl.DataFrame(rows, schema=schema)


def ltv(arpa: float, *, lifetime_months: float | None = None, monthly_churn: float | None = None) -> float | None:
    """M3: ARPA × lifetime in months; the lifetime given, else 1 / monthly logo churn (None when
    nothing churns and no lifetime is given: an unbounded lifetime is no figure)."""
    if lifetime_months is None:
        if not monthly_churn:
            return None
        lifetime_months = 1 / monthly_churn
    return arpa * lifetime_months
