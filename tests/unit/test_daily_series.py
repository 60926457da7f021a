"""Daily series from stored usage: a value a day up to yesterday, only what the rules read, read far enough back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.errors import ConfigError
from rules.decide import usage_since
from rules.engine import Evaluation
from rules.explain import explain_account
from sync.config import parse_config
from tests.unit.accounts import AS_OF, ENV, TODAY, World, bundled_raw, day, evaluate, feature, fired, ruleset


def series(world: World, account: str, name: str, *rules: str) -> list[Any]:
    """The daily list of ``name`` for ``account`` when the rules ``rules`` (conditions) are evaluated."""
    rs = ruleset(*({"id": f"r{i}", "kind": "upsell", "when": w} for i, w in enumerate(rules)))
    return daily(evaluate(world, rs), account, name)


def daily(ev: Evaluation, account: str, name: str) -> list[Any]:
    value: list[Any] = feature(ev, account, f"{name}@d").to_list()
    return value


def drop_day(world: World, account: str, age: int) -> None:
    world.rows["usage"] = [
        r for r in world.rows["usage"] if not (r["workspace_id"] == f"ws-{account}" and r["day"] == day(age))
    ]


def test_a_series_holds_one_value_a_day_oldest_first_yesterday_last_and_a_missing_day_is_unknown() -> None:
    w = World()
    w.account("a")
    w.contract("a")
    w.usage("a", days=6, seats_used=lambda age: 10 * age)
    drop_day(w, "a", 2)
    w.add("usage", workspace_id="ws-a", day=TODAY, seats_used=999.0, updated_at=AS_OF)  # today: incomplete
    assert series(w, "a", "seats_used", "ago(seats_used, 8) > 0") == [None, None, 60, 50, 40, 30, None, 10]


def test_a_day_the_usage_api_delivered_after_the_moment_is_unknown_then() -> None:
    w = World()
    w.account("a")
    w.contract("a")
    w.usage("a", days=3, seats_used=lambda age: age, updated_late=True)
    assert series(w, "a", "seats_used", "ago(seats_used, 3) > 0") == [3, 2, None]


def test_derived_series_follow_the_latest_day_definitions_day_by_day() -> None:
    w = World()
    for name, purchased in (("bought", 40), ("plan-only", 0)):
        w.account(name, seats_purchased=purchased)
        w.contract(name)
        w.usage(
            name,
            days=3,
            seats_used=20,
            weekly_active_users=lambda age: 10 * age,
            seats_limit=lambda age: [0, 50, 100][age - 1],  # yesterday's plan limit is 0
            storage_used_gb=lambda age: 5 * age,
            storage_limit_gb=lambda age: [0, 100, 100][age - 1],
            api_calls_used=100,
            api_calls_limit=1000,
            feature_events=lambda age: {"documents": age, "reports": 2 * age, "untracked": 100},
            premium_feature_views=lambda age: age,
            pricing_page_views=lambda age: 4 - age,
        )
    reads = [
        "ago(seat_utilisation, 3) > 0",
        "ago(wau_ratio, 3) > 0",
        "ago(storage_utilisation, 3) > 0",
        "ago(api_utilisation, 3) > 0",
        "ago(events, 3) > 0",
        "ago(premium_views, 3) > 0",
        "ago(pricing_views, 3) > 0",
    ]
    rs = ruleset(*({"id": f"r{i}", "kind": "upsell", "when": w} for i, w in enumerate(reads)))
    ev = evaluate(w, rs)
    # seats purchased in the CRM are the limit every day; without them, each day's plan limit (0: unknown)
    assert daily(ev, "bought", "seat_utilisation") == [0.5, 0.5, 0.5]
    assert daily(ev, "plan-only", "seat_utilisation") == [0.2, 0.4, None]
    assert daily(ev, "bought", "wau_ratio") == [0.75, 0.5, 0.25]
    assert daily(ev, "plan-only", "wau_ratio") == [0.3, 0.4, None]
    assert daily(ev, "bought", "storage_utilisation") == [0.15, 0.1, None]
    assert daily(ev, "bought", "api_utilisation") == [0.1, 0.1, 0.1]
    # the tracked features' events only
    assert daily(ev, "bought", "events") == [9.0, 6.0, 3.0]
    assert daily(ev, "bought", "premium_views") == [3.0, 2.0, 1.0]
    assert daily(ev, "bought", "pricing_views") == [1.0, 2.0, 3.0]
    # the latest-day features are what they were
    assert feature(ev, "bought", "seat_utilisation") == 0.5


def test_only_the_series_the_rules_read_are_built_as_long_as_the_longest_read() -> None:
    w = World()
    w.customer("a")
    rs = ruleset(
        {"id": "grew", "kind": "upsell", "when": "change_over(seats_used, 30) >= 20% and min_over(seats_used, 7) > 0"},
        {"id": "views", "kind": "upsell", "when": "sum_over(premium_views, 14) >= 3", "value": "ago(wau, 2)"},
    )
    assert dict(rs.daily) == {"seats_used": 31, "premium_views": 14, "wau": 2}
    f = evaluate(w, rs).features
    daily = {c: f.get_column(c).list.len().to_list() for c in f.columns if c.endswith("@d")}
    assert daily == {"seats_used@d": [31], "premium_views@d": [14], "wau@d": [2]}


def test_a_rule_on_growth_over_30_days_fires_on_the_account_that_grew() -> None:
    w = World()
    w.customer("flat")
    for name, before, now in (("grew", 40, 50), ("grew-less", 45, 50)):
        w.account(name)
        w.contract(name)
        w.usage(name, seats_used=lambda age, b=before, n=now: n if age < 30 else b)
    w.account("no-usage")
    w.contract("no-usage")
    rs = ruleset({"id": "seats-grew", "kind": "upsell", "when": "change_over(seats_used, 30) >= 20%"})
    assert fired(evaluate(w, rs), "seats-grew") == {"grew"}


def test_usage_is_read_back_as_far_as_the_longest_series_a_rule_reads() -> None:
    plain = ruleset({"id": "r", "kind": "upsell", "when": "seats_used > 1"})
    window = ruleset({"id": "r", "kind": "upsell", "when": "ago(wau, 150) > 1"})
    runs = ruleset({"id": "r", "kind": "upsell", "when": "streak(wau > 1) > 1"}, features={"series_days": 120})
    assert usage_since(plain, TODAY) == TODAY - timedelta(days=97)  # the 90-day windows and weekly series
    assert usage_since(window, TODAY) == TODAY - timedelta(days=150)
    assert usage_since(runs, TODAY) == TODAY - timedelta(days=120)


@pytest.mark.parametrize(("series_days", "below", "crossed"), [(144, 14, True), (143, 14, False), (150, 20, True)])
def test_a_crossing_is_seen_while_the_run_and_the_days_before_it_fit_in_series_days(
    series_days: int, below: int, crossed: bool
) -> None:
    w = World()
    w.account("a")
    w.contract("a")
    w.usage("a", days=150, weekly_active_users=lambda age: 40 if age <= 130 else 10)  # 130 days above 30
    rs = ruleset(
        {"id": "r", "kind": "upsell", "when": f"crossed_above(wau, 30, {below})"},
        features={"series_days": series_days},
    )
    assert fired(evaluate(w, rs), "r") == ({"a"} if crossed else set())


def test_a_rule_looking_further_back_than_series_days_is_refused_at_load_naming_it() -> None:
    raw = bundled_raw()
    raw["features"] = {**raw["features"], "series_days": 60}
    raw["rules"] = [
        {"id": "long-look", "kind": "upsell", "playbook": "renewal", "when": "seats_used > mean_over(seats_used, 90)"}
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith("rules[0] (long-look).when: mean_over()'s days must be a whole number from 1 to 60")
    assert "column 36" in problem and "series_days = 60 caps how far back a rule may look" in problem


def test_series_days_itself_is_checked() -> None:
    raw = bundled_raw()
    raw["features"] = {**raw["features"], "series_days": 1}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    assert any("series_days" in str(p) for p in caught.value.problems)


def test_the_shipped_rules_read_no_daily_series_and_so_read_usage_as_before() -> None:
    raw = bundled_raw()
    rs = parse_config(raw, ENV).ruleset
    assert dict(rs.daily) == {}
    assert usage_since(rs, TODAY) == TODAY - timedelta(days=97)


def test_explain_shows_the_values_the_daily_functions_took_for_the_account() -> None:
    w = World()
    w.account("a")
    w.contract("a")
    w.usage("a", seats_used=lambda age: 50 if age < 30 else 40)
    rules = ruleset(
        {"id": "grew", "kind": "upsell", "when": "change_over(seats_used, 30) >= 20% and streak(seats_used >= 50) >= 7"}
    )
    [verdict] = explain_account(evaluate(w, rules), rules, "a", system="salesforce").rules
    assert verdict.verdict == "fired"
    assert verdict.checks == (
        ("change_over(seats_used, 30) >= 20%", True),
        ("change_over(seats_used, 30)", 0.25),
        ("streak(seats_used >= 50) >= 7", True),
        ("streak(seats_used >= 50)", 29.0),
    )
