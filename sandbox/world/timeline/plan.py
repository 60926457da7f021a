"""The dated plan of a world that moves: each account's stories as events on days, and its usage by day.

Days are integers: day 0 is the simulation's first day; history runs back to ``-HISTORY``. Nothing
here knows upsync: the plan is what happens to the customers, the ground truth (``truth.py``)
reads it, and the projection (``project.py``) turns it into vendor records day by day.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Final

HISTORY: Final = 120
"""Usage days before day 0: enough for 90-day means and the 8 weekly points upsync keeps."""
WAU_LEVEL: Final = 30
"""The weekly-active-user level of the "crossed 30 weekly users" story."""
ACCOUNTING: Final = ("Accounting Cloud", "Accounting Pro")
PAYROLL: Final = "Payroll"
EXTRA_PRODUCTS: Final = (
    ("Accounting Cloud", "ACC-CLOUD", "Accounting", 120),
    ("Accounting Pro", "ACC-PRO", "Accounting", 240),
    ("Payroll", "PAY-CORE", "Payroll", 90),
)
"""Products the moving world sells besides the sandbox's catalogue: (name, code, family, price per seat)."""
PLATFORM, ADDON = "Upsync Business", "Premium Support"

DECK: Final = (
    "seat_pressure",
    "seat_pressure",
    "capacity",
    "wau_crossing",
    "seat_step",
    "trial",
    "cross_sell",
    "two_contracts",
    "churn",
    "lost_deal",
    "do_not_contact",
    "detractor",
    "escalation",
    "renewal",
    "steady",
    "big_steady",
)
"""Stories dealt per block of 16 accounts (shuffled per block); overlays are dealt on top."""


@dataclass(frozen=True, slots=True)
class Contract:
    product: str
    start: int
    end: int  # last day of the term


@dataclass(frozen=True, slots=True)
class Deal:
    kind: str  # new, upgrade, cross-sell, renewal
    product: str
    close: int  # the day it closed (it appears in the CRM that day)
    won: bool
    amount: int
    seats: int


@dataclass
class Plan:
    """One account's dated life. Usage is a pure function of the day (:meth:`usage`)."""

    n: int
    story: str
    overlays: set[str] = field(default_factory=set)
    seats: int = 50  # purchased before day -HISTORY
    seats_bought: tuple[int, int] | None = None  # (day, new purchased seats)
    used_base: float = 0.6  # seats_used / seats before any story moves it
    seat_cross: int | None = None  # usage day seats_used first reaches 85 % of the limit (ramp from used_base)
    step_day: int | None = None  # usage day a +25 % step in seats in use completes
    wau_base: int | None = None  # a WAU level of its own (else 80 % of seats in use)
    wau_cross: int | None = None  # usage day WAU goes from below WAU_LEVEL to above it
    storage_cross: int | None = None  # usage day storage (or API calls) reaches 85 % of the limit
    capacity_metric: str = "storage"
    trial_day: int | None = None
    contracts: list[Contract] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    churn: int | None = None  # last contract day: usage stops after it
    do_not_contact: bool = False
    nps: float = 8.0
    escalation: tuple[int, int] | None = None  # (opened, closed) days of an escalated case

    def limit(self, day: int) -> int:
        if self.seats_bought is not None and day >= self.seats_bought[0]:
            return self.seats_bought[1]
        return self.seats

    def usage(self, day: int) -> dict[str, float] | None:
        """The workspace's metrics for ``day`` (None once it stopped sending data)."""
        if self.churn is not None and day > self.churn:
            return None
        jitter = _noise(self.n, day)
        ratio = self.used_base
        if self.seat_cross is not None:
            ratio = _ramp(day, self.seat_cross - 14, self.seat_cross, self.used_base, 0.85)
        # the seat-pressure climb is smooth: a wobble would flap it across 80 %
        used = self.seats * ratio * (1 + 0.01 * jitter * (self.seat_cross is None))
        if self.step_day is not None:
            used *= _ramp(day, self.step_day - 5, self.step_day, 1.0, 1.25)
        used = min(float(round(used)), float(self.limit(day)))
        if self.wau_cross is not None and self.wau_base is not None:
            wau = _ramp(day, self.wau_cross - 1, self.wau_cross, self.wau_base, WAU_LEVEL + 4) + jitter % 2
        elif self.wau_base is not None:
            wau = self.wau_base + jitter % 3
        else:  # other stories stay on one side of the level: no crossing of their own
            wau = round(used * 0.5)
            wau = max(wau, WAU_LEVEL + 5) if self.seats >= 100 else min(wau, WAU_LEVEL - 5)
        storage_limit = 250.0
        storage = _ramp(day, (self.storage_cross or 10_000) - 20, self.storage_cross or 10_000, 0.5, 0.85)
        storage_used = round(storage_limit * storage * (1 + 0.005 * jitter), 1)
        return {
            "seats_used": used,
            "seats_limit": float(self.limit(day)),
            "active_users": float(round(wau * 0.6)),
            "weekly_active_users": float(round(wau)),
            "storage_used_gb": storage_used if self.capacity_metric == "storage" else 100.0,
            "storage_limit_gb": storage_limit,
            "api_calls_used": float(round(50_000 * storage)) if self.capacity_metric == "api" else 20_000.0,
            "api_calls_limit": 50_000.0,
            "trials_started": 1.0 if day == self.trial_day else 0.0,
        }


def _ramp(day: int, start: int, end: int, before: float, after: float) -> float:
    if day <= start:
        return before
    if day >= end:
        return after
    return before + (after - before) * (day - start) / (end - start)


def _noise(n: int, day: int) -> int:
    """-2..2, the same for the same account and day: the day-to-day wobble of real usage."""
    digest = hashlib.blake2b(f"{n}:{day}".encode(), digest_size=2).digest()
    return digest[0] % 5 - 2


def plan_accounts(seed: int, accounts: int, days: int, variant: int = 0) -> list[Plan]:
    """Deal the stories of :data:`DECK` per block of 16 and date their events within ``days``.

    ``variant`` picks another draw of the same stories (another world, same definitions).
    """
    rng = random.Random(f"timeline:{seed}:{variant}")
    plans: list[Plan] = []
    while len(plans) < accounts:
        deck = list(DECK)
        rng.shuffle(deck)
        for story in deck[: accounts - len(plans)]:
            plans.append(_deal(Plan(n=len(plans), story=story), rng, days))
    return plans


def _deal(p: Plan, rng: random.Random, days: int) -> Plan:
    last = max(days, 30) - 1  # a short run sees the start of a month-long plan
    p.seats = rng.choice((25, 50, 100))
    p.used_base = rng.uniform(0.45, 0.65)
    start = -rng.randint(200, 700)
    end = rng.randint(days + 110, 500)  # the platform's renewal window opens after the simulation
    story = p.story
    if story in ("seat_pressure", "lost_deal", "do_not_contact", "detractor", "escalation"):
        p.seat_cross = rng.randint(3, last - 8)
        p.used_base = 0.74  # a climb of under 20 %: seat pressure, not a seat step
        if story == "seat_pressure" and rng.random() < 0.5:
            buy = p.seat_cross + rng.randint(10, 25)
            p.seats_bought = (buy, p.seats * 3 // 2)
        if rng.random() < 0.4:  # a renewal opening while the seat pressure runs
            end = p.seat_cross + rng.randint(60, 110)
            p.overlays.add("renewal_overlap")
    elif story == "capacity":
        p.storage_cross = rng.randint(3, last - 5)
        p.capacity_metric = rng.choice(("storage", "api"))
    elif story == "wau_crossing":
        p.seats, p.used_base = 100, 0.4
        p.wau_base = rng.randint(WAU_LEVEL - 8, WAU_LEVEL - 4)
        p.wau_cross = rng.randint(5, last - 5)
    elif story == "seat_step":
        p.seats, p.used_base = 50, rng.uniform(0.4, 0.5)
        p.step_day = rng.randint(8, last - 5)
    elif story == "trial":
        p.trial_day = rng.randint(0, last - 3)
    elif story == "renewal":
        end = rng.randint(35, days + 85)
    elif story == "two_contracts":
        addon_end = rng.randint(35, days + 80)
        p.contracts.append(Contract(ADDON, addon_end - 364, addon_end))
    elif story == "churn":
        p.churn = rng.randint(15, last - 10)
        p.seat_cross = p.churn - rng.randint(10, 25)
        p.used_base = 0.74
        end = p.churn
    elif story == "big_steady":
        p.seats, p.used_base, p.wau_base = 100, 0.6, rng.randint(45, 60)
    cross = p.seat_cross or 0
    if story == "lost_deal":
        lost = cross - rng.randint(10, 40)
        p.deals.append(Deal("upgrade", PLATFORM, lost, False, p.seats * 150, p.seats // 2))
    p.do_not_contact = story == "do_not_contact"
    p.nps = rng.choice((3.0, 4.0, 5.0)) if story == "detractor" else rng.choice((7.0, 8.0, 9.0, 10.0))
    if story == "escalation":
        p.escalation = (cross - rng.randint(15, 20), cross + 45)
    if story == "cross_sell":
        bought = rng.randint(-150, days - 35)
        product = rng.choice(ACCOUNTING)
        p.deals.append(Deal("cross-sell", product, bought, True, p.seats * 100, p.seats))
        if rng.random() < 0.4:
            payroll = max(bought + 30, 0) + rng.randint(5, 25)
            p.deals.append(Deal("cross-sell", PAYROLL, payroll, True, p.seats * 80, p.seats))
    elif rng.random() < 0.15:  # bought accounting long ago: its cross-sell window has closed
        p.deals.append(Deal("cross-sell", rng.choice(ACCOUNTING), start - 60 if start < -250 else -250, True, 5000, 10))
    p.contracts.insert(0, Contract(PLATFORM, start, end))
    p.deals.insert(0, Deal("new", PLATFORM, start - 10, True, p.seats * 300, p.seats))
    # renewed within the year: a won deal of the last 365 days keeps the account's ARR known
    p.deals.insert(1, Deal("renewal", PLATFORM, -rng.randint(30, 300), True, p.seats * 300, p.seats))
    return p
