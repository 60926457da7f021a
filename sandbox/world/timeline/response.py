"""The world answers upsync's tasks: a ripe account opens an opportunity, more often when it got a task.

A planted effect for the lift report to find (issue 14). Each window of the world's own truth
(``truth.windows``; a blocked one too: a guard stops upsync, not the customer) is *exposed* for
``outcome_days`` mornings, starting the morning after it opens (upsync's cycle of its first day,
09:00, is the earliest its task can come; a window opened before the simulation starts on day 1).
On each exposed morning, until the window has opened one opportunity, it opens one with the daily
hazard

    h(p) = 1 − (1 − p) ** (1 / outcome_days)

of ``p_task`` when upsync's task for the window is in the CRM that morning (a task carrying an
upsync sync key whose account is this one, whose rule maps to the window's kind, created on a
day inside the window and before this morning), else ``p_base``. Over the ``outcome_days``
mornings the chance of an opportunity is then exactly ``p_task`` for a window that had its task
from the first morning, ``p_base`` for one that never had it (:func:`chance`). The exposure
does not stop at the window's end or at churn: the chance is the configured one for every window.

The draws are hashes of (seed, account, kind, window start, day), not a shared random stream:
the same world and the same tasks give the same opportunities, whatever order they are asked in.
An opportunity is of the window's kind (renewal, cross-sell, else upgrade), opens at 06:00 of its
day with an amount, and closes 7 to 28 days later, won with ``win_rate``. A won deal gets its line
item (revenue), nothing more: the plan (seats, products, usage) does not change, so the windows
stay the world's truth.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.world.timeline.plan import PAYROLL, PLATFORM, Plan
from sandbox.world.timeline.truth import Window, windows

DEAL_OF_KIND = {"renewal": ("renewal", PLATFORM, 300), "cross_sell": ("cross-sell", PAYROLL, 80)}
"""Window kind → (deal kind, product, price per seat) of the opportunity it opens; others: an upgrade."""
UPGRADE = ("upgrade", PLATFORM, 150)
CLOSE_DAYS = (7, 28)
"""An opened opportunity closes this many days later (inclusive range)."""
LEAD_DAYS = 21
"""The plan's own deals were created this many days before they closed (``project.py``)."""


@dataclass(frozen=True, slots=True)
class Response:
    """How the world answers: the chance of an opportunity over ``outcome_days`` with and without a
    task, the share of them won, and the seed of the draws. All zero (the default): no answer."""

    p_task: float = 0.0
    p_base: float = 0.0
    win_rate: float = 0.5
    outcome_days: int = 30
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("p_task", "p_base", "win_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"response {name} = {value}: a probability, between 0 and 1")
        if self.outcome_days < 1:
            raise ValueError(f"response outcome_days = {self.outcome_days}: at least 1 day")

    @property
    def on(self) -> bool:
        return self.p_task > 0 or self.p_base > 0


def hazard(p: float, days: int) -> float:
    """The daily chance that gives ``p`` over ``days`` mornings."""
    if p >= 1.0:
        return 1.0
    return 1.0 - math.pow(1.0 - p, 1.0 / days)


def chance(hazards: Iterable[float]) -> float:
    """The chance of at least one opportunity over mornings with these daily hazards."""
    return 1.0 - math.prod(1.0 - h for h in hazards)


def uniform(seed: int, *parts: object) -> float:
    """A draw in [0, 1) fixed by its parts."""
    digest = hashlib.blake2b(":".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class SeenTask:
    """An upsync task as the CRM holds it: the account (plan number), its rule, the day it was created."""

    account: int
    rule: str
    day: int


@dataclass(frozen=True, slots=True)
class Opening:
    """An opportunity the world opens on ``day`` (and how it will close)."""

    account: int
    window: Window
    day: int
    kind: str  # deal kind: upgrade, cross-sell, renewal
    product: str
    amount: int
    seats: int
    close: int  # the day it closes
    won: bool


@dataclass
class Exposure:
    """One window's answer so far: the ground truth of the planted effect."""

    window: Window
    first: int  # first exposed morning
    last: int  # last exposed morning (inclusive)
    task_days: int = 0  # exposed mornings with the task in the CRM
    base_days: int = 0  # exposed mornings without it
    first_task_day: int | None = None  # the first exposed morning the task was there
    opened: Opening | None = None
    hazards: list[float] = field(default_factory=list)

    @property
    def had_task(self) -> bool:
        return self.task_days > 0


class Responder:
    """The world's answer to upsync's tasks, day by day (pure: tasks in, openings and closings out)."""

    def __init__(
        self, plans: Sequence[Plan], days: int, response: Response, *, kinds: Mapping[str, str] | None = None
    ) -> None:
        self.response = response
        self.plans = {p.n: p for p in plans}
        self.kinds = kinds  # rule id → window kind; None: any upsync task on the account answers
        self.h_task = hazard(response.p_task, response.outcome_days)
        self.h_base = hazard(response.p_base, response.outcome_days)
        self.exposures: list[Exposure] = []
        for p in plans:
            for w in windows(p, days):  # a blocked window is ripe too: nobody calls, the base chance holds
                first = max(w.start, 0) + 1
                self.exposures.append(Exposure(w, first, first + response.outcome_days - 1))
        self.closing: dict[int, list[Opening]] = defaultdict(list)

    def step(self, day: int, tasks: Iterable[SeenTask]) -> tuple[list[Opening], list[Opening]]:
        """The morning of ``day``: the opportunities that close, then the ones that open."""
        closes = self.closing.pop(day, [])
        by_slot: dict[tuple[int, str | None], list[int]] = defaultdict(list)
        for t in tasks:
            kind = None if self.kinds is None else self.kinds.get(t.rule)
            if self.kinds is None or kind is not None:
                by_slot[(t.account, kind)].append(t.day)
        opens: list[Opening] = []
        for e in self.exposures:
            if not e.first <= day <= e.last:
                continue
            w = e.window
            slot = (w.account, None if self.kinds is None else w.kind)
            treated = any(max(w.start, 0) <= d <= w.end and d < day for d in by_slot.get(slot, ()))
            h = self.h_task if treated else self.h_base
            e.hazards.append(h)
            if treated:
                e.task_days += 1
                if e.first_task_day is None:
                    e.first_task_day = day
            else:
                e.base_days += 1
            # an opened window keeps its arm's record (the exact expected rate), and draws no more
            if e.opened is None and h > 0 and uniform(self.response.seed, "open", w.account, w.kind, w.start, day) < h:
                e.opened = self._open(w, day)
                opens.append(e.opened)
                self.closing[e.opened.close].append(e.opened)
        return closes, opens

    def _open(self, w: Window, day: int) -> Opening:
        p, seed = self.plans[w.account], self.response.seed
        kind, product, price = DEAL_OF_KIND.get(w.kind, UPGRADE)
        seats = max(1, p.seats // 2) if kind == "upgrade" else p.seats
        lo, hi = CLOSE_DAYS
        close = day + lo + int(uniform(seed, "close", w.account, w.kind, w.start) * (hi - lo + 1))
        won = uniform(seed, "won", w.account, w.kind, w.start) < self.response.win_rate
        return Opening(w.account, w, day, kind, product, seats * price, seats, close, won)

    def summary(self, days: int, *, kind: str | None = None) -> dict[str, Any]:
        """The realised effect, from the world alone, over windows (of ``kind``, or all) whose exposure
        ended by day ``days − 1``.

        ``with_task``: windows with the task on every exposed morning; ``without_task``: on none
        (the blocked and the missed, and the control arm once control groups land);
        ``partly``: the task came late. Each group's opportunity rate (this window's own), its
        exact expected rate (the mean of :func:`chance` over its mornings), and the rate at which
        the account had *any* new opportunity in those mornings (another window's or a plan deal):
        what a report that counts deals per account sees.
        """
        matured = [e for e in self.exposures if e.last < days and kind in (None, e.window.kind)]
        created = self.opportunity_days()
        groups: dict[str, list[Exposure]] = {"with_task": [], "without_task": [], "partly": []}
        for e in matured:
            n = len(e.hazards)
            arm = "with_task" if e.task_days == n else "without_task" if e.task_days == 0 else "partly"
            groups[arm].append(e)
        out: dict[str, Any] = {"windows": len(self.exposures), "matured": len(matured)}
        for name, members in groups.items():
            out[name] = _rates(members, created)
        a, b = out["with_task"], out["without_task"]
        if a["windows"] and b["windows"]:
            out["realised_effect"] = round(a["opportunity_rate"] - b["opportunity_rate"], 4)
            out["expected_effect"] = round(a["expected_rate"] - b["expected_rate"], 4)
            out["account_effect"] = round(a["account_rate"] - b["account_rate"], 4)
        out["without_task"]["blocked"] = sum(e.window.blocked_by is not None for e in groups["without_task"])
        out["opened"] = sum(e.opened is not None for e in self.exposures)
        out["won"] = sum(e.opened is not None and e.opened.won for e in self.exposures)
        return out

    def truth(self) -> dict[str, Any]:
        """Per window: what it was, when its task came, and what it opened (columns, then rows)."""
        columns = ["account", "kind", "start", "end", "blocked_by", "first", "last", "task_days", "first_task_day"]
        columns += ["opportunity_day", "deal_kind", "amount", "close", "won"]
        rows = []
        for e in self.exposures:
            w, o = e.window, e.opened
            row: list[Any] = [w.account, w.kind, w.start, w.end, w.blocked_by, e.first, e.last, e.task_days]
            row.append(e.first_task_day)
            row += [None] * 5 if o is None else [o.day, o.kind, o.amount, o.close, o.won]
            rows.append(row)
        return {"columns": columns, "rows": rows}

    def opportunity_days(self) -> dict[int, list[int]]:
        """Per account, the days a new opportunity appeared: the world's answers and the plan's deals."""
        days: dict[int, list[int]] = defaultdict(list)
        for e in self.exposures:
            if e.opened is not None:
                days[e.window.account].append(e.opened.day)
        for p in self.plans.values():
            days[p.n].extend(d.close - LEAD_DAYS for d in p.deals)
        return days


def _rates(group: list[Exposure], created: Mapping[int, list[int]]) -> dict[str, Any]:
    n = len(group)
    opened = sum(e.opened is not None for e in group)
    any_deal = sum(any(e.first <= d <= e.last for d in created.get(e.window.account, ())) for e in group)
    return {
        "windows": n,
        "opportunities": opened,
        "opportunity_rate": round(opened / n, 4) if n else None,
        "expected_rate": round(sum(chance(e.hazards) for e in group) / n, 4) if n else None,
        "account_rate": round(any_deal / n, 4) if n else None,
        "won": sum(e.opened is not None and e.opened.won for e in group),
    }
