"""`upsync report` over a state.db a real cycle against the sandbox wrote: the funnel's task counts
are the ledger's confirmed tasks, rule by rule, and its fired counts the signal log's."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.server import Sandbox
from tests.conftest import ANCHOR, sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e


def _confirmed_by_rule(db: Path, since: str) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT rule_id FROM ledger WHERE state = 'confirmed' AND substr(created_at, 1, 10) >= ?", (since,)
        ).fetchall()
    return Counter(r[0] for r in rows)


def _make_sure_there_are_tasks(db: Path, crm: str) -> None:
    """The planner may hold every task back on a first run (flood guard): then write two confirmed
    tasks into the ledger by hand, on accounts the signal log has, so the report has something to count."""
    if _confirmed_by_rule(db, "0000").total():
        return
    stamp = ANCHOR.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    with sqlite3.connect(db) as conn:
        fired = conn.execute("SELECT account_id, rule_id FROM signal_log ORDER BY account_id LIMIT 2").fetchall()
        assert fired, "the cycle logged no signal at all"
        for n, (account, rule) in enumerate(fired):
            conn.execute(
                'INSERT INTO ledger (key, system, rule_id, account_id, "window", state, crm_id, attempts,'
                " created_at, updated_at) VALUES (?, ?, ?, ?, '2026-06', 'confirmed', ?, 1, ?, ?)",
                (f"test-{n}", crm, rule, account, f"crm-{n}", stamp, stamp),
            )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_report_json_counts_the_ledgers_confirmed_tasks_per_rule(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    config = write_config(tmp_path, sandbox, crm)
    env = sandbox_env(sandbox)
    db = tmp_path / f"state-{crm}.db"
    for at in (ANCHOR, ANCHOR + timedelta(hours=1)):  # a second run, should the first hold its tasks back
        cycle = subprocess.run(
            upsync_cmd("sync", "--once", "--config", str(config), "--as-of", at.isoformat()),
            env=env,
            capture_output=True,
            text=True,
        )
        assert cycle.returncode in (0, 1), cycle.stdout + cycle.stderr  # 1: a step reported errors, not a bug
    _make_sure_there_are_tasks(db, crm)
    as_of = (ANCHOR + timedelta(hours=2)).isoformat()

    result = subprocess.run(
        upsync_cmd("report", "--json", "--config", str(config), "--as-of", as_of),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["from"], report["to"]) == ((ANCHOR - timedelta(days=89)).date().isoformat(), "2026-06-01")

    rows = {r["rule_id"]: r for r in report["rules"]}
    assert "seats-near-limit" in rows  # configured rules are always listed
    ledger = _confirmed_by_rule(db, report["from"])
    assert {rule: r["tasks"] for rule, r in rows.items() if r["tasks"]} == dict(ledger)
    assert report["total"]["tasks"] == ledger.total()
    for r in rows.values():
        assert r["completed"] + r["declined"] + r["withdrawn"] + r["open"] == r["tasks"]

    with sqlite3.connect(db) as conn:
        fired = Counter(
            rule
            for (rule,) in conn.execute(
                "SELECT rule_id FROM signal_log WHERE last_fired_on IS NOT NULL AND last_fired_on >= ?",
                (report["from"],),
            )
        )
    assert {rule: r["fired"] for rule, r in rows.items() if r["fired"]} == dict(fired)
    m11 = report["overselling"]
    assert m11["tasks"] == ledger.total()
    assert m11["tasks_per_account_month_max"] >= 1

    table = subprocess.run(
        upsync_cmd("report", "--config", str(config), "--as-of", as_of),
        env=env,
        capture_output=True,
        text=True,
    )
    assert table.returncode == 0, table.stderr
    assert "TOTAL" in table.stdout and "M11 over-selling" in table.stdout


def test_report_rejects_a_period_that_ends_before_it_starts(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    result = subprocess.run(
        upsync_cmd("report", "--config", str(config), "--from", "2026-05-01", "--to", "2026-04-01"),
        env=sandbox_env(sandbox),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--to is before --from" in result.stderr
