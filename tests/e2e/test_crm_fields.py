"""The admin's own CRM fields (an MRR roll-up, a tier picklist) read through the real clients and used
by a rule: typed from describe / the properties API, a task written where the rule holds, and a
roll-up recalculated without a modstamp seen only by the full pass, as the CRMs behave."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Sandbox
from sync.runner import evaluate_now, pull_all, run_cycle
from tests.conftest import ANCHOR, make_context, sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import upsync_tasks

pytestmark = pytest.mark.e2e

MRR = {"salesforce": "crm.mrr_rollup__c", "hubspot": "crm.mrr_rollup"}
TIER = {"salesforce": "crm.tier__c", "hubspot": "crm.tier"}
RULE = """
[[rules]]
id = "enterprise-expansion"
kind = "review"
when = '{tier} == "Enterprise" and {mrr} > 5000'
value = "1000000"
subject = "{{{tier}}} account at {{{mrr}:,.0f}} MRR: plan the expansion review"
playbook = "seat-expansion"
guards = []
"""
SECTIONS: dict[str, dict[str, Any]] = {
    "salesforce": {"salesforce": 'extra_fields = { Account = ["MRR_Rollup__c", "Tier__c"] }'},
    "hubspot": {"hubspot": 'extra_properties = { companies = ["mrr_rollup", "tier"] }'},
}


def sections(crm: str, **more: str) -> dict[str, Any]:
    out = {**SECTIONS[crm], "extra": RULE.format(mrr=MRR[crm], tier=TIER[crm])}
    for key, lines in more.items():
        out[key] = f"{out.get(key, '')}\n{lines}"
    return out


def enterprise(sb: Sandbox, crm: str) -> dict[str, float]:
    """Account id → MRR of the live Enterprise accounts above 5,000 MRR whose owner is active,
    straight from the stand-in's data."""
    if crm == "salesforce":
        objects = sb.world.salesforce.objects
        users = objects["User"]
        return {
            a["Id"]: float(a["MRR_Rollup__c"])
            for a in objects["Account"].values()
            if a["Tier__c"] == "Enterprise"
            and float(a["MRR_Rollup__c"] or 0) > 5000
            and users[a["OwnerId"]]["IsActive"]
            and not a["IsDeleted"]
        }
    hs = sb.world.hubspot.objects
    active = {o["id"] for o in hs["owners"].values() if not o.get("archived")}
    return {
        c["id"]: float(c["properties"]["mrr_rollup"])
        for c in hs["companies"].values()
        if c["properties"]["tier"] == "Enterprise"
        and float(c["properties"]["mrr_rollup"] or 0) > 5000
        and c["properties"]["hubspot_owner_id"] in active
        and not c.get("archived")
    }


def subject_of(task: dict[str, Any], crm: str) -> str:
    raw = task["raw"]
    return str(raw["Subject"] if crm == "salesforce" else raw["properties"]["hs_task_subject"])


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_rule_on_the_admins_own_crm_fields_fires_and_its_task_is_written(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    expected = enterprise(sandbox, crm)
    assert 3 <= len(expected) < 60  # the world has something to find, and not every account
    ctx = make_context(tmp_path, sandbox, crm, **sections(crm))
    report = run_cycle(ctx)
    assert report.ok, report.summary()
    # the types came from the CRM's own schema, and are kept for commands that ask no CRM
    assert ctx.store.crm_types(crm) == {MRR[crm]: "number", TIER[crm]: "text"}
    ours = {t["account"]: t for t in upsync_tasks(sandbox, crm) if "Enterprise account at" in subject_of(t, crm)}
    assert sorted(ours) == sorted(expected)
    some_id, some_mrr = next(iter(expected.items()))
    assert subject_of(ours[some_id], crm) == f"Enterprise account at {some_mrr:,.0f} MRR: plan the expansion review"
    # the body's values list names the fields as the CRM labels them, not by their API names
    mrr_label = {"salesforce": "MRR Rollup", "hubspot": "MRR (roll-up)"}[crm]
    assert ctx.store.crm_labels(crm) == {MRR[crm]: mrr_label, TIER[crm]: "Tier"}
    raw = ours[some_id]["raw"]
    body = str(raw["Description"] if crm == "salesforce" else raw["properties"]["hs_task_body"])
    assert "Tier: Enterprise" in body and f"{mrr_label}: {some_mrr:,.0f}" in body.replace("&#x27;", "'")
    assert f"{TIER[crm]}: " not in body  # the old values line
    ctx.close()


def recalculate(sb: Sandbox, crm: str, account_id: str, mrr: float) -> None:
    if crm == "salesforce":
        sf_sandbox.recalculate(sb.world, "Account", account_id, {"MRR_Rollup__c": mrr})
    else:
        hs_sandbox.recalculate(sb.world, "companies", account_id, {"mrr_rollup": mrr})


def stored_mrr(ctx: Any, crm: str, account_id: str) -> float:
    [row] = [r for r in ctx.store.rows("accounts") if r["crm_id"] == account_id]
    fields = row["crm_fields"] if isinstance(row["crm_fields"], dict) else json.loads(row["crm_fields"])
    return float(fields[MRR[crm].removeprefix("crm.")])


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_roll_up_recalculated_without_a_modstamp_is_seen_by_the_full_pass_only(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    objects = "accounts" if crm == "salesforce" else "companies"
    more = {crm: f'objects = ["{objects}"]\nfull_refresh_days = 7'}
    ctx = make_context(tmp_path, sandbox, crm, **sections(crm, **more))
    pull = lambda c: pull_all(c, as_of=c.clock(), only=lambda name: name.startswith(f"{crm}."))  # noqa: E731
    pull(ctx)
    account_id, mrr = next(iter(enterprise(sandbox, crm).items()))
    assert stored_mrr(ctx, crm, account_id) == mrr
    assert account_id in set(evaluate_now(ctx.store, crm, ctx.ruleset, as_of=ANCHOR).actions["account"])

    recalculate(sandbox, crm, account_id, 1200.0)  # the deals behind the roll-up shrank; no modstamp moved
    soon = make_context(tmp_path, sandbox, crm, as_of=ANCHOR + timedelta(hours=1), **sections(crm, **more))
    [report] = pull(soon)
    assert not report.full_pass
    assert stored_mrr(soon, crm, account_id) == mrr  # an incremental read cannot see it…

    later = make_context(tmp_path, sandbox, crm, as_of=ANCHOR + timedelta(days=8), **sections(crm, **more))
    [report] = pull(later)
    assert report.full_pass
    assert stored_mrr(later, crm, account_id) == 1200.0  # …the weekly full pass does
    acting = set(evaluate_now(later.store, crm, later.ruleset, as_of=later.clock()).actions["account"])
    assert account_id not in acting  # and the rule no longer holds for it
    for c in (ctx, soon, later):
        c.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_crm_check_names_an_extra_field_the_crm_lacks_and_a_rule_that_reads_one_wrongly(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    env = sandbox_env(sandbox)
    typo: tuple[Any, str] = {
        "salesforce": ('extra_fields = { Account = ["MRR_Rollup__c", "Tier_Level__c"] }', "salesforce.extra_fields"),
        "hubspot": ('extra_properties = { companies = ["mrr_rollup", "tier_level"] }', "hubspot.extra_properties"),
    }[crm]
    config = write_config(tmp_path, sandbox, crm, **{crm: typo[0]})
    done = subprocess.run(upsync_cmd("crm", "check", "--config", str(config)), env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    shown = " ".join(done.stdout.split())
    owner = "Account" if crm == "salesforce" else "companies"
    missing = "Tier_Level__c" if crm == "salesforce" else "tier_level"
    assert f"missing {typo[1]}.{owner}[1]: {owner} has no field '{missing}'" in shown, shown
    assert f"ok {owner}.{'MRR_Rollup__c' if crm == 'salesforce' else 'mrr_rollup'} ({MRR[crm]}: number, read)" in shown

    # every field there, but a rule compares the tier picklist with a number: named with its rule
    wrong = RULE.format(mrr=MRR[crm], tier=TIER[crm]).replace('== "Enterprise"', "> 3")
    config = write_config(tmp_path, sandbox, crm, extra=wrong, **SECTIONS[crm])
    done = subprocess.run(upsync_cmd("crm", "check", "--config", str(config)), env=env, capture_output=True, text=True)
    shown = " ".join(done.stdout.split())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rule rules[1] (enterprise-expansion).when: cannot compare text with number" in shown, shown
