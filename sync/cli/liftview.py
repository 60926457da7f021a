"""The lift table of ``upsync report``: per rule, treated vs control, and what the tasks caused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from sync.cli.app import console

__all__ = ["lift_verdict", "print_lift"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def lift_verdict(row: Mapping[str, Any]) -> str:
    """The lift in words: its interval, whether it excludes zero, or "not enough data yet"."""
    if not row["enough_data"]:
        return str(row["note"])
    low, high = row["ci_low"], row["ci_high"]
    span = f"{_points(row['lift'])} (95 % CI {_points(low)} to {_points(high)})"
    if low is not None and low > 0:
        return f"{span}: the tasks raised it"
    if high is not None and high < 0:
        return f"{span}: the tasks lowered it"
    return f"{span}: no effect shown yet"


def print_lift(rows: Sequence[Mapping[str, Any]], *, outcome_days: int) -> None:
    """Per rule: accounts in each arm, opportunity rate, win rate, revenue per account, the lift."""
    if not rows:
        console.print("lift: no rule had treated or control accounts in the period")
        return
    table = Table(
        title="did the tasks cause it? treated (got the task) vs control (randomly kept without one)",
        caption=f"opportunity within {outcome_days} days of the (would-be) task; lift = treated − control "
        "opportunity rate, 95 % interval by Newcombe's score method; revenue per account with Welch's interval",
    )
    for col in (
        "rule",
        "accounts t / c",
        "opp rate t / c",
        "win rate t / c",
        "revenue/acct t / c",
        "lift",
        "revenue lift",
    ):
        table.add_column(col, justify="left" if col in ("rule", "lift") else "right")
    for r in rows:
        if r["rule_id"] == "TOTAL":
            table.add_section()
        revenue = "-"
        if r["enough_data"] and r["revenue_lift"] is not None:
            revenue = f"{_money(r['revenue_lift'])} ({_money(r['revenue_ci_low'])} to {_money(r['revenue_ci_high'])})"
        table.add_row(
            r["rule_id"],
            f"{r['treated']:,} / {r['control']:,}",
            f"{_pct(r['treated_opportunity_rate'])} / {_pct(r['control_opportunity_rate'])}",
            f"{_pct(r['treated_win_rate'])} / {_pct(r['control_win_rate'])}",
            f"{_money(r['treated_revenue'])} / {_money(r['control_revenue'])}",
            lift_verdict(r),
            revenue,
        )
    console.print(table)
