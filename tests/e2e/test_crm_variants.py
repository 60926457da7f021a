"""The whole cycle on CRMs set up as other orgs set them up: their own custom field names, picklist
values and engagement id spaces, drawn from a seed and configured by config alone.

No default may be tuned to the sandbox's own world: each variant renames every custom field away
from the sandbox's name, so a field upsync reads by default and not by config would read nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import make_clock
from rules.features.catalogue import FeatureParams
from rules.features.compute import compute
from sandbox.hubspot import archive
from sandbox.server import Sandbox, start_sandbox
from sandbox.world import CrmVariant, build_world, upsync_config
from sync.runner import Context, connect_crm, connect_usage, run_cycle
from sync.settings import load_settings
from sync.store import Store
from tests.conftest import ANCHOR, sandbox_env
from tests.e2e.expect import assert_store_matches, live_ids, readme_usage, seat_heavy, stored_ids, upsync_tasks

pytestmark = pytest.mark.e2e

SEEDS = {"salesforce": (1, 2), "hubspot": (1, 7)}
"""Two variants per CRM; between them, standard and custom picklist values, and (HubSpot)
engagement ids overlapping across types and disjoint."""
CASES = [(crm, seed) for crm, seeds in SEEDS.items() for seed in seeds]
USAGE_SHAPES = {("salesforce", 2): "Pages and offsets with totals", ("hubspot", 7): "Per account, by day window"}
SHAPE_PATHS = {"Pages and offsets with totals": "/api/v3/usage", "Per account, by day window": "/v2/accounts/"}
"""Variants whose usage API is another of the README's worked shapes, not the sandbox's /v1: the
whole cycle then reads usage the way that company's product serves it."""
ENGAGEMENTS = {"salesforce": ("Task", "Event"), "hubspot": ("tasks", "calls", "meetings", "emails", "notes")}


def test_the_variants_under_test_differ_in_every_dimension() -> None:
    sf = [CrmVariant.from_seed(s) for s in SEEDS["salesforce"]]
    hs = [CrmVariant.from_seed(s) for s in SEEDS["hubspot"]]
    assert {v.sf_opportunity_types[0] for v in sf} == {"New Customer", "New Logo"}  # standard and custom
    assert {v.hs_deal_types[0] for v in hs} == {"newbusiness", "new_logo"}
    assert {v.hs_engagement_ids for v in hs} == {"overlapping", "disjoint"}
    default = CrmVariant()
    for v in (*sf, *hs):  # every custom field named otherwise than in the sandbox's own world
        assert not set(v.sf_fields.values()) & set(default.sf_fields.values())
        assert not set(v.hs_properties.values()) & set(default.hs_properties.values())


def variant_sandbox(request: pytest.FixtureRequest, tmp_path: Path, crm: str, seed: int) -> Sandbox:
    """A small world in one CRM, set up as the variant of ``seed`` sets it up."""
    world = build_world(seed=11, accounts=60, anchor=ANCHOR, systems=(crm,), variant=CrmVariant.from_seed(seed))
    sb = start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem")
    request.addfinalizer(sb.stop)
    return sb


def config(tmp_path: Path, sb: Sandbox, crm: str, *, variant_keys: bool = True, usage_shape: str = "") -> Path:
    """The config an admin of the variant's org writes: connection keys, then the org's own
    field names (:func:`upsync_config`); without ``variant_keys``, upsync's defaults."""
    if crm == "salesforce":
        connection = f'instance_url = "{sb.salesforce.url}"\nbulk_poll_seconds = 0.05'
    else:
        connection = f'base_url = "{sb.hubspot.url}"'
    org = upsync_config(sb.world.crm_variant, crm) if variant_keys else ""
    usage = readme_usage(usage_shape) if usage_shape else "page_size = 1000"
    path = tmp_path / f"config-{crm}.toml"
    path.write_text(
        f"""
[upsync]
crm = "{crm}"
state = "state-{crm}.db"

[retry]
attempts = 3
initial_seconds = 0.05
max_seconds = 0.2
give_up_after_seconds = 5

[usage]
base_url = "{sb.usage.url}"
ca_file = "{sb.ca_path}"
{usage}

[writeback]
first_run_tasks = true
control_share = 0  # every ripe account's task is checked here; control groups have their own tests

[[playbooks]]
id = "seat-expansion"
title = "Seat expansion"
url = "https://playbooks.example.com/seat-expansion"

[[rules]]
id = "seats-near-limit"
signal = "S5"
kind = "upsell"
when = "seat_utilisation >= 80%"
reason = "{{seats_used:.0f}} of {{seat_limit:.0f}} seats in use"
subject = "Seats at {{seat_utilisation:.0%}} of plan"
playbook = "seat-expansion"
priority = "high"
due_in_days = 3

[{crm}]
{connection}
ca_file = "{sb.ca_path}"
{org}
"""
    )
    return path


def context(tmp_path: Path, sb: Sandbox, crm: str, *, variant_keys: bool = True, usage_shape: str = "") -> Context:
    env = sandbox_env(sb)
    settings = load_settings(config(tmp_path, sb, crm, variant_keys=variant_keys, usage_shape=usage_shape), env)
    return Context(
        settings=settings,
        store=Store.open(str(tmp_path / f"state-{crm}.db")),
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=make_clock(ANCHOR.isoformat()),
    )


def stand_in_engagements(sb: Sandbox, crm: str) -> Counter[str]:
    if crm == "salesforce":
        objects = sb.world.salesforce.objects
        return Counter({t: sum(not r.get("IsDeleted") for r in objects.get(t, {}).values()) for t in ENGAGEMENTS[crm]})
    hs = sb.world.hubspot.objects
    return Counter({t: sum(not r.get("archived") for r in hs.get(t, {}).values()) for t in ENGAGEMENTS[crm]})


@pytest.mark.parametrize(("crm", "seed"), CASES, ids=[f"{c}-{s}" for c, s in CASES])
def test_a_cycle_on_another_orgs_crm_stores_every_record_and_writes_tasks_to_the_right_accounts(
    tmp_path: Path, crm: str, seed: int, request: pytest.FixtureRequest
) -> None:
    sb = variant_sandbox(request, tmp_path, crm, seed)
    variant = sb.world.crm_variant
    expected = seat_heavy(sb, crm)
    assert expected  # the variant's world has accounts to find

    served, engagements = live_ids(sb, crm), stand_in_engagements(sb, crm)
    ctx = context(tmp_path, sb, crm, usage_shape=USAGE_SHAPES.get((crm, seed), ""))
    report = run_cycle(ctx)
    assert report.ok, report.summary()

    # the store holds every record the stand-in served, engagements of every type included
    assert stored_ids(ctx.store, crm) == served
    stored = Counter(r["object_type"] for r in ctx.store.rows("activities", system=crm, include_deleted=False))
    assert stored == engagements
    if variant.hs_engagement_ids == "overlapping" and crm == "hubspot":  # ids repeat across types, all kept
        tasks_calls_notes = [set(sb.world.hubspot.objects[t]) for t in ("tasks", "calls", "notes")]
        assert set.intersection(*tasks_calls_notes)
    # and the rules see every one of them
    tables = ctx.store.rule_tables(crm, since=(ANCHOR - timedelta(days=120)).date(), until=ANCHOR)
    assert tables.activities.height == sum(engagements.values())
    features = compute(tables, as_of=ANCHOR, params=FeatureParams())
    recent = tables.activities.filter(
        tables.activities["activity_at"].is_between(ANCHOR - timedelta(days=90), ANCHOR, closed="right")
        & tables.activities["account_id"].is_in(features["account"].to_list())
    )
    assert features["activities_90d"].sum() == recent.height

    # every account's workspace came from the org's own field, so usage matched by it
    field = variant.sf_fields["workspace_id"] if crm == "salesforce" else variant.hs_properties["workspace_id"]
    accounts = {r["crm_id"]: r for r in ctx.store.rows("accounts", system=crm)}
    if crm == "salesforce":
        truth = {i: a[field] for i, a in sb.world.salesforce.objects["Account"].items()}
    else:
        truth = {i: c["properties"][field] or None for i, c in sb.world.hubspot.objects["companies"].items()}
    assert {i: r["workspace_id"] for i, r in accounts.items()} == truth
    assert sum(w is not None for w in truth.values()) > len(truth) // 2

    # usage came the way this company's product serves it, and no other way
    shape = USAGE_SHAPES.get((crm, seed))
    if shape is not None:
        paths = {r.path for r in sb.usage.requests if r.method == "GET"}
        assert any(p.startswith(SHAPE_PATHS[shape]) for p in paths)
        assert not any(p.startswith("/v1/") for p in paths)
    assert ctx.store.rows("usage_daily")

    # the tasks go to exactly the accounts the world says, with their owners
    tasks = upsync_tasks(sb, crm)
    assert sorted(t["account"] for t in tasks) == sorted(expected)
    assert all(t["owner"] == expected[t["account"]]["owner"] for t in tasks)

    # a call archived meanwhile that shares its id with a task: the archive flags the call only
    shared = None
    if crm == "hubspot" and variant.hs_engagement_ids == "overlapping":
        shared = min(set(sb.world.hubspot.objects["tasks"]) & set(sb.world.hubspot.objects["calls"]))
        archive(sb.world, "calls", shared, at=ANCHOR + timedelta(minutes=5))

    # the next cycle, two hours on (archives are listed hourly), reads upsync's tasks back by type
    # and id, applies the archive, and writes nothing again
    ctx.clock = make_clock((ANCHOR + timedelta(hours=2)).isoformat())
    again = run_cycle(ctx)
    assert again.ok, again.summary()
    assert again.plan.writes == ()
    assert_store_matches(ctx.store, sb, crm)
    if shared is not None:
        rows = {r["object_type"]: r["deleted"] for r in ctx.store.rows("activities") if r["crm_id"] == shared}
        assert rows["calls"] is True and rows["tasks"] is False
    assert {t.crm_id for t in ctx.store.own_tasks(crm).values()} == {
        t["raw"].get("Id") or t["raw"]["id"] for t in tasks
    }
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_upsyncs_default_field_names_on_another_orgs_crm_stop_the_accounts_with_the_key_to_fix(
    tmp_path: Path, crm: str, request: pytest.FixtureRequest
) -> None:
    """The defaults name the sandbox's own fields; on an org without them the pull must not read
    every account as having no workspace (HubSpot's search would leave the property out silently)."""
    sb = variant_sandbox(request, tmp_path, crm, SEEDS[crm][0])
    ctx = context(tmp_path, sb, crm, variant_keys=False)
    report = run_cycle(ctx)
    assert not report.ok
    stream = "salesforce.accounts" if crm == "salesforce" else "hubspot.companies"
    error = {p.stream: p.error for p in report.pulls}[stream] or ""
    key, default = (
        ("salesforce.workspace_field", "Workspace_Id__c")
        if crm == "salesforce"
        else ("hubspot.workspace_property", "workspace_id")
    )
    assert f"'{default}' ({key})" in error, error
    assert ctx.store.counts()["accounts"] == 0  # nothing read as if it had no workspace
    assert upsync_tasks(sb, crm) == []
    ctx.close()
