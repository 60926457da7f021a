"""A task per ripe window over real HTTPS on both CRMs: two ripe rules on one account get two tasks
under the default policy and one under ``tasks_per = "account"``; the renewal sequence (A4) comes
one stage at a time, each on its date, over cycles run as of successive days."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.records import LedgerState
from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Sandbox
from sync.runner import run_cycle
from tests.conftest import ANCHOR, make_context
from tests.e2e.expect import seat_heavy, upsync_tasks
from tests.e2e.test_writeback import a_person, task_status

pytestmark = pytest.mark.e2e

SECOND_RULE = """
[[rules]]
id = "seat-plan-review"
description = "Seat plan review"
kind = "upsell"
when = "seat_utilisation >= 80%"
value = "0.5"
playbook = "seat-expansion"
"""

OFFSETS = {"review-outcomes": -90, "demo-higher-tier": -75, "share-case": -60, "rough-quote": -45}
BOTH = frozenset({"seats-near-limit", "seat-plan-review"})

SEQUENCE = """
[[rules]]
id = "renewal-approaching"
kind = "review"
when = "days_to_renewal >= 0 and days_to_renewal <= 90"
reason = "contract ends {contract_end}"
playbook = "renewal"
window = "contract_end"

[[playbooks]]
id = "renewal"
title = "Renewal"
url = "https://playbooks.example.com/renewal"

[[playbooks.steps]]
id = "review-outcomes"
title = "Review outcomes"
offset_days = -90

[[playbooks.steps]]
id = "demo-higher-tier"
title = "Demo the higher tier"
offset_days = -75

[[playbooks.steps]]
id = "share-case"
title = "Share a similar customer's case"
offset_days = -60

[[playbooks.steps]]
id = "rough-quote"
title = "Send a rough quote"
offset_days = -45

[[playbooks.steps]]
id = "higher-tier-trial"
title = "Offer a trial of the higher tier"
in_anchor_month = true

[breaker]
enabled = false   # later days see old usage: seat tasks close, which is not what this test is about
"""


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
@pytest.mark.parametrize("per", ["window", "account"])
def test_two_ripe_rules_on_one_account_get_a_task_each_per_window_and_one_per_account(
    tmp_path: Path, sandbox: Sandbox, crm: str, per: str
) -> None:
    expected = seat_heavy(sandbox, crm)
    assert len(expected) >= 5
    ctx = make_context(
        tmp_path, sandbox, crm, extra=SECOND_RULE, writeback=f'first_run_tasks = true\ntasks_per = "{per}"'
    )
    report = run_cycle(ctx)
    assert report.ok, report.summary()
    in_crm = Counter(t["account"] for t in upsync_tasks(sandbox, crm))
    rules: dict[str, set[str]] = {}
    for entry in ctx.store.ledger(crm).values():
        assert entry.state is LedgerState.confirmed
        rules.setdefault(entry.account_id, set()).add(entry.rule_id)
    if per == "window":
        assert {a: in_crm[a] for a in expected} == dict.fromkeys(expected, 2)
        assert {a: rules[a] for a in expected} == dict.fromkeys(
            expected, frozenset({"seats-near-limit", "seat-plan-review"})
        )
    else:
        assert {a: in_crm[a] for a in expected} == dict.fromkeys(expected, 1)
        assert {a: rules[a] for a in expected} == dict.fromkeys(expected, frozenset({"seats-near-limit"}))
        waiting = [s for s in report.plan.skipped if s.rule_id == "seat-plan-review" and s.account_id in expected]
        assert {s.reason for s in waiting} == {
            'one task per account ([writeback] tasks_per = "account"): seats-near-limit goes first'
        }
    again = run_cycle(ctx)
    assert again.ok and again.plan.creates == ()  # idempotent: nothing new the next cycle
    ctx.close()


def _complete(sb: Sandbox, crm: str, task: dict[str, Any], rep: str) -> None:
    """A rep marks the task done in the CRM."""
    if crm == "salesforce":
        sf_sandbox.edit_as_user(sb.world, "Task", task["raw"]["Id"], {"Status": "Completed", "IsClosed": True}, rep)
    else:
        hs_sandbox.edit_as_user(sb.world, "tasks", task["raw"]["id"], {"hs_task_status": "COMPLETED"}, rep)


def _is_open(task: dict[str, Any], crm: str) -> bool:
    return task_status(task, crm) not in ("Completed", "COMPLETED")


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_renewal_sequence_comes_one_stage_at_a_time_on_its_date(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    rep = a_person(sandbox, crm)
    stages: dict[str, list[tuple[int, str]]] = {}  # account → (day, step) of each stage task created
    for day in (0, 1, 16, 31, 46):
        ctx = make_context(tmp_path, sandbox, crm, as_of=ANCHOR + timedelta(days=day), extra=SEQUENCE)
        report = run_cycle(ctx)
        assert report.ok, report.summary()
        new = [t for t in report.plan.creates if t.rule_id == "renewal-approaching"]
        assert len({t.account_id for t in new}) == len(new)  # never two stages of one account at once
        for t in new:
            stages.setdefault(t.account_id, []).append((day, t.step or ""))
            end = date.fromisoformat(t.window)
            due = end.replace(day=1) if t.step == "higher-tier-trial" else end + timedelta(days=OFFSETS[t.step or ""])
            assert due <= (ANCHOR + timedelta(days=day)).date() <= end  # on its date (or later), never early
        steps = {e.key: e for e in ctx.store.ledger(crm).values() if e.rule_id == "renewal-approaching"}
        tasks = [found for found in upsync_tasks(sandbox, crm) if found["key"] in steps]
        per_account = Counter(found["account"] for found in tasks if _is_open(found, crm))
        assert max(per_account.values(), default=0) <= 1  # one open stage task per sequence
        for found in tasks:  # each stage is done a day or more later, so the next can come on its date
            if _is_open(found, crm):
                _complete(sandbox, crm, found, rep)
        ctx.close()
    assert stages, "the world has renewals within 90 days"
    assert max(len(s) for s in stages.values()) >= 2  # a sequence moved on to a later stage
    for created in stages.values():
        assert len({step for _, step in created}) == len(created)  # no stage twice
        assert [d for d, _ in created] == sorted({d for d, _ in created})  # one stage per cycle at most
