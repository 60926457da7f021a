"""The moving world's ground truth and the timing bench's scorer, without upsync."""

from __future__ import annotations

from datetime import date

from bench.timing.score import Offer, offers_of, score
from sandbox.world import CrmVariant
from sandbox.world.timeline import Plan, TimelineWorld, Window, plan_accounts, windows
from sandbox.world.timeline.plan import ACCOUNTING, PAYROLL

DAYS = 61


def test_seat_pressure_windows_recomputed_from_the_raw_usage_rows() -> None:
    """Windows read from the rows the usage API serves, the limit from the CRM's seat changes."""
    plans = plan_accounts(3, 48, DAYS)
    tw = TimelineWorld(plans, crm="salesforce", start=date(2026, 6, 1), variant=CrmVariant())
    for day in range(DAYS + 1):
        tw.advance(day)
    by_ws: dict[str, list[dict[str, object]]] = {}
    for row in tw.world.usage.rows:
        by_ws.setdefault(str(row["workspace_id"]), []).append(row)
    expected: set[tuple[int, int]] = set()
    for p in plans:
        rows = sorted(by_ws[f"ws-{p.n + 1:05d}"], key=lambda r: str(r["date"]))
        below = True
        for r in rows:
            day = (date.fromisoformat(str(r["date"])) - date(2026, 6, 1)).days
            over = float(r["seats_used"]) >= 0.8 * float(r["seats_limit"])  # type: ignore[arg-type]
            if over and below and -30 < day + 1 < DAYS:
                expected.add((p.n, day + 1))
            below = not over
    found = {(w.account, w.start) for p in plans for w in windows(p, DAYS) if w.kind == "seat_pressure"}
    assert found <= expected  # a window only where the rows cross 80 %…
    assert {(n, s) for n, s in expected if s >= 0} <= found  # …and every crossing in the run has one
    assert len(found) >= 10


def test_cross_sell_and_renewal_windows_follow_the_dated_events() -> None:
    plans = plan_accounts(5, 64, DAYS)
    for p in plans:
        got = {(w.kind, w.start, w.end) for w in windows(p, DAYS) if w.kind in ("renewal", "cross_sell")}
        want = set()
        for c in p.contracts:
            end = min(c.end - 30, p.churn) if p.churn is not None else c.end - 30
            if end >= max(c.end - 90, 0) and c.end - 90 < DAYS:
                start = c.end - 90
                held = p.escalation is not None and p.escalation[0] <= max(start, 0) <= p.escalation[1]
                if held and not p.do_not_contact and p.nps > 6 and p.escalation and p.escalation[1] <= end:
                    start = p.escalation[1]  # the case closed inside the window: the rest is ripe
                want.add(("renewal", start, end))
        accounting = sorted(d.close for d in p.deals if d.won and d.product in ACCOUNTING)
        payroll = sorted(d.close for d in p.deals if d.won and d.product == PAYROLL)
        if accounting:
            end = min([accounting[0] + 180, *(d - 1 for d in payroll[:1])])
            if end >= max(accounting[0] + 30, 0) and accounting[0] + 30 < DAYS:
                want.add(("cross_sell", accounting[0] + 30, end))
        assert got == want, p.n
    # two contracts on one account: the one ending first opens its own renewal window in the run
    two = [p for p in plans if len(p.contracts) == 2]
    earlier = [min(c.end for c in p.contracts) - 90 for p in two]
    assert two and all(any(w.start == s for w in windows(p, DAYS)) for p, s in zip(two, earlier, strict=True))


def test_guards_mark_windows_blocked_and_churn_ends_them() -> None:
    p = Plan(n=0, story="do_not_contact", seat_cross=10, used_base=0.74, do_not_contact=True)
    assert {w.blocked_by for w in windows(p, DAYS)} == {"do_not_contact"}
    churned = Plan(n=1, story="churn", seat_cross=20, used_base=0.74, churn=25)
    assert all(w.end <= 25 for w in windows(churned, DAYS))
    assert churned.usage(26) is None


def test_the_scorer_counts_hits_misses_outside_duplicates_and_the_cap() -> None:
    truth = [
        Window(1, "seat_pressure", 10, 20),
        Window(2, "seat_pressure", 10, 20),
        Window(3, "renewal", 0, 30),
        Window(4, "trial", 5, 10, blocked_by="detractor"),
    ]
    offers = [
        Offer(1, "seat_pressure", 12, "r", "a"),  # hit
        Offer(3, "renewal", 1, "r", "b"),  # duplicate…
        Offer(3, "renewal", 25, "r", "c"),  # …of this one
        Offer(2, "seat_pressure", 25, "r", "d"),  # outside: window 2 missed
        Offer(4, "trial", 6, "r", "e"),  # inside a blocked window
        Offer(3, "capacity", 2, "r", "f"),  # outside, and account 3's third offer in 30 days
    ]
    s = score(truth, offers, 40, task_keys=["a", "b", "b"])
    assert (s["windows"], s["hits"], s["misses"], s["duplicate_windows"]) == (3, 1, 1, 1)
    assert (s["outside"], s["in_blocked_windows"], s["accounts_over_g2"], s["repeated_keys"]) == (2, 1, 1, 1)


def test_a_staged_sequence_is_one_offer() -> None:
    tasks = [
        {"account": 1, "rule": "renewal", "day": 3, "key": "k1", "sequence": "2026-09-01"},
        {"account": 1, "rule": "renewal", "day": 18, "key": "k2", "sequence": "2026-09-01"},
        {"account": 1, "rule": "seats", "day": 4, "key": "k3", "sequence": None},
    ]
    offers = offers_of(tasks, {"renewal": "renewal", "seats": "seat_pressure"})
    assert sorted((o.kind, o.day) for o in offers) == [("renewal", 3), ("seat_pressure", 4)]
