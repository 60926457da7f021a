"""Randomized control groups: who is kept without a task, stably, and what the planner does with them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from core.errors import ConfigError
from core.records import CrmTask, LedgerState
from rules.engine import task_rules
from rules.guards import FrequencyCap
from rules.plan import CrmState, WritePolicy, in_control, op_key, plan_changes, plan_tasks, unit_share
from sync.config import parse_config
from tests.unit.accounts import ENV, bundled_raw
from tests.unit.test_plan import NOW, RULE, action, entry

HALF = replace(RULE, control_share=0.5)
ACCOUNTS = [f"001{i:05d}" for i in range(40)]
POLICY = WritePolicy(fields=False, owner_weekly_budget=1000)  # one owner for all: no budget in the way


def _control_set(rule_id: str, period: str, share: float, accounts: list[str]) -> set[str]:
    return {a for a in accounts if in_control(a, rule_id, period, share)}


# -- assignment ---------------------------------------------------------------------------------


def test_the_hash_is_a_fixed_function_of_account_rule_and_period() -> None:
    # computed once and written down: a salted hash() would differ between processes and replicas
    assert unit_share("001A", "seats-near-limit", "2026-11") == pytest.approx(0.15354065544496448, abs=1e-15)
    assert in_control("001A", "seats-near-limit", "2026-11", 0.16)
    assert not in_control("001A", "seats-near-limit", "2026-11", 0.15)


def test_a_share_of_zero_keeps_nobody_out() -> None:
    assert not any(in_control(a, "r", "2026-11", 0.0) for a in ACCOUNTS)


@pytest.mark.parametrize("share", [0.05, 0.10, 0.25, 0.5])
def test_over_ten_thousand_accounts_the_control_group_is_the_configured_share(share: float) -> None:
    accounts = [f"acct-{i}" for i in range(10_000)]
    kept = _control_set("seats-near-limit", "2026-11", share, accounts)
    assert abs(len(kept) / 10_000 - share) < 0.015  # 3 standard errors at 0.5 is 0.015


def test_each_rule_and_period_draws_its_own_control_group() -> None:
    accounts = [f"acct-{i}" for i in range(10_000)]
    may = _control_set("seats-near-limit", "2026-05", 0.1, accounts)
    june = _control_set("seats-near-limit", "2026-06", 0.1, accounts)
    other = _control_set("renewal-approaching", "2026-05", 0.1, accounts)
    # independent draws overlap by share² (1 %), not by share (10 %): nobody is always left out
    assert len(may & june) < 200 and len(may & other) < 200


def test_another_process_with_another_hash_seed_keeps_the_same_accounts() -> None:
    code = (
        "from rules.plan import in_control\n"
        f"print(','.join(a for a in {ACCOUNTS!r} if in_control(a, 'seats-near-limit', '2026-11', 0.3)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert set(out.strip().split(",")) == _control_set("seats-near-limit", "2026-11", 0.3, ACCOUNTS)


# -- the planner --------------------------------------------------------------------------------


def test_a_control_account_gets_no_task_and_says_why() -> None:
    plan = plan_tasks([action(a) for a in ACCOUNTS], {HALF.id: HALF}, {}, as_of=NOW, policy=POLICY)
    kept = _control_set(HALF.id, "2026-11", 0.5, ACCOUNTS)
    assert 0 < len(kept) < len(ACCOUNTS)
    assert {t.account_id for t in plan.creates} == set(ACCOUNTS) - kept
    reasons = {s.account_id: s.reason for s in plan.skipped}
    assert set(reasons) == kept
    assert reasons[min(kept)] == ("control group (50 % of seats-near-limit, kept without a task to measure its effect)")
    # recorded once per (rule, account, period), with the day its task would have been created
    assert {(c.account_id, c.rule_id, c.period, c.day) for c in plan.controls} == {
        (a, HALF.id, "2026-11", NOW.date()) for a in kept
    }


def test_a_control_account_stays_without_a_task_in_later_cycles_and_after_a_lost_state() -> None:
    first = plan_tasks([action(a) for a in ACCOUNTS], {HALF.id: HALF}, {}, as_of=NOW, policy=POLICY)
    written = {t.key: entry(t.key, account_id=t.account_id) for t in first.creates}
    kept = {c.account_id for c in first.controls}
    later = NOW + timedelta(days=5)  # same month, the treated tasks written
    again = plan_tasks([action(a) for a in ACCOUNTS], {HALF.id: HALF}, written, as_of=later, policy=POLICY)
    assert not again.creates
    assert {c.account_id for c in again.controls} == kept
    lost = plan_tasks([action(a) for a in ACCOUNTS], {HALF.id: HALF}, {}, as_of=later, policy=POLICY)  # state.db gone
    assert {t.account_id for t in lost.creates} == set(ACCOUNTS) - kept


def test_control_accounts_consume_no_budget() -> None:
    treated = len(ACCOUNTS) - len(_control_set(HALF.id, "2026-11", 0.5, ACCOUNTS))
    policy = WritePolicy(fields=False, owner_weekly_budget=treated)
    plan = plan_tasks(
        [action(a, value=1000 + i) for i, a in enumerate(ACCOUNTS)], {HALF.id: HALF}, {}, as_of=NOW, policy=policy
    )
    assert len(plan.creates) == treated  # every treated account fits: the controls took no slot
    # by value, highest first: a control account is kept (measured) while a task would still fit the
    # budget, and past the last treated account's slot it is held by the budget like any other
    ranked = list(reversed(ACCOUNTS))
    last_treated = max(ranked.index(t.account_id) for t in plan.creates)
    control = _control_set(HALF.id, "2026-11", 0.5, ACCOUNTS)
    assert {c.account_id for c in plan.controls} == {a for a in control if ranked.index(a) < last_treated}
    held = {s.account_id for s in plan.skipped if "budget" in s.reason}
    assert held == {a for a in control if ranked.index(a) > last_treated}


def test_a_control_account_is_one_that_would_get_the_task_now_not_one_the_cap_holds() -> None:
    """Two upsell rules ripe on one account in one cycle: the cap (G2) lets one offer through. The
    second rule's control group keeps the account only if its task would have been created: never
    when the first rule's task already took the cap, so both arms of the second rule hold only the
    accounts it could reach (else its control arm keeps busier accounts, and its lift is biased)."""
    cap = FrequencyCap(max_offers=1, per_days=30)
    first = replace(RULE, id="first-upsell", cap=cap)
    second = replace(HALF, id="second-upsell", cap=cap)
    rules = {first.id: first, second.id: second}
    actions = [action(a, value=2000, rule=first) for a in ACCOUNTS]
    actions += [action(a, value=1000, rule=second) for a in ACCOUNTS]
    plan = plan_tasks(actions, rules, {}, as_of=NOW, policy=POLICY)
    assert {t.account_id for t in plan.creates if t.rule_id == first.id} == set(ACCOUNTS)
    assert not [c for c in plan.controls if c.rule_id == second.id]  # capped everywhere: in neither arm


def test_a_task_already_written_or_in_the_crm_is_treated_whatever_the_hash_says() -> None:
    kept = sorted(_control_set(HALF.id, "2026-11", 0.5, ACCOUNTS))
    written, in_crm = kept[0], kept[1]
    ledger = {
        op_key(HALF.id, "salesforce", written, "2026-11"): entry(
            op_key(HALF.id, "salesforce", written, "2026-11"), account_id=written
        )
    }
    crm_key = op_key(HALF.id, "salesforce", in_crm, "2026-11")
    state = CrmState(tasks={crm_key: CrmTask(key=crm_key, crm_id="00T1", account_id=in_crm)})
    plan = plan_changes(
        [action(written), action(in_crm)],
        {HALF.id: HALF},
        ledger,
        state,
        system="salesforce",
        as_of=NOW,
        policy=POLICY,
    )
    assert not plan.controls
    assert [a.key for a in plan.adopted] == [crm_key]
    assert [s.reason for s in plan.skipped] == ["already written"]


def test_no_control_is_recorded_while_no_task_may_be_created() -> None:
    held = WritePolicy(fields=False, tasks=False, held_because="first run: fields only")
    plan = plan_tasks([action(a) for a in ACCOUNTS], {HALF.id: HALF}, {}, as_of=NOW, policy=held)
    assert not plan.creates and not plan.controls
    # nobody would get a task now: no arm to measure, every account held by the policy, controls too
    assert {s.account_id for s in plan.skipped if s.reason == held.held_because} == set(ACCOUNTS)


def test_a_failed_write_is_retried_not_turned_into_control() -> None:
    kept = min(_control_set(HALF.id, "2026-11", 0.5, ACCOUNTS))
    key = op_key(HALF.id, "salesforce", kept, "2026-11")
    ledger = {key: entry(key, state=LedgerState.failed, attempts=1, account_id=kept)}
    plan = plan_tasks([action(kept)], {HALF.id: HALF}, ledger, as_of=NOW)
    assert [t.key for t in plan.creates] == [key] and not plan.controls


# -- configuration ------------------------------------------------------------------------------


def _config(**writeback: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    raw = bundled_raw()
    raw["writeback"] = {**raw.get("writeback", {}), **writeback}
    return raw, raw["rules"]


def test_every_rule_defaults_to_ten_percent_and_a_rule_or_writeback_overrides_it() -> None:
    raw, rules = _config()
    rules[0]["control_share"] = 0.25
    rules[1]["control_share"] = 0
    loaded = parse_config(raw, ENV)
    shares = {
        r.id: r.control_share for r in task_rules(loaded.ruleset, {p.id: p for p in loaded.settings.playbooks}).values()
    }
    assert shares[rules[0]["id"]] == 0.25 and shares[rules[1]["id"]] == 0
    assert {s for rid, s in shares.items() if rid not in (rules[0]["id"], rules[1]["id"])} == {0.10}
    raw, _ = _config(control_share=0)
    loaded = parse_config(raw, ENV)
    assert {
        r.control_share for r in task_rules(loaded.ruleset, {p.id: p for p in loaded.settings.playbooks}).values()
    } == {0}


@pytest.mark.parametrize("bad", [1, 1.5, -0.1])
def test_a_share_outside_zero_to_one_names_the_rule_and_the_key(bad: float) -> None:
    raw, rules = _config()
    rules[0]["control_share"] = bad
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith(
        f"rules[0] ({rules[0]['id']}).control_share: control_share must be at least 0 and below 1"
    )
    assert "0 turns it off" in problem


def test_a_writeback_default_outside_zero_to_one_is_refused() -> None:
    raw, _ = _config(control_share=1.0)
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    assert any(str(p).startswith("writeback.control_share") for p in caught.value.problems)


def test_today_is_the_record_day() -> None:
    plan = plan_tasks([action(a) for a in ACCOUNTS], {HALF.id: HALF}, {}, as_of=NOW, policy=POLICY)
    assert {c.day for c in plan.controls} == {date(2026, 11, 23)}
