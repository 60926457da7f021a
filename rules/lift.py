"""Did a rule's tasks cause anything? Treated vs control, with 95 % intervals. Pure.

Each rule's ripe accounts are split at random (:mod:`rules.plan.control`): most get the rule's
task, ``control_share`` of them get none. Because the split is random, the difference in outcomes
between the two arms estimates what the tasks caused; the funnel (:mod:`rules.metrics`) only says
what followed them.

Per rule, over a report period ``since``..``until`` (dates, both included):

- **treated**: accounts that got a confirmed task of the rule created in the period; its day is
  the first such task's. **control**: accounts kept in the rule's control group in the period
  (``OutcomeTables.control``), the day their task would have been created. An account counts once
  per rule, in the arm of its first assignment in the period (its first day), so an account in
  both arms over a long period is not counted twice.
- **outcome**: an opportunity on the account created on the day or up to ``outcome_days`` after
  it (a deal already open before is not an outcome); **won**: one of those deals was won;
  **revenue**: the won amounts of those deals (per account; the arms' mean is revenue per account,
  zeros included). With ``as_of`` (a replay), nothing after it is seen.
- **lift**: treated opportunity rate − control rate (absolute, in points); ``lift_relative`` =
  lift / control rate (null when the control rate is 0). Its 95 % interval is **Newcombe's hybrid
  score interval** (Newcombe 1998, method 10): Wilson score intervals of each rate combined. Unlike
  Wald's it stays inside [−1, 1], is not degenerate at 0 or 100 % (an arm with no opportunity at
  all is common here), and holds its coverage at the small counts a rule's control group has.
- **revenue lift**: mean revenue per treated account − per control account, with **Welch's**
  interval (unequal variances; t quantile at the Welch–Satterthwaite degrees of freedom).
- **enough data**: at least :data:`MIN_PER_ARM` accounts in each arm and :data:`MIN_OUTCOMES`
  opportunities over both; below that the interval is still computed but ``note`` says "not enough
  data yet: …" and the report shows that instead of a verdict.

A closing ``TOTAL`` row pools every rule's accounts (an account of two rules counts in each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import Any

import polars as pl

from core.tables import OutcomeTables

__all__ = [
    "LIFT_SCHEMA",
    "MIN_OUTCOMES",
    "MIN_PER_ARM",
    "TOTAL",
    "diff_interval",
    "lift",
    "t_quantile",
    "welch_interval",
    "wilson",
]

TOTAL = "TOTAL"
MIN_PER_ARM = 30
"""Accounts each arm needs before the lift is read as evidence."""
MIN_OUTCOMES = 5
"""Opportunities both arms together need: with fewer, any difference is noise."""
Z95 = NormalDist().inv_cdf(0.975)

LIFT_SCHEMA: dict[str, pl.DataType] = {
    "rule_id": pl.String(),
    "treated": pl.Int64(),
    "control": pl.Int64(),
    "treated_opportunities": pl.Int64(),
    "control_opportunities": pl.Int64(),
    "treated_opportunity_rate": pl.Float64(),
    "control_opportunity_rate": pl.Float64(),
    "treated_won": pl.Int64(),
    "control_won": pl.Int64(),
    "treated_win_rate": pl.Float64(),
    "control_win_rate": pl.Float64(),
    "treated_revenue": pl.Float64(),
    "control_revenue": pl.Float64(),
    "lift": pl.Float64(),
    "lift_relative": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "revenue_lift": pl.Float64(),
    "revenue_ci_low": pl.Float64(),
    "revenue_ci_high": pl.Float64(),
    "enough_data": pl.Boolean(),
    "note": pl.String(),
}
"""The lift frame's columns, in order (the shared contract; ``upsync report --json`` "lift")."""


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion; (0, 1) when there is nothing to count."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def diff_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval of p1 − p2 (method 10); None when an arm is empty."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile by the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5): within
    1e-3 of the exact value from 5 degrees of freedom on, the range a lift is read in."""
    z = NormalDist().inv_cdf(p)
    if math.isinf(df):
        return z
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def welch_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """95 % Welch interval of mean(a) − mean(b); None when an arm has fewer than two values.
    Two arms without any spread (all zeros) give the point itself."""
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = sum(a) / n1, sum(b) / n2
    v1 = sum((x - m1) ** 2 for x in a) / (n1 - 1)
    v2 = sum((x - m2) ** 2 for x in b) / (n2 - 1)
    se2 = v1 / n1 + v2 / n2
    if se2 == 0:
        return m1 - m2, m1 - m2
    df = se2**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    half = t_quantile(0.975, df) * math.sqrt(se2)
    return m1 - m2 - half, m1 - m2 + half


def _arms(t: OutcomeTables, since: date, until: date, as_of: datetime | None) -> pl.DataFrame:
    """(rule_id, account_id, day, arm): each account's first assignment per rule in the period."""
    ledger = t.ledger.filter((pl.col("state") == "confirmed") & pl.col("created_at").is_not_null())
    if as_of is not None:
        ledger = ledger.filter(pl.col("created_at") <= as_of)
    treated = ledger.select(
        "rule_id", "account_id", pl.col("created_at").dt.date().alias("day"), pl.lit("t").alias("arm")
    )
    control = t.control.filter(pl.col("day").is_not_null()).select(
        "rule_id", "account_id", "day", pl.lit("c").alias("arm")
    )
    if as_of is not None:
        control = control.filter(pl.col("day") <= as_of.date())
    both = pl.concat([treated, control], how="vertical").filter(
        pl.col("day").is_between(since, until) & pl.col("account_id").is_not_null() & pl.col("rule_id").is_not_null()
    )
    # the first assignment decides the arm; a tie (same day in both) goes to treated: it got a task
    return both.sort("rule_id", "account_id", "day", pl.col("arm") == "c").unique(
        ["rule_id", "account_id"], keep="first", maintain_order=True
    )


def _outcomes(arms: pl.DataFrame, t: OutcomeTables, outcome_days: int, as_of: datetime | None) -> pl.DataFrame:
    """``arms`` with whether an opportunity followed, whether one was won, and its won revenue."""
    o = t.opportunities.filter(pl.col("created_at").is_not_null() & pl.col("account_id").is_not_null())
    won = pl.col("is_won").fill_null(False)
    if as_of is not None:
        o = o.filter(pl.col("created_at") <= as_of)
        won = won & (pl.col("close_date").is_null() | (pl.col("close_date") <= as_of.date()))
    opps = o.unique("crm_id", keep="last", maintain_order=True).select(
        "account_id",
        pl.col("created_at").dt.date().alias("opp_day"),
        won.alias("won"),
        pl.when(won).then(pl.col("amount").fill_null(0.0)).otherwise(0.0).alias("amount"),
    )
    window = timedelta(days=outcome_days)
    following = (
        arms.select("rule_id", "account_id", "day")
        .join(opps, on="account_id")
        .filter((pl.col("opp_day") >= pl.col("day")) & (pl.col("opp_day") <= pl.col("day") + window))
        .group_by("rule_id", "account_id")
        .agg(
            pl.lit(True).alias("opportunity"), pl.col("won").any().alias("won"), pl.col("amount").sum().alias("revenue")
        )
    )
    return arms.join(following, on=["rule_id", "account_id"], how="left").with_columns(
        pl.col("opportunity").fill_null(False), pl.col("won").fill_null(False), pl.col("revenue").fill_null(0.0)
    )


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _row(rule_id: str, units: pl.DataFrame, min_per_arm: int, min_outcomes: int) -> dict[str, Any]:
    arm_t, arm_c = units.filter(pl.col("arm") == "t"), units.filter(pl.col("arm") == "c")
    n_t, n_c = arm_t.height, arm_c.height
    o_t, o_c = int(arm_t.get_column("opportunity").sum()), int(arm_c.get_column("opportunity").sum())
    w_t, w_c = int(arm_t.get_column("won").sum()), int(arm_c.get_column("won").sum())
    rev_t, rev_c = arm_t.get_column("revenue").to_list(), arm_c.get_column("revenue").to_list()
    r_t, r_c = _rate(o_t, n_t), _rate(o_c, n_c)
    lift = r_t - r_c if r_t is not None and r_c is not None else None
    ci = diff_interval(o_t, n_t, o_c, n_c)
    mean_t = sum(rev_t) / n_t if n_t else None
    mean_c = sum(rev_c) / n_c if n_c else None
    rci = welch_interval(rev_t, rev_c)
    short = []
    if n_c < min_per_arm:
        short.append(f"{n_c} control accounts, need {min_per_arm}")
    if n_t < min_per_arm:
        short.append(f"{n_t} treated accounts, need {min_per_arm}")
    if o_t + o_c < min_outcomes:
        short.append(f"{o_t + o_c} opportunities, need {min_outcomes}")
    return {
        "rule_id": rule_id,
        "treated": n_t,
        "control": n_c,
        "treated_opportunities": o_t,
        "control_opportunities": o_c,
        "treated_opportunity_rate": r_t,
        "control_opportunity_rate": r_c,
        "treated_won": w_t,
        "control_won": w_c,
        "treated_win_rate": _rate(w_t, o_t),
        "control_win_rate": _rate(w_c, o_c),
        "treated_revenue": mean_t,
        "control_revenue": mean_c,
        "lift": lift,
        "lift_relative": lift / r_c if lift is not None and r_c else None,
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "revenue_lift": mean_t - mean_c if mean_t is not None and mean_c is not None else None,
        "revenue_ci_low": rci[0] if rci else None,
        "revenue_ci_high": rci[1] if rci else None,
        "enough_data": not short,
        "note": "not enough data yet: " + "; ".join(short) if short else "",
    }


def lift(
    tables: OutcomeTables,
    *,
    since: date,
    until: date,
    outcome_days: int,
    rule_ids: Sequence[str] = (),
    as_of: datetime | None = None,
    min_per_arm: int = MIN_PER_ARM,
    min_outcomes: int = MIN_OUTCOMES,
) -> pl.DataFrame:
    """The lift frame (:data:`LIFT_SCHEMA`) of ``since``..``until``: one row per rule (``rule_ids``
    first, always listed; then any other rule seen, by id) and a pooled ``TOTAL`` row; an empty
    frame when there is no rule and no data. See the module's docstring for every definition."""
    t = tables.checked()
    units = _outcomes(_arms(t, since, until, as_of), t, outcome_days, as_of)
    seen = set(units.get_column("rule_id").to_list())
    order = list(dict.fromkeys(rule_ids)) + sorted(seen - set(rule_ids))
    if not order:
        return pl.DataFrame(schema=LIFT_SCHEMA)
    rows = [_row(r, units.filter(pl.col("rule_id") == r), min_per_arm, min_outcomes) for r in order]
    rows.append(_row(TOTAL, units, min_per_arm, min_outcomes))
    return pl.DataFrame(rows, schema=LIFT_SCHEMA, orient="row")
