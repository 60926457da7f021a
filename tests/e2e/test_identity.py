"""Accounts map to product workspaces by a CRM field, else by domain; unmatched ones are listed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sandbox.server import Fault, Sandbox
from sync.runner import evaluate_now, pull_all
from tests.conftest import ANCHOR, make_context, sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e


def test_an_account_without_a_workspace_id_is_matched_by_domain_and_the_rest_are_listed(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    accounts = sandbox.world.salesforce.objects["Account"]
    by_domain, orphan = list(accounts.values())[:2]
    by_domain_ws, by_domain["Workspace_Id__c"] = by_domain["Workspace_Id__c"], None
    orphan["Workspace_Id__c"] = None
    domain = by_domain["Website"].split("://", 1)[1].removeprefix("www.")
    sandbox.usage.faults.add(
        Fault(
            path=r"/v1/workspaces",
            status=200,
            body={"data": [{"id": by_domain_ws, "name": by_domain["Name"], "domain": domain}], "next_cursor": None},
        )
    )
    ctx = make_context(tmp_path, sandbox, "salesforce", usage='workspaces_path = "/v1/workspaces"')
    reports = pull_all(ctx, as_of=ANCHOR)
    assert not [r.error for r in reports if r.error]
    features = evaluate_now(ctx.store, "salesforce", ctx.ruleset, as_of=ANCHOR).features
    rows = {r["account"]: r for r in features.select("account", "workspace_id", "seats_used").to_dicts()}
    assert rows[by_domain["Id"]]["workspace_id"] == by_domain_ws  # matched by domain
    assert rows[by_domain["Id"]]["seats_used"] is not None
    assert rows[orphan["Id"]]["workspace_id"] is None
    unmatched = {crm_id for crm_id, _name, _ws in ctx.store.unmatched_accounts("salesforce")}
    assert orphan["Id"] in unmatched and by_domain["Id"] not in unmatched
    with_usage = {r["workspace_id"] for r in sandbox.world.usage.rows}
    no_product = {a["Id"] for a in accounts.values() if a["Workspace_Id__c"] not in with_usage} - {by_domain["Id"]}
    assert unmatched == no_product  # every account the product cannot see is listed, none dropped
    ctx.close()

    config = write_config(tmp_path, sandbox, "salesforce")
    env = sandbox_env(sandbox)
    state = str(tmp_path / "state-salesforce.db")
    status = subprocess.run(
        upsync_cmd("status", "--config", str(config), "--state", state), env=env, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert f"{len(unmatched)} accounts with no usage data" in status.stdout and orphan["Name"] in status.stdout


def test_a_usage_export_imports_and_bad_lines_are_named(tmp_path: Path) -> None:
    export = tmp_path / "usage.ndjson"
    good = {"workspace_id": "ws-1", "date": "2026-01-05", "updated_at": "2026-01-06T00:00:00Z", "seats_used": 9}
    lines = [json.dumps(good), json.dumps({**good, "date": "2026-01-06", "seats_used": "many"}), "{not json"]
    export.write_text("\n".join(lines) + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        '[upsync]\ncrm = "hubspot"\n[hubspot]\ntoken_env = "HS"\n[usage]\nbase_url = "https://usage.example.com"\n'
    )
    env = dict(os.environ, HS="x", USAGE_TOKEN="y")
    state = tmp_path / "state.db"
    result = subprocess.run(
        upsync_cmd("import-usage", str(export), "--config", str(config), "--state", str(state)),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "imported 1 usage rows from usage.ndjson; 2 lines skipped" in " ".join(result.stdout.split())
    assert "usage.ndjson:2: ValueError" in result.stderr and "usage.ndjson:3:" in result.stderr


def _import_usage(tmp_path: Path, export: Path) -> subprocess.CompletedProcess[str]:
    """``upsync import-usage EXPORT`` with a CRM-and-usage config of its own and a fresh state."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[upsync]\ncrm = "hubspot"\n[hubspot]\ntoken_env = "HS"\n[usage]\nbase_url = "https://usage.example.com"\n'
    )
    return subprocess.run(
        upsync_cmd("import-usage", str(export), "--config", str(config), "--state", str(tmp_path / "s.db")),
        env=dict(os.environ, HS="x", USAGE_TOKEN="y"),
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("suffix", [".ndjson", ".csv"])
def test_stray_bytes_and_non_finite_numbers_in_an_export_cost_their_line_only(tmp_path: Path, suffix: str) -> None:
    export = tmp_path / f"usage{suffix}"
    rows = [
        ("ws-1", "2026-01-05", "9", "1.5"),
        ("ws-2", "2026-01-05", "Infinity", "1"),
        ("ws-3", "2026-01-05", "3", "NaN"),
        ("ws-4", "2026-01-05", "-Infinity", "1"),
        ("ws-5\xff", "2026-01-05", "4", "1"),  # \xff: a Latin-1 byte in a UTF-8 file
        ("ws-6", "2026-01-06", "5", "2"),
    ]
    if suffix == ".csv":
        text = "workspace_id,date,updated_at,seats_used,storage_used_gb\n" + "".join(
            f"{ws},{day},2026-01-06T00:00:00Z,{seats},{gb}\n" for ws, day, seats, gb in rows
        )
    else:  # Python's json writes Infinity/NaN bare, as some exporters do
        text = "".join(
            f'{{"workspace_id": "{ws}", "date": "{day}", "updated_at": "2026-01-06T00:00:00Z", '
            f'"seats_used": {seats}, "storage_used_gb": {gb}}}\n'
            for ws, day, seats, gb in rows
        )
    export.write_bytes(text.encode("utf-8").replace("\xff".encode(), b"\xff"))
    result = _import_usage(tmp_path, export)
    assert result.returncode == 0, result.stderr
    assert f"imported 2 usage rows from usage{suffix}; 4 lines skipped" in " ".join(result.stdout.split())
    skipped = " ".join(result.stderr.split())
    first = 2 if suffix == ".csv" else 1  # the CSV's header is line 1
    for line in (first + 1, first + 2, first + 3):
        assert f"usage{suffix}:{line}: ValueError" in skipped and "finite" in skipped, skipped
    assert f"usage{suffix}:{first + 4}: ValueError: byte 0xff is not UTF-8" in skipped, skipped


def test_an_export_line_without_its_update_time_or_from_the_future_is_named_and_skipped(tmp_path: Path) -> None:
    export = tmp_path / "usage.ndjson"
    good = {"workspace_id": "ws-1", "date": "2026-01-05", "updated_at": "2026-01-06T00:00:00Z", "seats_used": 9}
    stamp_missing = {k: v for k, v in good.items() if k != "updated_at"}
    lines = [good, {**stamp_missing, "workspace_id": "ws-2"}, {**good, "workspace_id": "ws-3", "date": "2999-01-01"}]
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = _import_usage(tmp_path, export)
    assert result.returncode == 0, result.stderr
    assert "imported 1 usage rows from usage.ndjson; 2 lines skipped" in " ".join(result.stdout.split())
    skipped = " ".join(result.stderr.split())
    assert "usage.ndjson:2: ValueError: updated_at at 'updated_at' is not a date-time: None" in skipped, skipped
    assert "usage.ndjson: ws-3|2999-01-01: the day is in the future" in skipped, skipped
