"""Salesforce pulls through simple-salesforce over HTTPS: every fault and rule, store == sandbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.salesforce import api_usage, hard_delete, soft_delete
from sandbox.server import Fault, Sandbox
from sandbox.world import sf_time
from sync.pull import backfill_stream
from sync.runner import pull_all
from tests.conftest import ANCHOR, make_context
from tests.e2e.expect import assert_store_matches

pytestmark = pytest.mark.e2e
QUERY = r"/services/data/v[\d.]+/(query|queryAll)"


def pull(ctx: Any, *, usage: bool = False) -> list[Any]:
    """Pull the Salesforce streams (and the usage API when asked)."""
    return pull_all(ctx, as_of=ctx.clock(), only=None if usage else lambda name: name.startswith("salesforce."))


def by_stream(reports: list[Any]) -> dict[str, Any]:
    return {r.stream: r for r in reports}


def test_a_first_pull_stores_every_object_exactly(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce")
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error]
    assert_store_matches(ctx.store, sandbox, "salesforce")
    # the Task→account link is Salesforce's derived Task.AccountId, an Opportunity's task included
    tasks = {r["crm_id"]: r for r in ctx.store.rows("activities", system="salesforce")}
    world = sandbox.world.salesforce.objects["Task"]
    assert all(tasks[i]["account_id"] == t.get("AccountId") for i, t in world.items())
    ctx.close()


def test_a_second_pull_with_nothing_changed_makes_one_call_per_object(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce")
    pull(ctx)
    before = sandbox.salesforce.calls()
    pull(ctx)
    objects = len(ctx.settings.salesforce.objects)
    assert sandbox.salesforce.calls() - before == objects
    assert_store_matches(ctx.store, sandbox, "salesforce")
    ctx.close()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(
            path=QUERY,
            status=429,
            headers={"Retry-After": "0"},
            times=2,
            body=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "x"}],
        ),
        Fault(path=QUERY, status=429, times=2, body=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "x"}]),
        Fault(path=QUERY, status=503, times=2, body=[{"errorCode": "SERVER_UNAVAILABLE", "message": "x"}]),
        Fault(path=QUERY, status=500, times=1, body=[{"errorCode": "UNKNOWN_EXCEPTION", "message": "x"}]),
    ],
    ids=["429-retry-after", "429-no-retry-after", "503", "500"],
)
def test_retryable_errors_are_retried_and_nothing_is_lost(tmp_path: Path, sandbox: Sandbox, fault: Fault) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce")
    sandbox.salesforce.faults.add(fault)
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error]
    assert_store_matches(ctx.store, sandbox, "salesforce")
    ctx.close()


def test_a_read_timeout_is_retried(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce="read_timeout_seconds = 0.5")
    sandbox.salesforce.faults.add(Fault(path=QUERY, delay=1.5, times=1))
    assert not [r.error for r in pull(ctx) if r.error]
    assert_store_matches(ctx.store, sandbox, "salesforce")
    ctx.close()


def test_a_persistent_5xx_keeps_the_cursor_at_the_last_committed_page_and_the_next_run_resumes(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    app = sandbox.salesforce.app.state.salesforce  # type: ignore[attr-defined]
    app.settings.max_batch_size = 200
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='page_size = 200\nobjects = ["contacts"]')
    # the first page is served, then every next page fails past the retry budget
    sandbox.salesforce.faults.add(Fault(path=r"/(query|queryAll)/[^/]+-\d+$", status=503, times=10, body=[]))
    [report] = pull(ctx)
    assert report.error and "503" in report.error and report.records == 200
    cursor = ctx.store.cursor("salesforce.contacts")
    assert cursor is not None  # the first page and its cursor are committed
    sandbox.salesforce.faults.clear()
    [again] = pull(ctx)
    assert again.error is None
    contacts = {r["crm_id"] for r in ctx.store.rows("contacts")}
    assert contacts == set(sandbox.world.salesforce.objects["Contact"])
    ctx.close()


def test_rows_sharing_one_timestamp_across_page_boundaries_are_all_read(tmp_path: Path, sandbox: Sandbox) -> None:
    app = sandbox.salesforce.app.state.salesforce  # type: ignore[attr-defined]
    app.settings.max_batch_size = 200
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='page_size = 200\nobjects = ["contacts"]')
    pull(ctx)
    stamp = sf_time(ANCHOR - timedelta(minutes=3))
    contacts = sandbox.world.salesforce.objects["Contact"]
    for record in contacts.values():  # a mass update: 480 rows, one SystemModstamp, 3 pages
        record["SystemModstamp"] = stamp
        record["Title"] = "Head of Operations"
    [report] = pull(ctx)
    assert report.records == len(contacts) and report.pages == 3
    assert {r["title"] for r in ctx.store.rows("contacts")} == {"Head of Operations"}
    ctx.close()


def test_a_record_committed_late_with_an_older_modstamp_is_caught_by_the_lookback(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='objects = ["accounts"]')
    pull(ctx)
    cursor = ctx.store.cursor("salesforce.accounts")
    assert cursor is not None
    # a transaction that began before the cursor's time commits now (Airbyte #27146)
    late = next(iter(sandbox.world.salesforce.objects["Account"].values()))
    late["SystemModstamp"] = sf_time(cursor.last_value - timedelta(minutes=5))
    late["Name"] = "Committed Late KK"
    pull(ctx)
    assert "Committed Late KK" in {r["name"] for r in ctx.store.rows("accounts")}
    ctx.close()


def test_a_formula_change_without_a_modstamp_change_arrives_with_the_full_pass(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='objects = ["accounts"]\nfull_refresh_days = 7')
    pull(ctx)
    account_id, account = next(iter(sandbox.world.salesforce.objects["Account"].items()))
    account["Health_Rollup__c"] = 12.5  # a formula: its inputs changed elsewhere, SystemModstamp did not
    pull(ctx)
    [row] = [r for r in ctx.store.rows("accounts") if r["crm_id"] == account_id]
    assert row["health_rollup"] != 12.5  # incremental reads cannot see it…
    later = make_context(
        tmp_path, sandbox, "salesforce", as_of=ANCHOR + timedelta(days=8), salesforce='objects = ["accounts"]'
    )
    [report] = pull(later)
    assert report.full_pass
    [row] = [r for r in later.store.rows("accounts") if r["crm_id"] == account_id]
    assert row["health_rollup"] == 12.5  # …the weekly full pass does
    ctx.close()
    later.close()


@pytest.mark.parametrize("path", ["rest", "bulk"])
def test_do_not_contact_nps_and_csat_arrive_for_the_storied_accounts(
    tmp_path: Path, sandbox: Sandbox, path: str
) -> None:
    extra = "\nbulk_threshold = 10\nbulk_chunk = 50" if path == "bulk" else ""  # Bulk API 2.0: CSV strings
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce=f'objects = ["accounts"]{extra}')
    [report] = pull(ctx)
    assert report.error is None
    if path == "bulk":
        assert sandbox.salesforce.calls("POST", r"/services/data/v[\d.]+/jobs/query$") >= 1
    rows = {r["crm_id"]: r for r in ctx.store.rows("accounts", system="salesforce")}
    world = sandbox.world
    flagged = {world.account_keys[n].salesforce_id for n in world.stories["do_not_contact"]}
    assert flagged and {i for i, r in rows.items() if r["do_not_contact"]} == flagged
    assert all(r["do_not_contact"] is False for i, r in rows.items() if i not in flagged)  # unticked: False
    detractors = [world.account_keys[n].salesforce_id for n in world.stories["detractor"]]
    assert detractors and all(3 <= rows[i]["nps"] <= 5 for i in detractors)
    for account_id, account in world.salesforce.objects["Account"].items():
        assert (rows[account_id]["nps"], rows[account_id]["csat"]) == (account["NPS__c"], account["CSAT__c"])
    assert any(r["nps"] is None for r in rows.values()) and any(r["csat"] is None for r in rows.values())
    ctx.close()


def test_soft_and_hard_deletes_stop_counting_and_the_store_matches(tmp_path: Path, sandbox: Sandbox) -> None:
    sections: dict[str, Any] = {"salesforce": 'objects = ["contacts"]\ndeletes_every_hours = 1'}
    first = make_context(tmp_path, sandbox, "salesforce", **sections)
    pull(first)
    first.close()
    soft_id, hard_id = list(sandbox.world.salesforce.objects["Contact"])[:2]
    at = ANCHOR + timedelta(minutes=10)
    sandbox.world.anchor = ANCHOR + timedelta(hours=3)  # the org's clock moves on
    soft_delete(sandbox.world, "Contact", soft_id, at=at)
    hard_delete(sandbox.world, "Contact", hard_id, at=at)
    soon = make_context(tmp_path, sandbox, "salesforce", as_of=ANCHOR + timedelta(minutes=30), **sections)
    pull(soon)  # queryAll brings the soft delete; the hard one is invisible to it, deletes not yet due
    live = {r["crm_id"] for r in soon.store.rows("contacts", include_deleted=False)}
    assert soft_id not in live and hard_id in live
    soon.close()
    later = make_context(tmp_path, sandbox, "salesforce", as_of=ANCHOR + timedelta(hours=2), **sections)
    [report] = pull(later)  # deletes are due: /sobjects/Contact/deleted lists the hard delete
    assert report.deleted == 1
    assert {r["crm_id"] for r in later.store.rows("contacts", include_deleted=False)} == set(
        sandbox.world.salesforce.objects["Contact"]
    ) - {soft_id}
    later.close()


def test_a_hard_delete_older_than_the_recycle_bin_is_found_by_the_full_pass(tmp_path: Path, sandbox: Sandbox) -> None:
    sections: dict[str, Any] = {"salesforce": 'objects = ["contacts"]'}
    ctx = make_context(tmp_path, sandbox, "salesforce", **sections)
    pull(ctx)
    gone = next(iter(sandbox.world.salesforce.objects["Contact"]))
    sandbox.world.salesforce.objects["Contact"].pop(gone)  # deleted and purged long ago: no trace at all
    later = make_context(tmp_path, sandbox, "salesforce", as_of=ANCHOR + timedelta(days=30), **sections)
    [report] = pull(later)
    assert report.full_pass and report.deleted == 1
    assert_store_contacts = {r["crm_id"] for r in later.store.rows("contacts", include_deleted=False)}
    assert assert_store_contacts == set(sandbox.world.salesforce.objects["Contact"])
    ctx.close()
    later.close()


def test_a_window_over_the_bulk_threshold_is_read_through_bulk_api_and_its_job_deleted(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(
        tmp_path,
        sandbox,
        "salesforce",
        salesforce='objects = ["tasks", "events"]\nbulk_threshold = 100\nbulk_chunk = 250',
    )
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error]
    assert sandbox.salesforce.calls("POST", r"/jobs/query$") == 2
    assert sandbox.salesforce.calls("DELETE", r"/jobs/query/") == 2
    assert sandbox.salesforce.calls("GET", r"/jobs/query/[^/]+/results") >= 4  # chunks of 250 rows
    stored = {r["crm_id"] for r in ctx.store.rows("activities")}
    world = sandbox.world.salesforce.objects
    assert stored == set(world["Task"]) | set(world["Event"])
    # and the cursor moved: the next run reads only what changed, through REST
    pull(ctx)
    assert sandbox.salesforce.calls("POST", r"/jobs/query$") == 2
    ctx.close()


def test_the_run_stops_at_its_share_of_the_daily_allocation_and_the_next_run_resumes(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    usage = api_usage(sandbox.world)
    usage.daily_max = 40  # a run may use 25%: 10 calls, 9 of them reads
    ctx = make_context(tmp_path, sandbox, "salesforce")
    reports = pull(ctx)
    stopped = [r for r in reports if r.quota]
    assert stopped, "the run should have stopped at its share"
    assert all("salesforce" not in r.stream or r.quota or r.error is None for r in reports)
    assert usage.used <= 10
    usage.daily_max = 15_000
    usage.used = 0
    again = make_context(tmp_path, sandbox, "salesforce", as_of=ANCHOR + timedelta(hours=1))
    assert not [r.error for r in pull(again) if r.error]
    assert_store_matches(again.store, sandbox, "salesforce")
    ctx.close()
    again.close()


def test_request_limit_exceeded_stops_without_sleeping_or_retrying(tmp_path: Path, sandbox: Sandbox) -> None:
    usage = api_usage(sandbox.world)
    usage.used = usage.daily_max
    ctx = make_context(tmp_path, sandbox, "salesforce")
    reports = pull(ctx)
    salesforce = [r for r in reports if r.stream.startswith("salesforce.")]
    assert salesforce[0].quota and "REQUEST_LIMIT_EXCEEDED" in (salesforce[0].error or "")
    assert all(r.quota for r in salesforce)  # the rest wait for the next run
    assert sandbox.salesforce.calls() == 1  # no retry of a 24-hour quota
    assert ctx.store.cursor("salesforce.users") is None
    ctx.close()


def test_an_expired_session_is_refreshed_once_through_oauth(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_CLIENT_ID", sandbox.world.auth["salesforce"].client_id)
    monkeypatch.setenv("SF_CLIENT_SECRET", sandbox.world.auth["salesforce"].client_secret)
    monkeypatch.setenv("SF_REFRESH", "sandbox-refresh-token")
    oauth = (
        '[salesforce.oauth]\nclient_id_env = "SF_CLIENT_ID"\nclient_secret_env = "SF_CLIENT_SECRET"\n'
        'refresh_token_env = "SF_REFRESH"'
    )
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce=oauth)
    sandbox.world.auth["salesforce"].expire()
    reports = pull(ctx)
    assert not [r.error for r in reports if r.error]
    assert sandbox.salesforce.calls("POST", r"/services/oauth2/token") == 1
    assert_store_matches(ctx.store, sandbox, "salesforce")
    ctx.close()


def test_an_expired_session_without_oauth_stops_salesforce_with_a_hint_and_usage_still_syncs(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce")
    sandbox.world.auth["salesforce"].expire()
    reports = by_stream(pull(ctx, usage=True))
    first = reports["salesforce.users"]
    assert "INVALID_SESSION_ID" in (first.error or "") and "oauth" in (first.hint or "")
    assert sandbox.salesforce.calls() == 1  # 401 is not retried, and the other objects wait
    assert reports["usage.daily"].error is None and reports["usage.daily"].records > 0
    ctx.close()


def test_a_query_timeout_halves_the_window_and_nothing_is_lost(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='objects = ["contacts"]')
    timeout = [{"errorCode": "QUERY_TIMEOUT", "message": "Your query request was running for too long."}]
    sandbox.salesforce.faults.add(Fault(path=QUERY, status=400, body=timeout, times=2))
    [report] = pull(ctx)
    assert report.error is None
    # the window timed out, then its first half; that half's quarters and the second half were read
    assert sandbox.salesforce.calls("GET", QUERY) == 5
    assert {r["crm_id"] for r in ctx.store.rows("contacts")} == set(sandbox.world.salesforce.objects["Contact"])
    ctx.close()


def test_a_hard_delete_between_a_backfill_and_the_first_sync_is_seen_by_that_sync(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sections: dict[str, Any] = {"salesforce": 'objects = ["contacts"]\ndeletes_every_hours = 1'}
    ctx = make_context(tmp_path, sandbox, "salesforce", **sections)
    [stream] = ctx.crm.streams
    assert backfill_stream(ctx.store, stream, since=None, as_of=ANCHOR, clock=ctx.clock).error is None
    ctx.close()
    gone = next(iter(sandbox.world.salesforce.objects["Contact"]))
    sandbox.world.anchor = ANCHOR + timedelta(hours=3)
    hard_delete(sandbox.world, "Contact", gone, at=ANCHOR + timedelta(minutes=10))
    first_sync = make_context(tmp_path, sandbox, "salesforce", as_of=ANCHOR + timedelta(hours=2), **sections)
    [report] = pull(first_sync)  # not the weekly full pass: the deletes read from the backfill on
    assert not report.full_pass and report.deleted == 1
    assert gone not in {r["crm_id"] for r in first_sync.store.rows("contacts", include_deleted=False)}
    first_sync.close()
