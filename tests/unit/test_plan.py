"""The planner: actions + ledger + the CRM's state → exactly the changes a rep should see."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from core.records import (
    AccountState,
    Action,
    CrmTask,
    EditSource,
    FieldMemo,
    LedgerEntry,
    LedgerState,
    Scalar,
    normalise,
)
from rules.plan import (
    MAX_ATTEMPTS,
    CrmState,
    Plan,
    TaskRule,
    WritePolicy,
    desired_fields,
    field_suspects,
    legacy_key,
    op_key,
    period_of,
    plan_changes,
    plan_tasks,
    task_suspects,
)
from rules.playbooks import Playbook, Step

NOW = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
PLAYBOOK = Playbook(id="seat-expansion", title="Seat expansion", url="https://playbooks.example.com/seats")
RULE = TaskRule(
    id="seats-near-limit",
    kind="upsell",
    signal="S5",
    title="Seats near the plan limit",
    priority="high",
    due_in_days=3,
    window="month",
    playbook=PLAYBOOK,
    hash="abc123",
)
RENEWAL = TaskRule(
    id="renewal-approaching",
    kind="review",
    signal="S7",
    title="Renewal within 90 days",
    priority="normal",
    due_in_days=3,
    window="quarter",
    playbook=Playbook(
        id="renewal",
        title="Renewal",
        url="https://playbooks.example.com/renewal",
        steps=(
            Step(id="review", title="Review outcomes", what="Walk through the year's results", offset_days=-90),
            Step(id="demo", title="Demo the higher tier", what="Show what the next plan adds", offset_days=-75),
            Step(id="case", title="Share a similar customer's case", what="Send the case study", offset_days=-60),
            Step(id="quote", title="Rough quote", what="Send a rough quote", offset_days=-45),
        ),
    ),
    hash="def456",
)
RULES = {RULE.id: RULE, RENEWAL.id: RENEWAL}
KEY = op_key(RULE.id, "salesforce", "001A", "2026-11")


def action(
    account_id: str = "001A",
    *,
    owner: str | None = "005A",
    note: str = "the account owner",
    value: float = 1000.0,
    rule: TaskRule = RULE,
    evidence: dict[str, float | int | str | None] | None = None,
) -> Action:
    return Action(
        system="salesforce",
        account_id=account_id,
        account_name="Acme <b>KK</b>",
        rule_id=rule.id,
        kind=rule.kind,
        owner_id=owner,
        owner_note=note,
        role="account_owner",
        lifecycle="expansion",
        value=value,
        score=value * 1.25,
        subject="Seats at 90% of plan",
        reasons=("9 of 10 seats in use (90%)", "also renewal within 90 days: contract ends 2027-01-31"),
        supporting=("renewal-approaching",),
        evidence=evidence if evidence is not None else {"seat_utilisation": 0.9, "seats_used": 9.0},
    )


def entry(key: str = KEY, state: LedgerState = LedgerState.confirmed, attempts: int = 1, **kw: object) -> LedgerEntry:
    values: dict[str, object] = {
        "key": key,
        "system": "salesforce",
        "rule_id": RULE.id,
        "account_id": "001A",
        "window": "2026-11",
        "state": state,
        "attempts": attempts,
        "crm_id": "00T1",
        "owner_id": "005A",
        "priority": "high",
        "body": "Why now: 9 of 10 seats",
        "created_at": NOW - timedelta(days=10),
        "updated_at": NOW - timedelta(days=10),
    }
    values.update(kw)
    return LedgerEntry(**values)  # type: ignore[arg-type]


def crm_task(key: str = KEY, **kw: object) -> CrmTask:
    values: dict[str, object] = {
        "key": key,
        "crm_id": "00T1",
        "account_id": "001A",
        "status": "Not Started",
        "owner_id": "005A",
        "created_by": "005API",
        "last_modified_by": "005API",
        "modified_at": NOW - timedelta(days=10),
    }
    values.update(kw)
    return CrmTask(**values)  # type: ignore[arg-type]


def plan(
    actions: list[Action],
    ledger: dict[str, LedgerEntry] | None = None,
    state: CrmState | None = None,
    *,
    firing: set[tuple[str, str]] | None = None,
    **policy: object,
) -> Plan:
    return plan_changes(
        actions,
        RULES,
        ledger or {},
        state or CrmState(),
        system="salesforce",
        as_of=NOW,
        policy=WritePolicy(**policy),  # type: ignore[arg-type]
        firing=firing if firing is not None else {(a.account_id, a.rule_id) for a in actions},
    )


# -- keys -------------------------------------------------------------------------------------


def test_periods_are_iso_weeks_months_and_quarters() -> None:
    assert period_of("week", NOW) == "2026-W48"
    assert period_of("month", NOW) == "2026-11"
    assert period_of("quarter", NOW) == "2026-Q4"


def test_a_task_key_is_the_same_for_the_same_rule_account_and_period_only() -> None:
    assert op_key("r", "salesforce", "001A", "2026-11") == op_key("r", "salesforce", "001A", "2026-11")
    assert op_key("r", "salesforce", "001A", "2026-11") != op_key("r", "salesforce", "001A", "2026-12")
    assert op_key("r", "salesforce", "001A", "2026-11") != op_key("r", "salesforce", "001B", "2026-11")
    assert KEY == "seats-near-limit|001A|2026-11"  # an admin reads rule, account and period


# -- keys written before keys were readable (legacy hash keys) ----------------------------------------

OLD = legacy_key(RULE.id, "salesforce", "001A", "2026-11")


def test_a_task_written_under_its_old_hash_key_this_period_is_not_created_again() -> None:
    p = plan([action()], {OLD: entry(key=OLD)}, CrmState(tasks={OLD: crm_task(OLD)}))
    assert p.creates == () and p.reconciles == () and p.adopted == ()
    assert [(s.key, s.reason) for s in p.skipped] == [(OLD, "already written")]


def test_an_old_key_task_the_rep_completed_this_period_is_not_followed_by_a_readable_one() -> None:
    done = CrmState(tasks={OLD: crm_task(OLD, is_closed=True, status="Completed")})
    p = plan([action()], {OLD: entry(key=OLD)}, done)
    assert p.creates == () and [s.key for s in p.skipped] == [OLD]


def test_an_old_key_task_left_pending_by_a_crash_before_the_upgrade_is_reconciled_under_its_key() -> None:
    p = plan([action()], {OLD: entry(key=OLD, state=LedgerState.pending)})
    assert [t.key for t in p.reconciles] == [OLD] and p.creates == ()


def test_an_old_key_task_follows_its_owner_and_closes_when_its_signal_clears_as_before() -> None:
    ledger, state = {OLD: entry(key=OLD)}, CrmState(tasks={OLD: crm_task(OLD)})
    moved = plan([action(owner="005B", note="the account owner")], ledger, state)
    assert [(u.key, u.owner_id) for u in moved.updates] == [(OLD, "005B")] and moved.creates == ()
    cleared = plan([], ledger, state, firing=set())
    assert [(u.key, u.close) for u in cleared.updates] == [(OLD, True)]


def test_a_lost_state_adopts_an_old_key_task_of_this_period_instead_of_creating_a_readable_one() -> None:
    p = plan([action()], {}, CrmState(tasks={OLD: crm_task(OLD)}))
    assert p.creates == () and [a.key for a in p.adopted] == [OLD]
    assert p.adopted[0].intent is not None and p.adopted[0].intent.window == "2026-11"


def test_the_next_period_gets_a_readable_key_once_the_old_task_is_done() -> None:
    last_month = legacy_key(RULE.id, "salesforce", "001A", "2026-10")
    ledger = {last_month: entry(key=last_month, window="2026-10")}
    done = CrmState(tasks={last_month: crm_task(last_month, is_closed=True, status="Completed")})
    assert [t.key for t in plan([action()], ledger, done).creates] == [KEY]


def test_a_sequence_step_written_under_its_old_key_is_not_created_again() -> None:
    end = NOW.date() + timedelta(days=70)  # the first stage (T-90) is written; the second (T-75) is due
    act = action(rule=RENEWAL, evidence={"contract_end": end.isoformat(), "days_to_renewal": 70.0})
    old = legacy_key(f"{RENEWAL.id}#review", "salesforce", "001A", end.isoformat())
    ledger = {old: entry(key=old, rule_id=RENEWAL.id, window=end.isoformat(), step="review")}
    p = plan([act], ledger, CrmState(tasks={old: crm_task(old)}))
    assert p.creates == ()  # the open stage is the old-key task: not created again, the next one waits
    done = CrmState(tasks={old: crm_task(old, is_closed=True, status="Completed")})
    [after] = plan([act], ledger, done).creates  # once it is closed, the next stage, under a readable key
    assert after.step != "review" and after.key.startswith(f"{RENEWAL.id}#")
    assert after.key.endswith(f"|001A|{end.isoformat()}")


# -- creating tasks ------------------------------------------------------------------------------


def test_an_action_becomes_one_task_with_reasons_playbook_key_and_provenance() -> None:
    p = plan([action()])
    assert [t.key for t in p.creates] == [KEY]
    task = p.creates[0]
    assert task.due_on == date(2026, 11, 26) and task.priority == "high" and task.owner_id == "005A"
    assert "9 of 10 seats in use (90%)" in task.body
    assert "https://playbooks.example.com/seats" in task.body
    assert KEY in task.body and KEY in task.body_html
    assert "<b>KK</b>" not in task.body_html and "&lt;b&gt;KK&lt;/b&gt;" in task.body_html
    assert task.provenance is not None
    assert task.provenance.rule_hash == "abc123" and task.provenance.inputs["seats_used"] == 9.0


def test_the_task_body_names_its_owner_and_role_in_words() -> None:
    named = replace(action(), role="cs", owner_name="Aiko Tanaka")
    assert "Owner: Aiko Tanaka (customer success)\n" in plan([named]).creates[0].body
    unnamed = replace(action(), role="cs", owner_note="cs: the account owner")
    body = plan([unnamed]).creates[0].body
    assert "Owner: customer success\n" in body and "cs: the account owner" not in body


def test_a_written_task_is_not_written_again_and_an_unconfirmed_one_is_reconciled_first() -> None:
    assert plan([action()], {KEY: entry()}).creates == ()
    assert [s.reason for s in plan([action()], {KEY: entry()}).skipped] == ["already written"]
    for state in (LedgerState.pending, LedgerState.unknown):
        p = plan([action()], {KEY: entry(state=state)})
        assert [t.key for t in p.reconciles] == [KEY] and p.creates == ()


def test_a_refused_task_is_retried_until_max_attempts() -> None:
    assert [t.key for t in plan([action()], {KEY: entry(state=LedgerState.failed)}).creates] == [KEY]
    capped = plan([action()], {KEY: entry(state=LedgerState.failed, attempts=MAX_ATTEMPTS, last_error="bad owner")})
    assert capped.creates == () and "bad owner" in capped.skipped[0].reason


def test_an_action_without_an_owner_is_skipped_with_the_routing_note() -> None:
    p = plan([action(owner=None, note="no active owner and no fallback")])
    assert p.creates == () and p.skipped[0].reason == "no active owner and no fallback"


def test_a_held_run_plans_no_task_but_still_the_fields() -> None:
    state = CrmState(accounts={"001A": AccountState(account_id="001A", synced_at=NOW)})
    p = plan_changes(
        [action()],
        RULES,
        {},
        state,
        system="salesforce",
        as_of=NOW,
        policy=WritePolicy(tasks=False, held_because="first run: fields only"),
        desired={"001A": {"health_score": 71.0, "as_of": "2026-11-23T09:00:00Z"}},
    )
    assert p.creates == () and p.skipped[0].reason == "first run: fields only"
    assert [dict(f.values) for f in p.fields] == [{"health_score": 71.0, "as_of": "2026-11-23T09:00:00Z"}]


def test_the_owner_budget_keeps_the_most_valuable_actions() -> None:
    acts = [action(f"001{i}", value=v) for i, v in enumerate([100.0, 900.0, 500.0])]
    p = plan(acts, owner_weekly_budget=2)
    assert sorted(t.account_id for t in p.creates) == ["0011", "0012"]
    assert [s.account_id for s in p.skipped] == ["0010"] and "budget" in p.skipped[0].reason


def test_tasks_already_given_this_week_count_against_the_budget() -> None:
    this_week = entry(key="k-old", account_id="009Z", created_at=NOW - timedelta(hours=2), window="2026-10")
    last_week = entry(key="k-older", account_id="009Y", created_at=NOW - timedelta(days=1), window="2026-10")
    p = plan(
        [action("0011"), action("0012", value=10)], {"k-old": this_week, "k-older": last_week}, owner_weekly_budget=2
    )
    assert [t.account_id for t in p.creates] == ["0011"]


def test_an_open_task_from_an_earlier_period_blocks_a_new_one_for_the_same_rule() -> None:
    old_key = op_key(RULE.id, "salesforce", "001A", "2026-10")
    p = plan([action()], {old_key: entry(key=old_key, window="2026-10")}, CrmState(tasks={old_key: crm_task(old_key)}))
    assert p.creates == () and "still open" in p.skipped[0].reason


# -- upsync's own open tasks ----------------------------------------------------------------------


def test_a_cleared_signal_closes_upsyncs_own_untouched_task_with_a_note() -> None:
    state = CrmState(tasks={KEY: crm_task()})
    p = plan([], {KEY: entry()}, state, firing=set())
    assert [(u.key, u.close) for u in p.updates] == [(KEY, True)]
    assert p.updates[0].body is not None and "no longer holds" in p.updates[0].body
    assert p.updates[0].body.startswith("Why now: 9 of 10 seats")


def test_on_clear_leave_keeps_the_task_open_and_says_so() -> None:
    p = plan([], {KEY: entry()}, CrmState(tasks={KEY: crm_task()}), firing=set(), on_clear="leave")
    assert p.updates == () and "left open" in p.skipped[0].reason


def test_a_signal_held_back_by_a_guard_has_not_cleared() -> None:
    p = plan([], {KEY: entry()}, CrmState(tasks={KEY: crm_task()}), firing={("001A", RULE.id)})
    assert p.updates == ()


def test_a_task_the_rep_completed_or_a_person_edited_is_never_touched() -> None:
    done = CrmState(tasks={KEY: crm_task(is_closed=True, status="Completed")})
    assert plan([], {KEY: entry()}, done, firing=set()).updates == ()
    edited = CrmState(
        tasks={KEY: crm_task(last_modified_by="005REP")},
        task_edits={"00T1": EditSource(origin="person", who="005REP", at=NOW - timedelta(days=1))},
    )
    p = plan([], {KEY: entry()}, edited, firing=set())
    assert p.updates == ()
    assert [(h.kind, h.target) for h in p.holds] == [("task", KEY)] and "005REP" in p.holds[0].reason
    already_held = plan([], {KEY: entry(held="edited by 005REP")}, CrmState(tasks={KEY: crm_task()}), firing=set())
    assert already_held.updates == () and already_held.holds == ()


def test_a_task_never_created_by_upsync_is_not_in_the_ledger_and_never_closed() -> None:
    foreign = CrmState(tasks={"not-ours": crm_task("not-ours", crm_id="00T9")})
    assert plan([], {}, foreign, firing=set()).updates == ()


def test_a_lost_state_adopts_upsyncs_open_task_and_closes_it_when_its_signal_cleared() -> None:
    last_month = op_key(RULE.id, "salesforce", "001A", "2026-10")
    state = CrmState(tasks={last_month: crm_task(last_month)})
    p = plan([], {}, state, firing=set())  # no ledger: the state was lost
    assert [(a.key, a.intent.rule_id if a.intent else None) for a in p.adopted] == [(last_month, RULE.id)]
    assert p.adopted[0].intent is not None and p.adopted[0].intent.window == "2026-10"
    assert [(u.key, u.close, u.body) for u in p.updates] == [(last_month, True, None)]  # its text is left as is
    still_firing = plan([], {}, state, firing={("001A", RULE.id)})
    assert [a.key for a in still_firing.adopted] == [last_month] and still_firing.updates == ()


def test_an_untouched_open_task_follows_a_new_owner() -> None:
    p = plan(
        [action(owner="005B", note="fallback: the owner is inactive")],
        {KEY: entry()},
        CrmState(tasks={KEY: crm_task()}),
    )
    assert [(u.key, u.owner_id, u.close) for u in p.updates] == [(KEY, "005B", False)]
    assert p.creates == ()
    off = plan([action(owner="005B")], {KEY: entry()}, CrmState(tasks={KEY: crm_task()}), update_open_tasks=False)
    assert off.updates == ()


def test_suspects_are_tasks_another_user_or_a_later_write_touched() -> None:
    ledger = {KEY: entry()}
    assert task_suspects(ledger, CrmState(tasks={KEY: crm_task()})) == {}
    assert "00T1" in task_suspects(ledger, CrmState(tasks={KEY: crm_task(last_modified_by="005REP")}))
    later = crm_task(modified_at=NOW - timedelta(days=1))
    assert "00T1" in task_suspects(ledger, CrmState(tasks={KEY: later}))


# -- the renewal sequence (A4) -------------------------------------------------------------------


def test_the_renewal_sequence_creates_the_stage_due_today_once() -> None:
    end = NOW.date() + timedelta(days=90)
    act = action(rule=RENEWAL, evidence={"contract_end": end.isoformat(), "days_to_renewal": 90.0})
    p = plan([act])
    assert [(t.step, t.due_on) for t in p.creates] == [("review", end - timedelta(days=90))]
    ledger = {t.key: entry(key=t.key, rule_id=RENEWAL.id, window=end.isoformat(), step=t.step) for t in p.creates}
    again = plan([act], ledger)
    assert again.creates == () and [s.reason for s in again.skipped] == ["already written"]


def test_a_sequence_counts_once_against_the_owner_budget() -> None:
    end = NOW.date() + timedelta(days=90)
    act = action(rule=RENEWAL, evidence={"contract_end": end.isoformat()})
    p = plan([act, action("001B")], owner_weekly_budget=2)
    assert len(p.creates) == 2


# -- account fields (A2) -------------------------------------------------------------------------

WANT: dict[str, dict[str, Scalar]] = {
    "001A": {"health_score": 72.5, "health_band": "green", "as_of": "2026-11-23T09:00:00Z"}
}


def fields_plan(state: CrmState, desired: dict[str, dict[str, Scalar]] | None = None) -> Plan:
    return plan_changes(
        [],
        RULES,
        {},
        state,
        system="salesforce",
        as_of=NOW,
        policy=WritePolicy(),
        desired=desired or WANT,
    )


def seen(**current: object) -> dict[str, AccountState]:
    return {"001A": AccountState(account_id="001A", current=current, synced_at=NOW - timedelta(hours=1))}  # type: ignore[arg-type]


def memo(value: str | None, **kw: object) -> FieldMemo:
    values: dict[str, object] = {"value": value, "state": LedgerState.confirmed, "written_at": NOW - timedelta(days=1)}
    values.update(kw)
    return FieldMemo(**values)  # type: ignore[arg-type]


def test_only_changed_fields_are_written_and_nothing_when_nothing_changed() -> None:
    same = fields_plan(CrmState(accounts=seen(health_score="72.50", health_band="green")))
    assert same.fields == () and same.empty
    changed = fields_plan(CrmState(accounts=seen(health_score=60.0, health_band="green")))
    assert [dict(f.values) for f in changed.fields] == [{"health_score": 72.5, "as_of": "2026-11-23T09:00:00Z"}]
    assert (
        changed.fields[0].key
        == fields_plan(CrmState(accounts=seen(health_score=60.0, health_band="green"))).fields[0].key
    )


def test_a_value_a_person_put_over_upsyncs_is_left_alone_and_recorded() -> None:
    state = CrmState(
        accounts=seen(health_score=10.0, health_band="green"),
        fields={("001A", "health_score"): memo("60.0")},
        account_edits={"001A": EditSource(origin="person", who="005REP")},
    )
    assert field_suspects(WANT, state, ("health_score", "health_band")) == {"001A": ["health_score"]}
    p = fields_plan(state)
    assert p.fields == ()
    assert [(h.target, h.value) for h in p.holds] == [("health_score", "10.0")] and "005REP" in p.holds[0].reason


def test_a_value_upsync_itself_wrote_is_overwritten() -> None:
    state = CrmState(
        accounts=seen(health_score=10.0, health_band="green"),
        fields={("001A", "health_score"): memo("60.0")},
        account_edits={"001A": EditSource(origin="upsync")},
    )
    assert [dict(f.values) for f in fields_plan(state).fields] == [
        {"health_score": 72.5, "as_of": "2026-11-23T09:00:00Z"}
    ]


def test_a_held_field_stays_the_persons_until_they_clear_it() -> None:
    held = memo("10.0", held="edited by 005REP")
    kept = fields_plan(
        CrmState(accounts=seen(health_score=10.0, health_band="green"), fields={("001A", "health_score"): held})
    )
    assert kept.fields == () and kept.holds == ()
    cleared = fields_plan(
        CrmState(accounts=seen(health_score=None, health_band="green"), fields={("001A", "health_score"): held})
    )
    assert [dict(f.values) for f in cleared.fields] == [{"health_score": 72.5, "as_of": "2026-11-23T09:00:00Z"}]


def test_a_pull_older_than_upsyncs_write_is_not_taken_for_an_edit() -> None:
    state = CrmState(
        accounts={
            "001A": AccountState(account_id="001A", current={"health_score": 60.0}, synced_at=NOW - timedelta(days=2))
        },
        fields={("001A", "health_score"): memo("72.5"), ("001A", "health_band"): memo("green")},
    )
    assert fields_plan(state).fields == ()
    assert field_suspects(WANT, state, ("health_score",)) == {}


def test_accounts_not_read_back_yet_and_unowned_fields_are_not_written() -> None:
    assert fields_plan(CrmState()).fields == ()
    p = plan_changes(
        [],
        RULES,
        {},
        CrmState(accounts=seen()),
        system="salesforce",
        as_of=NOW,
        policy=WritePolicy(owned_fields=("health_band",)),
        desired=WANT,
    )
    assert [sorted(f.values) for f in p.fields] == [["health_band"]]


@pytest.mark.parametrize(
    ("name", "a", "b"),
    [("health_score", 72.5, "72.50"), ("expansion_score", 1250.4, "1250"), ("health_band", " green ", "green")],
)
def test_values_compare_as_the_crm_gives_them_back(name: str, a: object, b: object) -> None:
    assert normalise(name, a) == normalise(name, b)
    assert normalise(name, "") is None and normalise(name, None) is None


def test_desired_fields_say_health_the_next_best_action_and_its_playbook() -> None:
    rows: list[dict[str, object]] = [
        {"account": "001A", "health_score": 72.456, "health_band": "green"},
        {"account": "001B", "health_score": None, "health_band": None},
    ]
    out = desired_fields(rows, {"001A": action()}, RULES, {"001A": "Seats near the plan limit (2026-11-20)"}, as_of=NOW)
    assert out["001A"]["health_score"] == 72.5
    assert out["001A"]["expansion_score"] == 1250.0
    assert out["001A"]["next_best_action"] == "Seats at 90% of plan"
    assert out["001A"]["playbook_url"] == "https://playbooks.example.com/seats"
    assert out["001A"]["last_signal"] == "Seats near the plan limit (2026-11-20)"
    assert out["001B"]["next_best_action"] is None and out["001B"]["expansion_score"] == 0.0


def test_plan_tasks_is_the_same_plan_for_the_same_inputs() -> None:
    a = plan_tasks([action(), action("001B")], RULES, {}, as_of=NOW)
    b = plan_tasks([action(), action("001B")], RULES, {}, as_of=NOW)
    assert a == b and len(a.creates) == 2
    assert plan_tasks([action(), action()], RULES, {}, as_of=NOW).creates == a.creates[:1]


def test_replace_keeps_entries_frozen() -> None:
    e = entry()
    assert replace(e, held="x").held == "x" and e.held is None
