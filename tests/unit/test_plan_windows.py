"""A task per ripe window: every ripe rule its own task (or one per account), G2 counting this
cycle's tasks, windows anchored to a date, and the renewal sequence staged in time."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import polars as pl

from core.records import Action, CrmTask, LedgerEntry, LedgerState, TaskIntent
from rules.guards import FrequencyCap, history_columns, offers_column
from rules.plan import CrmState, Plan, TaskRule, WritePolicy, plan_changes
from rules.playbooks import RENEWAL_STEPS, Playbook

NOW = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
CAP = FrequencyCap(max_offers=2, per_days=30)
PLAYBOOK = Playbook(id="expansion", title="Expansion", url="https://playbooks.example.com/expansion")


def rule(rule_id: str, *, window: str = "month", kind: str = "upsell", playbook: Playbook = PLAYBOOK) -> TaskRule:
    return TaskRule(
        id=rule_id,
        kind=kind,
        signal="S5",
        title=rule_id.replace("-", " ").capitalize(),
        priority="normal",
        due_in_days=3,
        window=window,
        playbook=playbook,
        cap=CAP if kind in CAP.kinds else None,
    )


SEATS, API, STORAGE = rule("seats-near-limit"), rule("api-near-limit"), rule("storage-near-limit")
RENEWAL = rule("renewal-approaching", window="contract_end")
SEQUENCE = rule(
    "renewal-sequence",
    window="contract_end",
    playbook=Playbook(id="renewal", title="Renewal", url="https://playbooks.example.com/r", steps=RENEWAL_STEPS),
)
RULES = {r.id: r for r in (SEATS, API, STORAGE, RENEWAL, SEQUENCE)}


def act(
    r: TaskRule, value: float, *, account: str = "001A", primary: bool = False, offers: int = 0, **evidence: object
) -> Action:
    return Action(
        system="salesforce",
        account_id=account,
        account_name="Acme",
        rule_id=r.id,
        kind=r.kind,
        owner_id="005A",
        owner_note="the account owner",
        role="account_owner",
        lifecycle="expansion",
        value=value,
        score=value,
        subject=f"{r.title}: Acme",
        reasons=(r.title,),
        evidence=dict(evidence),  # type: ignore[arg-type]
        primary=primary,
        offers=offers,
    )


def run(
    actions: list[Action],
    ledger: dict[str, LedgerEntry] | None = None,
    state: CrmState | None = None,
    *,
    at: datetime = NOW,
    **policy: object,
) -> Plan:
    return plan_changes(
        actions,
        RULES,
        ledger or {},
        state or CrmState(),
        system="salesforce",
        as_of=at,
        policy=WritePolicy(fields=False, **policy),  # type: ignore[arg-type]
        firing={(a.account_id, a.rule_id) for a in actions},
    )


def written(intents: tuple[TaskIntent, ...], at: datetime) -> dict[str, LedgerEntry]:
    """The ledger rows of tasks upsync wrote (confirmed)."""
    return {
        t.key: LedgerEntry(
            key=t.key,
            system="salesforce",
            rule_id=t.rule_id,
            account_id=t.account_id,
            window=t.window,
            state=LedgerState.confirmed,
            crm_id=f"00T{t.key[:6]}",
            owner_id=t.owner_id,
            step=t.step,
            created_at=at,
            updated_at=at,
        )
        for t in intents
    }


def task(entry: LedgerEntry, *, closed: bool = False) -> CrmTask:
    return CrmTask(
        key=entry.key,
        crm_id=entry.crm_id or "",
        account_id=entry.account_id,
        owner_id="005A",
        status="Completed" if closed else "Not Started",
        is_closed=closed,
    )


THREE = [act(SEATS, 3000, primary=True), act(API, 2000), act(STORAGE, 1000)]


# -- a task per ripe window ---------------------------------------------------------------------


def test_three_ripe_rules_and_a_cap_of_two_the_two_most_valuable_get_tasks() -> None:
    p = run(THREE)
    assert sorted(t.rule_id for t in p.creates) == ["api-near-limit", "seats-near-limit"]
    [held] = [s for s in p.skipped if s.rule_id == STORAGE.id]
    assert held.reason.startswith("G2: 2 offers in the last 30 days (cap 2), 2 of them this cycle")


def test_the_held_rule_gets_its_task_later_in_its_window_once_the_cap_allows() -> None:
    first = run(THREE)
    ledger = written(first.creates, NOW)
    later = NOW + timedelta(days=5)  # one of the two offers aged out of the cap's window in the evaluation
    p = run(
        [act(SEATS, 3000, primary=True, offers=1), act(API, 2000, offers=1), act(STORAGE, 1000, offers=1)],
        ledger,
        at=later,
    )
    assert [t.rule_id for t in p.creates] == [STORAGE.id]
    assert {s.reason for s in p.skipped} == {"already written"}


def test_one_task_per_account_gives_the_primary_its_task_and_says_why_the_others_wait() -> None:
    p = run(THREE, tasks_per="account")
    assert [t.rule_id for t in p.creates] == [SEATS.id]
    reasons = {s.rule_id: s.reason for s in p.skipped}
    assert reasons == {
        API.id: 'one task per account ([writeback] tasks_per = "account"): seats-near-limit goes first',
        STORAGE.id: 'one task per account ([writeback] tasks_per = "account"): seats-near-limit goes first',
    }


def test_per_account_the_next_ripe_rule_gets_its_task_once_the_rep_closes_the_first() -> None:
    ledger = written(run(THREE, tasks_per="account").creates, NOW)
    [entry] = ledger.values()
    still_open = run(
        THREE, ledger, CrmState(tasks={entry.key: task(entry)}), at=NOW + timedelta(days=1), tasks_per="account"
    )
    assert still_open.creates == ()
    assert "upsync's task of seats-near-limit is open" in {
        s.reason.split(": ", 1)[1] for s in still_open.skipped if s.rule_id == API.id
    }
    closed = CrmState(tasks={entry.key: task(entry, closed=True)})
    p = run(THREE, ledger, closed, at=NOW + timedelta(days=2), tasks_per="account")
    assert [t.rule_id for t in p.creates] == [API.id]  # same month: seats' closed task does not block it
    assert [s.reason for s in p.skipped if s.rule_id == SEATS.id] == ["already written (closed)"]


def test_the_owner_budget_keeps_the_most_valuable_window_tasks() -> None:
    p = run([act(SEATS, 3000, primary=True), act(RENEWAL, 5000, contract_end="2027-02-28")], owner_weekly_budget=1)
    assert [t.rule_id for t in p.creates] == [RENEWAL.id]
    [s] = p.skipped
    assert (s.rule_id, "weekly budget of 1 tasks is spent" in s.reason) == (SEATS.id, True)


# -- windows anchored to a date -----------------------------------------------------------------


def test_a_date_anchored_window_gives_one_task_per_contract_end_at_its_time() -> None:
    first_end, second_end = date(2027, 1, 31), date(2027, 2, 27)  # two renewals, one calendar quarter
    p1 = run([act(RENEWAL, 5000, contract_end=first_end.isoformat())])
    [t1] = p1.creates
    assert t1.window == "2027-01-31"
    ledger = written(p1.creates, NOW)
    again = run([act(RENEWAL, 5000, contract_end=first_end.isoformat())], ledger, at=NOW + timedelta(days=20))
    assert again.creates == ()
    renewed = NOW + timedelta(days=70)  # the first contract renewed; the next one ends four weeks later
    closed = CrmState(tasks={t1.key: task(ledger[t1.key], closed=True)})
    p2 = run([act(RENEWAL, 5000, contract_end=second_end.isoformat())], ledger, closed, at=renewed)
    [t2] = p2.creates
    assert (t2.window, t2.key != t1.key) == ("2027-02-27", True)


def test_an_unknown_date_gives_no_task_and_says_so() -> None:
    p = run([act(RENEWAL, 5000, contract_end=None)])
    assert p.creates == ()
    [s] = p.skipped
    assert s.reason == "no task: contract_end is unknown for this account (the rule's window is anchored on it)"


# -- the renewal sequence staged in time (A4) ---------------------------------------------------


def test_the_sequence_over_100_days_creates_one_stage_at_a_time_on_its_date() -> None:
    end = date(2027, 3, 3)
    start = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)  # T-100
    ledger: dict[str, LedgerEntry] = {}
    tasks: dict[str, CrmTask] = {}
    created: list[tuple[date, str | None]] = []
    for day in range(101):
        at = start + timedelta(days=day)
        for key, t in list(tasks.items()):  # the rep completes each stage a week after it arrives
            if not t.is_closed and at - (ledger[key].created_at or at) >= timedelta(days=7):
                tasks[key] = replace(t, is_closed=True, status="Completed")
        days_left = (end - at.date()).days
        acts = [act(SEQUENCE, 5000, contract_end=end.isoformat())] if 0 <= days_left <= 90 else []
        p = run(acts, ledger, CrmState(tasks=tasks), at=at)
        assert sum(not t.is_closed for t in tasks.values()) + len(p.creates) <= 1
        new = written(p.creates, at)
        ledger.update(new)
        tasks.update({k: task(e) for k, e in new.items()})
        created += [(at.date(), t.step) for t in p.creates]
    assert created == [
        (end - timedelta(days=90), "review-outcomes"),
        (end - timedelta(days=75), "demo-higher-tier"),
        (end - timedelta(days=60), "share-case"),
        (end - timedelta(days=45), "rough-quote"),
        (date(2027, 3, 1), "higher-tier-trial"),
    ]


def test_a_stage_waits_for_the_one_before_to_close_and_says_so() -> None:
    end = (NOW + timedelta(days=90)).date()
    a = act(SEQUENCE, 5000, contract_end=end.isoformat())
    ledger = written(run([a]).creates, NOW)
    open_state = CrmState(tasks={k: task(e) for k, e in ledger.items()})
    p = run([a], ledger, open_state, at=NOW + timedelta(days=20))
    assert p.creates == ()
    assert [s.reason for s in p.skipped] == [
        "stage 'Demo the higher tier' is due; it waits until 'Review outcomes' is closed"
    ]


def test_a_sequence_started_late_folds_the_passed_stages_into_the_current_one() -> None:
    end = (NOW + timedelta(days=50)).date()
    [t] = run([act(SEQUENCE, 5000, contract_end=end.isoformat())]).creates
    assert (t.step, t.due_on) == ("share-case", NOW.date())
    assert (
        "Catch up on the earlier stage(s)" in t.body
        and "Review outcomes" in t.body
        and "Demo the higher tier" in t.body
    )


def test_a_sequence_counts_once_against_g2() -> None:
    ledger = pl.DataFrame(
        {
            "key": [f"k{i}" for i in range(4)],
            "rule_id": [SEQUENCE.id] * 4,
            "account_id": ["001A"] * 4,
            "window": ["2027-03-03"] * 4,  # four stages of one sequence
            "state": ["confirmed"] * 4,
            "created_at": [NOW - timedelta(days=d) for d in (20, 15, 10, 5)],
        }
    )
    accounts = pl.DataFrame({"account": ["001A"], "contract_end": [date(2027, 3, 3)]})
    cols = history_columns(
        accounts,
        ledger=ledger,
        activities=pl.DataFrame(),
        opportunities=pl.DataFrame(),
        rules=[
            (SEATS.id, "upsell", pl.lit("2026-11"), FrequencyCap(max_offers=2, per_days=30), None),
            (SEQUENCE.id, "upsell", pl.col("contract_end").dt.strftime("%Y-%m-%d"), FrequencyCap(), None),
        ],
        kinds_by_rule={SEATS.id: "upsell", SEQUENCE.id: "upsell"},
        as_of=NOW,
    )
    # one offer for another rule; none for the sequence itself (its own stages are the same offer)
    assert cols.row(0, named=True) == {"account": "001A", offers_column(SEATS.id): 1, offers_column(SEQUENCE.id): 0}


def test_a_date_anchored_task_found_in_the_crm_after_a_lost_state_is_adopted_not_created_again() -> None:
    a = act(RENEWAL, 5000, contract_end="2027-01-31")
    [t] = run([a]).creates
    found = CrmTask(key=t.key, crm_id="00T9", account_id="001A", owner_id="005A", status="Not Started")
    p = run([a], {}, CrmState(tasks={t.key: found}))
    assert p.creates == ()
    assert [(x.key, x.crm_id) for x in p.adopted] == [(t.key, "00T9")]
    assert [x.intent.window for x in p.adopted if x.intent] == ["2027-01-31"]


def test_a_date_anchored_task_found_after_a_lost_state_is_recognised_and_closed_when_its_signal_cleared() -> None:
    [t] = run([act(RENEWAL, 5000, contract_end="2027-01-31")]).creates
    found = CrmTask(key=t.key, crm_id="00T9", account_id="001A", owner_id="005A", status="Not Started")
    p = plan_changes(
        [],  # the signal cleared while upsync's state was lost
        RULES,
        {},
        CrmState(tasks={t.key: found}),
        system="salesforce",
        as_of=NOW,
        policy=WritePolicy(fields=False),
        dates={"001A": {"contract_end": "2027-01-31"}},
    )
    assert [(x.key, x.crm_id) for x in p.adopted] == [(t.key, "00T9")]
    assert [(u.key, u.close) for u in p.updates] == [(t.key, True)]
