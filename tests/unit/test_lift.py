"""The lift: treated vs control on hand-computed tables, and its intervals against textbook values."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from core.tables import OutcomeTables
from rules.lift import LIFT_SCHEMA, diff_interval, lift, t_quantile, welch_interval, wilson

MAY = date(2026, 5, 1)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, tzinfo=timezone.utc)


def tables(
    treated: list[tuple[str, date]], control: list[tuple[str, date]], opps: list[tuple[str, date, bool, float]]
) -> OutcomeTables:
    return OutcomeTables.from_rows(
        ledger=[
            {
                "key": f"r|{a}|{d}",
                "rule_id": "r",
                "account_id": a,
                "window": "2026-05",
                "state": "confirmed",
                "created_at": _at(d),
            }
            for a, d in treated
        ],
        control=[{"rule_id": "r", "account_id": a, "period": "2026-05", "day": d} for a, d in control],
        opportunities=[
            {"crm_id": f"o{i}", "account_id": a, "created_at": _at(d), "is_won": w, "amount": amt, "close_date": d}
            for i, (a, d, w, amt) in enumerate(opps)
        ],
    )


def rows(t: OutcomeTables, **kw: Any) -> dict[str, dict[str, Any]]:
    frame = lift(t, since=MAY, until=date(2026, 5, 31), outcome_days=30, rule_ids=["r"], **kw)
    assert list(frame.schema) == list(LIFT_SCHEMA)
    return {r["rule_id"]: r for r in frame.to_dicts()}


# -- the intervals ----------------------------------------------------------------------------------


def test_newcombe_hybrid_score_interval_matches_the_paper() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10
    assert diff_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert diff_interval(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)
    assert diff_interval(5, 56, 0, 29) == pytest.approx((-0.0381, 0.1926), abs=1e-4)  # a zero arm


def test_wilson_interval_of_nothing_and_of_none() -> None:
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert diff_interval(3, 10, 0, 0) is None


def test_t_quantile_is_within_a_thousandth_of_the_table() -> None:
    for df, table in ((5, 2.5706), (10, 2.2281), (30, 2.0423), (120, 1.9799)):
        assert t_quantile(0.975, df) == pytest.approx(table, abs=1e-3)


def test_welch_interval_by_hand() -> None:
    # a = 0,0,10,10 (mean 5, var 100/3); b = 0,0,0,0,0,6 (mean 1, var 6)
    # se² = (100/3)/4 + 6/6 = 9.3333; df = 9.3333² / ((8.3333²)/3 + 1²/5) = 3.7384; t(.975, 3.74) ≈ 2.84
    interval = welch_interval([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 0.0, 0.0, 0.0, 6.0])
    assert interval is not None
    low, high = interval
    assert (low + high) / 2 == pytest.approx(4.0)
    assert (high - low) / 2 == pytest.approx(2.84 * 9.3333**0.5, rel=0.02)
    assert welch_interval([1.0], [1.0, 2.0]) is None
    assert welch_interval([0.0, 0.0], [0.0, 0.0]) == (0.0, 0.0)


# -- the lift frame ---------------------------------------------------------------------------------


def test_a_hand_computed_table() -> None:
    # treated t1..t4 on May 4; control c1..c4 on May 6. Opportunities:
    #   t1 May 10 won 1,000; t2 May 20 lost; t3 June 10 (37 days: too late); t4 April 30 (before: not an outcome)
    #   c1 May 6 (same day) won 400
    d4, d6 = date(2026, 5, 4), date(2026, 5, 6)
    t = tables(
        [(f"t{i}", d4) for i in range(1, 5)],
        [(f"c{i}", d6) for i in range(1, 5)],
        [
            ("t1", date(2026, 5, 10), True, 1000.0),
            ("t2", date(2026, 5, 20), False, 5000.0),
            ("t3", date(2026, 6, 10), True, 9000.0),
            ("t4", date(2026, 4, 30), True, 9000.0),
            ("c1", d6, True, 400.0),
        ],
    )
    r = rows(t, min_per_arm=4, min_outcomes=3)["r"]
    assert (r["treated"], r["control"]) == (4, 4)
    assert (r["treated_opportunities"], r["control_opportunities"]) == (2, 1)
    assert r["treated_opportunity_rate"] == 0.5 and r["control_opportunity_rate"] == 0.25
    assert (r["treated_won"], r["control_won"]) == (1, 1)
    assert r["treated_win_rate"] == 0.5 and r["control_win_rate"] == 1.0
    assert r["treated_revenue"] == 250.0 and r["control_revenue"] == 100.0  # 1,000 / 4 and 400 / 4
    assert r["lift"] == 0.25 and r["lift_relative"] == 1.0
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(diff_interval(2, 4, 1, 4))
    assert r["revenue_lift"] == 150.0
    assert r["revenue_ci_low"] < 150.0 < r["revenue_ci_high"]
    assert r["enough_data"] and r["note"] == ""


def test_below_the_minimum_sample_it_says_not_enough_data_yet() -> None:
    t = tables([(f"t{i}", MAY) for i in range(40)], [(f"c{i}", MAY) for i in range(12)], [("t1", MAY, True, 10.0)])
    r = rows(t)["r"]
    assert not r["enough_data"]
    assert r["note"] == "not enough data yet: 12 control accounts, need 30; 1 opportunities, need 5"
    assert r["ci_low"] is not None  # computed, only not to be read as a verdict


def test_no_control_at_all_has_no_lift() -> None:
    t = tables([(f"t{i}", MAY) for i in range(40)], [], [(f"t{i}", MAY, True, 10.0) for i in range(10)])
    r = rows(t)["r"]
    assert r["control"] == 0 and r["control_opportunity_rate"] is None
    assert r["lift"] is None and r["ci_low"] is None and r["revenue_lift"] is None
    assert r["note"] == "not enough data yet: 0 control accounts, need 30"


def test_zero_outcomes_in_both_arms_is_a_zero_lift_with_an_interval_around_it() -> None:
    t = tables([(f"t{i}", MAY) for i in range(30)], [(f"c{i}", MAY) for i in range(30)], [])
    r = rows(t, min_outcomes=0)["r"]
    assert r["lift"] == 0.0 and r["lift_relative"] is None  # no control rate to be relative to
    assert r["ci_low"] < 0 < r["ci_high"]
    assert r["treated_win_rate"] is None


def test_an_account_counts_once_in_the_arm_of_its_first_assignment() -> None:
    t = tables([("a", date(2026, 5, 20)), ("a", date(2026, 5, 25))], [("a", date(2026, 5, 2))], [])
    r = rows(t, min_per_arm=0, min_outcomes=0)["r"]
    assert (r["treated"], r["control"]) == (0, 1)


def test_outside_the_period_and_after_a_replays_as_of_nothing_counts() -> None:
    t = tables(
        [("a", date(2026, 4, 30)), ("b", date(2026, 5, 10))],
        [("c", date(2026, 6, 1))],
        [("b", date(2026, 5, 12), True, 5.0)],
    )
    r = rows(t, min_per_arm=0, min_outcomes=0)["r"]
    assert (r["treated"], r["control"], r["treated_opportunities"]) == (1, 0, 1)
    replay = rows(t, as_of=datetime(2026, 5, 11, tzinfo=timezone.utc), min_per_arm=0, min_outcomes=0)["r"]
    assert (replay["treated"], replay["treated_opportunities"]) == (1, 0)  # the deal came after the replay


def test_the_total_row_pools_every_rule_and_a_configured_rule_without_data_is_listed() -> None:
    t = tables([("a", MAY)], [("b", MAY)], [("a", MAY, True, 10.0)])
    frame = lift(t, since=MAY, until=date(2026, 5, 31), outcome_days=30, rule_ids=["quiet", "r"])
    assert frame.get_column("rule_id").to_list() == ["quiet", "r", "TOTAL"]
    quiet, total = frame.row(0, named=True), frame.row(2, named=True)
    assert (quiet["treated"], quiet["control"]) == (0, 0)
    assert (total["treated"], total["control"], total["treated_opportunities"]) == (1, 1, 1)


def test_nothing_at_all_is_an_empty_frame() -> None:
    frame = lift(OutcomeTables(), since=MAY, until=date(2026, 5, 31), outcome_days=30)
    assert frame.is_empty() and list(frame.schema) == list(LIFT_SCHEMA)


def test_the_report_prints_the_interval_or_not_enough_data(capsys: pytest.CaptureFixture[str]) -> None:
    from sync.cli.liftview import lift_verdict, print_lift

    many = tables(
        [(f"t{i}", MAY) for i in range(40)],
        [(f"c{i}", MAY) for i in range(40)],
        [(f"t{i}", MAY, True, 10.0) for i in range(20)],
    )
    r = rows(many)
    # Wilson 20/40 = 0.5 ± 0.1480, 0/40 = 0 to 0.0876: 0.5 − √(0.1480² + 0.0876²) = 0.328, 0.5 + 0.1480 = 0.648
    assert lift_verdict(r["r"]) == "+50.0 pts (95 % CI +32.8 pts to +64.8 pts): the tasks raised it"
    few = rows(tables([("t1", MAY)], [("c1", MAY)], []))
    assert lift_verdict(few["r"]).startswith("not enough data yet: 1 control accounts, need 30")
    print_lift(list(r.values()), outcome_days=30)
    out = capsys.readouterr().out  # a narrow terminal wraps the cell: its words are all there
    assert "+50.0" in out and "raised" in out and "40 / 40" in out and "TOTAL" in out
