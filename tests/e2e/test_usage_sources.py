"""Each usage API shape read by config alone: the worked configs of README's "Usage sources",
through the real client (httpx over HTTPS) against the stand-in's three shapes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.columns import domain_of
from connectors.usage.streams import METRICS  # every canonical usage metric: each one compared
from sandbox.server import Sandbox, start_sandbox
from sandbox.world import build_world
from sync.runner import pull_all
from tests.conftest import ANCHOR, make_context, sandbox_env, upsync_cmd
from tests.e2e.expect import readme_usage

pytestmark = pytest.mark.e2e


FLAT = readme_usage("Flat items, one endpoint, by modification time")
PER_ACCOUNT = readme_usage("Per account, by day window")
PAGES = readme_usage("Pages and offsets with totals")


@pytest.fixture
def sb(tmp_path: Path) -> Iterator[Sandbox]:
    world = build_world(seed=5, accounts=40, anchor=ANCHOR)
    with start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem") as sandbox:
        yield sandbox


def pull_usage(ctx: Any) -> dict[str, Any]:
    reports = {r.stream: r for r in pull_all(ctx, as_of=ctx.clock(), only=lambda n: n.startswith("usage."))}
    for report in reports.values():
        assert report.error is None, report.error
        assert not report.problems, report.problems[:3]
    return reports


def stored(ctx: Any) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r["workspace_id"], r["day"].isoformat()): tuple(r[m] for m in METRICS) for r in ctx.store.rows("usage_daily")
    }


def world(sb: Sandbox, *, since: str = "") -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r["workspace_id"], r["date"]): tuple(r.get(m) for m in METRICS)
        for r in sb.world.usage.rows
        if r["date"] >= since
    }


def identities(sb: Sandbox) -> dict[str, str]:
    """Workspace → the domain of the CRM account behind it, as the stand-in's lists carry it."""
    accounts = sb.world.salesforce.table("Account")
    return {
        k.workspace_id: str(domain_of(accounts[k.salesforce_id]["Website"]))
        for k in sb.world.account_keys
        if k.workspace_id
    }


def gets(sb: Sandbox, pattern: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in sb.usage.requests if r.method == "GET" and re.search(pattern, r.path)]


def test_flat_items_by_modification_time(tmp_path: Path, sb: Sandbox) -> None:
    ctx = make_context(tmp_path, sb, "hubspot", usage=FLAT)
    pull_usage(ctx)
    assert stored(ctx) == world(sb)
    rows = len(list(sb.world.usage.rows))
    assert ctx.usage.client.calls == 1 + -(-rows // 1000)  # the workspace list, then the rows at 1000 a page
    ctx.close()


def test_per_account_metrics_by_day_window(tmp_path: Path, sb: Sandbox) -> None:
    ctx = make_context(tmp_path, sb, "hubspot", usage=PER_ACCOUNT)
    reports = pull_usage(ctx)
    assert stored(ctx) == world(sb)
    # identity under other names, mapped by config: the domain fallback has what it needs
    domains = {r["workspace_id"]: r["domain"] for r in ctx.store.rows("workspaces")}
    assert {ws: d for ws, d in domains.items() if ws in identities(sb)} == identities(sb)
    # the minimum: the list at 25 a page, then per account one call per page of 31 days
    workspaces = {r["workspace_id"] for r in sb.world.usage.rows}
    days = {ws: len({r["date"] for r in sb.world.usage.rows if r["workspace_id"] == ws}) for ws in workspaces}
    minimum = -(-len(workspaces) // 25) + sum(-(-n // 31) for n in days.values())
    assert sb.usage.calls("GET", r"^/v2/") == ctx.usage.client.calls == minimum
    assert reports["usage.daily"].records == len(list(sb.world.usage.rows))
    # complete days only, from the first read's start to the day before as_of's day
    first = gets(sb, r"/metrics$")[0]
    assert first["from"] == ["2000-01-01"] and first["to"] == [(ANCHOR.date() - timedelta(days=1)).isoformat()]

    # the next day: exactly the two lookback days are read again, and the new one
    sb.usage.requests.clear()
    before = ctx.usage.client.calls
    late = next(r for r in sb.world.usage.rows if r["date"] == "2026-05-30")
    late["seats_used"] += 1  # a late correction inside the lookback is picked up
    next_day = ANCHOR + timedelta(days=1)
    ctx.clock = lambda: next_day
    reports = pull_usage(ctx)
    asked = gets(sb, r"/metrics$")
    assert {(q["from"][0], q["to"][0]) for q in asked} == {("2026-05-30", "2026-06-01")}  # 2 lookback days + 1 new
    assert len(asked) == len(workspaces) and ctx.usage.client.calls - before == len(workspaces) + 2
    assert reports["usage.daily"].records == len(workspaces) * 2
    assert stored(ctx) == world(sb)
    ctx.close()


def test_a_killed_day_window_read_skips_no_day_and_stores_none_twice(tmp_path: Path, sb: Sandbox) -> None:
    from sandbox.server import Fault

    ctx = make_context(tmp_path, sb, "hubspot", usage=PER_ACCOUNT)
    attempts = ctx.settings.retry.attempts
    sb.usage.faults.add(Fault(path=r"/v2/accounts/ws-00020/metrics", status=503, times=attempts))
    report = pull_all(ctx, as_of=ctx.clock(), only=lambda n: n == "usage.daily")[0]
    assert report.error is not None  # stopped half-way through the fan-out
    assert ctx.store.cursor("usage.daily") is None  # the cursor did not move past unread accounts
    [again] = pull_all(ctx, as_of=ctx.clock(), only=lambda n: n == "usage.daily")
    assert again.error is None
    assert stored(ctx) == world(sb)
    assert len(ctx.store.rows("usage_daily")) == len(list(sb.world.usage.rows))
    ctx.close()


def test_pages_and_offsets_with_totals_then_only_new_rows(tmp_path: Path, sb: Sandbox) -> None:
    ctx = make_context(tmp_path, sb, "hubspot", usage=PAGES)
    pull_usage(ctx)
    assert stored(ctx) == world(sb)
    rows = len(list(sb.world.usage.rows))
    workspaces = len({r["workspace_id"] for r in sb.world.usage.rows})
    assert ctx.usage.client.calls == -(-workspaces // 100) + -(-rows // 200)
    domains = {r["workspace_id"]: r["domain"] for r in ctx.store.rows("workspaces")}
    assert {ws: d for ws, d in domains.items() if ws in identities(sb)} == identities(sb)

    # new rows written after the first read: the second read asks from the cursor (less the
    # lookback) and reads the new rows, not the history
    last = max(r["updated_at"] for r in sb.world.usage.rows)
    base = next(iter(sb.world.usage.rows))
    new = [
        {**base, "workspace_id": f"ws-{n:05d}", "date": "2026-06-01", "updated_at": "2026-06-01T11:30:00Z"}
        for n in range(1, 6)
    ]
    sb.world.usage.rows.extend(new)
    before = ctx.usage.client.calls
    reports = pull_usage(ctx)
    overlap = sum(1 for r in sb.world.usage.rows if "2026-06-01T02:50:00Z" <= r["updated_at"] <= last)
    assert reports["usage.daily"].records == len(new) + overlap
    assert reports["usage.daily"].records < 50
    assert ctx.usage.client.calls - before == 1 + 1
    assert stored(ctx) == world(sb)
    ctx.close()


def test_status_names_the_workspaces_that_match_no_crm_account(tmp_path: Path, sb: Sandbox) -> None:
    ctx = make_context(tmp_path, sb, "hubspot", usage=PER_ACCOUNT)
    pull_all(ctx, as_of=ctx.clock())
    matched = set(identities(sb))
    expected = sorted({r["workspace_id"] for r in sb.world.usage.rows} - matched)
    assert expected  # the world has workspaces nobody bought (trials, internal)
    assert ctx.store.unmatched_workspaces("hubspot") == expected
    ctx.close()
    shown = subprocess.run(
        upsync_cmd("status", "--config", str(tmp_path / "config-hubspot.toml")),
        env=sandbox_env(sb),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert f"{len(expected)} workspaces with usage match no CRM account: {', '.join(expected[:5])}" in " ".join(
        shown.split()
    )


def test_a_429_with_an_http_date_is_waited_out(tmp_path: Path) -> None:
    from sandbox.usage import UsageStyle

    world_ = build_world(seed=5, accounts=40, anchor=ANCHOR)
    with start_sandbox(world_, ca_path=tmp_path / "ca.pem", usage_style=UsageStyle(rate_limit_per_second=3)) as sb:
        ctx = make_context(tmp_path, sb, "hubspot", usage=PAGES)
        pull_usage(ctx)
        assert stored(ctx) == world(sb)
        minimum = 1 + -(-len(list(sb.world.usage.rows)) // 200)
        assert sb.usage.calls("GET", r"^/api/v3/") > minimum  # some were refused (429), waited out and asked again
        ctx.close()
