"""Revenue measures benchmark: M1–M9 over 100,000 accounts × 24 months × 4 products, wall and peak RSS.

    python -m bench.revenue                          # every part, then all of them in one process
    python -m bench.revenue --part bridge --accounts 250000

The MRR frame (``rules.revenue.MRR_SCHEMA``) is synthetic and written once to a parquet file;
each part then runs in a fresh process that reads it, so its peak RSS is its own (the frame
included). The book: accounts start over 36 months (a third before the window), pay for a core
plan from ¥5,000 to ¥100,000 a month, churn at ~1.5 % a month (a fifth of them come back a few
months later), upgrade (×1.5) or downgrade (×0.8) the plan now and then, and add up to three
add-ons at a fraction of the plan's price.

- **bridge**: ``monthly_bridge`` over the 24 months;
- **segment**, **owner**, **cohort**: ``retention_by`` over the last 12 months (its bridge, monthly
  churn over those months, LTV, new customers and CAC payback per group); segment is one of 3
  size bands, owner one of 250 reps, cohort the first month paid (``cohorts``);
- **headline**: ``measures`` for the whole book over the last 12 months with a CAC, and the
  cross-sell conversion of 20,000 offers;
- **records**: the MRR frame itself from CRM-shaped records (``rules.mrr.mrr_by_month``): per
  account two yearly contracts, a new-business deal (plan and add-ons) and a renewal deal re-quoting
  them, a mid-term upgrade for a third of them, a one-off service line; 24 months;
- **all**: every part above in one process: the target (≤ 30 s, ≤ 1.5 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from rules.mrr import MrrParams, mrr_by_month
from rules.revenue import MRR_SCHEMA, monthly_bridge
from rules.revenue_groups import cohorts, retention_by
from rules.revenue_offers import measures

ROOT = Path(__file__).resolve().parents[1]
MONTHS = pl.date_range(date(2024, 7, 1), date(2026, 6, 1), "1mo", eager=True)
PRODUCTS = ["Core", "Analytics", "Automation", "API"]
PARTS = ["records", "bridge", "segment", "owner", "cohort", "headline"]
RECORDS = ("opportunities", "line_items", "products", "contracts")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synth(n: int, *, seed: int = 14) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The MRR frame of ``n`` accounts, the accounts (segment, owner) and 20,000 cross-sell offers."""
    rng = np.random.default_rng(seed)
    m = len(MONTHS)
    start = rng.integers(-12, m, n)
    churn = start + rng.geometric(0.015, n)  # the month it stops paying (may lie past the window)
    back = np.where(rng.random(n) < 0.2, churn + rng.integers(2, 7, n), 10_000)  # and comes back
    plan = rng.choice([5_000.0, 10_000.0, 30_000.0, 100_000.0], n, p=[0.4, 0.3, 0.2, 0.1])
    upgrade = np.where(rng.random(n) < 0.3, rng.integers(0, m, n), 10_000)
    downgrade = np.where(rng.random(n) < 0.1, rng.integers(0, m, n), 10_000)
    addon_from = np.where(rng.random((n, 3)) < 0.35, rng.integers(0, m, (n, 3)), 10_000)
    account = np.repeat(np.arange(n), m)
    month = np.tile(np.arange(m), n)
    paying = (month >= start[account]) & ((month < churn[account]) | (month >= back[account]))
    core = (
        plan[account] * np.where(month >= upgrade[account], 1.5, 1.0) * np.where(month >= downgrade[account], 0.8, 1.0)
    )
    parts = [(account[paying], month[paying], np.zeros(paying.sum(), np.int8), core[paying])]
    for k, share in enumerate((0.2, 0.3, 0.1), start=1):
        has = paying & (month >= addon_from[account, k - 1])
        parts.append((account[has], month[has], np.full(has.sum(), k, np.int8), core[has] * share))
    a, mo, p, v = (np.concatenate(x) for x in zip(*parts, strict=True))
    ids = pl.Series("account", [f"a{i:06d}" for i in range(n)])
    mrr = pl.DataFrame(
        {
            "account": ids.gather(a),
            "month": MONTHS.gather(mo),
            "product": pl.Series(PRODUCTS).gather(p),
            "mrr": v,
            "currency": "JPY",
        },
        schema=MRR_SCHEMA,
    )
    accounts = pl.DataFrame(
        {
            "account": ids,
            "segment": pl.Series(["SMB", "Mid-market", "Enterprise"]).gather(np.searchsorted([10_000, 30_000], plan)),
            "owner_id": pl.Series([f"o{o:03d}" for o in range(250)]).gather(rng.integers(0, 250, n)),
        }
    )
    offered = rng.integers(0, n, 20_000)
    offers = pl.DataFrame(
        {
            "account": ids.gather(offered),
            "rule_id": pl.Series(["co-purchase", "pricing-page", "department"]).gather(rng.integers(0, 3, 20_000)),
            "offered_on": MONTHS.gather(rng.integers(12, m, 20_000)).dt.offset_by("14d"),
        }
    )
    return mrr, accounts, offers


def synth_records(n: int, *, seed: int = 15) -> dict[str, pl.DataFrame]:
    """CRM-shaped records of ``n`` accounts (the frames ``mrr_by_month`` reads), built column-wise."""
    rng = np.random.default_rng(seed)
    account = pl.Series([f"a{i:06d}" for i in range(n)])
    start = pl.Series(MONTHS.gather(rng.integers(0, 12, n))).dt.offset_by(
        pl.Series(rng.integers(0, 28, n)).cast(pl.String) + "d"
    )
    renew = start.dt.offset_by("1y")
    renewed = rng.random(n) < 0.85
    contracts = pl.DataFrame(
        {
            "account_id": pl.concat([account, account.filter(renewed)]),
            "status": "Activated",
            "start_date": pl.concat([start, renew.filter(renewed)]),
            "end_date": pl.concat(
                [renew.dt.offset_by("-1d"), renew.filter(renewed).dt.offset_by("1y").dt.offset_by("-1d")]
            ),
        }
    )
    upgraded = rng.random(n) < 0.3
    deals = pl.DataFrame(
        {
            "crm_id": pl.concat(
                [account + "-new", (account + "-renewal").filter(renewed), (account + "-upgrade").filter(upgraded)]
            ),
            "account_id": pl.concat([account, account.filter(renewed), account.filter(upgraded)]),
            "is_won": True,
            "close_date": pl.concat([start, renew.filter(renewed), start.dt.offset_by("5mo").filter(upgraded)]),
            "currency": "JPY",
        }
    )
    seats = rng.integers(5, 200, n).astype(float)
    addons = rng.random((n, 3)) < 0.35
    rows: list[pl.DataFrame] = []
    for deal, keep in (("-new", np.ones(n, bool)), ("-renewal", renewed)):
        rows.append(
            pl.DataFrame(
                {
                    "opportunity_id": (account + deal).filter(keep),
                    "product_id": "plan-team",
                    "total_price": (seats * 2_400)[keep],
                }
            )
        )
        for k in range(3):
            has = keep & addons[:, k]
            rows.append(
                pl.DataFrame(
                    {
                        "opportunity_id": (account + deal).filter(has),
                        "product_id": f"addon-{k}",
                        "total_price": (seats * 600 * (k + 1))[has],
                    }
                )
            )
    rows.append(
        pl.DataFrame(
            {
                "opportunity_id": (account + "-upgrade").filter(upgraded),
                "product_id": "plan-business",
                "total_price": (seats * 4_800)[upgraded],
            }
        )
    )
    rows.append(
        pl.DataFrame(
            {"opportunity_id": account + "-new", "product_id": "onboarding", "total_price": np.full(n, 300_000.0)}
        )
    )
    lines = (
        pl.concat(rows)
        .with_row_index("crm_id")
        .with_columns(
            pl.col("crm_id").cast(pl.String),
            *(pl.lit(None, dtype=pl.Date).alias(c) for c in ("service_date", "term_start", "term_end")),
            pl.lit(None, dtype=pl.Float64).alias("mrr"),
            pl.lit(None, dtype=pl.String).alias("billing_frequency"),
        )
    )
    products = pl.DataFrame(
        {
            "crm_id": ["plan-team", "plan-business", "addon-0", "addon-1", "addon-2", "onboarding"],
            "name": ["Team", "Business", "Analytics", "Automation", "API", "Onboarding"],
            "family": ["Platform", "Platform", "Add-on", "Add-on", "Add-on", "Services"],
        }
    )
    return {"opportunities": deals, "line_items": lines, "products": products, "contracts": contracts}


def _from_records(records: dict[str, pl.DataFrame]) -> int:
    params = MrrParams(currency="JPY", plan_families=("Platform",), one_off_families=("Services",))
    frame = mrr_by_month(**records, first=MONTHS[0], last=MONTHS[-1], as_of=MONTHS[-1], params=params)
    return frame.height


def _parts(
    mrr: pl.DataFrame, accounts: pl.DataFrame, offers: pl.DataFrame, records: dict[str, pl.DataFrame]
) -> dict[str, Callable[[], Any]]:
    start, end = MONTHS[12], MONTHS[-1]
    return {
        "records": lambda: _from_records(records),
        "bridge": lambda: monthly_bridge(mrr).height,
        "segment": lambda: retention_by(mrr, accounts.select("account", "segment"), start=start, end=end).height,
        "owner": lambda: retention_by(mrr, accounts.select("account", "owner_id"), start=start, end=end).height,
        "cohort": lambda: retention_by(mrr, cohorts(mrr), start=start, end=end).height,
        "headline": lambda: measures(
            mrr, start=start, end=end, currency="JPY", cac=250_000, offers=offers, outcome_days=90
        ),
    }


def run(part: str, data: Path) -> dict[str, Any]:
    """One part (or ``all``) in this process, over the frames in ``data``."""
    mrr = pl.read_parquet(data / "mrr.parquet")
    accounts, offers = pl.read_parquet(data / "accounts.parquet"), pl.read_parquet(data / "offers.parquet")
    records = {name: pl.read_parquet(data / f"{name}.parquet") for name in RECORDS}
    result: dict[str, Any] = {
        "part": part,
        "accounts": accounts.height,
        "mrr_rows": mrr.height,
        "line_items": records["line_items"].height,
        "months": mrr.get_column("month").n_unique(),
        "rss_after_inputs_mb": round(rss_mb()),
    }
    seconds: dict[str, float] = {}
    cpu_before = _cpu()
    for name, compute in _parts(mrr, accounts, offers, records).items():
        if part not in (name, "all"):
            continue
        began = time.perf_counter()
        out = compute()
        seconds[name] = round(time.perf_counter() - began, 2)
        result[f"{name}_output"] = out if isinstance(out, int) else {k: out[k] for k in _HEADLINE}
    result["seconds"] = seconds
    result["total_seconds"] = round(sum(seconds.values()), 2)
    result["cpu_seconds"] = round(_cpu() - cpu_before, 2)  # user + system: less swayed by a busy machine
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result["peak_rss_mb"] = round(rss_mb())
    return result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_HEADLINE = ("nrr", "grr", "logo_churn", "arpa", "ltv", "upsell_rate", "cac_payback_months", "cross_sell_conversion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=[*PARTS, "all", "every", "synth"], default="every")
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/upsync-bench-revenue"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.part == "synth":
        began = time.perf_counter()
        args.data.mkdir(parents=True, exist_ok=True)
        for name, frame in zip(("mrr", "accounts", "offers"), synth(args.accounts), strict=True):
            frame.write_parquet(args.data / f"{name}.parquet")
        for name, frame in synth_records(args.accounts).items():
            frame.write_parquet(args.data / f"{name}.parquet")
        print(f"synthetic book of {args.accounts:,} accounts in {time.perf_counter() - began:.1f} s")
        return
    if args.part == "every":
        me = [sys.executable, "-m", "bench.revenue", "--accounts", str(args.accounts), "--data", str(args.data)]
        subprocess.run([*me, "--part", "synth"], check=True)
        results = []
        for part in [*PARTS, "all"]:
            done = subprocess.run([*me, "--part", part], check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout))
            r = results[-1]
            print(
                f"{part:>8}: {r['total_seconds']:6.2f} s (CPU {r['cpu_seconds']:.2f} s), peak {r['peak_rss_mb']:,} MB"
            )
        record = {"measured_on": datetime.now(timezone.utc).isoformat(timespec="seconds"), "parts": results}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"revenue-{args.accounts}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        return
    print(json.dumps(run(args.part, args.data), default=str))


if __name__ == "__main__":
    main()
