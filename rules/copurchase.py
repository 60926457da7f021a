"""Co-purchase mining (S15) and relatedness (G7): which product owners of A tend to add next, and to whom to offer it.

Owners of A who added B within ``within_days`` of buying A, over owners of A, is the *confidence* of A → B
("31% of accounts with Accounting added Payroll within 6 months"). It is mined from a purchases table
(``account``, ``product``, ``at``: won line items, assets and contracts), where only an account's *first* purchase
of a product counts and rows dated after ``now`` do not exist yet (an as-of replay must not see the future).

Definitions, for an ordered pair A → B (A ≠ B), as of ``now``:

- **owners**: accounts that own A *and whose outcome is observable*. An account that bought A less than
  ``within_days`` ago may still add B inside its window, so counting it as "did not add B" would bias confidence
  down for recently launched or fast-growing products. Such an account is right-censored: it counts only if it
  already added B (its outcome is known), i.e. ``first(A) <= now - within_days`` **or** it is an adopter.
- **adopters**: owners whose first purchase of B falls in ``[first(A), first(A) + within_days]``; the same day
  counts (lag 0). Accounts that had B *before* A are neither: they could not add it.
- **confidence** = adopters / owners; **support** = adopters / N, where N is the number of accounts with any
  purchase as of ``now``.
- **lift** = confidence / (accounts owning B / N): how much likelier owners of A are to add B than an account at
  large is to own it. Lift 1 is no association; the S15 defaults ask for confidence >= 0.2 and lift >= 1.5.
  The baseline counts B bought at any time while confidence counts only B bought after A inside the window, so
  lift errs low (a missed offer rather than an unfounded one, as G8 would have it).
- **median_lag_days**: median of first(B) − first(A), in days, over the adopters.

Ratios are computed as one division of exact integer counts (lift as ``adopters·N / (owners·holders(B))``), so a
ratio that equals a threshold exactly (3/2 against ``min_lift=1.5``) compares equal instead of falling a rounding
error short. Everything is vectorised polars: one self-join of first purchases on ``account``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

__all__ = [
    "PAIR_COLUMNS",
    "PAIR_SCHEMA",
    "RECOMMENDATION_COLUMNS",
    "MiningParams",
    "evidence",
    "first_purchases",
    "mine_pairs",
    "recommend",
    "related",
]

_DAYS_PER_MONTH = 365.25 / 12
"""30.4375: a window within a day of a whole number of these reads as months ("183 days" → "6 months")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MiningParams:
    """How pairs are mined and which of them may drive an offer (S15 defaults)."""

    within_days: int = 183
    """The adoption window after the first purchase of A, both ends inclusive ("added B within 6 months")."""
    min_accounts: int = 5
    """Pairs with fewer adopters are noise: dropped by ``mine_pairs`` and ignored by ``recommend``/``related``."""
    min_support: float = 0.0
    min_confidence: float = 0.2
    min_lift: float = 1.5

    def __post_init__(self) -> None:
        if self.within_days < 0:
            raise ValueError(f"within_days must be >= 0, got {self.within_days}")
        if self.min_accounts < 1:
            # a pair nobody adopted is no co-purchase evidence, and its confidence may be 0/0
            raise ValueError(f"min_accounts must be >= 1, got {self.min_accounts}")


PAIR_SCHEMA = pl.Schema(
    {
        "antecedent": pl.String(),
        "consequent": pl.String(),
        "owners": pl.Int64(),
        "adopters": pl.Int64(),
        "support": pl.Float64(),
        "confidence": pl.Float64(),
        "lift": pl.Float64(),
        "median_lag_days": pl.Float64(),
    }
)
"""``mine_pairs``'s columns and dtypes: ``pl.DataFrame(schema=PAIR_SCHEMA)`` is an empty pair table."""
PAIR_COLUMNS = ("antecedent", "consequent", "owners", "adopters", "support", "confidence", "lift", "median_lag_days")
RECOMMENDATION_COLUMNS = (
    "account",
    "product",
    "antecedent",
    "confidence",
    "lift",
    "support",
    "owners",
    "adopters",
    "median_lag_days",
    "evidence",
)
_PURCHASE_SCHEMA = pl.Schema({"account": pl.String(), "product": pl.String(), "at": pl.Date()})


def _as_date(now: date) -> date:
    """``now`` as a calendar date: a ``datetime`` (a ``date`` to the type checker) keeps its own date."""
    return now.date() if isinstance(now, datetime) else now


def first_purchases(purchases: pl.DataFrame, *, now: date) -> pl.DataFrame:
    """(account, product, at): each account's first purchase of each product, as of ``now``.

    Rows dated after ``now`` are dropped before taking the minimum, and so are rows missing any of the three
    values (a purchase without a date cannot be placed in time). Sorted by account, then product.
    """
    today = _as_date(now)
    return (
        purchases.lazy()
        .select(pl.col(name).cast(dtype) for name, dtype in _PURCHASE_SCHEMA.items())
        .drop_nulls()
        .filter(pl.col("at") <= today)
        .group_by("account", "product")
        .agg(pl.col("at").min())
        .sort("account", "product")
        .collect()
    )


def mine_pairs(purchases: pl.DataFrame, *, now: date, params: MiningParams) -> pl.DataFrame:
    """Every ordered pair A → B with at least ``params.min_accounts`` adopters, with the columns of ``PAIR_COLUMNS``.

    See the module docstring for the definitions. Only ``within_days`` and ``min_accounts`` apply here; the
    support/confidence/lift thresholds are for ``recommend`` and ``related``, so one mined table can be inspected
    whole. Sorted by antecedent, confidence descending, lift descending, consequent.
    """
    first = first_purchases(purchases, now=now).lazy()
    cutoff = _as_date(now) - timedelta(days=params.within_days)
    window = pl.duration(days=params.within_days)
    accounts = first.select(pl.col("account").n_unique().cast(pl.Int64).alias("n"))
    holders = first.group_by("product").agg(pl.len().cast(pl.Int64).alias("holders"))
    mature = (
        first.filter(pl.col("at") <= cutoff)
        .group_by("product")
        .agg(pl.len().cast(pl.Int64).alias("mature"))
        .rename({"product": "antecedent"})
    )
    adopted = (
        first.rename({"product": "antecedent", "at": "at_a"})
        .join(first.rename({"product": "consequent", "at": "at_b"}), on="account")
        .filter(
            pl.col("antecedent") != pl.col("consequent"),
            pl.col("at_b") >= pl.col("at_a"),
            pl.col("at_b") <= pl.col("at_a") + window,
        )
        .group_by("antecedent", "consequent")
        .agg(
            pl.len().cast(pl.Int64).alias("adopters"),
            # adopters whose window is still open: observable only because they already adopted
            (pl.col("at_a") > cutoff).sum().cast(pl.Int64).alias("censored_adopters"),
            (pl.col("at_b") - pl.col("at_a")).dt.total_days().median().cast(pl.Float64).alias("median_lag_days"),
        )
        .filter(pl.col("adopters") >= params.min_accounts)
    )
    # mature owners of A who had B already: they could not add it, so they are not owners of A → B
    prior = (
        first.filter(pl.col("at") <= cutoff)
        .rename({"product": "antecedent", "at": "at_a"})
        .join(first.rename({"product": "consequent", "at": "at_b"}), on="account")
        .filter(pl.col("antecedent") != pl.col("consequent"), pl.col("at_b") < pl.col("at_a"))
        .group_by("antecedent", "consequent")
        .agg(pl.len().cast(pl.Int64).alias("prior"))
    )
    pairs = (
        adopted.join(mature, on="antecedent", how="left")
        .join(prior, on=["antecedent", "consequent"], how="left")
        .join(holders.rename({"product": "consequent"}), on="consequent", how="left")
        .join(accounts, how="cross")
        .with_columns(owners=pl.col("mature").fill_null(0) - pl.col("prior").fill_null(0) + pl.col("censored_adopters"))
        .select(
            "antecedent",
            "consequent",
            "owners",
            "adopters",
            (pl.col("adopters") / pl.col("n")).alias("support"),
            (pl.col("adopters") / pl.col("owners")).alias("confidence"),
            ((pl.col("adopters") * pl.col("n")) / (pl.col("owners") * pl.col("holders"))).alias("lift"),
            "median_lag_days",
        )
        .sort(
            ["antecedent", "confidence", "lift", "consequent"],
            descending=[False, True, True, False],
        )
        .collect()
    )
    return pairs.cast(PAIR_SCHEMA)


def _qualifying(pairs: pl.DataFrame, params: MiningParams) -> pl.LazyFrame:
    return pairs.lazy().filter(
        pl.col("adopters") >= params.min_accounts,
        pl.col("support") >= params.min_support,
        pl.col("confidence") >= params.min_confidence,
        pl.col("lift") >= params.min_lift,
    )


def _candidates(pairs: pl.DataFrame, owned: pl.DataFrame, params: MiningParams) -> pl.LazyFrame:
    """(account, qualifying pair columns…, product = B) for every pair A → B where the account owns A and lacks B."""
    holdings = owned.lazy().select(pl.col("account").cast(pl.String), pl.col("product").cast(pl.String)).unique()
    return (
        holdings.rename({"product": "antecedent"})
        .join(_qualifying(pairs, params), on="antecedent")
        .with_columns(product=pl.col("consequent"))
        .join(holdings, on=["account", "product"], how="anti")
    )


def _evidence_expr(
    antecedent: pl.Expr, consequent: pl.Expr, confidence: pl.Expr, lift: pl.Expr, within_days: int
) -> pl.Expr:
    percent = (confidence * 100).round(0, mode="half_away_from_zero").cast(pl.Int64)
    lift_text = lift.round(1, mode="half_away_from_zero").cast(pl.String)
    return pl.format(
        "{}% of accounts with {} added {} within {} (lift {})",
        percent,
        antecedent,
        consequent,
        pl.lit(_period(within_days)),
        lift_text,
    )


def _period(days: int) -> str:
    months = round(days / _DAYS_PER_MONTH)
    if months >= 1 and abs(days - months * _DAYS_PER_MONTH) <= 1:
        return f"{months} month" if months == 1 else f"{months} months"
    return f"{days} day" if days == 1 else f"{days} days"


def evidence(antecedent: str, consequent: str, confidence: float, lift: float, within_days: int) -> str:
    """The G8 reason for an S15 offer: "31% of accounts with Accounting added Payroll within 6 months (lift 2.4)".

    Confidence reads as a whole percent and lift with one decimal, both rounded half away from zero. A window
    within a day of a whole number of average months (30.44 days) reads in months (30 → "1 month", 91 → "3 months",
    183 → "6 months", 365 → "12 months"), any other in days ("45 days"). Built by the same polars expression
    ``recommend`` uses for its ``evidence`` column, so the two never disagree.
    """
    expr = _evidence_expr(
        pl.lit(antecedent, dtype=pl.String),
        pl.lit(consequent, dtype=pl.String),
        pl.lit(confidence, dtype=pl.Float64),
        pl.lit(lift, dtype=pl.Float64),
        within_days,
    )
    text: str = pl.select(expr).item()
    return text


def recommend(pairs: pl.DataFrame, owned: pl.DataFrame, *, params: MiningParams) -> pl.DataFrame:
    """S15: for each account, the one product to offer, with the columns of ``RECOMMENDATION_COLUMNS``.

    ``pairs`` comes from ``mine_pairs``; ``owned`` is (account, product): what each account owns now. A pair
    qualifies when it meets every threshold of ``params`` (min_accounts included, in case the pairs were mined
    with a laxer one). Among the qualifying pairs A → B where the account owns A and lacks B, the best has the
    highest confidence, then lift, then the first consequent by name, then the first antecedent by name (the same
    B reached from two products the account owns). Accounts without one are absent. Sorted by account.
    """
    best = (
        _candidates(pairs, owned, params)
        .sort(
            ["account", "confidence", "lift", "consequent", "antecedent"],
            descending=[False, True, True, False, False],
        )
        .unique(subset="account", keep="first", maintain_order=True)
        .with_columns(
            evidence=_evidence_expr(
                pl.col("antecedent"), pl.col("consequent"), pl.col("confidence"), pl.col("lift"), params.within_days
            )
        )
        .select(RECOMMENDATION_COLUMNS)
        .collect()
    )
    return best


def related(pairs: pl.DataFrame, owned: pl.DataFrame, *, params: MiningParams) -> pl.DataFrame:
    """G7: (account, product) for every product an account lacks that a qualifying pair links to one it owns.

    Co-purchase evidence of relevance: a cross-sell of ``product`` to ``account`` is related when this table holds
    the row. Same qualifying rule as ``recommend``; one row per (account, product), sorted.
    """
    return _candidates(pairs, owned, params).select("account", "product").unique().sort("account", "product").collect()
