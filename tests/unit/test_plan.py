from datetime import date, datetime, timezone

import pytest

from rules.plan import MAX_ATTEMPTS, op_key, period_of, plan_tasks
from rules.signals import RuleSpec
from sync.records import LedgerEntry, LedgerState, Signal

NOW = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
RULE = RuleSpec(
    id="seats-near-limit",
    signal="S5",
    kind="upsell",
    threshold=0.8,
    priority="high",
    due_in_days=3,
    window="month",
    subject="Seats at {utilisation:.0%} of plan",
    playbook_title="Seat expansion",
    playbook_url="https://playbooks.example.com/seats",
)
RULES = {RULE.id: RULE}


def signal(account_id: str, *, owner: str | None = "005A", active: bool | None = True) -> Signal:
    return Signal(
        rule_id=RULE.id,
        system="salesforce",
        account_id=account_id,
        account_name="Acme <b>KK</b>",
        owner_id=owner,
        owner_active=active,
        evidence={"seats_used": 9, "seats_limit": 10, "utilisation": 0.9, "threshold": 0.8, "usage_day": "2026-11-22"},
        observed_on=date(2026, 11, 22),
    )


def entry(key: str, state: LedgerState, attempts: int = 1) -> LedgerEntry:
    return LedgerEntry(
        key=key,
        system="salesforce",
        rule_id=RULE.id,
        account_id="001A",
        window="2026-11",
        state=state,
        attempts=attempts,
    )


def test_periods_are_iso_weeks_months_and_quarters() -> None:
    assert period_of("week", NOW) == "2026-W48"
    assert period_of("month", NOW) == "2026-11"
    assert period_of("quarter", NOW) == "2026-Q4"


def test_the_key_is_deterministic_and_differs_by_rule_account_and_period() -> None:
    key = op_key("seats-near-limit", "salesforce", "001A", "2026-11")
    assert key == op_key("seats-near-limit", "salesforce", "001A", "2026-11")
    assert len(key) == 40
    others = {
        op_key("other", "salesforce", "001A", "2026-11"),
        op_key("seats-near-limit", "hubspot", "001A", "2026-11"),
        op_key("seats-near-limit", "salesforce", "001B", "2026-11"),
        op_key("seats-near-limit", "salesforce", "001A", "2026-12"),
    }
    assert key not in others and len(others) == 4


def test_a_new_signal_becomes_a_task_with_reasons_playbook_and_due_date() -> None:
    plan = plan_tasks([signal("001A")], RULES, {}, now=NOW, fallback_owner_id=None)
    [task] = plan.creates
    assert task.subject == "Seats at 90% of plan"
    assert task.due_on == date(2026, 11, 26)
    assert task.owner_id == "005A"
    assert task.priority == "high"
    assert "9 of 10 seats in use (90%) on 2026-11-22" in task.body
    assert "https://playbooks.example.com/seats" in task.body
    assert task.key in task.body
    assert task.window == "2026-11"


def test_intent_already_confirmed_in_the_ledger_is_skipped() -> None:
    key = op_key(RULE.id, "salesforce", "001A", "2026-11")
    plan = plan_tasks(
        [signal("001A")], RULES, {key: entry(key, LedgerState.confirmed)}, now=NOW, fallback_owner_id=None
    )
    assert plan.writes == ()
    assert [s.reason for s in plan.skipped] == ["already written"]


@pytest.mark.parametrize("state", [LedgerState.pending, LedgerState.unknown])
def test_an_unconfirmed_write_is_reconciled_not_created(state: LedgerState) -> None:
    key = op_key(RULE.id, "salesforce", "001A", "2026-11")
    plan = plan_tasks([signal("001A")], RULES, {key: entry(key, state)}, now=NOW, fallback_owner_id=None)
    assert [t.key for t in plan.reconciles] == [key]
    assert plan.creates == ()


def test_a_refused_write_is_retried_until_the_attempt_cap() -> None:
    key = op_key(RULE.id, "salesforce", "001A", "2026-11")
    again = plan_tasks(
        [signal("001A")], RULES, {key: entry(key, LedgerState.failed, 1)}, now=NOW, fallback_owner_id=None
    )
    assert [t.key for t in again.creates] == [key]
    capped = plan_tasks(
        [signal("001A")], RULES, {key: entry(key, LedgerState.failed, MAX_ATTEMPTS)}, now=NOW, fallback_owner_id=None
    )
    assert capped.writes == () and "refused 3 times" in capped.skipped[0].reason


def test_an_inactive_owner_falls_back_or_is_skipped_with_a_reason() -> None:
    inactive = signal("001A", active=False)
    routed = plan_tasks([inactive], RULES, {}, now=NOW, fallback_owner_id="005FALLBACK")
    assert routed.creates[0].owner_id == "005FALLBACK"
    skipped = plan_tasks([inactive], RULES, {}, now=NOW, fallback_owner_id=None)
    assert skipped.writes == () and "inactive" in skipped.skipped[0].reason


def test_the_same_signal_twice_plans_one_task() -> None:
    plan = plan_tasks([signal("001A"), signal("001A")], RULES, {}, now=NOW, fallback_owner_id=None)
    assert len(plan.creates) == 1
