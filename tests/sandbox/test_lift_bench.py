"""The lift bench's own logic (bench/lift.py): its rules, its intervals and its verdict, without a run."""

from __future__ import annotations

import tomllib

import pytest

from bench.lift import compare, interval, lift_rules, world_check


def test_every_rule_and_nothing_else_gets_the_control_share() -> None:
    parsed = tomllib.loads(lift_rules(0.5))
    assert len(parsed["rules"]) == 7
    assert all(r["control_share"] == 0.5 for r in parsed["rules"])
    assert not any("control_share" in p for p in parsed["playbooks"])
    assert not any("control_share" in s for p in parsed["playbooks"] for s in p.get("steps", []))


def test_intervals_by_hand() -> None:
    # 30 of 100: 0.3 ± 1.96 × √(0.3 × 0.7 / 100) = 0.3 ± 0.0898
    assert interval(30, 100) == (0.3, 0.2102, 0.3898)
    # 40 of 100 against 15 of 100: 0.25 ± 1.96 × √(0.0024 + 0.001275) = 0.25 ± 0.1188
    assert interval(40, 100, 15, 100) == (0.25, 0.1312, 0.3688)
    assert interval(0, 0) is None


def row(rule: str, low: float, high: float, *, enough: bool = True) -> dict[str, object]:
    """A lift row of the shared contract, the fields the verdict reads."""
    lift = (low + high) / 2
    return {"rule_id": rule, "treated": 300, "control": 300, "lift": lift, "ci_low": low, "ci_high": high} | {
        "enough_data": enough
    }


def test_the_verdict_checks_total_and_each_rule_with_enough_data() -> None:
    checks, problem = compare({"rules": []}, 0.25)
    assert checks is None and '"lift"' in problem and "+0.2500" in problem
    rows = [row("seats-near-limit", 0.1, 0.4), row("trial", 0.3, 0.5, enough=False), row("TOTAL", 0.2, 0.3)]
    checks, problem = compare({"lift": rows}, 0.25)
    assert problem == "" and checks is not None
    assert [c["rule_id"] for c in checks] == ["seats-near-limit", "TOTAL"]  # "not enough data yet" is not judged
    checks, problem = compare({"lift": [*rows, row("renewal-approaching", -0.1, 0.2)]}, 0.25)
    assert problem == "interval misses +0.2500: renewal-approaching"
    assert compare({"lift": rows[:1]}, 0.25)[1] == "the report's lift has no TOTAL row"
    assert compare({"lift": [row("TOTAL", -0.05, 0.04)]}, 0.0)[1] == ""  # no effect planted: contains 0


def test_the_world_check_reads_the_realised_rates() -> None:
    group = {"windows": 100, "opportunities": 40}
    summary = {"with_task": group, "without_task": {"windows": 100, "opportunities": 15}}
    check = world_check(summary, 0.4, 0.15)
    assert check["with_task"]["contains"] and check["without_task"]["contains"]
    assert check["effect"] == {"planted": 0.25, "realised_ci": (0.25, 0.1312, 0.3688), "contains": True}
    none_without = world_check({"with_task": group, "without_task": {"windows": 0, "opportunities": 0}}, 0.4, 0.15)
    assert none_without["effect"]["realised_ci"] is None and not none_without["effect"]["contains"]


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_the_share_is_the_one_asked_for(share: float) -> None:
    assert {r["control_share"] for r in tomllib.loads(lift_rules(share))["rules"]} == {share}
