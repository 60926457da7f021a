"""Revenue measures (M1–M9) over MRR per account and month: the bridge, retention, ARPA, LTV. Pure.

The input is what the CRM's contracts, deals and line items say each account pays each month
(:data:`MRR_SCHEMA`: one row per account, month and product, ``month`` the month's first day);
building it from the CRM's records is the shell's part. Everything here takes that frame and the
period, and reads no clock.

Definitions (``../shared/DOMAIN.md``, M1–M9), for a period from month ``start`` to month ``end``:

- the **cohort** is the accounts paying at ``start``; its starting MRR is what they paid then;
- per cohort account and product: more at ``end`` is **expansion** (an **upsell** on a product it
  paid for at ``start``, a **cross-sell** on one it did not), less is **contraction**, and an
  account paying nothing at ``end`` is **churn** (all it paid at ``start``); a rise on one product
  and a fall on another of the same account are an upsell *and* a contraction, never netted;
- accounts paying at ``end`` but not at ``start`` are **new** (a returning account included: a
  return is new revenue, never negative churn);
- **NRR** = (start + expansion − contraction − churn) / start; **GRR** = (start − contraction −
  churn) / start; **logo churn** = churned accounts / cohort; **ARPA** = MRR / paying accounts;
  **upsell rate** (M5) = cohort accounts still paying at ``end`` with an upsell / cohort;
- **LTV** = ARPA × lifetime (months), the lifetime 1 / monthly logo churn unless one is given:
  seed 004's ¥10,000 a month for 36 months is ¥360,000.

Months are whole: a row dated inside a month (a contract starting on the 15th) counts for the
month it falls in, at the amount the row says; ``start`` and ``end`` are read the same way. Only
positive amounts are revenue (a zero or credit row pays nothing). A ratio over nothing (no MRR
or no account at the start) is None, never a division error and never 0.

Amounts are in one currency: a frame holding several is refused (:class:`CurrencyError`) unless
``rates`` converts each into the reporting currency.

:func:`retention` is one period, computed plainly; :func:`monthly_bridge` is every month of a
range at once (joins and group-bys over all months, 100,000 accounts × 24 months in seconds) and
agrees with :func:`retention` month by month. Breakdowns by segment, owner and cohort are in
:mod:`rules.revenue_groups`; cross-sell conversion and CAC in :mod:`rules.revenue_offers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

__all__ = [
    "BRIDGE_COLUMNS",
    "MRR_SCHEMA",
    "CurrencyError",
    "Retention",
    "account_bridge",
    "bridge_totals",
    "finish_bridge",
    "ltv",
    "month_of",
    "month_pairs",
    "monthly_bridge",
    "paid",
    "retention",
    "to_currency",
]

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


def month_of(day: date) -> date:
    """The first day of ``day``'s month: how a date inside a month is read."""
    return day.replace(day=1)


def paid(mrr: pl.DataFrame) -> pl.LazyFrame:
    """What each account paid for each product each month (account, product, month, mrr): positive
    rows only, dated on their month's first day, summed. Refuses several currencies."""
    _one_currency(mrr)
    return (
        mrr.lazy()
        .filter(pl.col("mrr") > 0)
        .group_by("account", "product", pl.col("month").dt.truncate("1mo"))
        .agg(pl.col("mrr").sum())
    )


@dataclass(frozen=True, slots=True)
class Retention:
    """The period's bridge from the starting MRR of its cohort, and the ratios M1, M2, M4, M5, M7, M8."""

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
    upsold: int = 0
    """Cohort accounts still paying at the end that pay more for a product they already had."""

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

    @property
    def upsell_rate(self) -> float | None:
        """M5: accounts that upgraded (:attr:`upsold`) / accounts active at the start."""
        return self.upsold / self.cohort if self.cohort else None


def _at(mrr: pl.DataFrame, month: date) -> pl.DataFrame:
    _one_currency(mrr)
    inside = (pl.col("month").dt.truncate("1mo") == month_of(month)) & (pl.col("mrr") > 0)
    return mrr.lazy().filter(inside).group_by("account", "product").agg(pl.col("mrr").sum()).collect()


def retention(mrr: pl.DataFrame, *, start: date, end: date) -> Retention:
    """The bridge and ratios from month ``start`` to month ``end`` (a date inside a month is that month)."""
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
    upsells = grew.filter(pl.col("was") > 0)
    return Retention(
        start_mrr=float(cohort.get_column("was").sum()),
        expansion=float(grew.select(delta.sum()).item() or 0.0),
        upsell=float(upsells.select(delta.sum()).item() or 0.0),
        cross_sell=float(grew.filter(pl.col("was") <= 0).select(delta.sum()).item() or 0.0),
        contraction=float(staying.filter(delta < 0).select((-delta).sum()).item() or 0.0),
        churn=float(churned.get_column("was").sum()),
        new=float(accounts.filter(pl.col("was") <= 0).get_column("now").sum()),
        end_mrr=float(accounts.get_column("now").sum()),
        cohort=cohort.height,
        churned=churned.height,
        paying_at_end=accounts.filter(pl.col("now") > 0).height,
        upsold=upsells.get_column("account").n_unique(),
    )


def account_bridge(paid_: pl.LazyFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    """One row per account and period (``periods``: columns ``period``, ``from``, ``to``, months'
    first days) with what the account paid at ``from`` (``was``) and at ``to`` (``now``) and its
    part of the bridge: ``upsell``, ``cross_sell``, ``contraction`` per product, before the
    account-level verdict (:func:`bridge_totals` applies it). Every period at once: two joins."""
    spans = periods.lazy().select("period", "from", "to")
    was = paid_.join(spans, left_on="month", right_on="from").select(
        "account", "product", "period", pl.col("mrr").alias("was")
    )
    now = paid_.join(spans, left_on="month", right_on="to").select(
        "account", "product", "period", pl.col("mrr").alias("now")
    )
    keys = ["account", "product", "period"]
    both = was.join(now, on=keys, how="full", coalesce=True).with_columns(
        pl.col("was").fill_null(0.0), pl.col("now").fill_null(0.0)
    )
    delta = pl.col("now") - pl.col("was")
    return both.group_by("account", "period").agg(
        pl.col("was").sum(),
        pl.col("now").sum(),
        delta.filter((delta > 0) & (pl.col("was") > 0)).sum().alias("upsell"),
        delta.filter((delta > 0) & (pl.col("was") <= 0)).sum().alias("cross_sell"),
        (-delta).filter(delta < 0).sum().alias("contraction"),
    )


BRIDGE_COLUMNS = (
    "start_mrr",
    "new",
    "expansion",
    "upsell",
    "cross_sell",
    "contraction",
    "churn",
    "end_mrr",
    "cohort",
    "churned",
    "paying",
    "upsold",
    "nrr",
    "grr",
    "logo_churn",
    "mrr_churn",
    "arpa",
    "arr_growth",
    "upsell_rate",
)
"""The bridge's columns, in order: amounts, account counts, then the ratios (None when undefined)."""


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(None)


def bridge_totals(accounts: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    """:func:`account_bridge`'s rows summed per ``by``: the amounts and counts of :data:`BRIDGE_COLUMNS`
    (:func:`finish_bridge` adds the ratios). An account's product rises count only if the account
    stays (a churned one is churn, whole)."""
    cohort, now = pl.col("was") > 0, pl.col("now") > 0
    staying = cohort & now
    sums = accounts.group_by(by).agg(
        pl.col("was").sum().alias("start_mrr"),
        pl.col("now").filter(~cohort).sum().alias("new"),
        pl.col("upsell").filter(staying).sum(),
        pl.col("cross_sell").filter(staying).sum(),
        pl.col("contraction").filter(staying).sum(),
        pl.col("was").filter(cohort & ~now).sum().alias("churn"),
        pl.col("now").sum().alias("end_mrr"),
        cohort.sum().cast(pl.Int64).alias("cohort"),
        (cohort & ~now).sum().cast(pl.Int64).alias("churned"),
        now.sum().cast(pl.Int64).alias("paying"),
        (staying & (pl.col("upsell") > 0)).sum().cast(pl.Int64).alias("upsold"),
    )
    return sums.with_columns((pl.col("upsell") + pl.col("cross_sell")).alias("expansion"))


def finish_bridge(sums: pl.LazyFrame) -> pl.LazyFrame:
    """The ratios of summed bridge rows (M1, M2, M4, M5, M7, M8), None where the base is nothing."""
    start, end = pl.col("start_mrr"), pl.col("end_mrr")
    return sums.with_columns(
        _ratio(start + pl.col("expansion") - pl.col("contraction") - pl.col("churn"), start).alias("nrr"),
        _ratio(start - pl.col("contraction") - pl.col("churn"), start).alias("grr"),
        _ratio(pl.col("churned").cast(pl.Float64), pl.col("cohort")).alias("logo_churn"),
        _ratio(pl.col("churn"), start).alias("mrr_churn"),
        _ratio(end, pl.col("paying")).alias("arpa"),
        (_ratio(end, start) - 1).alias("arr_growth"),
        _ratio(pl.col("upsold").cast(pl.Float64), pl.col("cohort")).alias("upsell_rate"),
    )


def month_pairs(start: date, end: date) -> pl.DataFrame:
    """Every month after ``start`` up to ``end`` with the month before it: ``period`` (= ``to``), ``from``, ``to``."""
    first, last = month_of(start), month_of(end)
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first}): give start <= end")
    months = pl.date_range(first, last, "1mo", eager=True)
    return pl.DataFrame({"from": months[:-1], "to": months[1:]}).with_columns(pl.col("to").alias("period"))


_ZERO = {c: 0.0 for c in BRIDGE_COLUMNS[:8]} | {c: 0 for c in BRIDGE_COLUMNS[8:12]}


def monthly_bridge(mrr: pl.DataFrame, *, start: date | None = None, end: date | None = None) -> pl.DataFrame:
    """Month by month, each month's bridge from the one before it: one row per month after ``start``
    up to ``end`` (default: the frame's first and last month), columns ``month`` and
    :data:`BRIDGE_COLUMNS`. A month nobody paid in is a row of zeros (its ratios None); a returning
    account is new again in the month it returns. The same figures as :func:`retention` month by
    month, computed over all months at once."""
    p = paid(mrr)
    if start is None or end is None:
        bounds = p.select(pl.col("month").min().alias("lo"), pl.col("month").max().alias("hi")).collect()
        lo, hi = bounds.item(0, "lo"), bounds.item(0, "hi")
        if lo is None:
            return pl.DataFrame(schema={"month": pl.Date, **_bridge_schema()})
        start, end = start or lo, end or hi
    pairs = month_pairs(start, end)
    totals = bridge_totals(account_bridge(p, pairs), ["period"])
    out = (
        pairs.lazy()
        .select("period")
        .join(totals, on="period", how="left")
        .with_columns(pl.col(c).fill_null(v) for c, v in _ZERO.items())
        .pipe(finish_bridge)
    )
    return out.select(pl.col("period").alias("month"), *BRIDGE_COLUMNS).sort("month").collect()


def _bridge_schema() -> dict[str, pl.DataType]:
    return {c: (pl.Int64() if c in ("cohort", "churned", "paying", "upsold") else pl.Float64()) for c in BRIDGE_COLUMNS}


def ltv(arpa: float, *, lifetime_months: float | None = None, monthly_churn: float | None = None) -> float | None:
    """M3: ARPA × lifetime in months; the lifetime given, else 1 / monthly logo churn (None when
    nothing churns and no lifetime is given: an unbounded lifetime is no figure)."""
    if lifetime_months is None:
        if not monthly_churn:
            return None
        lifetime_months = 1 / monthly_churn
    return arpa * lifetime_months
