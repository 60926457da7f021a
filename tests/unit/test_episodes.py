"""A rule's window as an episode: one task per run of days the rule fires, keyed by the day it began."""

from __future__ import annotations

from typing import Any

from core.records import CrmTask
from rules import engine
from rules.decide import CycleInputs, decide
from rules.engine import task_rules
from rules.plan import CrmState, WritePolicy
from rules.playbooks import Playbook
from tests.unit.accounts import AS_OF, World, day, evaluate, feature, ruleset


def test_an_episode_window_is_the_day_the_rule_s_current_run_began() -> None:
    w = World()
    for account in ("running", "new-run", "after-a-gap"):
        w.customer(account)
    # the signal log: a run seen until yesterday began 40 days ago; one last seen 9 days ago has ended
    for account, last_seen, began in (("running", 1, 40), ("after-a-gap", 9, 50)):
        w.add(
            "signals",
            account_id=account,
            rule_id="busy",
            first_fired_on=day(90),
            last_fired_on=day(last_seen),
            last_seen_on=day(last_seen),
            run_started_on=day(began),
        )
    rs = ruleset({"id": "busy", "kind": "upsell", "when": "is_customer", "window": "episode"})
    ev = evaluate(w, rs)
    assert feature(ev, "running", "episode:busy") == day(40)
    assert feature(ev, "new-run", "episode:busy") == day(0)  # no run yet: it begins today
    assert feature(ev, "after-a-gap", "episode:busy") == day(0)  # over a week unseen ended the last one
    acts = {a.account_id: a for a in engine.actions(ev, rs, system="salesforce", extra=["episode"], every=True)}
    assert acts["running"].evidence["episode"] == day(40).isoformat()


def test_a_window_read_from_the_usage_survives_a_lost_state_even_after_the_rep_closed_the_task() -> None:
    w = World()
    w.account("full")
    w.contract("full")
    w.usage("full", seats_used=lambda age: 90 if age <= 10 else 50)  # at 90 % since 10 days ago
    rs = ruleset(
        {
            "id": "seats",
            "kind": "upsell",
            "when": "seat_utilisation >= 80%",
            "window": "started(seat_utilisation >= 80%)",
        }
    )
    rules = task_rules(rs, {"p": Playbook(id="p", title="P", url="https://example.com/p")})
    policy = WritePolicy(fields=False)

    def plan(crm: CrmState) -> Any:
        inputs = CycleInputs(system="salesforce", tables=w.tables(), ledger={}, crm=crm, writeback_started=True)
        return decide(inputs, rs, policy, as_of=AS_OF, rules=rules).plan

    [first] = plan(CrmState()).creates
    assert first.key == f"seats|full|{day(10).isoformat()}"  # the day the seats crossed 80 %
    # the state is lost (no ledger, no signal log) and the rep had completed the task: the key is
    # read from the usage again, so the CRM's task is the same one, not a reason to write another
    done = CrmTask(key=first.key, crm_id="00T1", account_id="full", status="Completed", is_closed=True)
    again = plan(CrmState(tasks={first.key: done}))
    assert again.creates == () and [a.key for a in again.adopted] == [first.key]
