"""The shipped rules over a real pull of the sandbox world: each signal finds the accounts whose story
it is; `upsync explain` and `upsync backtest` read the same store; a bad rule set never starts."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sandbox.server import Sandbox
from sync.runner import evaluate_now, fill_health_history, pull_all
from sync.settings import load_settings
from tests.conftest import ANCHOR, make_context, sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

STORY = {
    # rule → the world's stories it must find (every account dealt them)
    "seats-near-limit": ["seats_near_limit"],
    "capacity-near-limit": ["storage_near_limit", "api_near_limit"],
    "high-weekly-usage": ["wau_rising"],
    "premium-interest": ["premium_interest"],
    "pricing-page-visit": ["premium_interest"],
    "stakeholder-growth": ["stakeholder_growth"],
    "renewal-approaching": ["renewal_due"],
    "integrations-spreading": ["new_integration"],
    "onboarding-complete": ["onboarded"],
    "dormant-account": ["dormant"],
    "co-purchase": ["co_purchase_target"],
    "group-expansion": ["group_child_without_contract"],
    "business-review-due": ["qbr_due"],
    "churn-risk": ["churn_risk"],
}
EXACT = {"seats-near-limit", "capacity-near-limit", "premium-interest", "renewal-approaching", "group-expansion"}
"""Rules whose story is the only way the world makes them true: they find it and nothing else."""


def bundled_config(tmp_path: Path, sb: Sandbox, crm: str) -> Path:
    """The shipped config.toml, pointed at this sandbox and CRM."""
    test_config = write_config(tmp_path, sb, crm).read_text()
    sections = test_config.split("[[playbooks]]")[0]
    shipped = (ROOT / "config.toml").read_text()
    rules_part = shipped[shipped.index("# --- what the rules see") :]
    path = tmp_path / f"bundled-{crm}.toml"
    path.write_text(sections + rules_part)
    return path


@pytest.fixture(params=["salesforce", "hubspot"])
def pulled(request: pytest.FixtureRequest, tmp_path: Path, sandbox: Sandbox) -> Iterator[tuple[str, Path, Any]]:
    crm = request.param
    config = bundled_config(tmp_path, sandbox, crm)
    ctx = make_context(tmp_path, sandbox, crm)
    ctx.settings = load_settings(config, sandbox_env(sandbox))
    reports = pull_all(ctx, as_of=ANCHOR)
    assert not [r.error for r in reports if r.error]
    fill_health_history(ctx.store, crm, ctx.ruleset, as_of=ANCHOR)
    yield crm, config, ctx
    ctx.close()


def accounts_of(sb: Sandbox, crm: str, stories: list[str]) -> set[str]:
    keys = sb.world.account_keys
    return {
        keys[n].salesforce_id if crm == "salesforce" else keys[n].hubspot_id
        for story in stories
        for n in sb.world.stories[story]
    }


def test_each_shipped_rule_finds_the_accounts_whose_story_it_is(
    pulled: tuple[str, Path, Any], sandbox: Sandbox
) -> None:
    crm, _config, ctx = pulled
    evaluation = evaluate_now(ctx.store, crm, ctx.ruleset, as_of=ANCHOR)
    fired = evaluation.signals.group_by("rule_id").agg(pl.col("account")).to_dicts()
    by_rule = {r["rule_id"]: set(r["account"]) for r in fired}
    for rule_id, stories in STORY.items():
        want = accounts_of(sandbox, crm, stories)
        missing = want - by_rule.get(rule_id, set())
        assert not missing, f"{rule_id} missed {len(missing)} of {len(want)} accounts of {stories}"
        if rule_id in EXACT:
            assert by_rule[rule_id] == want, f"{rule_id} also fired on {sorted(by_rule[rule_id] - want)[:5]}"


def test_guards_hold_back_the_storied_accounts_they_are_for(pulled: tuple[str, Path, Any], sandbox: Sandbox) -> None:
    crm, _config, ctx = pulled
    evaluation = evaluate_now(ctx.store, crm, ctx.ruleset, as_of=ANCHOR)
    seats = evaluation.signals.filter(pl.col("rule_id") == "seats-near-limit").to_dicts()
    held = {r["account"]: set(r["blocked"]) for r in seats}
    for story, guard in (("do_not_contact", "G6"), ("open_escalation", "G5"), ("detractor", "G1")):
        for account in accounts_of(sandbox, crm, [story]):
            assert guard in held[account], f"{story} account {account} not held back by {guard}"
    standing = {a for a, guards in held.items() if not guards}
    assert standing  # and some stand: the world is not all blocked


def test_explain_and_backtest_read_the_store_and_write_nothing(pulled: tuple[str, Path, Any], sandbox: Sandbox) -> None:
    crm, config, ctx = pulled
    state = ctx.store.engine.url.database
    env = sandbox_env(sandbox)
    account = next(
        iter(accounts_of(sandbox, crm, ["seats_near_limit"]) - accounts_of(sandbox, crm, ["do_not_contact"]))
    )
    before = ctx.store.counts()
    explained = subprocess.run(
        upsync_cmd(
            "explain", account, "--config", str(config), "--state", state, "--as-of", ANCHOR.isoformat(), "--json"
        ),
        env=env,
        capture_output=True,
        text=True,
    )
    assert explained.returncode == 0, explained.stderr
    result = json.loads(explained.stdout)
    assert result["account_id"] == account
    verdicts = {r["rule_id"]: r for r in result["rules"]}
    assert verdicts["seats-near-limit"]["fired"] is True
    assert ["seat_utilisation >= 80%", True] in verdicts["seats-near-limit"]["checks"]
    assert len(verdicts) == 19
    tables = subprocess.run(
        upsync_cmd("explain", account, "--config", str(config), "--state", state, "--as-of", ANCHOR.isoformat()),
        env=env,
        capture_output=True,
        text=True,
    )
    assert tables.returncode == 0 and "seats-near-limit" in tables.stdout and "seat_utilisation" in tables.stdout

    replay = subprocess.run(
        upsync_cmd(
            "backtest",
            "--from",
            "2026-05-25",
            "--to",
            "2026-05-31",
            "--config",
            str(config),
            "--state",
            state,
            "--json",
        ),
        env=env,
        capture_output=True,
        text=True,
    )
    assert replay.returncode == 0, replay.stderr
    weeks = json.loads(replay.stdout)["weeks"]
    assert {w["week"] for w in weeks} == {"2026-W22"}
    assert any(w["rule_id"] == "seats-near-limit" and w["fired"] > 0 for w in weeks)
    assert ctx.store.counts() == before
    assert ctx.store.ledger(crm) == {}


def test_explain_names_an_unknown_or_ambiguous_account_with_a_hint(pulled: tuple[str, Path, Any]) -> None:
    crm, config, ctx = pulled
    state = ctx.store.engine.url.database
    env = dict(os.environ, SALESFORCE_TOKEN="x", HUBSPOT_TOKEN="x", USAGE_TOKEN="y")
    for query, message in (("no-such-account", "no " + crm + " account matches"), ("Group", "accounts match 'Group'")):
        result = subprocess.run(
            upsync_cmd("explain", query, "--config", str(config), "--state", state),
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2
        assert message in result.stderr and "hint:" in result.stderr


def test_the_daemon_does_not_start_with_a_bad_rule(tmp_path: Path, sandbox: Sandbox) -> None:
    config = bundled_config(tmp_path, sandbox, "hubspot")
    config.write_text(
        config.read_text().replace('when = "seat_utilisation >= 80%"', 'when = "seat_utilization >= 80%"')
    )
    state = tmp_path / "daemon.db"
    result = subprocess.run(
        upsync_cmd("run", "--config", str(config), "--state", str(state)),
        env=sandbox_env(sandbox),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "rules[0] (seats-near-limit).when: unknown feature 'seat_utilization'" in " ".join(result.stderr.split())
    assert not state.exists()  # refused before opening anything
    assert sandbox.services["hubspot"].calls(None, r"/crm/") == 0


def test_a_cycle_keeps_health_and_the_signal_log_and_status_shows_them(
    pulled: tuple[str, Path, Any], sandbox: Sandbox
) -> None:
    from sync.runner import run_cycle

    crm, config, ctx = pulled
    ctx.dry_run = True
    report = run_cycle(ctx)
    assert report.applied is None and report.signals > report.blocked > 0 and report.actions
    log = ctx.store.signal_log(crm)
    fired = {(r["account_id"], r["rule_id"]) for r in log if r["last_fired_on"] == ANCHOR.date()}
    held = {(r["account_id"], r["rule_id"]) for r in log if r["blocked_by"]}
    assert len(fired) + len(held) == report.signals
    state = ctx.store.engine.url.database
    status = subprocess.run(
        upsync_cmd("status", "--config", str(config), "--state", state),
        env=sandbox_env(sandbox),
        capture_output=True,
        text=True,
    )
    assert status.returncode == 0, status.stderr
    assert f"health on {ANCHOR.date()}:" in status.stdout and "signals (signal log)" in status.stdout
    assert "seats-near-limit" in status.stdout


def test_status_shows_when_each_source_and_stream_last_pulled_and_how_old_that_is(
    pulled: tuple[str, Path, Any], sandbox: Sandbox
) -> None:
    crm, config, ctx = pulled
    state = ctx.store.engine.url.database

    def status(as_of: datetime) -> str:
        cmd = upsync_cmd("status", "--config", str(config), "--state", state, "--as-of", as_of.isoformat())
        done = subprocess.run(cmd, env=sandbox_env(sandbox), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return " ".join(done.stdout.replace("│", " ").split())

    pulled_at = f"{ANCHOR:%Y-%m-%d %H:%M} UTC"
    soon = status(ANCHOR + timedelta(hours=3, minutes=20))
    assert f"{crm} {pulled_at} 3 h 20 min fresh" in soon
    accounts = {"salesforce": "accounts", "hubspot": "companies"}[crm]
    assert f"{crm}.{accounts} {pulled_at} 3 h 20 min fresh" in soon
    assert f"usage.daily {pulled_at} 3 h 20 min fresh" in soon
    late = status(ANCHOR + timedelta(days=3))  # [breaker] stale_after_hours defaults to 48
    assert f"{crm} {pulled_at} 3 d 0 h stale (older than 2 d 0 h)" in late
