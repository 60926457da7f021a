from datetime import date, datetime, timezone

import pytest

from rules.plan import MAX_ATTEMPTS, TaskRule, op_key, period_of, plan_tasks
from sync.records import Action, LedgerEntry, LedgerState

NOW = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
RULE = TaskRule(
    id="seats-near-limit",
    kind="upsell",
    signal="S5",
    title="Seats near the plan limit",
    priority="high",
    due_in_days=3,
    window="month",
    playbook_title="Seat expansion",
    playbook_url="https://playbooks.example.com/seats",
)
RULES = {RULE.id: RULE}


def action(account_id: str, *, owner: str | None = "005A", note: str = "the account owner") -> Action:
    return Action(
        system="salesforce",
        account_id=account_id,
        account_name="Acme <b>KK</b>",
        rule_id=RULE.id,
        kind="upsell",
        owner_id=owner,
        owner_note=note,
        role="account_owner",
        lifecycle="expansion",
        value=1000.0,
        score=1250.0,
        subject="Seats at 90% of plan",
        reasons=("9 of 10 seats in use (90%)", "also renewal within 90 days: contract ends 2027-01-31"),
        supporting=("renewal-approaching",),
        evidence={"seat_utilisation": 0.9, "seats_used": 9.0},
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


def test_a_next_best_action_becomes_a_task_with_reasons_playbook_and_due_date() -> None:
    plan = plan_tasks([action("001A")], RULES, {}, now=NOW)
    [task] = plan.creates
    assert task.subject == "Seats at 90% of plan"
    assert task.due_on == date(2026, 11, 26)
    assert task.owner_id == "005A"
    assert task.priority == "high"
    assert "- 9 of 10 seats in use (90%)" in task.body
    assert "- also renewal within 90 days" in task.body
    assert "S5 Seats near the plan limit" in task.body
    assert "https://playbooks.example.com/seats" in task.body
    assert task.key in task.body
    assert task.window == "2026-11"
    assert task.evidence == {"seat_utilisation": 0.9, "seats_used": 9.0}


def test_intent_already_confirmed_in_the_ledger_is_skipped() -> None:
    key = op_key(RULE.id, "salesforce", "001A", "2026-11")
    plan = plan_tasks([action("001A")], RULES, {key: entry(key, LedgerState.confirmed)}, now=NOW)
    assert plan.writes == ()
    assert [s.reason for s in plan.skipped] == ["already written"]


@pytest.mark.parametrize("state", [LedgerState.pending, LedgerState.unknown])
def test_an_unconfirmed_write_is_reconciled_not_created(state: LedgerState) -> None:
    key = op_key(RULE.id, "salesforce", "001A", "2026-11")
    plan = plan_tasks([action("001A")], RULES, {key: entry(key, state)}, now=NOW)
    assert [t.key for t in plan.reconciles] == [key]
    assert plan.creates == ()


def test_a_refused_write_is_retried_until_the_attempt_cap() -> None:
    key = op_key(RULE.id, "salesforce", "001A", "2026-11")
    again = plan_tasks([action("001A")], RULES, {key: entry(key, LedgerState.failed, 1)}, now=NOW)
    assert [t.key for t in again.creates] == [key]
    capped = plan_tasks([action("001A")], RULES, {key: entry(key, LedgerState.failed, MAX_ATTEMPTS)}, now=NOW)
    assert capped.writes == () and "refused 3 times" in capped.skipped[0].reason


def test_an_action_without_an_owner_is_skipped_with_the_routing_reason() -> None:
    plan = plan_tasks(
        [action("001A", owner=None, note="the account owner is inactive; set fallback")], RULES, {}, now=NOW
    )
    assert plan.writes == ()
    assert plan.skipped[0].reason == "the account owner is inactive; set fallback"


def test_the_same_action_twice_plans_one_task() -> None:
    plan = plan_tasks([action("001A"), action("001A")], RULES, {}, now=NOW)
    assert len(plan.creates) == 1
