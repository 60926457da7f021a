"""The HTML report at scale (`make bench-report`): 100,000 accounts, 24 months of MRR, 25 rules'
funnel and lift, a year of weekly health, 200 owners. Measures the time and peak RSS to compute
the measures and build the page, the page's size, and the browser's time to open it.

`--screenshot docs/report.png` instead writes the README's picture from demo-sized data.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.browser import open_report
from bench.report_data import report_of, synthetic
from sync.report import build_page

TARGETS = {"build_seconds": 30.0, "peak_rss_mb": 1536.0, "page_mb": 5.0, "open_seconds": 3.0}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def screenshot(path: Path) -> None:
    """The top of the page (headline, trend, bridge) at a laptop's width: small enough for the README."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(build_page(report_of(synthetic(2_000))), encoding="utf-8")
        with open_report(page, width=1040, height=1180) as opened:
            opened.page.screenshot(path=str(path), full_page=False)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


def run(accounts: int, html: Path | None) -> dict[str, float | int | bool]:
    started = time.perf_counter()
    raw = synthetic(accounts)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    data = report_of(raw)
    measured = time.perf_counter() - started
    page = build_page(data)
    built = time.perf_counter() - started
    rss = _rss_mb()
    out = html or Path(tempfile.mkdtemp()) / "report.html"
    out.write_text(page, encoding="utf-8")
    with open_report(out) as opened:
        seconds = opened.seconds
        charts = opened.charts
        clean = not opened.console_errors and not opened.requests
    result: dict[str, float | int | bool] = {
        "accounts": accounts,
        "mrr_rows": raw.mrr.height,
        "tasks": raw.ledger.height,
        "health_rows": raw.health.height,
        "generate_seconds": round(generated, 2),
        "measures_seconds": round(measured, 2),
        "build_seconds": round(built, 2),
        "peak_rss_mb": round(rss),
        "page_mb": round(out.stat().st_size / 1e6, 3),
        "open_seconds": round(seconds, 3),
        "charts": len(charts),
        "svg_elements": sum(int(c["elements"]) for c in charts),
        "all_charts_marked": all(c["marks"] > 0 and c["width"] > 0 for c in charts),
        "offline_and_clean": clean,
    }
    result["met"] = all(float(result[k]) <= v for k, v in TARGETS.items()) and bool(result["all_charts_marked"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--html", type=Path, help="keep the page here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--screenshot", type=Path, help="only write the README's screenshot (demo-sized data)")
    args = parser.parse_args()
    if args.screenshot:
        screenshot(args.screenshot)
        return 0
    result = run(args.accounts, args.html)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
