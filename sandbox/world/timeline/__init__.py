"""A world that moves in time, with the ripe windows it creates as ground truth (issue 13's timing bench).

The static world (``sandbox.world.build_world``) makes signals true on its anchor day only. This
one gives each account dated events over a simulation of ``days`` days (day 0 first, usage
history from day ``-HISTORY``): contracts (some accounts hold two, ending on different dates),
products bought on days (an "Accounting Cloud" / "Accounting Pro" purchase, a later "Payroll"),
daily usage trajectories, churn, a lost upsell deal, do-not-contact, detractor NPS and escalated
cases. :class:`TimelineWorld` brings the stand-ins' stores to the state of any day.

**Window definitions** (``truth.windows``, from the plan and its daily usage, never from upsync's
rules). A usage row of day ``d`` arrives overnight, so a usage window opens on the morning of
``d + 1``; every end is inclusive.

- ``seat_pressure``: from the first day seats in use reach 80 % of the limit (after a day below),
  for 30 days, or until seats are bought (ends the day before the limit rises).
- ``capacity``: storage or API calls reach 80 % of the limit (after a day below): 30 days.
- ``wau_crossing``: weekly active users reach 30 after 28 days below 30: 14 days.
- ``seat_step``: seats in use at least 20 % above their level 30 days earlier: 21 days (one a month).
- ``trial``: a premium trial started: 14 days.
- ``renewal``: for each contract, from 90 days before its end to 30 days before it.
- ``cross_sell``: from 30 to 180 days after first buying an Accounting product, while Payroll is
  not owned (ends the day before Payroll is bought).
- after churn (the last contract day): no window; every window of the account ends there.

**Blocked windows** (the guard holding on the window's first day in the simulation; a window
opened before it is seen from day 0): do-not-contact (G6), NPS of 6 or less (G1), an open
escalated case (G5), and, for upsell kinds (not renewal or cross-sell), an upsell deal lost in
the 90 days before (G3). Windows of different kinds overlap on some accounts (seat pressure while
a renewal opens), as in life. G2 (two offers a month) is scored on upsync's tasks, not planted:
no account is dealt more than two windows opening within 30 days by design.

**The world's answer** (``response.py``, off unless asked): a ripe window opens an opportunity
with a configured chance over ``outcome_days``, higher when upsync's task for it is in the CRM
(the planted effect the lift report is checked against).
"""

from sandbox.world.timeline.plan import HISTORY, WAU_LEVEL, Plan, plan_accounts
from sandbox.world.timeline.project import TimelineWorld
from sandbox.world.timeline.response import Responder, Response
from sandbox.world.timeline.truth import KINDS, Window, windows

__all__ = [
    "HISTORY",
    "KINDS",
    "WAU_LEVEL",
    "Plan",
    "Responder",
    "Response",
    "TimelineWorld",
    "Window",
    "plan_accounts",
    "windows",
]
