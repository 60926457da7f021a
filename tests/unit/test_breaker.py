"""The circuit breaker and stale inputs, as pure judgements over counts and times."""

from __future__ import annotations

from datetime import timedelta

from rules.breaker import BreakerParams, Volume, deviations, held_rules, rule_sources, stale_sources
from tests.unit.accounts import AS_OF, bundled_ruleset

PARAMS = BreakerParams(share=0.2, min_count=25, runs=10)


def vol(deleted: int = 0, closes: int = 0, fields: int = 0, accounts: int = 300) -> Volume:
    return Volume(accounts=accounts, deleted=deleted, closes=closes, fields=fields)


def test_most_accounts_archived_at_once_holds_the_cycle_even_on_a_new_install() -> None:
    reasons = deviations(vol(deleted=250), [], PARAMS)
    assert reasons == ["250 accounts deleted or archived in the CRM (83% of 300 accounts; no earlier runs)"]


def test_a_usual_day_is_not_held() -> None:
    history = [vol(deleted=2, closes=8, fields=30), vol(deleted=0, closes=12, fields=41), vol(closes=9, fields=25)]
    assert deviations(vol(deleted=3, closes=14, fields=44), history, PARAMS) == []


def test_closes_and_field_changes_far_above_the_median_are_held() -> None:
    history = [vol(closes=5, fields=20)] * 5 + [vol(closes=100, fields=300)]  # one big first run
    reasons = deviations(vol(closes=103, fields=180), history, PARAMS)
    assert deviations(vol(closes=5, fields=160), history, PARAMS) == []  # fields allow half the accounts
    assert [r.split(" ", 2)[1] for r in reasons] == ["tasks", "field"]
    assert "usually 5 over the last 6 runs" in reasons[0]


def test_the_first_write_back_run_sets_every_field_without_being_held() -> None:
    assert deviations(vol(fields=300, closes=0), [], PARAMS) == []


def test_a_small_org_is_not_held_for_a_handful_of_changes() -> None:
    assert deviations(vol(deleted=20, accounts=30), [], PARAMS) == []  # 67 % but under min_count
    assert deviations(vol(deleted=26, accounts=30), [], PARAMS) != []


def test_only_the_last_runs_make_the_baseline_and_the_breaker_can_be_off() -> None:
    old_busy = [vol(closes=5)] * 3 + [vol(closes=200)] * 20
    assert deviations(vol(closes=200), old_busy, BreakerParams(runs=3)) != []
    assert deviations(vol(closes=200), old_busy, BreakerParams(runs=20)) == []
    assert deviations(vol(deleted=299), [], BreakerParams(enabled=False)) == []


def test_a_run_summary_without_a_volume_is_no_baseline() -> None:
    assert Volume.from_dict(vol(deleted=1).as_dict()) == vol(deleted=1)
    assert Volume.from_dict({"accounts": 3}) is None
    assert Volume.from_dict({"accounts": "3", "deleted": 0, "closes": 0, "fields": 0}) is None


def test_a_source_is_stale_past_its_allowance_only() -> None:
    last = {"hubspot": AS_OF - timedelta(hours=1), "usage": AS_OF - timedelta(hours=50)}
    stale = stale_sources(last, as_of=AS_OF, stale_after=timedelta(hours=48))
    assert list(stale) == ["usage"] and "50 h ago" in stale["usage"]
    assert stale_sources(last, as_of=AS_OF, stale_after=None) == {}
    assert stale_sources(last, as_of=AS_OF, stale_after=timedelta(hours=72)) == {}


def test_stale_usage_holds_the_rules_that_read_usage_and_no_other() -> None:
    rules = bundled_ruleset(["seats-near-limit", "renewal-approaching", "high-weekly-usage", "key-feature-habit"])
    by_id = {r.id: r for r in rules.rules}
    assert rule_sources(by_id["renewal-approaching"], crm="hubspot") == {"hubspot"}
    assert rule_sources(by_id["seats-near-limit"], crm="hubspot") == {"hubspot", "usage"}
    held = held_rules(rules, {"usage": "usage last pulled 50 h ago"}, crm="hubspot")
    assert sorted(held) == ["high-weekly-usage", "key-feature-habit", "seats-near-limit"]
    assert held["seats-near-limit"] == "stale input: usage last pulled 50 h ago"
    everything = held_rules(rules, {"hubspot": "hubspot last pulled 3 days ago"}, crm="hubspot")
    assert len(everything) == 4
