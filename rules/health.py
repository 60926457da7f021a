"""The health score (A2, S11, G1): five weighted components, 0–100, banded green/yellow/red. Pure.

Each component is a 0–100 reading of one part of the relationship, from the features:

- **usage**: weekly active users against seats, full marks at ``usage_target`` (70% of seats);
- **adoption**: tracked feature events per active user and week, full marks at ``adoption_target``;
- **support**: the CSAT roll-up where the CRM has one (else 100), minus 25 per open escalation,
  5 per open ticket and up to 20 for a rising ticket count;
- **progress**: onboarding progress, activation rate against the activation line (100 once activated);
- **executive**: engagement of executives (70%: two activities with an executive contact in 90 days)
  and of the account at all (30%: six activities in 90 days).

A number the CRM keeps on a 0–100 scale (a CSM's sentiment score, a survey roll-up) may be
weighed as a component too: ``[health.weights] "crm.csm_score__c" = 0.1`` names one of the admin's
extra CRM fields (clipped to 0–100; the account's value unknown, the component is unknown).

The score is the weighted mean of the components that are known (a component without data does
not drag the score down; its weight is shared out over the others). Only customers have a health
score. Scores are stored daily by the shell, so trends (``rising(health, 3)``) have a history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from rules.features.crm import CRM_PREFIX

__all__ = ["COMPONENTS", "HealthParams", "band_expr", "health_series", "score"]

COMPONENTS = ("usage", "adoption", "support", "progress", "executive")


def _default_weights() -> dict[str, float]:
    return {"usage": 0.35, "adoption": 0.2, "support": 0.2, "progress": 0.1, "executive": 0.15}


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthParams:
    """``[health]`` in config.toml."""

    weights: Mapping[str, float] = field(default_factory=_default_weights)
    green: float = 70.0  # at or above: green
    red: float = 40.0  # below: red; in between: yellow
    usage_target: float = 0.7
    adoption_target: float = 35.0

    def __post_init__(self) -> None:
        unknown = sorted(n for n in self.weights if n not in COMPONENTS and not n.startswith(CRM_PREFIX))
        if unknown:
            raise ValueError(
                f"unknown health component {unknown[0]!r}; components are {', '.join(COMPONENTS)}"
                " or a number CRM field crm.<name> (0-100)"
            )
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be >= 0 and not all zero")
        if not 0 <= self.red <= self.green <= 100:
            raise ValueError("bands need 0 <= red <= green <= 100")
        if self.usage_target <= 0 or self.adoption_target <= 0:
            raise ValueError("usage_target and adoption_target must be > 0")


def _clamp01(e: pl.Expr) -> pl.Expr:
    return e.clip(0.0, 1.0)


def _components(params: HealthParams, activation_ratio: float) -> dict[str, pl.Expr]:
    growth = pl.col("ticket_growth").fill_null(0.0).clip(0.0, 1.0)
    support = (
        pl.col("csat").fill_null(100.0) - 25 * pl.col("open_escalations") - 5 * pl.col("open_tickets") - 20 * growth
    ).clip(0.0, 100.0)
    progress = (
        pl.when(pl.col("activated")).then(100.0).otherwise(100 * _clamp01(pl.col("activation_rate") / activation_ratio))
    )
    executive = 70 * _clamp01(pl.col("exec_activities_90d") / 2) + 30 * _clamp01(pl.col("activities_90d") / 6)
    return {
        "usage": 100 * _clamp01(pl.col("wau_ratio") / params.usage_target),
        "adoption": 100 * _clamp01(pl.col("events_per_user_week") / params.adoption_target),
        "support": support,
        "progress": progress,
        "executive": executive,
    }


def band_expr(score: pl.Expr, params: HealthParams) -> pl.Expr:
    return (
        pl.when(score.is_null())
        .then(None)
        .when(score >= params.green)
        .then(pl.lit("green"))
        .when(score < params.red)
        .then(pl.lit("red"))
        .otherwise(pl.lit("yellow"))
    )


def score(features: pl.DataFrame, params: HealthParams, *, activation_ratio: float) -> pl.DataFrame:
    """``features`` plus ``health_<component>``, ``health`` (0–100, one decimal) and ``health_band``."""
    parts = _components(params, activation_ratio)
    customer = pl.col("is_customer")
    with_parts = features.with_columns(
        [pl.when(customer).then(expr).otherwise(None).alias(f"health_{name}") for name, expr in parts.items()]
    )
    crm = [n for n in params.weights if n.startswith(CRM_PREFIX)]
    with_parts = with_parts.with_columns(
        # a CRM field not typed yet (no column) is an unknown component: its weight is shared out
        pl.when(customer)
        .then(pl.col(n).cast(pl.Float64).clip(0.0, 100.0) if n in features.columns else None)
        .otherwise(None)
        .alias(f"health_{n}")
        for n in crm
    )
    weights = {name: float(params.weights.get(name, 0.0)) for name in (*COMPONENTS, *crm)}
    used = [name for name in (*COMPONENTS, *crm) if weights[name] > 0]
    weighted = pl.sum_horizontal([pl.col(f"health_{n}").fill_null(0.0) * weights[n] for n in used])
    known = pl.sum_horizontal([pl.col(f"health_{n}").is_not_null().cast(pl.Float64) * weights[n] for n in used])
    health = pl.when(customer & (known > 0)).then((weighted / known).round(1)).otherwise(None)
    return with_parts.with_columns(health.alias("health")).with_columns(
        band_expr(pl.col("health"), params).alias("health_band")
    )


def health_series(
    current: pl.DataFrame, history: pl.DataFrame, *, today: date, weeks: int, tolerance_days: int = 3
) -> pl.DataFrame:
    """``health@w0`` (today's score) … ``health@w{weeks-1}`` (the stored score 7·i days ago, or the
    nearest stored day within ``tolerance_days``), one row per account of ``current``.

    ``history`` has (account_id, day, score); ``current`` has (account, health).
    """
    out = current.select("account", pl.col("health").alias("health@w0"))
    if weeks <= 1:
        return out
    h = history.select(pl.col("account_id").alias("account"), "day", "score")
    for i in range(1, weeks):
        target = today - timedelta(days=7 * i)
        point = (
            h.filter((pl.col("day") - pl.lit(target)).dt.total_days().abs() <= tolerance_days)
            .with_columns((pl.col("day") - pl.lit(target)).dt.total_days().abs().alias("_off"))
            .sort("account", "_off", "day")
            .group_by("account", maintain_order=True)
            .agg(pl.col("score").first().alias(f"health@w{i}"))
        )
        out = out.join(point, on="account", how="left")
    return out
