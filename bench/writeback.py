"""Write-back benchmark: CRM calls for 10,000 tasks and 100,000 account-field updates against the
batch-size minimum, and the calls of a cycle in which nothing changed (target: 0).

    python -m bench.writeback --system salesforce       # ⌈W/200⌉: sObject Collections
    python -m bench.writeback --system hubspot          # ⌈W/100⌉: batch create / update
    python -m bench.writeback --system hubspot --scale 0.1

The sandbox runs in its own process (``bench.serve --accounts-only``). The accounts are pulled
through the real streams first (their own calls are not counted as writes); then the planner
(``rules.plan.plan_changes``) decides and ``sync.writeback.apply_plan`` writes, exactly as a cycle
does. Calls are the HTTP requests the client libraries made, counted by the clients.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from core.records import Action
from rules.plan import CrmState, TaskRule, WritePolicy, desired_fields, plan_changes
from rules.playbooks import Playbook
from sync.runner import Context, connect_crm, connect_usage, owned_fields, pull_all
from sync.settings import parse_settings
from sync.store import Store
from sync.writeback import apply_plan

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
BATCH = {"salesforce": 200, "hubspot": 100}
RULE = TaskRule(
    id="seats-near-limit",
    kind="upsell",
    signal="S5",
    title="Seats near the plan limit",
    priority="high",
    due_in_days=3,
    window="month",
    playbook=Playbook(id="seat-expansion", title="Seat expansion", url="https://playbooks.example.com/seat-expansion"),
    hash="bench",
)


def crm_calls(ctx: Context) -> int:
    crm = ctx.crm.client  # type: ignore[attr-defined]
    return int(crm.budget.calls if hasattr(crm, "budget") else crm.calls)


def config(system: str, info: dict[str, Any]) -> dict[str, Any]:
    urls = info["urls"]
    return {
        "upsync": {"crm": system},
        "retry": {"initial_seconds": 0.5, "max_seconds": 10},
        "salesforce": {
            "instance_url": urls["salesforce"],
            "ca_file": info["ca"],
            "objects": ["users", "accounts"],
            "write_reserve_share": 0.5,
            "run_quota_share": 1.0,
            "org_quota_share": 1.0,
        },
        "hubspot": {
            "base_url": urls["hubspot"],
            "ca_file": info["ca"],
            "objects": ["owners", "companies"],
            "requests_per_10s": 1000,
            "throttle_share": 1.0,
        },
        "usage": {"base_url": urls["usage"], "ca_file": info["ca"], "page_size": 1000},
        "writeback": {"owner_weekly_budget": 1_000_000},
    }


def actions(system: str, accounts: list[dict[str, Any]], n: int) -> list[Action]:
    return [
        Action(
            system=system,  # type: ignore[arg-type]
            account_id=a["crm_id"],
            account_name=a["name"] or "",
            rule_id=RULE.id,
            kind="upsell",
            owner_id=a["owner_id"],
            owner_note="the account owner",
            role="account_owner",
            lifecycle="expansion",
            value=1000.0 + i,
            score=1000.0 + i,
            subject=f"Seats at {80 + i % 20}% of plan: propose more seats",
            reasons=(f"{8 + i % 2} of 10 seats in use",),
            evidence={"seats_used": 8 + i % 2, "seat_limit": 10},
        )
        for i, a in enumerate(accounts[:n])
    ]


def measure(
    ctx: Context, acts: list[Action], health: list[dict[str, Any]], *, fields: bool, now: datetime
) -> dict[str, Any]:
    """Plan from the store's view of the CRM (after a pull) and apply; calls and seconds."""
    system = ctx.crm.system
    ledger = ctx.store.ledger(system)
    state = CrmState(
        tasks=ctx.store.own_tasks(system),
        accounts=ctx.store.account_states(system) if fields else {},
        fields=ctx.store.field_memos(system) if fields else {},
    )
    by_account = {a.account_id: a for a in acts}
    desired = desired_fields(health, by_account, {RULE.id: RULE}, {}, as_of=now) if fields else {}
    policy = WritePolicy(fields=fields, owned_fields=owned_fields(ctx.settings), owner_weekly_budget=1_000_000)
    began = time.monotonic()
    plan = plan_changes(
        acts,
        {RULE.id: RULE},
        ledger,
        state,
        system=system,
        as_of=now,
        policy=policy,
        firing={(a.account_id, a.rule_id) for a in acts},
        desired=desired,
    )
    planned = time.monotonic() - began
    before = crm_calls(ctx)
    report = apply_plan(ctx.store, ctx.crm.writer, plan, ledger, clock=lambda: now)
    return {
        "tasks": len(plan.creates),
        "field_writes": len(plan.fields),
        "created": report.created,
        "fields": report.fields,
        "failed": report.failed,
        "errors": report.errors[:3],
        "calls": crm_calls(ctx) - before,
        "plan_seconds": round(planned, 2),
        "seconds": round(time.monotonic() - began, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=("salesforce", "hubspot"), required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 accounts / 10,000 tasks")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    n_accounts = max(1, round(100_000 * args.scale))
    n_tasks = max(1, round(10_000 * args.scale))

    with tempfile.TemporaryDirectory(prefix="upsync-bench-") as tmp:
        scale = n_accounts / 100_000
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.serve",
                "--system",
                args.system,
                "--scale",
                str(scale),
                "--accounts-only",
                "--ca",
                str(Path(tmp) / "ca.pem"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert serve.stdout is not None and serve.stdin is not None
        info = json.loads(serve.stdout.readline())
        env = {f"{k.upper()}_TOKEN": v for k, v in info["tokens"].items()}
        settings = parse_settings(config(args.system, info), env)
        clock = [ANCHOR + timedelta(minutes=1)]
        ctx = Context(
            settings=settings,
            store=Store.open(str(Path(tmp) / "state.db")),
            crm=connect_crm(settings, env),
            usage=connect_usage(settings, env),
            clock=lambda: clock[0],
        )
        system = args.system
        try:
            crm_only = {"only": lambda name: name.startswith(f"{system}.")}
            pull_all(ctx, as_of=clock[0], **crm_only)  # type: ignore[arg-type]
            accounts = sorted(ctx.store.rows("accounts", system=system), key=lambda r: str(r["crm_id"]))
            health = [
                {
                    "account": a["crm_id"],
                    "health_score": 40 + (i * 7) % 60,
                    "health_band": ("red", "yellow", "green")[i % 3],
                }
                for i, a in enumerate(accounts)
            ]
            active = {o["crm_id"] for o in ctx.store.rows("owners", system=system) if o["active"]}
            acts = actions(system, [a for a in accounts if a["owner_id"] in active], n_tasks)
            tasks = measure(ctx, acts, health, fields=False, now=clock[0])
            clock[0] += timedelta(minutes=5)
            fields = measure(ctx, acts, health, fields=True, now=clock[0])
            clock[0] += timedelta(minutes=5)
            pull_all(ctx, as_of=clock[0], **crm_only)  # type: ignore[arg-type]  # reads upsync's values back
            clock[0] += timedelta(minutes=5)
            unchanged = measure(ctx, acts, health, fields=True, now=clock[0])
        finally:
            ctx.close()
            serve.stdin.close()
            serve.wait(timeout=60)
    batch = BATCH[system]
    figures = {
        "system": system,
        "accounts": n_accounts,
        "tasks": {**tasks, "minimum_calls": math.ceil(tasks["tasks"] / batch)},
        "fields": {**fields, "minimum_calls": math.ceil(fields["field_writes"] / batch)},
        "nothing_changed": unchanged,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    for part in ("tasks", "fields"):
        f = figures[part]
        f["calls_vs_minimum"] = round(f["calls"] / max(1, f["minimum_calls"]), 3)  # type: ignore[index]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
