"""Serve a benchmark-sized sandbox world in its own process (so the client's memory is its own).

Prints one JSON line (URLs, CA file, tokens, object counts), then serves until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from sandbox.server import start_sandbox
from sandbox.world import Volumes, build_world

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", choices=("salesforce", "hubspot"), required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the benchmark volumes")
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--hubspot-per-10s", type=int, default=0, help="enforce HubSpot's burst limit (0: off)")
    parser.add_argument("--accounts-only", action="store_true", help="accounts and owners, one day of usage (writes)")
    args = parser.parse_args()

    full = Volumes.benchmark(args.system)
    volumes = replace(full, accounts=max(1, round(full.accounts * args.scale)))
    if args.accounts_only:
        volumes = replace(
            volumes,
            contracts_per_account=0.0,
            deals_per_account=0.0,
            activities_per_account=0.0,
            contacts_per_account=0.0,
            tickets_per_account=0.0,
            usage_days=1,
            groups=False,
        )
    began = time.monotonic()
    world = build_world(seed=7, anchor=ANCHOR, volumes=volumes)
    built = time.monotonic() - began
    with start_sandbox(world, ca_path=args.ca) as sb:
        if args.hubspot_per_10s:
            from sandbox.hubspot import HubSpotLimits

            sb.hubspot.app.state.limits = HubSpotLimits(per_10s=args.hubspot_per_10s, search_per_s=5, daily=None)  # type: ignore[attr-defined]
        store = world.salesforce.objects if args.system == "salesforce" else world.hubspot.objects
        info = {
            "urls": {name: svc.url for name, svc in sb.services.items()},
            "ca": str(sb.ca_path),
            "tokens": world.tokens,
            "counts": {name: len(rows) for name, rows in store.items()},
            "usage_rows": sum(1 for _ in world.usage.rows),
            "associations": {f"{a}->{c}": n for (a, c), n in _association_counts(world).items()}
            if args.system == "hubspot"
            else {},
            "build_seconds": round(built, 1),
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # serve until the client closes our stdin


def _association_counts(world: object) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for from_type, _from_id, to_type in getattr(world, "hubspot").associations:  # noqa: B009
        counts[(from_type, to_type)] = counts.get((from_type, to_type), 0) + 1
    return counts


if __name__ == "__main__":
    main()
