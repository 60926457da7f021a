"""The world's answer to upsync's tasks (the planted effect of the lift bench), without upsync."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Sandbox, start_sandbox
from sandbox.world import CrmVariant
from sandbox.world.formats import sf_id, sf_time
from sandbox.world.hubspot_projection import HS_BASE
from sandbox.world.timeline import Plan, Responder, Response, TimelineWorld, Window, plan_accounts
from sandbox.world.timeline.response import Opening, SeenTask, chance, hazard
from sync.runner import pull_all
from tests.conftest import make_context

DAYS = 40
START = date(2026, 6, 1)
KINDS = {
    "seats": "seat_pressure",
    "capacity": "capacity",
    "wau": "wau_crossing",
    "step": "seat_step",
    "trial": "trial",
    "renewal": "renewal",
    "payroll": "cross_sell",
}
RULE_OF = {kind: rule for rule, kind in KINDS.items()}


def tasks_on_first_day(responder: Responder, accounts: set[int] | None = None) -> list[SeenTask]:
    """upsync's task for every window (of ``accounts``), created on the window's first day in the run."""
    return [
        SeenTask(e.window.account, RULE_OF[e.window.kind], max(e.window.start, 0))
        for e in responder.exposures
        if accounts is None or e.window.account in accounts
    ]


def simulate(responder: Responder, tasks: list[SeenTask], days: int = DAYS) -> list[Opening]:
    opened: list[Opening] = []
    for day in range(days):
        _, opens = responder.step(day, tasks)
        opened += opens
    return opened


def test_the_daily_hazard_gives_the_configured_chance_over_outcome_days_exactly() -> None:
    # by hand: 75 % over 2 mornings is 50 % a morning (1 − 0.5 × 0.5); 100 % is certain on the first
    assert hazard(0.75, 2) == 0.5 and chance([0.5, 0.5]) == 0.75
    assert hazard(1.0, 30) == 1.0 and hazard(0.0, 30) == 0.0
    for p in (0.05, 0.15, 0.4, 0.9):
        for days in (1, 7, 30, 90):
            assert chance([hazard(p, days)] * days) == pytest.approx(p, abs=1e-12)


def test_each_window_is_exposed_outcome_days_mornings_at_its_arms_hazard() -> None:
    """The record of a window's mornings is the exact chance it had: p_task with its task from the
    first morning, p_base without, and a late task gives the mix of both."""
    plans = [Plan(n=0, story="seat_pressure", seat_cross=20, used_base=0.74)]
    response = Response(p_task=0.4, p_base=0.1, outcome_days=30)
    on_time, late, never = (Responder(plans, 80, response, kinds=KINDS) for _ in range(3))
    window = on_time.exposures[0].window
    start = window.start  # the morning after seats first reach 80 %
    assert window.kind == "seat_pressure" and len(on_time.exposures) == 1 and on_time.exposures[0].first == start + 1
    simulate(on_time, [SeenTask(0, "seats", start)], 80)
    simulate(late, [SeenTask(0, "seats", start + 5)], 80)  # five days late: seen from morning start + 6
    simulate(never, [SeenTask(0, "trial", start), SeenTask(0, "seats", start - 1)], 80)  # other kind; before
    for r in (on_time, late, never):
        assert len(r.exposures[0].hazards) == 30  # mornings start + 1 .. start + 30, an opened window included
    assert chance(on_time.exposures[0].hazards) == pytest.approx(0.4)
    assert chance(never.exposures[0].hazards) == pytest.approx(0.1)
    h_task, h_base = hazard(0.4, 30), hazard(0.1, 30)
    assert (late.exposures[0].base_days, late.exposures[0].task_days) == (5, 25)
    assert chance(late.exposures[0].hazards) == pytest.approx(1 - (1 - h_base) ** 5 * (1 - h_task) ** 25)


def test_the_answer_is_the_same_for_the_same_seed_and_tasks() -> None:
    plans = plan_accounts(7, 96, DAYS)
    response = Response(p_task=0.5, p_base=0.2, win_rate=0.6, outcome_days=20, seed=3)
    first, again = Responder(plans, DAYS, response, kinds=KINDS), Responder(plans, DAYS, response, kinds=KINDS)
    a = simulate(first, tasks_on_first_day(first))
    b = simulate(again, list(reversed(tasks_on_first_day(again))))  # the order tasks are read in is no matter
    assert a == b and len(a) >= 10
    other = Responder(plans, DAYS, Response(p_task=0.5, p_base=0.2, win_rate=0.6, outcome_days=20, seed=4), kinds=KINDS)
    assert simulate(other, tasks_on_first_day(other)) != a


def test_with_certainty_for_a_task_and_none_without_each_tasked_window_opens_one_opportunity() -> None:
    plans = plan_accounts(5, 128, DAYS)
    r = Responder(plans, DAYS, Response(p_task=1.0, p_base=0.0, win_rate=0.5, outcome_days=10), kinds=KINDS)
    tasked = {p.n for p in plans if p.n % 2 == 0}
    opened = simulate(r, tasks_on_first_day(r, tasked))
    by_window: dict[Window, list[Opening]] = {}
    for o in opened:
        by_window.setdefault(o.window, []).append(o)
    with_task = [e for e in r.exposures if e.window.account in tasked and e.first < DAYS]
    assert len(with_task) >= 30
    for e in with_task:  # exactly one, on the first morning the task is in the CRM
        assert [o.day for o in by_window[e.window]] == [e.first]
        assert e.opened is not None and e.first_task_day == e.first
    assert not [w for w in by_window if w.account not in tasked]
    kinds = {o.window.kind: o.kind for o in opened}  # the deal is of the window's kind
    assert kinds["renewal"] == "renewal" and kinds["cross_sell"] == "cross-sell" and kinds["seat_pressure"] == "upgrade"
    assert all(7 <= o.close - o.day <= 28 and o.amount > 0 for o in opened)
    summary = r.summary(DAYS)
    assert summary["with_task"]["opportunity_rate"] == 1.0 and summary["with_task"]["expected_rate"] == 1.0
    assert summary["without_task"]["opportunity_rate"] == 0.0 and summary["realised_effect"] == 1.0
    truth = r.truth()  # per window: its task and its deal, for the bench's record
    rows = [dict(zip(truth["columns"], row, strict=True)) for row in truth["rows"]]
    assert len(rows) == len(r.exposures)
    assert all(
        (row["opportunity_day"] is not None) == (row["account"] in tasked) for row in rows if row["first"] < DAYS
    )


def test_without_a_kind_map_any_upsync_task_on_the_account_answers_its_windows() -> None:
    plans = [Plan(n=0, story="seat_pressure", seat_cross=20, used_base=0.74)]
    r = Responder(plans, 80, Response(p_task=1.0, p_base=0.0, outcome_days=10))
    start = r.exposures[0].window.start
    opened = simulate(r, [SeenTask(0, "any-rule-at-all", start), SeenTask(1, "seats", start)], 80)
    assert [(o.account, o.day) for o in opened] == [(0, start + 1)]


def test_off_by_default_and_probabilities_checked() -> None:
    assert not Response().on
    with pytest.raises(ValueError, match=r"p_task = 1\.5: a probability"):
        Response(p_task=1.5)
    with pytest.raises(ValueError, match="outcome_days = 0"):
        Response(p_task=0.1, outcome_days=0)


@pytest.mark.e2e
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_new_deal_is_read_by_the_next_pull_open_then_won(tmp_path: Path, crm: str) -> None:
    """Through the stand-in's API and upsync's incremental pull: opened at 06:00 on the morning after
    the task, read by that day's 09:00 pull; closed won later, read again with its line item."""
    plans = [Plan(n=0, story="seat_pressure", seat_cross=12, used_base=0.74), Plan(n=1, story="steady")]
    response = Response(p_task=1.0, p_base=0.0, win_rate=1.0, outcome_days=5)
    responder = Responder(plans, 30, response, kinds={"seats-near-limit": "seat_pressure"})
    tw = TimelineWorld(plans, crm=crm, start=START, variant=CrmVariant(), responder=responder)
    window = responder.exposures[0].window
    assert window.start > 0
    account = sf_id("001", 1) if crm == "salesforce" else str(HS_BASE["companies"] + 1)
    key = f"seats-near-limit|{account}|{(START + timedelta(days=window.start)).isoformat()}"
    with start_sandbox(tw.world, ca_path=tmp_path / "ca.pem") as sb:
        tw.advance(0)
        assert pulled(tmp_path, sb, crm, tw.at(0, 9)) == []
        for day in range(1, window.start + 1):
            tw.advance(day)
        created = tw.at(window.start, 9)  # upsync's cycle of the window's first day writes its task
        if crm == "salesforce":
            tw.world.salesforce.table("Task")["00T000000000001AAA"] = {
                "Id": "00T000000000001AAA",
                "Upsync_Sync_Key__c": key,
                "CreatedDate": sf_time(created),
            }
        else:
            tw.world.hubspot.table("tasks")["1"] = {"properties": {"upsync_sync_key": key}, "createdAt": created}
        tw.advance(window.start + 1)
        opening = responder.exposures[0].opened
        assert opening is not None and opening.day == window.start + 1
        deals = pulled(tmp_path, sb, crm, tw.at(window.start + 1, 9))
        assert [(d["account_id"], d["is_closed"], d["created_at"]) for d in deals] == [
            (account, False, tw.at(window.start + 1, 6))
        ]
        for day in range(window.start + 2, opening.close + 1):
            tw.advance(day)
        deals = pulled(tmp_path, sb, crm, tw.at(opening.close, 9))
        assert [(d["is_closed"], d["is_won"], d["amount"]) for d in deals] == [(True, True, float(opening.amount))]


def pulled(tmp_path: Path, sb: Sandbox, crm: str, as_of: datetime) -> list[dict[str, Any]]:
    """One pull as of that morning; the world's answers among the opportunities upsync stored."""
    ctx = make_context(tmp_path, sb, crm, as_of=as_of)
    reports = pull_all(ctx, as_of=ctx.clock())
    assert not [r.error for r in reports if r.error]
    rows = [r for r in ctx.store.rows("opportunities", system=crm) if "(upgrade)" in str(r["name"])]
    ctx.close()
    return rows
