"""The ground truth: every ripe window the plan creates, computed from the world's definitions alone.

Read from the dated plan (contracts, deals, guards) and from the daily usage it produces, never
from upsync's rules. The definitions are listed in the package docstring (``sandbox.world.timeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sandbox.world.timeline.plan import ACCOUNTING, HISTORY, PAYROLL, WAU_LEVEL, Plan

KINDS: Final = ("seat_pressure", "capacity", "wau_crossing", "seat_step", "trial", "renewal", "cross_sell")
OFFER_KINDS: Final = frozenset({"seat_pressure", "capacity", "wau_crossing", "seat_step", "trial"})
"""Upsell kinds a lost upsell deal cools down (G3); renewals and cross-sells are other conversations."""
COOLDOWN: Final = 90


@dataclass(frozen=True, slots=True)
class Window:
    account: int
    kind: str
    start: int  # first day a task belongs (simulation days)
    end: int  # last day, inclusive
    blocked_by: str | None = None


def windows(plan: Plan, days: int) -> list[Window]:
    """Every window of one account that meets the simulation's days ``[0, days)``, guards applied."""
    series = {d: plan.usage(d) for d in range(-HISTORY, days)}
    found: list[tuple[str, int, int]] = []
    found += _episodes(series, "seats", 30, lambda u: u["seats_used"] >= 0.8 * u["seats_limit"], until_bought=True)
    found += _episodes(series, "capacity", 30, _capacity)
    found += _wau_crossings(series)
    found += _steps(series)
    found += [("trial", d + 1, d + 14) for d, u in series.items() if u is not None and u["trials_started"] > 0]
    found += [("renewal", c.end - 90, c.end - 30) for c in plan.contracts]
    found += _cross_sell(plan)
    out: list[Window] = []
    for kind, start, end in found:
        if plan.churn is not None:  # after churn: no window
            end = min(end, plan.churn)
        if end < max(start, 0) or start >= days:
            continue
        guard, until = _blocked(plan, kind, max(start, 0))
        if guard is not None and until is not None and until < end:
            # a guard that lifts inside the window (a case closed, a cooldown over) leaves the rest ripe
            out.append(Window(plan.n, kind, until + 1, end))
            continue
        out.append(Window(plan.n, kind, start, end, guard))
    return out


def _capacity(u: dict[str, float]) -> bool:
    return u["storage_used_gb"] >= 0.8 * u["storage_limit_gb"] or u["api_calls_used"] >= 0.8 * u["api_calls_limit"]


Series = dict[int, "dict[str, float] | None"]


def _episodes(
    series: Series, kind: str, length: int, holds: Callable[[dict[str, float]], bool], *, until_bought: bool = False
) -> list[tuple[str, int, int]]:
    """Seat pressure / capacity: from the morning after the first day the condition holds (the row
    arrives overnight), for ``length`` days, or until the limit is raised."""
    out: list[tuple[str, int, int]] = []
    before = False
    for day in sorted(series):
        u = series[day]
        now = u is not None and holds(u)
        if now and not before:
            end = day + length
            if until_bought:
                raised = [
                    d
                    for d in range(day + 1, day + length + 1)
                    if (v := series.get(d)) is not None and (w := series.get(d - 1)) is not None
                    if v["seats_limit"] > w["seats_limit"]
                ]
                if raised:
                    end = raised[0] - 1
            out.append(("seat_pressure" if kind == "seats" else kind, day + 1, end))
        before = now
    return out


def _wau_crossings(series: Series) -> list[tuple[str, int, int]]:
    """WAU at or above the level after at least 28 days below it: 14 days from the morning after."""
    out: list[tuple[str, int, int]] = []
    for day in sorted(series):
        u = series[day]
        if u is None or u["weekly_active_users"] < WAU_LEVEL:
            continue
        prior = [series.get(d) for d in range(day - 28, day)]
        if all(p is not None and p["weekly_active_users"] < WAU_LEVEL for p in prior):
            out.append(("wau_crossing", day + 1, day + 14))
    return out


def _steps(series: Series) -> list[tuple[str, int, int]]:
    """Seats in use up 20 % or more on 30 days earlier: 21 days from the morning after; one step a month."""
    out: list[tuple[str, int, int]] = []
    quiet_until = -(10**6)
    for day in sorted(series):
        u, then = series[day], series.get(day - 30)
        if day <= quiet_until or u is None or then is None or then["seats_used"] <= 0:
            continue
        if u["seats_used"] >= 1.2 * then["seats_used"]:
            out.append(("seat_step", day + 1, day + 21))
            quiet_until = day + 30
    return out


def _cross_sell(plan: Plan) -> list[tuple[str, int, int]]:
    """From 30 to 180 days after first buying an Accounting product, while Payroll is not owned."""
    bought = [d.close for d in plan.deals if d.won and d.product in ACCOUNTING]
    if not bought:
        return []
    first = min(bought)
    payroll = [d.close for d in plan.deals if d.won and d.product == PAYROLL]
    end = first + 180
    if payroll:
        end = min(end, min(payroll) - 1)
    return [("cross_sell", first + 30, end)]


def _blocked(plan: Plan, kind: str, start: int) -> tuple[str | None, int | None]:
    """The guard that holds the window back on its first day, if any, and the last day it holds
    (None: for good)."""
    if plan.do_not_contact:
        return "do_not_contact", None
    if plan.nps <= 6:
        return "detractor", None
    if plan.escalation is not None and plan.escalation[0] <= start <= plan.escalation[1]:
        return "open_escalation", plan.escalation[1] - 1  # closed that morning: offers may go that day
    lost = [d.close for d in plan.deals if not d.won and d.kind == "upgrade"]
    cooling = [c + COOLDOWN for c in lost if c <= start <= c + COOLDOWN]
    if kind in OFFER_KINDS and cooling:
        return "lost_deal", max(cooling)
    return None, None
