"""Rules benchmark: rule evaluation for 1M accounts × 25 rules, and feature computation, wall and peak RSS.

    python -m bench.rules                      # both: rules at 1,000,000 accounts, features at 100,000
    python -m bench.rules --part rules --accounts 1000000
    python -m bench.rules --part features --accounts 250000
    python -m bench.rules --part load --accounts 20000   # reading the tables back from state.db

Each part runs in a fresh process so that its peak RSS is its own. The input is synthetic but
shaped like a CRM export: every table of :data:`rules.features.TABLE_SCHEMAS`, with contracts,
deals and line items, assets, contacts, activities, tickets and 56 days of usage per account.

- **features**: ``engine.prepare`` over those tables: every base feature, the health score with
  its weekly history, co-purchase mining and recommendations, lifecycle, guard history.
- **rules**: a genuine features frame (prepared from 20,000 synthetic accounts) repeated to the
  target count with fresh ids, then ``engine.evaluate_features``: 25 compiled rules (the 19 shipped ones and
  6 variants), every guard, S12's second stage, ranking and routing to one action per account.
  Compilation is timed apart (it happens once, at load).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from core.tables import TABLE_SCHEMAS, Tables
from rules import engine
from rules.engine import RuleSet
from sync.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
AS_OF = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
TODAY = AS_OF.date()
PRODUCTS = ["Upsync Team", "Upsync Business", "Analytics Pro", "Custom Dashboards", "Workflow Automation", "API Plus"]
VARIANTS = [
    ("seats-over-90", "seat_utilisation >= 90%"),
    ("wau-over-90", "wau_ratio >= 90%"),
    ("renewal-60", "days_to_renewal >= 0 and days_to_renewal <= 60 and health >= 60"),
    ("quiet-90", "is_customer and days_since(last_activity_at) >= 90"),
    ("tickets-doubling", "tickets_30d >= 2 * tickets_prev_30d and tickets_30d >= 4"),
    ("events-rising", "rising(events, 2) and events_per_user_week >= 20"),
]

DAILY_VARIANTS = [
    ("seats-grew-30d", "change_over(seats_used, 30) >= 20%"),
    ("wau-crossed-30", "crossed_above(wau, 30, 14) and streak(wau >= 30) <= 30"),
    ("utilisation-held-90d", "min_over(seat_utilisation, 90) >= 60%"),
]
"""Rules over daily series (``--daily``): what the series cost, 30 to 90 days and runs."""


def ruleset_25(*, daily: bool = False) -> RuleSet:
    raw = tomllib.loads((ROOT / "config.toml").read_text())
    for rule_id, when in VARIANTS + (DAILY_VARIANTS if daily else []):
        raw["rules"].append(
            {"id": rule_id, "kind": "upsell", "when": when, "playbook": "plan-upgrade", "value": "arr * 0.1"}
        )
    return parse_config(raw, {"HUBSPOT_TOKEN": "t", "USAGE_TOKEN": "t"}).ruleset


def _days(values: np.ndarray) -> list[date]:
    return [TODAY - timedelta(days=int(v)) for v in values]


def synth_tables(n: int, *, days: int = 56, seed: int = 7) -> Tables:
    """``n`` accounts' worth of every table, vectorised (a few seconds per 100k accounts)."""
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(n)]
    seats = rng.choice([10, 25, 50, 100, 250], n)
    owner = rng.integers(0, max(8, n // 400), n)
    started = rng.integers(20, 1500, n)
    frames: dict[str, pl.DataFrame] = {}
    frames["owners"] = pl.DataFrame(
        {
            "crm_id": [f"o{i}" for i in range(max(8, n // 400))],
            "name": "Owner",
            "email": [f"o{i}@example.com" for i in range(max(8, n // 400))],
            "active": True,
        }
    )
    parent = np.where(rng.random(n) < 0.1, rng.integers(0, n, n), -1)
    frames["accounts"] = pl.DataFrame(
        {
            "crm_id": ids,
            "name": [f"Account {i}" for i in range(n)],
            "owner_id": [f"o{o}" for o in owner],
            "parent_id": [f"a{p}" if p >= 0 else None for p in parent],
            "workspace_id": [f"ws{i}" for i in range(n)],
            "employees": rng.choice([20, 80, 300, 2500], n),
            "seats_purchased": seats,
            "nps": np.where(rng.random(n) < 0.6, rng.integers(2, 11, n).astype(float), np.nan),
            "created_at": [AS_OF - timedelta(days=int(s) + 30) for s in started],
        }
    )
    ends_in = rng.integers(-30, 365, n)
    frames["contracts"] = pl.DataFrame(
        {"account_id": ids, "status": "Activated", "start_date": _days(started), "end_date": _days(-ends_in)}
    )
    deals = n * 3
    deal_account = rng.integers(0, n, deals)
    won = rng.random(deals) < 0.5
    closed = won | (rng.random(deals) < 0.5)
    frames["opportunities"] = pl.DataFrame(
        {
            "crm_id": [f"d{i}" for i in range(deals)],
            "account_id": [ids[a] for a in deal_account],
            "opp_type": rng.choice(
                ["New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement"], deals
            ),
            "is_closed": closed,
            "is_won": won,
            "close_date": _days(rng.integers(1, 900, deals)),
            "amount": rng.integers(1000, 100000, deals).astype(float),
            "created_at": [AS_OF - timedelta(days=int(d)) for d in rng.integers(30, 1000, deals)],
        }
    )
    frames["products"] = pl.DataFrame({"crm_id": [f"p{i}" for i in range(len(PRODUCTS))], "name": PRODUCTS})
    lines = deals
    frames["line_items"] = pl.DataFrame(
        {
            "opportunity_id": [f"d{i}" for i in range(lines)],
            "product_id": [f"p{p}" for p in rng.integers(0, len(PRODUCTS), lines)],
        }
    )
    contacts = n * 4
    contact_account = rng.integers(0, n, contacts)
    frames["contacts"] = pl.DataFrame(
        {
            "crm_id": [f"c{i}" for i in range(contacts)],
            "account_id": [ids[a] for a in contact_account],
            "department": rng.choice(["Sales", "IT", "Finance", "HR", "Legal"], contacts),
            "title": rng.choice(["CTO", "Manager", "Engineer", "VP Sales", "Analyst"], contacts),
            "created_at": [AS_OF - timedelta(days=int(d)) for d in rng.integers(1, 900, contacts)],
        }
    )
    acts = n * 10
    frames["activities"] = pl.DataFrame(
        {
            "crm_id": [f"t{i}" for i in range(acts)],
            "account_id": [ids[a] for a in rng.integers(0, n, acts)],
            "contact_id": [f"c{c}" for c in rng.integers(0, contacts, acts)],
            "activity_type": rng.choice(["email", "call", "meeting", "task", "note"], acts),
            "subject": rng.choice(["Check-in", "Quarterly business review", "Demo", "Renewal call"], acts),
            "activity_at": [AS_OF - timedelta(days=int(d)) for d in rng.integers(0, 300, acts)],
        }
    )
    tickets = int(n * 1.5)
    open_ = rng.random(tickets) < 0.2
    frames["tickets"] = pl.DataFrame(
        {
            "account_id": [ids[a] for a in rng.integers(0, n, tickets)],
            "priority": rng.choice(["LOW", "MEDIUM", "HIGH", "URGENT"], tickets),
            "is_closed": ~open_,
            "is_escalated": rng.random(tickets) < 0.03,
            "created_at": [AS_OF - timedelta(days=int(d)) for d in rng.integers(0, 120, tickets)],
        }
    )
    # usage: one row per account and day, each account on a trend of its own
    day_index = np.tile(np.arange(1, days + 1), n)
    account_index = np.repeat(np.arange(n), days)
    trend = rng.normal(0, 0.004, n)[account_index]
    level = rng.uniform(0.2, 0.95, n)[account_index]
    used = np.clip(level * (1 - trend * day_index), 0.05, 1.0) * seats[account_index]
    active = np.maximum(1, (used * rng.uniform(0.5, 0.9, n * days)).round())
    events = (active * 7).astype(int)
    frames["usage"] = pl.DataFrame(
        {
            "workspace_id": [f"ws{a}" for a in account_index],
            "day": [TODAY - timedelta(days=int(d)) for d in day_index],
            "updated_at": [AS_OF - timedelta(days=int(d), hours=10) for d in day_index],
            "active_users": active,
            "weekly_active_users": np.minimum(used, active * 1.3).round(),
            "seats_used": used.round(),
            "seats_limit": seats[account_index].astype(float),
            "storage_used_gb": rng.uniform(1, 95, n * days),
            "storage_limit_gb": 100.0,
            "api_calls_used": rng.integers(0, 9500, n * days).astype(float),
            "api_calls_limit": 10000.0,
            "integrations": rng.integers(0, 4, n)[account_index].astype(float),
            "premium_feature_views": (rng.random(n * days) < 0.02).astype(float),
            "trials_started": (rng.random(n * days) < 0.001).astype(float),
            "pricing_page_views": (rng.random(n * days) < 0.01).astype(float),
            "feature_events": [f'{{"documents": {e}, "reports": {e // 5}, "analytics": {e // 9}}}' for e in events],
            "users_by_department": '{"Sales": 5, "IT": 3}',
        }
    )
    frames["accounts"] = frames["accounts"].with_columns(pl.col("nps").fill_nan(None))
    return Tables(**frames).checked()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def features_part(n: int, *, daily: bool = False) -> dict[str, Any]:
    ruleset = ruleset_25(daily=daily)
    began = time.perf_counter()
    tables = synth_tables(n)
    made = time.perf_counter() - began
    rss_inputs = rss_mb()
    rows = {name: getattr(tables, name).height for name in TABLE_SCHEMAS}
    began = time.perf_counter()
    f, pairs = engine.prepare(ruleset, tables, as_of=AS_OF)
    wall = time.perf_counter() - began
    return {
        "part": "features",
        "accounts": n,
        "daily_series": dict(ruleset.daily),
        "rows": rows,
        "columns": f.width,
        "pairs": pairs.height,
        "synth_seconds": round(made, 2),
        "prepare_seconds": round(wall, 2),
        "rss_after_inputs_mb": round(rss_inputs),
        "peak_rss_mb": round(rss_mb()),
    }


def tiled_features(n: int, path: Path) -> None:
    """A features frame of ``n`` accounts written to ``path``: prepared from 20,000 synthetic accounts
    (every column the 25 rules, their guards and routing read), repeated with fresh ids."""
    ruleset = ruleset_25()
    f, _ = engine.prepare(ruleset, synth_tables(20_000), as_of=AS_OF)
    f = f.select(engine.decision_columns(ruleset))
    rng = np.random.default_rng(11)
    picks = pl.DataFrame({"i": rng.integers(0, f.height, n).astype(np.uint32)})
    big = f.with_row_index("i").join(picks, on="i").drop("i")
    big.with_columns(pl.Series("account", [f"x{i}" for i in range(n)])).write_parquet(path, row_group_size=n)


def rules_part(n: int, frame: Path) -> dict[str, Any]:
    """Run in a fresh process: peak RSS = the features frame + what evaluating the rules takes."""
    began = time.perf_counter()
    ruleset = ruleset_25()
    compile_s = time.perf_counter() - began
    big = pl.read_parquet(frame).rechunk()
    owners = synth_tables(8).owners
    recent = pl.DataFrame(schema=TABLE_SCHEMAS["signals"])
    rss_inputs = rss_mb()
    began = time.perf_counter()
    ev = engine.evaluate_features(ruleset, big, as_of=AS_OF, recent=recent, owners=owners)
    wall = time.perf_counter() - began
    return {
        "part": "rules",
        "accounts": n,
        "rules": len(ruleset.rules),
        "feature_columns": big.width,
        "features_frame_mb": round(big.estimated_size("mb")),
        "compile_seconds": round(compile_s, 3),
        "decide_seconds": round(wall, 2),
        "signals": ev.signals.height,
        "held_back": ev.signals.filter(pl.col("blocked").list.len() > 0).height,
        "actions": ev.actions.height,
        "rss_after_inputs_mb": round(rss_inputs),
        "peak_rss_mb": round(rss_mb()),
    }


def load_part(n: int) -> dict[str, Any]:
    """Reading the rules' input tables back from a SQLite state.db (``Store.rule_tables``)."""
    import json as jsonlib
    import tempfile

    from core.records import Record
    from sync.store import Store

    tables = synth_tables(n)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(str(Path(tmp) / "state.db"))
        began = time.perf_counter()
        rows = []
        for r in tables.usage.to_dicts():
            r["feature_events"] = jsonlib.loads(r["feature_events"])
            r["users_by_department"] = jsonlib.loads(r["users_by_department"])
            rows.append(
                Record(
                    kind="usage_daily",
                    system="usage",
                    key=f"{r['workspace_id']}|{r['day']}",
                    cursor_value=r["updated_at"],
                    values=r,
                )
            )
        for start in range(0, len(rows), 20_000):
            store.commit_page("usage.daily", rows[start : start + 20_000], None, now=AS_OF)
        accounts = [
            Record(kind="accounts", system="salesforce", key=r["crm_id"], cursor_value=AS_OF, values=r)
            for r in tables.accounts.to_dicts()
        ]
        store.commit_page("salesforce.accounts", accounts, None, now=AS_OF)
        stored = time.perf_counter() - began
        rss_before = rss_mb()
        began = time.perf_counter()
        loaded = store.rule_tables("salesforce", since=TODAY - timedelta(days=97), until=AS_OF)
        wall = time.perf_counter() - began
        store.close()
    return {
        "part": "load",
        "accounts": n,
        "usage_rows": loaded.usage.height,
        "store_seconds": round(stored, 1),
        "rule_tables_seconds": round(wall, 2),
        "rss_before_mb": round(rss_before),
        "peak_rss_mb": round(rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["rules", "features", "load", "both", "tile"], default="both")
    parser.add_argument("--frame", type=Path, default=Path("/tmp/upsync-bench-features.parquet"))
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--daily", action="store_true", help="features: add rules over daily series")
    args = parser.parse_args()
    if args.part == "both":
        for part, n in (("rules", 1_000_000), ("features", 100_000)):
            subprocess.run([sys.executable, "-m", "bench.rules", "--part", part, "--accounts", str(n)], check=True)
        return
    n = args.accounts or (1_000_000 if args.part == "rules" else 100_000)
    if args.part == "tile":
        tiled_features(n, args.frame)
        return
    if args.part == "rules":
        subprocess.run(
            [sys.executable, "-m", "bench.rules", "--part", "tile", "--accounts", str(n), "--frame", str(args.frame)],
            check=True,
        )
    if args.part == "rules":
        result = rules_part(n, args.frame)
    elif args.part == "load":
        result = load_part(n)
    else:
        result = features_part(n, daily=args.daily)
    result["measured_on"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rules-{args.part}-{n}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
