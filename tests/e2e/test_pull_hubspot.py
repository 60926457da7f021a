"""HubSpot pulls through hubspot-api-client over HTTPS: every fault and rule, store == sandbox."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.hubspot import HubSpotLimits, archive, mass_update, recalculate
from sandbox.server import Fault, Sandbox
from sandbox.world import hs_time
from sync.pull import backfill_stream
from sync.runner import pull_all
from tests.conftest import ANCHOR, make_context, sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import assert_store_matches

pytestmark = pytest.mark.e2e
SEARCH = r"/crm/v3/objects/\w+/search"


def pull(ctx: Any, *, usage: bool = False) -> list[Any]:
    return pull_all(ctx, as_of=ctx.clock(), only=None if usage else lambda name: name.startswith("hubspot."))


def test_a_first_pull_stores_every_object_and_its_associations(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot")
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error], [r.error for r in reports if r.error]
    assert_store_matches(ctx.store, sandbox, "hubspot")
    deals = {r["crm_id"]: r for r in ctx.store.rows("opportunities", system="hubspot")}
    links = sandbox.world.hubspot.associations
    for deal_id, row in deals.items():
        companies = [cid for cid, type_id in links.get(("deals", deal_id, "companies"), []) if type_id == 5]
        assert row["account_id"] == (companies[0] if companies else None)
    children = [r for r in ctx.store.rows("accounts", system="hubspot") if r["parent_id"]]
    assert children, "the world has group companies: child → parent (type 14) must arrive"
    ctx.close()


def test_do_not_contact_nps_and_csat_arrive_for_the_storied_companies(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot='objects = ["companies"]')
    [report] = pull(ctx)
    assert report.error is None
    rows = {r["crm_id"]: r for r in ctx.store.rows("accounts", system="hubspot")}
    world = sandbox.world
    flagged = {world.account_keys[n].hubspot_id for n in world.stories["do_not_contact"]}
    assert flagged and {i for i, r in rows.items() if r["do_not_contact"]} == flagged
    assert all(r["do_not_contact"] is False for i, r in rows.items() if i not in flagged)  # "false", not ""
    detractors = [world.account_keys[n].hubspot_id for n in world.stories["detractor"]]
    assert detractors and all(3 <= rows[i]["nps"] <= 5 for i in detractors)
    for company_id, company in world.hubspot.objects["companies"].items():
        p = company["properties"]
        want = tuple(float(p[name]) if p[name] else None for name in ("nps_score", "csat_score"))
        assert (rows[company_id]["nps"], rows[company_id]["csat"]) == want  # "" → unknown
    assert any(r["nps"] is None for r in rows.values()) and any(r["csat"] is None for r in rows.values())
    ctx.close()


def test_associations_are_read_a_thousand_ids_at_a_time(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot='objects = ["contacts"]')
    pull(ctx)
    contacts = len(sandbox.world.hubspot.objects["contacts"])
    assert sandbox.hubspot.calls("POST", SEARCH) == -(-contacts // 200)
    assert sandbox.hubspot.calls("POST", r"/crm/v4/associations/contacts/companies/batch/read") == -(-contacts // 1000)
    ctx.close()


def test_a_second_pull_with_nothing_changed_makes_one_call_per_object(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot")
    pull(ctx)
    before = sandbox.hubspot.calls()
    pull(ctx)
    objects = len(ctx.settings.hubspot.objects)
    assert sandbox.hubspot.calls() - before == objects + 1  # owners: one call for active, one for archived
    assert_store_matches(ctx.store, sandbox, "hubspot")
    ctx.close()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(
            path=SEARCH,
            status=429,
            headers={"Retry-After": "0"},
            times=2,
            body={"status": "error", "policyName": "TEN_SECONDLY_ROLLING"},
        ),
        Fault(path=SEARCH, status=429, times=2, body={"status": "error", "policyName": "SECONDLY"}),
        Fault(path=SEARCH, status=502, times=2, body={"status": "error"}),
        Fault(path=r"/crm/v4/associations", status=500, times=1, body={"status": "error"}),
    ],
    ids=["429-retry-after", "429-no-retry-after", "502", "500-associations"],
)
def test_retryable_errors_are_retried_and_nothing_is_lost(tmp_path: Path, sandbox: Sandbox, fault: Fault) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot")
    sandbox.hubspot.faults.add(fault)
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error]
    assert_store_matches(ctx.store, sandbox, "hubspot")
    ctx.close()


def test_a_read_timeout_is_retried(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot="read_timeout_seconds = 0.5")
    sandbox.hubspot.faults.add(Fault(path=SEARCH, delay=1.5, times=1))
    assert not [r.error for r in pull(ctx) if r.error]
    assert_store_matches(ctx.store, sandbox, "hubspot")
    ctx.close()


def test_the_real_rate_limit_is_never_hit_thanks_to_the_client_side_buckets(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.hubspot.app.state.limits = HubSpotLimits(per_10s=10, search_per_s=5)  # type: ignore[attr-defined]
    objects = 'objects = ["contacts", "deals", "line_items", "tickets"]'
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot=f"requests_per_10s = 10\n{objects}")
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error]
    assert ctx.crm.client.general.waited > 0  # the bucket paced the calls…
    assert sandbox.hubspot.calls() == ctx.crm.client.calls  # …and not one came back 429 to be retried
    ctx.close()


def test_the_daily_limit_stops_hubspot_until_the_next_run_without_retrying(tmp_path: Path, sandbox: Sandbox) -> None:
    state = sandbox.hubspot.app.state  # type: ignore[attr-defined]
    state.limits = HubSpotLimits(per_10s=None, search_per_s=None, daily=1000)
    state.rate.consume_daily(1000)
    ctx = make_context(tmp_path, sandbox, "hubspot")
    reports = pull(ctx)
    assert reports[0].quota and "DAILY" in (reports[0].error or "")
    assert all(r.quota for r in reports)
    assert sandbox.hubspot.calls() == 1
    ctx.close()


def test_over_ten_thousand_changes_in_one_millisecond_are_read_by_id_past_the_search_cap(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot='objects = ["notes"]')
    pull(ctx)
    notes = sandbox.world.hubspot.objects["notes"]
    template = next(iter(notes.values()))
    for n in range(10_400):  # a workflow created 10,400 notes in one batch
        object_id = str(40_000_000_000 + n)
        notes[object_id] = {
            **template,
            "id": object_id,
            "properties": {**template["properties"], "hs_object_id": object_id},
        }
    stamp = mass_update(sandbox.world, "notes", list(notes), {}, at=ANCHOR - timedelta(minutes=2))
    assert stamp is not None
    [report] = pull(ctx)
    assert report.error is None and not report.problems
    assert {r["crm_id"] for r in ctx.store.rows("activities", system="hubspot")} == set(notes)
    ctx.close()


def test_a_window_over_the_cap_is_sliced_and_every_slice_fetched_count_matches_total(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot='objects = ["notes"]')
    notes = sandbox.world.hubspot.objects["notes"]
    template = next(iter(notes.values()))
    for n in range(12_000):  # spread over 10 days: a first read must cut this window
        object_id = str(41_000_000_000 + n)
        stamp = hs_time(ANCHOR - timedelta(days=10) + timedelta(seconds=72 * n))
        props = {**template["properties"], "hs_object_id": object_id, "hs_lastmodifieddate": stamp}
        notes[object_id] = {**template, "id": object_id, "properties": props, "updatedAt": stamp}
    [report] = pull(ctx)
    assert report.error is None and not report.problems
    assert {r["crm_id"] for r in ctx.store.rows("activities", system="hubspot")} == set(notes)
    searches = sandbox.hubspot.calls("POST", SEARCH)
    assert searches <= -(-len(notes) // 200) * 1.05 + 3  # slicing costs a few probes, not a second pass
    ctx.close()


def test_archived_records_are_marked_deleted_on_the_deletes_schedule(tmp_path: Path, sandbox: Sandbox) -> None:
    sections: dict[str, Any] = {"hubspot": 'objects = ["companies", "deals"]\ndeletes_every_hours = 1'}
    ctx = make_context(tmp_path, sandbox, "hubspot", **sections)
    pull(ctx)
    company = next(iter(sandbox.world.hubspot.objects["companies"]))
    deal = next(iter(sandbox.world.hubspot.objects["deals"]))
    sandbox.world.anchor = ANCHOR + timedelta(hours=3)
    archive(sandbox.world, "companies", company, at=ANCHOR + timedelta(minutes=10))
    archive(sandbox.world, "deals", deal, at=ANCHOR + timedelta(minutes=10))
    soon = make_context(tmp_path, sandbox, "hubspot", as_of=ANCHOR + timedelta(minutes=30), **sections)
    pull(soon)  # archiving moved no modstamp: search cannot see it
    assert company in {r["crm_id"] for r in soon.store.rows("accounts", include_deleted=False)}
    later = make_context(tmp_path, sandbox, "hubspot", as_of=ANCHOR + timedelta(hours=2), **sections)
    reports = pull(later)
    assert sum(r.deleted for r in reports) == 2
    assert company not in {r["crm_id"] for r in later.store.rows("accounts", include_deleted=False)}
    assert deal not in {r["crm_id"] for r in later.store.rows("opportunities", include_deleted=False)}
    for c in (ctx, soon, later):
        c.close()


def test_a_calculated_property_change_arrives_with_the_full_pass(tmp_path: Path, sandbox: Sandbox) -> None:
    sections: dict[str, Any] = {"hubspot": 'objects = ["companies"]\nfull_refresh_days = 7'}
    ctx = make_context(tmp_path, sandbox, "hubspot", **sections)
    pull(ctx)
    company = next(iter(sandbox.world.hubspot.objects["companies"]))
    recalculate(sandbox.world, "companies", company, {"health_rollup": 0.42})
    pull(ctx)
    assert next(r for r in ctx.store.rows("accounts") if r["crm_id"] == company)["health_rollup"] != 0.42
    later = make_context(tmp_path, sandbox, "hubspot", as_of=ANCHOR + timedelta(days=8), **sections)
    [report] = pull(later)
    assert report.full_pass
    assert next(r for r in later.store.rows("accounts") if r["crm_id"] == company)["health_rollup"] == 0.42
    ctx.close()
    later.close()


def test_an_expired_token_is_refreshed_once_through_oauth(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = sandbox.world.auth["hubspot"]
    monkeypatch.setenv("HS_CLIENT_ID", auth.client_id)
    monkeypatch.setenv("HS_CLIENT_SECRET", auth.client_secret)
    monkeypatch.setenv("HS_REFRESH", "sandbox-refresh-token")
    oauth = (
        '[hubspot.oauth]\nclient_id_env = "HS_CLIENT_ID"\nclient_secret_env = "HS_CLIENT_SECRET"\n'
        'refresh_token_env = "HS_REFRESH"'
    )
    ctx = make_context(tmp_path, sandbox, "hubspot", hubspot=oauth)
    auth.expire()
    assert not [r.error for r in pull(ctx) if r.error]
    assert sandbox.hubspot.calls("POST", r"/oauth/v1/token") == 1
    assert_store_matches(ctx.store, sandbox, "hubspot")
    ctx.close()


def test_an_expired_token_without_oauth_stops_hubspot_with_a_hint(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "hubspot")
    sandbox.world.auth["hubspot"].expire()
    reports = {r.stream: r for r in pull(ctx, usage=True)}
    assert "401" in (reports["hubspot.owners"].error or "") and "oauth" in (reports["hubspot.owners"].hint or "")
    assert sandbox.hubspot.calls() == 1
    assert reports["usage.daily"].error is None
    ctx.close()


def test_a_token_obtained_through_oauth_is_renewed_before_it_expires(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = sandbox.world.auth["hubspot"]
    monkeypatch.setenv("HS_CLIENT_ID", auth.client_id)
    monkeypatch.setenv("HS_CLIENT_SECRET", auth.client_secret)
    monkeypatch.setenv("HS_REFRESH", "sandbox-refresh-token")
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    sandbox.hubspot.app.state.token_expires_in = 1800  # type: ignore[attr-defined]
    oauth = (
        '[hubspot.oauth]\nclient_id_env = "HS_CLIENT_ID"\nclient_secret_env = "HS_CLIENT_SECRET"\n'
        'refresh_token_env = "HS_REFRESH"'
    )
    from sync.runner import connect_crm
    from sync.settings import load_settings
    from tests.conftest import sandbox_env, write_config

    env = sandbox_env(sandbox)
    del env["HUBSPOT_TOKEN"]  # no static token: upsync gets one, and knows when it expires
    settings = load_settings(write_config(tmp_path, sandbox, "hubspot", hubspot=oauth), env)
    crm = connect_crm(settings, env)
    client = crm.client  # type: ignore[attr-defined]
    assert sandbox.hubspot.calls("POST", r"/oauth/v1/token") == 1
    now = [0.0]
    client._clock = lambda: now[0]
    client._refresh_at = 1500.0  # 30 minutes less the 300-second margin
    list(client.owners(archived=False))
    assert sandbox.hubspot.calls("POST", r"/oauth/v1/token") == 1
    now[0] = 1501.0  # 25 minutes later: renew before the next call, not after a 401
    list(client.owners(archived=False))
    assert sandbox.hubspot.calls("POST", r"/oauth/v1/token") == 2
    crm.close()


def test_a_token_refreshed_after_the_environments_expired_is_kept_for_the_next_runs(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    auth = sandbox.world.auth["hubspot"]
    env = {
        **sandbox_env(sandbox),
        "HS_CLIENT_ID": auth.client_id,
        "HS_CLIENT_SECRET": auth.client_secret,
        "HS_REFRESH": "sandbox-refresh-token",
    }
    oauth = (
        '[hubspot.oauth]\nclient_id_env = "HS_CLIENT_ID"\nclient_secret_env = "HS_CLIENT_SECRET"\n'
        'refresh_token_env = "HS_REFRESH"'
    )
    config = write_config(tmp_path, sandbox, "hubspot", hubspot=oauth)
    state = str(tmp_path / "state.db")
    auth.expire()  # the token in HUBSPOT_TOKEN is revoked and stays in the environment
    token_calls = []
    for _ in range(3):
        run = subprocess.run(
            upsync_cmd("sync", "--once", "--config", str(config), "--state", state),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        token_calls.append(sandbox.hubspot.calls("POST", r"/oauth/v1/token"))
        if len(token_calls) == 1:
            assert "refused the token from the environment" in run.stderr  # said, not only done
    assert token_calls == [1, 1, 1]  # one refresh in all, not one per run
    assert env["HUBSPOT_TOKEN"] not in (tmp_path / "state.db").read_bytes().decode("latin-1")


def test_an_archive_between_a_backfill_and_the_first_sync_is_seen_by_that_sync(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sections: dict[str, Any] = {"hubspot": 'objects = ["companies"]\ndeletes_every_hours = 1'}
    ctx = make_context(tmp_path, sandbox, "hubspot", **sections)
    [stream] = [s for s in ctx.crm.streams if s.name == "hubspot.companies"]
    assert backfill_stream(ctx.store, stream, since=None, as_of=ANCHOR, clock=ctx.clock).error is None
    ctx.close()
    gone = next(iter(sandbox.world.hubspot.objects["companies"]))
    sandbox.world.anchor = ANCHOR + timedelta(hours=3)
    archive(sandbox.world, "companies", gone, at=ANCHOR + timedelta(minutes=10))
    first_sync = make_context(tmp_path, sandbox, "hubspot", as_of=ANCHOR + timedelta(hours=2), **sections)
    reports = {r.stream: r for r in pull(first_sync)}
    assert reports["hubspot.companies"].deleted == 1
    assert gone not in {r["crm_id"] for r in first_sync.store.rows("accounts", include_deleted=False)}
    first_sync.close()
