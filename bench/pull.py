"""Pull benchmark: API calls against the page-size minimum, wall time and peak RSS of a full pull.

    python -m bench.pull --system hubspot               # 100k accounts, 300k contracts + deals,
    python -m bench.pull --system salesforce            # 1M activities, 3M usage rows
    python -m bench.pull --system hubspot --limit       # with HubSpot's 100 requests / 10 s on
    python -m bench.pull --system hubspot --scale 0.05  # a quick run at 5% of the volumes

The sandbox runs in its own process (``bench.serve``): the peak RSS reported is upsync's alone.
Three measurements: the initial pull of everything, a second cycle with nothing changed (calls
per object), and, with ``--limit``, wall time against the limit-bound minimum.
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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sync.runner import Context, connect_crm, connect_usage, pull_all
from sync.settings import parse_settings
from sync.store import Store

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
SF_OBJECTS = {
    "users": "User",
    "accounts": "Account",
    "contracts": "Contract",
    "opportunities": "Opportunity",
    "products": "Product2",
    "line_items": "OpportunityLineItem",
    "assets": "Asset",
    "contacts": "Contact",
    "tasks": "Task",
    "events": "Event",
    "cases": "Case",
}
HS_ASSOCIATIONS = {  # object type → association types read per record (connectors/hubspot/streams.py)
    "companies": 1,
    "contacts": 1,
    "deals": 1,
    "products": 0,
    "line_items": 1,
    "tickets": 2,
    "tasks": 2,
    "calls": 2,
    "meetings": 2,
    "emails": 2,
    "notes": 2,
}


@dataclass
class Run:
    seconds: float
    crm_seconds: float
    crm_calls: int
    calls: int
    records: int
    per_stream: dict[str, int]


def minimum_calls(system: str, info: dict[str, Any], *, bulk_threshold: int, usage_page: int) -> int:
    """The fewest calls the APIs' page and batch sizes allow for this world."""
    counts = info["counts"]
    calls = math.ceil(info["usage_rows"] / usage_page)
    if system == "salesforce":
        for sobject in SF_OBJECTS.values():
            n = counts.get(sobject, 0)
            # REST: 2,000 a page; Bulk 2.0: create, one poll, 50,000-row chunks, delete
            calls += max(1, math.ceil(n / 2000)) if n <= bulk_threshold else 3 + math.ceil(n / 50_000)
        return calls
    calls += 2  # owners: active, then archived
    for object_type, assoc_types in HS_ASSOCIATIONS.items():
        n = counts.get(object_type, 0)
        calls += max(1, math.ceil(n / 200)) + assoc_types * math.ceil(n / 1000)
    return calls


def crm_calls(ctx: Context) -> int:
    crm = ctx.crm.client  # type: ignore[attr-defined]
    return int(crm.budget.calls if hasattr(crm, "budget") else crm.calls)


def run(ctx: Context) -> Run:
    """The CRM's streams, then the usage API's, timed apart (the limit applies to the CRM)."""
    crm_before, usage_before = crm_calls(ctx), ctx.usage.client.calls
    began = time.monotonic()
    system = ctx.crm.system
    reports = pull_all(ctx, as_of=ctx.clock(), only=lambda name: name.startswith(f"{system}."))
    crm_seconds = time.monotonic() - began
    reports += pull_all(ctx, as_of=ctx.clock(), only=lambda name: name.startswith("usage."))
    errors = [r.error for r in reports if r.error]
    if errors:
        raise SystemExit(f"pull failed: {errors}")
    crm = crm_calls(ctx) - crm_before
    return Run(
        seconds=time.monotonic() - began,
        crm_seconds=crm_seconds,
        crm_calls=crm,
        calls=crm + ctx.usage.client.calls - usage_before,
        records=sum(r.records for r in reports),
        per_stream={r.stream: r.records for r in reports},
    )


def config(system: str, info: dict[str, Any], limit: bool) -> dict[str, Any]:
    urls = info["urls"]
    return {
        "upsync": {"crm": system},
        "retry": {"initial_seconds": 0.5, "max_seconds": 10},
        "salesforce": {"instance_url": urls["salesforce"], "ca_file": info["ca"], "bulk_poll_seconds": 0.5},
        "hubspot": {
            "base_url": urls["hubspot"],
            "ca_file": info["ca"],
            "requests_per_10s": 100 if limit else 1000,
            "throttle_share": 0.98 if limit else 1.0,
            "search_per_second": 4.9 if limit else 5,
        },
        "usage": {"base_url": urls["usage"], "ca_file": info["ca"], "page_size": 1000},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=("salesforce", "hubspot"), required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--limit", action="store_true", help="HubSpot's 100 requests / 10 s switched on")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="upsync-bench-") as tmp:
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.serve",
                "--system",
                args.system,
                "--scale",
                str(args.scale),
                "--ca",
                str(Path(tmp) / "ca.pem"),
                "--hubspot-per-10s",
                "100" if args.limit else "0",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert serve.stdout is not None and serve.stdin is not None
        info = json.loads(serve.stdout.readline())
        env = {"SALESFORCE_TOKEN": info["tokens"]["salesforce"], "HUBSPOT_TOKEN": info["tokens"]["hubspot"]}
        env["USAGE_TOKEN"] = info["tokens"]["usage"]
        settings = parse_settings(config(args.system, info, args.limit), env)
        ctx = Context(
            settings=settings,
            store=Store.open(str(Path(tmp) / "state.db")),
            crm=connect_crm(settings, env),
            usage=connect_usage(settings, env),
            clock=lambda: ANCHOR,
        )
        try:
            first = run(ctx)
            searches = getattr(ctx.crm.client, "search_calls", 0)
            second = run(ctx)
        finally:
            ctx.close()
            serve.stdin.close()
            serve.wait(timeout=60)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert settings.salesforce is not None
        minimum = minimum_calls(args.system, info, bulk_threshold=settings.salesforce.bulk_threshold, usage_page=1000)
        objects = len(ctx.crm.streams) + len(ctx.usage.streams)
        figures = {
            "system": args.system,
            "scale": args.scale,
            "hubspot_limit_per_10s": 100 if args.limit else None,
            "world": {**info["counts"], "usage_rows": info["usage_rows"]},
            "world_build_seconds": info["build_seconds"],
            "initial": {
                "records": first.records,
                "calls": first.calls,
                "minimum_calls": minimum,
                "calls_vs_minimum": round(first.calls / minimum, 3),
                "seconds": round(first.seconds, 1),
                "records_per_second": round(first.records / first.seconds),
            },
            "nothing_changed": {
                "calls": second.calls,
                "objects": objects,
                "seconds": round(second.seconds, 2),
                "records_reread": second.per_stream,
            },
            "peak_rss_mb": round(rss_mb),
        }
        figures["initial"]["crm_calls"] = first.crm_calls
        figures["initial"]["crm_seconds"] = round(first.crm_seconds, 1)
        if args.limit:
            figures["initial"]["search_calls"] = searches
            # a burst of 100 then 10 a second overall, and search at most 5 a second
            bound = max(0.0, (first.crm_calls - 100) / 10.0, searches / 5.0)
            figures["initial"]["limit_bound_seconds"] = round(bound, 1)
            figures["initial"]["crm_wall_vs_limit_bound"] = round(first.crm_seconds / bound, 3) if bound else None
        text = json.dumps(figures, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
