"""A rule's window as an episode: one task per run of days the rule fires, keyed by the day it began."""

from __future__ import annotations

from rules import engine
from tests.unit.accounts import World, day, evaluate, feature, ruleset


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
