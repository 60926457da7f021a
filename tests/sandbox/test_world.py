"""The sample world: deterministic, the requested size, referentially whole, true to connectors/OBJECTS.md,
and carrying every story of ``sandbox.world.STORIES`` in both CRMs.

Stories are checked from the records themselves, with the same detectors for the Salesforce
and the HubSpot projection: ``world.stories`` is only the answer key being verified.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from sandbox.world import (
    STORIES,
    USAGE_FIELDS,
    UsageRows,
    Volumes,
    World,
    build_world,
    hs_time,
    sf_time,
)

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)
TODAY = ANCHOR.date()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(anchor=ANCHOR)  # the default demo world: 300 accounts, both CRMs


# --- connectors/OBJECTS.md, the contract -------------------------------------------------------


@dataclass
class Contract:
    salesforce: dict[str, list[str]] = field(default_factory=dict)  # sObject → fields
    prefixes: dict[str, str] = field(default_factory=dict)  # sObject → key prefix
    hubspot: dict[str, list[str]] = field(default_factory=dict)  # object type → properties
    associations: dict[tuple[str, str], int] = field(default_factory=dict)  # (from, to) → type id
    usage: list[str] = field(default_factory=list)


def _names(cell: str) -> list[str]:
    cell = re.sub(r"\([^()]*\)", "", cell)  # "(configurable)", "(Draft/InApproval/Activated)"…
    return [part.strip().strip("`").strip() for part in cell.split(",") if part.strip()]


def _rows(section: str) -> list[list[str]]:
    out = []
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] not in ("sObject", "object type", "---"):
                out.append(cells)
    return out


def read_contract() -> Contract:
    text = (ROOT / "connectors" / "OBJECTS.md").read_text()
    sf_part = text.split("## Salesforce")[1].split("## HubSpot")[0]
    hs_part = text.split("## HubSpot")[1].split("## Product usage")[0]
    usage_part = text.split("## Product usage")[1]
    contract = Contract()
    for sobject, fields in _rows(sf_part):
        contract.salesforce[sobject] = _names(fields)
    prefixes = sf_part.split("Id key prefixes:")[1].split("##")[0]
    contract.prefixes = {name: prefix for prefix, name in re.findall(r"(\w{3}) (\w+)", prefixes)}
    for object_type, properties, links in _rows(hs_part):
        contract.hubspot[object_type] = _names(properties)
        for to_type, type_id in re.findall(r"→\s*(\w+):\s*(\d+)", links):
            contract.associations[(object_type, to_type)] = int(type_id)
    metrics = usage_part.split("Canonical metrics")[1].split("[usage.fields]")[0]
    contract.usage = re.findall(r"`(\w+)`", metrics)
    return contract


CONTRACT = read_contract()


def test_the_contract_parses() -> None:
    """A guard for the tests below: a reformatted OBJECTS.md must not make them vacuous."""
    assert len(CONTRACT.salesforce) == 11 and set(CONTRACT.prefixes) == set(CONTRACT.salesforce)
    assert len(CONTRACT.hubspot) == 12
    assert len(CONTRACT.associations) == 15
    assert len(CONTRACT.usage) == 14
    assert "Workspace_Id__c" in CONTRACT.salesforce["Account"] and "Type" in CONTRACT.salesforce["Opportunity"]


# --- determinism -------------------------------------------------------------------------------


def _snapshot(w: World) -> dict[str, Any]:
    return {
        "salesforce": w.salesforce.objects,
        "sf_counters": w.salesforce.counters,
        "integration": w.salesforce.integration_user_id,
        "hubspot": w.hubspot.objects,
        "associations": w.hubspot.associations,
        "next_id": w.hubspot.next_id,
        "usage": list(w.usage.rows),
        "stories": w.stories,
        "keys": w.account_keys,
    }


def test_the_same_arguments_build_the_same_world() -> None:
    kwargs: dict[str, Any] = {"seed": 3, "anchor": ANCHOR, "accounts": 120, "usage_days": 20}
    assert _snapshot(build_world(**kwargs)) == _snapshot(build_world(**kwargs))
    other = _snapshot(build_world(**{**kwargs, "seed": 4}))
    assert other["salesforce"] != _snapshot(build_world(**kwargs))["salesforce"]


_DIGEST = """
import hashlib, json, sys
from datetime import datetime, timezone
from sandbox.world import build_world
w = build_world(seed=5, anchor=datetime(2026, 6, 1, 12, tzinfo=timezone.utc), accounts=80, usage_days=10)
blob = json.dumps([w.salesforce.objects, w.hubspot.objects, sorted(map(repr, w.hubspot.associations.items())),
                   list(w.usage.rows), w.stories], sort_keys=True, default=repr)
print(hashlib.sha256(blob.encode()).hexdigest())
"""


def test_the_world_does_not_depend_on_the_process_hash_seed() -> None:
    """Benchmarks and e2e tests rebuild the world in other processes: it must come out the same."""
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _DIGEST], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_one_crm_is_exactly_its_half_of_the_two_crm_world() -> None:
    both = build_world(anchor=ANCHOR, accounts=60)
    hubspot_only = build_world(anchor=ANCHOR, accounts=60, systems=("hubspot",))
    salesforce_only = build_world(anchor=ANCHOR, accounts=60, systems=("salesforce",))
    assert hubspot_only.hubspot.objects == both.hubspot.objects
    assert hubspot_only.hubspot.associations == both.hubspot.associations
    assert all(not table for table in hubspot_only.salesforce.objects.values())
    assert salesforce_only.salesforce.objects == both.salesforce.objects
    assert salesforce_only.hubspot.objects == {} and salesforce_only.hubspot.associations == {}
    assert list(hubspot_only.usage.rows) == list(salesforce_only.usage.rows) == list(both.usage.rows)
    assert hubspot_only.stories == both.stories


# --- volumes -----------------------------------------------------------------------------------

_SF_ACTIVITIES = ("Task", "Event")
_HS_ENGAGEMENTS = ("tasks", "calls", "meetings", "emails", "notes")


def _counts(w: World) -> dict[str, dict[str, int]]:
    sf, hs = w.salesforce.objects, w.hubspot.objects
    return {
        "salesforce": {
            "accounts": len(sf.get("Account", {})),
            "contracts": len(sf.get("Contract", {})),
            "deals": len(sf.get("Opportunity", {})),
            "activities": sum(len(sf.get(name, {})) for name in _SF_ACTIVITIES),
            "contacts": len(sf.get("Contact", {})),
            "tickets": len(sf.get("Case", {})),
            "products": len(sf.get("Product2", {})),
        },
        "hubspot": {
            "accounts": len(hs.get("companies", {})),
            "deals": len(hs.get("deals", {})),
            "activities": sum(len(hs.get(name, {})) for name in _HS_ENGAGEMENTS),
            "contacts": len(hs.get("contacts", {})),
            "tickets": len(hs.get("tickets", {})),
            "products": len(hs.get("products", {})),
        },
    }


@pytest.mark.parametrize(
    "volumes",
    [
        Volumes(),
        Volumes(
            accounts=137,
            contracts_per_account=2.5,
            deals_per_account=1.7,
            activities_per_account=6.3,
            contacts_per_account=3.2,
            tickets_per_account=0.8,
            usage_days=9,
        ),
        Volumes(accounts=45, deals_per_account=0, activities_per_account=0, tickets_per_account=0, usage_days=0),
        Volumes(accounts=1),
        Volumes(accounts=0),
    ],
    ids=["default", "odd", "sparse", "one", "empty"],
)
def test_requested_volumes_are_built_exactly(volumes: Volumes) -> None:
    w = build_world(anchor=ANCHOR, volumes=volumes)
    counts = _counts(w)
    expected = {
        "accounts": volumes.accounts,
        "contracts": volumes.total(volumes.contracts_per_account),
        "deals": volumes.total(volumes.deals_per_account),
        "activities": volumes.total(volumes.activities_per_account),
        "contacts": volumes.total(volumes.contacts_per_account),
        "tickets": volumes.total(volumes.tickets_per_account),
        "products": 12,
    }
    assert counts["salesforce"] == expected
    assert counts["hubspot"] == {k: v for k, v in expected.items() if k != "contracts"}
    assert len(w.usage.rows) == volumes.accounts * volumes.usage_days
    assert w.volumes == volumes


def test_keywords_override_the_volumes_they_name() -> None:
    w = build_world(anchor=ANCHOR, volumes=Volumes.minimal(accounts=30), accounts=40, systems=("hubspot",))
    assert w.volumes == replace(Volumes.minimal(accounts=30), accounts=40, systems=("hubspot",))
    assert _counts(w)["hubspot"]["accounts"] == 40


def test_the_minimal_world_is_the_old_shape() -> None:
    """Standalone customers with one contract each and usage: for stand-in tests that seed their own objects."""
    w = build_world(anchor=ANCHOR, volumes=Volumes.minimal(accounts=50))
    counts = _counts(w)
    assert counts["salesforce"] == {
        "accounts": 50,
        "contracts": 50,
        "deals": 0,
        "activities": 0,
        "contacts": 0,
        "tickets": 0,
        "products": 12,
    }
    assert len(w.usage.rows) == 50 * 35
    assert all(a["ParentId"] is None for a in w.salesforce.objects["Account"].values())
    assert {c["AccountId"] for c in w.salesforce.objects["Contract"].values()} == set(w.salesforce.objects["Account"])


def test_the_benchmark_shape_scales_down_exactly() -> None:
    """Volumes.benchmark's ratios, at 1/20 of its size, in one CRM (the full size is measured, not unit-tested)."""
    volumes = replace(Volumes.benchmark("hubspot"), accounts=5_000)
    w = build_world(anchor=ANCHOR, volumes=volumes)
    counts = _counts(w)["hubspot"]
    assert counts == {
        "accounts": 5_000,
        "deals": 15_000,
        "activities": 50_000,
        "contacts": 20_000,
        "tickets": 7_500,
        "products": 12,
    }
    assert all(not table for table in w.salesforce.objects.values())
    assert len(w.usage.rows) == 5_000 * 30


def test_the_default_world_builds_in_well_under_a_second() -> None:
    started = time.perf_counter()
    build_world(anchor=ANCHOR)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accounts": -1}, "must not be negative"),
        ({"deals_per_account": -0.5}, "must not be negative"),
        ({"systems": ("pipedrive",)}, "unknown systems"),
    ],
)
def test_impossible_volumes_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_world(anchor=ANCHOR, **kwargs)


def test_a_naive_anchor_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_world(anchor=datetime(2026, 6, 1, 12))


# --- shape: OBJECTS.md fields, ids, references ------------------------------------------------


def test_every_salesforce_record_has_every_contract_field_and_its_prefix(world: World) -> None:
    objects = world.salesforce.objects
    for sobject, fields in CONTRACT.salesforce.items():
        table = objects[sobject]
        assert table, sobject
        prefix = CONTRACT.prefixes[sobject]
        for record_id, record in table.items():
            missing = [f for f in fields if f not in record]
            assert not missing, (sobject, record_id, missing)
            assert record["Id"] == record_id and len(record_id) == 18 and record_id.startswith(prefix)


def test_every_hubspot_object_has_every_contract_property_as_a_string(world: World) -> None:
    objects = world.hubspot.objects
    for object_type, properties in CONTRACT.hubspot.items():
        table = objects[object_type]
        assert table, object_type
        for object_id, obj in table.items():
            if object_type == "owners":
                assert all(name in obj for name in properties), obj
                continue
            assert set(obj) == {"id", "properties", "createdAt", "updatedAt", "archived", "archivedAt"}
            assert obj["id"] == object_id == obj["properties"]["hs_object_id"]
            missing = [p for p in properties if p not in obj["properties"]]
            assert not missing, (object_type, object_id, missing)
            assert all(isinstance(v, str) for v in obj["properties"].values()), obj


def test_every_usage_row_has_the_canonical_metrics(world: World) -> None:
    rows = list(world.usage.rows)
    assert rows
    assert set(CONTRACT.usage) <= set(USAGE_FIELDS)
    for row in rows:
        assert tuple(row) == USAGE_FIELDS
        assert isinstance(row["feature_events"], dict) and row["feature_events"]
        assert isinstance(row["users_by_department"], dict)
        assert sum(row["users_by_department"].values()) == row["active_users"]
        assert 1 <= row["active_users"] <= row["weekly_active_users"] <= row["seats_used"] <= row["seats_limit"]
        assert 0 < row["storage_used_gb"] <= row["storage_limit_gb"]
        assert 0 <= row["api_calls_used"] <= row["api_calls_limit"]


def test_salesforce_references_point_at_records_of_the_right_object(world: World) -> None:
    o = world.salesforce.objects

    def ok(value: Any, *sobjects: str, nullable: bool = False) -> bool:
        if value is None:
            return nullable
        return any(value in o[s] for s in sobjects)

    users = o["User"]
    for a in o["Account"].values():
        assert ok(a["OwnerId"], "User") and ok(a["ParentId"], "Account", nullable=True)
    for name in ("Contract", "Opportunity", "Asset", "Contact", "Case"):
        for r in o[name].values():
            assert ok(r["AccountId"], "Account"), (name, r["Id"])
            assert ok(r.get("OwnerId"), "User"), (name, r["Id"])
    for li in o["OpportunityLineItem"].values():
        assert ok(li["OpportunityId"], "Opportunity") and ok(li["Product2Id"], "Product2")
    for s in o["Asset"].values():
        assert ok(s["Product2Id"], "Product2")
    for case in o["Case"].values():
        contact = case["ContactId"]
        assert contact is None or o["Contact"][contact]["AccountId"] == case["AccountId"]
    for name in _SF_ACTIVITIES:
        for act in o[name].values():
            assert ok(act["WhatId"], "Account", "Opportunity") and ok(act["WhoId"], "Contact", nullable=True)
            what = act["WhatId"]
            account = what if what.startswith("001") else o["Opportunity"][what]["AccountId"]
            assert act["AccountId"] == account  # derived, as the platform derives it
            who = act["WhoId"]
            assert who is None or o["Contact"][who]["AccountId"] == account
            assert act["OwnerId"] in users and act["CreatedById"] in users
    for record in (r for table in o.values() for r in table.values()):
        assert record.get("LastModifiedById") != world.salesforce.integration_user_id  # nothing looks like upsync's


def test_hubspot_associations_and_owners_point_at_existing_objects(world: World) -> None:
    objects = world.hubspot.objects
    allowed = {**CONTRACT.associations}
    # Engagements may also name their deal (as a Salesforce activity's WhatId can): HUBSPOT_DEFINED ids.
    allowed.update({("tasks", "deals"): 216, ("calls", "deals"): 206, ("meetings", "deals"): 212})
    allowed.update({("emails", "deals"): 210, ("notes", "deals"): 214})
    primary_company: dict[tuple[str, str], int] = defaultdict(int)
    for (from_type, from_id, to_type), links in world.hubspot.associations.items():
        assert from_id in objects[from_type], (from_type, from_id)
        for to_id, type_id in links:
            assert to_id in objects[to_type], (to_type, to_id)
            assert allowed[(from_type, to_type)] == type_id
            if to_type == "companies" and from_type != "companies":
                primary_company[(from_type, from_id)] += 1
    owners = objects["owners"]
    for object_type in ("contacts", "deals", "line_items", "tickets", *_HS_ENGAGEMENTS):
        for object_id in objects[object_type]:
            if object_type != "line_items":
                assert primary_company[(object_type, object_id)] == 1, (object_type, object_id)
            else:
                assert world.hubspot.associations[("line_items", object_id, "deals")]
    for object_type in ("companies", "deals", "tickets", *_HS_ENGAGEMENTS):
        for obj in objects[object_type].values():
            assert obj["properties"]["hubspot_owner_id"] in owners
    for li in objects["line_items"].values():
        assert li["properties"]["hs_product_id"] in objects["products"]


def test_both_crms_tell_the_same_story_of_every_account(world: World) -> None:
    sf, hs = world.salesforce.objects, world.hubspot.objects
    per_account: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, kind in (("Opportunity", "deals"), ("Contact", "contacts"), ("Case", "tickets")):
        for r in sf[name].values():
            per_account[r["AccountId"]][kind] += 1
    for name in _SF_ACTIVITIES:
        for r in sf[name].values():
            per_account[r["AccountId"]]["activities"] += 1
    per_company: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    kinds = {
        "deals": "deals",
        "contacts": "contacts",
        "tickets": "tickets",
        **dict.fromkeys(_HS_ENGAGEMENTS, "activities"),
    }
    for (from_type, _from_id, to_type), links in world.hubspot.associations.items():
        if to_type == "companies" and from_type in kinds:
            per_company[links[0][0]][kinds[from_type]] += 1
    emails = {u["Id"]: u["Email"] for u in sf["User"].values()}
    for key in world.account_keys:
        account, company = sf["Account"][key.salesforce_id], hs["companies"][key.hubspot_id]
        p = company["properties"]
        assert (account["Name"], account["Website"]) == (p["name"], f"https://www.{p['domain']}")
        assert account["Workspace_Id__c"] == key.workspace_id == (p["workspace_id"] or None)
        assert str(account["Seats_Purchased__c"]) == p["upsync_seats_purchased"]
        assert emails[account["OwnerId"]] == hs["owners"][p["hubspot_owner_id"]]["email"]
        assert str(account["Health_Rollup__c"]) == p["health_rollup"]
        assert p["do_not_contact"] == ("true" if account["Do_Not_Contact__c"] else "false")
        for name, prop in (("NPS__c", "nps_score"), ("CSAT__c", "csat_score")):
            assert p[prop] == ("" if account[name] is None else str(account[name]))
        assert account["CreatedDate"][:16] == p["createdate"][:16]
        assert per_account[key.salesforce_id] == per_company[key.hubspot_id]
        # the current contract's end; a former customer's portal keeps its last contract's (past) end
        ends = [
            c["EndDate"]
            for c in sf["Contract"].values()
            if c["AccountId"] == key.salesforce_id and c["Status"] == "Activated" and c["StartDate"] <= str(TODAY)
        ]
        assert p["contract_end_date"] == max(ends, default="")
        parent = account["ParentId"]
        links = world.hubspot.associations.get(("companies", key.hubspot_id, "companies"), [])
        assert (parent is None) == (not links)


def test_every_modstamp_is_before_the_anchor() -> None:
    """Also with an anchor just after midnight, off the minute, in another time zone."""
    for anchor in (ANCHOR, datetime(2026, 3, 1, 9, 3, 30, tzinfo=timezone(timedelta(hours=9)))):
        w = build_world(anchor=anchor, accounts=60)
        sf_anchor, hs_anchor = sf_time(anchor), hs_time(anchor)
        for table in w.salesforce.objects.values():
            for r in table.values():
                for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp", "ClosedDate"):
                    assert r.get(name) is None or r[name] < sf_anchor, (r["Id"], name, r[name])
        for object_type, table in w.hubspot.objects.items():
            for obj in table.values():
                assert obj["createdAt"] < hs_anchor and obj["updatedAt"] < hs_anchor, (object_type, obj)
                props = obj.get("properties", {})
                for name in ("createdate", "hs_createdate", "hs_lastmodifieddate", "lastmodifieddate"):
                    assert props.get(name) is None or props[name] < hs_anchor, (object_type, name)
        assert max(usage_rows(w).column("updated_at")) < anchor.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- usage rows --------------------------------------------------------------------------------


def usage_rows(w: World) -> UsageRows:
    rows = w.usage.rows
    assert isinstance(rows, UsageRows)  # a built world's; tests may swap in a plain list
    return rows


def test_usage_rows_come_in_the_api_order_one_per_workspace_and_day(world: World) -> None:
    rows = usage_rows(world)
    keys = [(r["updated_at"], r["workspace_id"], r["date"]) for r in rows]
    assert keys == sorted(keys)
    assert len({(ws, day) for _, ws, day in keys}) == len(keys)
    assert set(rows.column("date")) == {str(TODAY - timedelta(days=d)) for d in range(1, 36)}
    accounts = {a["Workspace_Id__c"]: a for a in world.salesforce.objects["Account"].values()}
    unlinked = {row["workspace_id"] for row in rows if row["workspace_id"] not in accounts}
    children = world.stories["group_child_without_contract"]
    assert unlinked == {f"ws-{n + 1:05d}" for n in children}  # the group companies' free workspaces
    for row in rows:
        if row["workspace_id"] in accounts:  # a former customer (none purchased) is back on the free tier
            assert (accounts[row["workspace_id"]]["Seats_Purchased__c"] or 5) == row["seats_limit"]
        else:
            assert row["seats_limit"] == 5  # the free tier


def test_usage_columns_match_the_rows(world: World) -> None:
    rows = usage_rows(world)
    for name in ("updated_at", "workspace_id", "date", "seats_used"):
        assert rows.column(name) == [row[name] for row in rows]


def test_usage_rows_behave_as_a_list_and_keep_writes() -> None:
    w = build_world(anchor=ANCHOR, accounts=20, usage_days=5)
    rows = usage_rows(w)
    size, version = len(rows), w.usage.version
    first, last = rows[0], rows[-1]
    assert rows[size - 1] == last and rows[1:3] == [rows[1], rows[2]]
    with pytest.raises(IndexError):
        rows[size]

    fifth = rows[5]
    fifth["updated_at"] = "2026-06-01T11:59:30Z"  # a late correction, written into the dict handed out
    assert rows[5]["updated_at"] == "2026-06-01T11:59:30Z" and rows[5] is fifth
    assert w.usage.version > version
    assert rows[6] != fifth

    extra = {**first, "workspace_id": "ws-00000"}
    version = w.usage.version
    rows.insert(0, extra)
    assert rows[0] is extra and rows[6] is fifth and len(rows) == size + 1
    assert w.usage.version > version  # every later position moved
    assert rows.column("updated_at")[6] == "2026-06-01T11:59:30Z"
    version = w.usage.version
    rows.append({**last, "date": "2026-06-01"})
    assert w.usage.version == version  # an append moves nothing: only len() grows
    del rows[1]
    assert w.usage.version > version
    assert len(rows) == size + 1 and rows[0] is extra and rows[5] is fifth
    rows[5] = {**fifth, "seats_used": 1}
    assert rows[5]["seats_used"] == 1
    assert [r["workspace_id"] for r in rows][-1] == last["workspace_id"]
    assert list(rows) == [rows[i] for i in range(len(rows))]


def test_a_fresh_read_of_a_row_is_equal_but_not_shared() -> None:
    w = build_world(anchor=ANCHOR, accounts=5, usage_days=3)
    a, b = w.usage.rows[2], w.usage.rows[2]
    assert a == b and a is not b
    a["feature_events"]["documents"] = -1  # nested dicts are per read: not a write to the row
    assert w.usage.rows[2]["feature_events"] == b["feature_events"]


# --- stories -----------------------------------------------------------------------------------


@dataclass
class Facts:
    """One account as one CRM shows it: what the story detectors look at."""

    workspace: str | None = None
    owner_active: bool = True
    parent: bool = False
    created_days_ago: int = 0
    has_contract: bool = False
    contract_starts: list[date] = field(default_factory=list)
    contract_end: date | None = None
    health: float = 0.0
    do_not_contact: bool = False
    nps: float | None = None
    csat: float | None = None
    contacts: list[tuple[int, str]] = field(default_factory=list)  # (days ago, department)
    activities: list[tuple[str, int]] = field(default_factory=list)  # (subject, days ago; < 0 ahead)
    tickets: list[tuple[int, bool, bool]] = field(default_factory=list)  # (days ago, open, escalated)
    owned: set[str] = field(default_factory=set)  # products it has now (a former customer's have ended)
    former: bool = False  # Type Other / lifecyclestage other: no standard value says churned
    last_end: date | None = None  # the last activated contract's end, or the portal's contract end date


def _days_ago(stamp: str) -> int:
    at = datetime.fromisoformat(stamp.replace("+0000", "+00:00"))
    return (TODAY - at.astimezone(UTC).date()).days


def salesforce_facts(w: World) -> dict[int, Facts]:
    o = w.salesforce.objects
    by_id = {key.salesforce_id: n for n, key in enumerate(w.account_keys)}
    facts = {n: Facts() for n in range(len(w.account_keys))}
    for account_id, a in o["Account"].items():
        f = facts[by_id[account_id]]
        f.workspace = a["Workspace_Id__c"]
        f.owner_active = o["User"][a["OwnerId"]]["IsActive"]
        f.parent = a["ParentId"] is not None
        f.created_days_ago = _days_ago(a["CreatedDate"])
        f.health = a["Health_Rollup__c"]
        f.do_not_contact, f.nps, f.csat = a["Do_Not_Contact__c"], a["NPS__c"], a["CSAT__c"]
        f.former = a["Type"] == "Other"
    for c in o["Contract"].values():
        f = facts[by_id[c["AccountId"]]]
        f.has_contract = True
        start, end = date.fromisoformat(c["StartDate"]), date.fromisoformat(c["EndDate"])
        if c["Status"] == "Activated":
            f.contract_starts.append(start)
            f.last_end = max(end, f.last_end or end)
            if start <= TODAY <= end:
                f.contract_end = end
    for p in o["Contact"].values():
        facts[by_id[p["AccountId"]]].contacts.append((_days_ago(p["CreatedDate"]), p["Department"]))
    for name in _SF_ACTIVITIES:
        for act in o[name].values():
            when = (TODAY - date.fromisoformat(act["ActivityDate"])).days
            facts[by_id[act["AccountId"]]].activities.append((act["Subject"], when))
    for case in o["Case"].values():
        escalated = case["IsEscalated"] and not case["IsClosed"]
        facts[by_id[case["AccountId"]]].tickets.append(
            (_days_ago(case["CreatedDate"]), not case["IsClosed"], escalated)
        )
    products = {pid: p["Name"] for pid, p in o["Product2"].items()}
    for s in o["Asset"].values():
        if s["Status"] != "Obsolete":
            facts[by_id[s["AccountId"]]].owned.add(products[s["Product2Id"]])
    return facts


_TITLES = {"tasks": "hs_task_subject", "calls": "hs_call_title", "meetings": "hs_meeting_title"}
_TITLES.update({"emails": "hs_email_subject", "notes": "hs_note_body"})


def hubspot_facts(w: World) -> dict[int, Facts]:
    objects, links = w.hubspot.objects, w.hubspot.associations
    by_id = {key.hubspot_id: n for n, key in enumerate(w.account_keys)}
    facts = {n: Facts() for n in range(len(w.account_keys))}

    def company_of(object_type: str, object_id: str) -> Facts:
        return facts[by_id[links[(object_type, object_id, "companies")][0][0]]]

    for company_id, c in objects["companies"].items():
        p = c["properties"]
        f = facts[by_id[company_id]]
        f.workspace = p["workspace_id"] or None
        f.owner_active = not objects["owners"][p["hubspot_owner_id"]]["archived"]
        f.parent = ("companies", company_id, "companies") in links
        f.created_days_ago = _days_ago(p["createdate"])
        f.has_contract = p["contract_end_date"] != ""
        f.contract_end = date.fromisoformat(p["contract_end_date"]) if p["contract_end_date"] else None
        f.last_end = f.contract_end
        f.former = p["lifecyclestage"] == "other"
        f.health = float(p["health_rollup"])
        f.do_not_contact = {"true": True, "false": False}[p["do_not_contact"]]
        f.nps = float(p["nps_score"]) if p["nps_score"] else None
        f.csat = float(p["csat_score"]) if p["csat_score"] else None
    for contact_id, contact in objects["contacts"].items():
        p = contact["properties"]
        company_of("contacts", contact_id).contacts.append((_days_ago(p["createdate"]), p["department"]))
    for object_type in _HS_ENGAGEMENTS:
        for eid, e in objects[object_type].items():
            p = e["properties"]
            company_of(object_type, eid).activities.append((p[_TITLES[object_type]], _days_ago(p["hs_timestamp"])))
    for tid, t in objects["tickets"].items():
        p = t["properties"]
        open_ = p["hs_pipeline_stage"] != "4"
        company_of("tickets", tid).tickets.append(
            (_days_ago(p["createdate"]), open_, open_ and p["hs_ticket_priority"] == "URGENT")
        )
    products = {pid: p["properties"]["name"] for pid, p in objects["products"].items()}
    for lid, li in objects["line_items"].items():
        deal_id = links[("line_items", lid, "deals")][0][0]
        ends = li["properties"]["hs_recurring_billing_end_date"]
        live = not ends or date.fromisoformat(ends) >= TODAY  # a one-off, or billed still
        if objects["deals"][deal_id]["properties"]["hs_is_closed_won"] == "true" and live:
            company_of("deals", deal_id).owned.add(products[li["properties"]["hs_product_id"]])
    return facts


def usage_by_workspace(w: World) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in w.usage.rows:
        out[row["workspace_id"]].append(row)
    for rows in out.values():
        rows.sort(key=lambda r: r["date"])
    return out


def _last(usage: list[dict[str, Any]], metric: str, limit: str) -> bool:
    return bool(usage) and usage[-1][metric] >= 0.8 * usage[-1][limit]


def _wau_rising(usage: list[dict[str, Any]]) -> bool:
    weeks = [
        mean(r["weekly_active_users"] for r in usage[len(usage) - 7 * (k + 1) : len(usage) - 7 * k]) for k in range(4)
    ]
    return bool(weeks[3] < weeks[2] < weeks[1] < weeks[0])


def _recent(usage: list[dict[str, Any]], metric: str, days: int = 7) -> int:
    return sum(r[metric] for r in usage[-days:])


def _tickets_rising(f: Facts) -> bool:
    last30 = sum(1 for d, _, _ in f.tickets if d < 30)
    before = sum(1 for d, _, _ in f.tickets if 30 <= d < 60)
    return last30 > 0 and last30 >= 1.5 * before


def _new_department(f: Facts, usage: list[dict[str, Any]]) -> bool:
    older = {dept for d, dept in f.contacts if d > 30}
    recent = [dept for d, dept in f.contacts if d <= 30]
    new_in_usage = set(usage[-1]["users_by_department"]) - set(usage[0]["users_by_department"])
    return len(recent) >= 2 and any(dept not in older for dept in recent) and bool(new_in_usage)


def _qbr_due(f: Facts) -> bool:
    reviews = [d for subject, d in f.activities if subject == "Quarterly business review"]
    return bool(reviews) and min(reviews) > 90


Detector = Callable[[Facts, list[dict[str, Any]]], bool]
DETECTORS: dict[str, Detector] = {
    "seats_near_limit": lambda f, u: _last(u, "seats_used", "seats_limit"),
    "storage_near_limit": lambda f, u: _last(u, "storage_used_gb", "storage_limit_gb"),
    "api_near_limit": lambda f, u: _last(u, "api_calls_used", "api_calls_limit"),
    "wau_rising": lambda f, u: _wau_rising(u) and f.health >= 75,
    "premium_interest": lambda f, u: _recent(u, "premium_feature_views") >= 3 and _recent(u, "pricing_page_views") > 0,
    "new_integration": lambda f, u: u[-1]["integrations"] > u[-30]["integrations"],
    "dormant": lambda f, u: (
        mean(r["active_users"] for r in u[-7:]) < 0.5 * mean(r["active_users"] for r in u[:14])
        and all(d > 60 for _, d in f.activities)
    ),
    "onboarding_stalled": lambda f, u: (
        f.contract_end is not None
        and f.contract_end - TODAY > timedelta(days=300)
        and u[-1]["active_users"] < 0.2 * u[-1]["seats_limit"]
    ),
    "onboarded": lambda f, u: (
        f.contract_end is not None
        and f.contract_end - TODAY > timedelta(days=315)
        and u[0]["active_users"] < 0.3 * u[0]["seats_limit"] < 0.6 * u[-1]["seats_limit"] <= u[-1]["active_users"] * 1.2
    ),
    "churn_risk": lambda f, u: _tickets_rising(f) and any(e for _, _, e in f.tickets) and f.health < 40,
    "stakeholder_growth": lambda f, u: _new_department(f, u),
    "qbr_due": lambda f, u: _qbr_due(f),
    "open_escalation": lambda f, u: any(e for _, _, e in f.tickets) and _last(u, "seats_used", "seats_limit"),
    "do_not_contact": lambda f, u: (
        f.do_not_contact and _last(u, "seats_used", "seats_limit") and not any(e for _, _, e in f.tickets)
    ),
    "detractor": lambda f, u: f.nps is not None and 3 <= f.nps <= 5 and _last(u, "seats_used", "seats_limit"),
    "renewal_due": lambda f, u: f.contract_end is not None and 0 <= (f.contract_end - TODAY).days <= 90,
    "group_child_without_contract": lambda f, u: f.parent and not f.has_contract and f.workspace is None,
    "new_child_account": lambda f, u: f.parent and f.created_days_ago <= 30,
    "co_purchase_target": lambda f, u: "Analytics Pro" in f.owned and "Custom Dashboards" not in f.owned,
    "inactive_owner": lambda f, u: not f.owner_active,
    "churned": lambda f, u: (
        f.former
        and f.last_end is not None
        and timedelta(days=25) <= TODAY - f.last_end <= timedelta(days=144)
        and not f.owned - {"Onboarding Package", "Admin Training"}  # services stay bought, nothing else runs
        and u[-1]["seats_limit"] == 5  # back on the free tier
    ),
}
EXACT = (
    "seats_near_limit",
    "storage_near_limit",
    "api_near_limit",
    "renewal_due",
    "co_purchase_target",
    "do_not_contact",
    "detractor",
    "churned",
)
"""Stories that no other account shows either: the data and the answer key agree both ways."""


def test_every_story_has_a_detector() -> None:
    assert set(DETECTORS) | {"steady"} == set(STORIES)


@pytest.mark.parametrize("accounts", [300, 120], ids=["demo", "e2e"])
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_every_story_is_in_the_data_of_both_crms(accounts: int, crm: str) -> None:
    w = build_world(anchor=ANCHOR, accounts=accounts, seed=7 if accounts == 300 else 11)
    facts = salesforce_facts(w) if crm == "salesforce" else hubspot_facts(w)
    usage = usage_by_workspace(w)
    for story, detect in DETECTORS.items():
        flagged = set(w.stories[story])
        assert flagged, f"no account has the story {story}"
        for n in flagged:
            f = facts[n]
            assert detect(f, usage.get(f.workspace or "", [])), (story, n, w.account_keys[n])
        if story in EXACT:
            shown = {n for n, f in facts.items() if f.workspace and detect(f, usage[f.workspace])}
            assert shown == flagged, story


def test_a_quarter_of_accounts_are_near_their_seat_limit_and_a_few_have_the_inactive_owner(world: World) -> None:
    """What the demo and the e2e tests rely on (tests/e2e/expect.py recomputes it)."""
    share = len(world.stories["seats_near_limit"]) / len(world.account_keys)
    assert 0.2 <= share <= 0.3
    inactive = world.stories["inactive_owner"]
    assert 0 < len(inactive) < 0.1 * len(world.account_keys)
    assert set(inactive) - set(world.stories["seats_near_limit"]) and set(inactive) & set(
        world.stories["seats_near_limit"]
    )


def test_the_co_purchase_pattern_is_strong_enough_for_s15(world: World) -> None:
    """Owners of Analytics Pro buy Custom Dashboards far more often than customers at large."""
    owned = [f.owned for f in salesforce_facts(world).values() if f.workspace]
    with_a = [o for o in owned if "Analytics Pro" in o]
    confidence = sum("Custom Dashboards" in o for o in with_a) / len(with_a)
    support_b = sum("Custom Dashboards" in o for o in owned) / len(owned)
    assert confidence >= 0.2 and confidence / support_b >= 1.5


def test_the_hierarchies_are_groups_of_a_parent_and_its_children(world: World) -> None:
    accounts = world.salesforce.objects["Account"]
    children = [a for a in accounts.values() if a["ParentId"]]
    assert children
    for child in children:
        parent = accounts[child["ParentId"]]
        assert parent["ParentId"] is None and parent["Type"].startswith("Customer")
        assert child["Name"].split()[:2] == parent["Name"].split()[:2]
    without = [a for a in children if a["Workspace_Id__c"] is None]
    assert without and all(a["Type"] == "Prospect" and a["Seats_Purchased__c"] == 0 for a in without)


def test_activities_span_half_a_year_and_some_are_still_ahead(world: World) -> None:
    days = [d for f in salesforce_facts(world).values() for _, d in f.activities]
    assert max(days) >= 150 and min(days) < 0
    assert sum(1 for d in days if d > 180) == 0 or max(days) <= 200


# --- guard facts: do-not-contact, NPS, CSAT ------------------------------------------------------

GUARD_WORLDS: list[dict[str, Any]] = [
    {"seed": 11, "accounts": 120},  # the e2e world (tests/conftest.py)
    {"seed": 7, "accounts": 300},  # the demo world
    {"seed": 5, "accounts": 45, "groups": False},  # standalone customers, a half block at the end
]
_USAGE_STORIES = (
    *("seats_near_limit", "storage_near_limit", "api_near_limit", "wau_rising", "premium_interest"),
    *("new_integration", "dormant", "onboarding_stalled", "onboarded", "churn_risk", "steady"),
)


@pytest.mark.parametrize("kwargs", GUARD_WORLDS, ids=["e2e", "demo", "standalone"])
def test_do_not_contact_and_detractor_go_to_one_ripe_unescalated_account_per_block(kwargs: dict[str, Any]) -> None:
    w = build_world(anchor=ANCHOR, **kwargs)
    ripe, escalated = set(w.stories["seats_near_limit"]), set(w.stories["open_escalation"])
    flagged, detractors = set(w.stories["do_not_contact"]), set(w.stories["detractor"])
    assert flagged and detractors
    assert not flagged & detractors and not (flagged | detractors) & escalated and flagged | detractors <= ripe
    count = len(w.account_keys)
    for start in range(0, count, 20):
        block = set(range(start, min(start + 20, count)))
        eligible = len((ripe - escalated) & block)
        assert len(flagged & block) == min(1, eligible), start
        assert len(detractors & block) == max(0, min(1, eligible - 1)), start
    for facts in (salesforce_facts(w), hubspot_facts(w)):
        assert {n for n, f in facts.items() if f.do_not_contact} == flagged
        assert all((nps := facts[n].nps) is not None and 3 <= nps <= 5 for n in detractors)


@pytest.mark.parametrize("kwargs", GUARD_WORLDS, ids=["e2e", "demo", "standalone"])
def test_nps_and_csat_follow_each_accounts_story(kwargs: dict[str, Any]) -> None:
    w = build_world(anchor=ANCHOR, **kwargs)
    story = {n: name for name in _USAGE_STORIES for n in w.stories[name]}
    detractors = set(w.stories["detractor"])
    facts = salesforce_facts(w)
    customers = [n for n, f in facts.items() if f.workspace]
    known = [n for n in customers if facts[n].nps is not None]
    assert 0.5 <= len(known) / len(customers) <= 0.8  # about 60%, plus the detractors
    assert any(story[n] == "churn_risk" for n in known) and any(facts[n].csat is None for n in customers)
    ranges = {"churn_risk": (2, 6), "wau_rising": (8, 10), "onboarded": (8, 10)}
    for n, f in facts.items():
        if not f.workspace:  # not a customer (a group's child without a contract): never surveyed
            assert (f.nps, f.csat) == (None, None), n
            continue
        if f.nps is not None:
            low, high = (3, 5) if n in detractors else ranges.get(story[n], (6, 10))
            assert low <= f.nps <= high, (n, story[n], f.nps)
        assert (f.csat is not None) == bool(f.tickets), n  # CSAT comes from support tickets
        if f.csat is not None:
            low, high = (40, 65) if story[n] == "churn_risk" else (75, 98)
            assert low <= f.csat <= high, (n, story[n], f.csat)


_GUARD_FIELDS = ("Do_Not_Contact__c", "NPS__c", "CSAT__c")
_GUARD_PROPERTIES = ("do_not_contact", "nps_score", "csat_score")


def _without_guard_facts(w: World) -> dict[str, Any]:
    snap = _snapshot(w)
    snap["salesforce"] = {
        name: {i: {k: v for k, v in r.items() if not (name == "Account" and k in _GUARD_FIELDS)} for i, r in t.items()}
        for name, t in w.salesforce.objects.items()
    }
    snap["hubspot"] = {
        name: {
            i: {**o, "properties": {k: v for k, v in o["properties"].items() if k not in _GUARD_PROPERTIES}}
            if name == "companies"
            else o
            for i, o in t.items()
        }
        for name, t in w.hubspot.objects.items()
    }
    snap["stories"] = {k: v for k, v in w.stories.items() if k not in ("do_not_contact", "detractor")}
    return snap


def test_guard_facts_are_deterministic_and_leave_the_rest_of_a_seeds_world_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """They come from a hash of seed and account: the random stream, and so every other value, is untouched."""
    from sandbox.world.generator import build as world_module

    kwargs: dict[str, Any] = {"seed": 11, "anchor": ANCHOR, "accounts": 120}
    first, again = build_world(**kwargs), build_world(**kwargs)
    assert _snapshot(first) == _snapshot(again)
    assert {k: first.stories[k] for k in ("do_not_contact", "detractor")} == {
        k: again.stories[k] for k in ("do_not_contact", "detractor")
    }
    monkeypatch.setattr(world_module._Generator, "_surveys", lambda self, accounts: None)
    without = build_world(**kwargs)
    assert without.stories["do_not_contact"] == without.stories["detractor"] == ()
    assert _without_guard_facts(first) == _without_guard_facts(without)
