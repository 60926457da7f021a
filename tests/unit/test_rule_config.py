"""Bad rules are reported at load, every one at once, with the rule id, the key and the column."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ConfigError
from sync.config import parse_config
from tests.unit.accounts import ENV, bundled_raw


def problems(*rules: dict[str, Any], **sections: Any) -> list[str]:
    raw = bundled_raw()
    raw["rules"] = [{"id": f"rule-{i}", "kind": "upsell", "playbook": "renewal", **r} for i, r in enumerate(rules)]
    raw.update(sections)
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    return [str(p) for p in caught.value.problems]


def test_an_unknown_feature_is_named_with_its_column_and_a_suggestion() -> None:
    [problem] = problems({"when": "seats_used >= 10 and seat_utilization >= 80%"})
    assert problem.startswith("rules[0] (rule-0).when: unknown feature 'seat_utilization' at column 22")
    assert "did you mean 'seat_utilisation'?" in problem


def test_a_type_mismatch_is_named_with_its_column() -> None:
    [problem] = problems({"when": "industry >= 3"})
    assert problem.startswith("rules[0] (rule-0).when:")
    assert "column 10" in problem and "text" in problem and "number" in problem


def test_a_syntax_error_is_named_with_its_column_and_a_hint() -> None:
    [problem] = problems({"when": "seats_used = 10"})
    assert "rules[0] (rule-0).when:" in problem and "column 12" in problem and "==" in problem


def test_a_condition_that_is_not_true_or_false_is_refused() -> None:
    [problem] = problems({"when": "seat_utilisation * 2"})
    assert "a condition must be true or false" in problem


def test_a_value_must_be_a_number() -> None:
    [problem] = problems({"when": "is_customer", "value": "industry"})
    assert problem.startswith("rules[0] (rule-0).value:") and "expected a number" in problem


def test_an_unknown_playbook_guard_or_role_is_named() -> None:
    found = problems(
        {"when": "is_customer", "playbook": "renewals"},
        {"when": "is_customer", "guards": ["G1", "G11"]},
        {"when": "is_customer", "skip_guards": ["G44"], "guard_params": {"G1": {"min_np": 6}}},
        {"when": "is_customer", "owner": "css"},
    )
    assert found[0] == "rules[0] (rule-0).playbook: unknown playbook 'renewals' (did you mean 'renewal'?)"
    assert found[1].startswith("rules[1] (rule-1).guards[1]: unknown guard 'G11'")
    assert found[2].startswith("rules[2] (rule-2).skip_guards[0]: unknown guard 'G44'")
    assert found[3] == "rules[2] (rule-2).guard_params.G1.min_np: unknown parameter (did you mean 'min_nps'?)"
    assert found[4].startswith("rules[3] (rule-3).owner: unknown role 'css'")
    assert len(found) == 5


def test_templates_name_only_features_with_valid_formats() -> None:
    found = problems(
        {"when": "is_customer", "subject": "Seats at {seat_utilisaton:.0%}"},
        {"when": "is_customer", "reason": "{account_name:.0%}"},
    )
    assert found[0].startswith("rules[0] (rule-0).subject: unknown template field {seat_utilisaton}")
    assert found[1].startswith("rules[1] (rule-1).reason: bad format {account_name:.0%}")


def test_a_cross_sell_under_the_relevance_guard_must_say_what_it_offers() -> None:
    [problem] = problems({"when": "is_customer", "kind": "cross-sell"})
    assert problem.startswith("rules[0] (rule-0).offer: G7 (relevance) needs to know what is offered")


def test_duplicate_ids_and_a_disabled_bad_rule_are_reported_too() -> None:
    found = problems(
        {"id": "same", "when": "is_customer"},
        {"id": "same", "when": "is_customer"},
        {"when": "nonsense > 1", "enabled": False},
    )
    assert found[0] == "rules[1] (same).id: duplicate rule id 'same' (rule ids are unique and stable)"
    assert found[1].startswith("rules[2] (rule-2).when: unknown feature 'nonsense'")


def test_guard_and_health_sections_are_checked_like_the_rest() -> None:
    found = problems(
        {"when": "is_customer"},
        guards={"G2": {"max_offer": 3}, "G3": {"cooldown_days": 0}},
        health={"weights": {"usage": 1, "happiness": 1}},
    )
    assert "guards.G2.max_offer: unknown key (did you mean 'max_offers'?)" in found
    assert any(p.startswith("guards.G3: cooldown_days must be at least 1") for p in found)
    assert any(p.startswith("health: unknown health component 'happiness'") for p in found)


def test_every_rule_problem_is_reported_in_one_go() -> None:
    found = problems({"when": "bad bad"}, {"when": "is_customer", "playbook": "nope"}, {"when": "x > 1"})
    assert [p.split(":")[0] for p in found] == [
        "rules[0] (rule-0).when",
        "rules[1] (rule-1).playbook",
        "rules[2] (rule-2).when",
    ]


def test_a_window_is_a_calendar_period_a_date_feature_or_a_date_expression() -> None:
    found = problems(
        {"when": "is_customer", "window": "contract_ends"},
        {"when": "is_customer", "window": "seats_used"},
        {"when": "is_customer", "window": "contract_end"},
        {"when": "is_customer", "window": "started(seat_utilisation >= 80%)"},
        {"when": "is_customer", "window": "streak(seat_utilisation >= 80%)"},
    )
    assert found[0].startswith("rules[0] (rule-0).window: unknown window 'contract_ends'")
    assert "week, month, quarter, episode" in found[0] and "contract_end" in found[0]
    assert "unknown feature 'contract_ends'" in found[0] and "started(" in found[0]
    assert found[1].startswith("rules[1] (rule-1).window: unknown window 'seats_used'")
    assert "expected a date, but this is a number" in found[1]
    assert found[2].startswith("rules[4] (rule-4).window: unknown window 'streak(seat_utilisation >= 80%)'")
    assert len(found) == 3
