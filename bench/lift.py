"""The lift bench: does ``upsync report``'s interval contain the effect the world planted? (issue 14)

    python -m bench.lift --crm salesforce                                  # planted: 0.40 vs 0.15
    python -m bench.lift --crm salesforce --p-task 0.25 --p-base 0.25      # no effect: contains 0

The timing bench's moving world (``bench.timing``) answers upsync's tasks
(``sandbox.world.timeline.response``): over ``--outcome-days`` after a ripe window opens, the
account opens an opportunity with chance ``--p-task`` if upsync's task for the window is in the
CRM, else ``--p-base``. upsync runs one cycle a day with the timing rules, each given
``control_share`` (``--control-share``, 0.5: arms of equal size); then
``upsync report --json --outcome-days N`` over the tasks whose follow-up ended inside the run,
and its ``"lift"`` rows are checked: the TOTAL row's 95 % interval, and each rule's with enough
data, must contain ``p_task − p_base``.

The world alone verifies what it planted: its realised opportunity rate among windows that had
their task against those that had none (without control groups those are only the missed
windows: reported, not the test). An upsync without control groups (``control_share`` unknown to
its rules) still runs end to end, without it, and the bench says what it would have compared and
exits 2; an interval that misses exits 1. Record: ``bench/results/lift-<crm>-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.timing.__main__ import HERE, START, add_response_flags, response_of, run
from sandbox.world.timeline import TimelineWorld

RESULTS = Path(__file__).parent / "results"
Z95 = 1.959964
BUDGET = 10_000
"""Tasks per owner a week: the default 15 leaves a thousand accounts' windows untasked for want of
reps' time, not at random (measured: 320 of 437 windows missed in 10 days), which would blur the
treated arm; the bench lifts it so that only the control groups decide who gets no task."""


def lift_rules(share: float) -> str:
    """The timing rules, each with ``control_share = share``."""
    text = re.sub(r"^control_share = .*\n", "", (HERE / "rules.toml").read_text(), flags=re.M)  # the timing bench's 0
    return re.sub(r"^(\[\[rules\]\][^\n]*\n)", rf"\1control_share = {share}\n", text, flags=re.M)


def dump(record: Any, indent: int = 0) -> str:
    """JSON, indented, but a long list (the world's windows, the report's rows) one line per item."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(record, dict) and record:
        items = (f"{inner}{json.dumps(k)}: {dump(v, indent + 2)}" for k, v in record.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(record, list) and len(record) > 20:
        items = (f"{inner}{json.dumps(v, separators=(',', ':'))}" for v in record)
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    if isinstance(record, list) and record:
        return "[\n" + ",\n".join(f"{inner}{dump(v, indent + 2)}" for v in record) + f"\n{pad}]"
    return json.dumps(record)


def control_groups_supported(rules: str, crm: str) -> tuple[bool, str]:
    """Whether this upsync's rules accept ``control_share`` (``upsync validate`` on the rules alone)."""
    url = 'instance_url = "https://sf.invalid"' if crm == "salesforce" else 'base_url = "https://hs.invalid"'
    with tempfile.TemporaryDirectory(prefix="upsync-lift-") as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(f'[upsync]\ncrm = "{crm}"\nstate = "{tmp}/state.db"\n\n{rules}\n[{crm}]\n{url}\n')
        env = {**os.environ, f"{crm.upper()}_TOKEN": "validate-only"}
        done = subprocess.run(
            [sys.executable, "-m", "sync.cli", "validate", "--config", str(path)],
            env=env,
            capture_output=True,
            text=True,
        )
    said = done.stdout + done.stderr
    if done.returncode == 0:
        return True, ""
    if "control_share" in said:
        return False, said.strip()
    raise SystemExit(f"error: the lift rules do not validate:\n{said}")


def report_after(days: int, outcome_days: int) -> Any:
    """``upsync report --json`` over the tasks whose follow-up ends inside the run, as of its last day."""

    def after(config: Path, tmp: Path, env: dict[str, str], tw: TimelineWorld) -> dict[str, Any]:
        last_cohort = START + timedelta(days=days - outcome_days - 1)
        args = ["report", "--json", "--outcome-days", str(outcome_days), "--from", START.isoformat()]
        args += ["--to", last_cohort.isoformat(), "--as-of", tw.at(days - 1, 12).isoformat(), "--config", str(config)]
        done = subprocess.run(
            [sys.executable, "-m", "sync.cli", *args], env=env, cwd=tmp, capture_output=True, text=True
        )
        if done.returncode != 0:
            return {"report_error": done.stderr[-2000:]}
        return {"report": json.loads(done.stdout)}

    return after


def interval(hits: int, n: int, hits2: int = 0, n2: int = 0) -> tuple[float, float, float] | None:
    """A rate (or, with a second group, a difference of rates) and its 95 % normal interval."""
    if n == 0:
        return None
    p = hits / n
    var = p * (1 - p) / n
    if n2:
        q = hits2 / n2
        p, var = p - q, var + q * (1 - q) / n2
    half = Z95 * math.sqrt(var)
    return round(p, 4), round(p - half, 4), round(p + half, 4)


def world_check(summary: dict[str, Any], p_task: float, p_base: float) -> dict[str, Any]:
    """The planted effect from the world alone: realised rates with their intervals."""
    a, b = summary["with_task"], summary["without_task"]
    out: dict[str, Any] = {}
    for name, group, planted in (("with_task", a, p_task), ("without_task", b, p_base)):
        ci = interval(group["opportunities"], group["windows"])
        out[name] = {"windows": group["windows"], "planted": planted, "rate_ci": ci}
        out[name]["contains"] = ci is not None and ci[1] <= planted <= ci[2]
    diff = interval(a["opportunities"], a["windows"], b["opportunities"], b["windows"]) if b["windows"] else None
    out["effect"] = {"planted": round(p_task - p_base, 4), "realised_ci": diff}
    out["effect"]["contains"] = diff is not None and diff[1] <= p_task - p_base <= diff[2]
    return out


def compare(report: dict[str, Any] | None, effect: float) -> tuple[list[dict[str, Any]] | None, str]:
    """The report's lift rows checked against the planted effect; None when it has no ``"lift"``."""
    rows = None if report is None else report.get("lift")
    if rows is None:
        return None, (
            'upsync report --json has no "lift" yet (control groups are not in this upsync): the bench would '
            f"check that the TOTAL row's [ci_low, ci_high], and each rule's with enough_data, contains {effect:+.4f}"
        )
    checks = []
    for row in rows:
        if row.get("rule_id") != "TOTAL" and not row.get("enough_data"):
            continue
        low, high = row.get("ci_low"), row.get("ci_high")
        inside = low is not None and high is not None and low <= effect <= high
        keep = ("rule_id", "treated", "control", "treated_opportunity_rate", "control_opportunity_rate", "lift")
        checks.append({**{k: row.get(k) for k in keep}, "ci_low": low, "ci_high": high, "contains": inside})
    total = [c for c in checks if c["rule_id"] == "TOTAL"]
    if not total:
        return checks, "the report's lift has no TOTAL row"
    missed = [c["rule_id"] for c in checks if not c["contains"]]
    return checks, (f"interval misses {effect:+.4f}: {', '.join(missed)}" if missed else "")


def table(record: dict[str, Any]) -> str:
    """Rows for bench/RESULTS.md."""
    r, w = record["response"], record["world_check"]
    head = (
        "| run | accounts × days | matured windows | world: with task / without | world's realised effect (95 %) "
        "| report TOTAL lift [95 %] | contains planted | wall (per cycle) |\n"
        "| --- | ---: | ---: | --- | --- | --- | --- | ---: |\n"
    )
    eff = w["effect"]["realised_ci"]
    total = next((c for c in record.get("checks") or [] if c["rule_id"] == "TOTAL"), None)
    lift = f"{total['lift']:+.3f} [{total['ci_low']:+.3f}, {total['ci_high']:+.3f}]" if total else "no lift in report"
    return head + (
        f"| {record['crm']}, p_task {record['p_task']} / p_base {record['p_base']} "
        f"| {record['accounts']} × {record['days']} | {r['matured']} "
        f"| {r['with_task']['opportunity_rate']} (n={r['with_task']['windows']}) / "
        f"{r['without_task']['opportunity_rate']} (n={r['without_task']['windows']}) "
        f"| {'—' if eff is None else f'{eff[0]:+.3f} [{eff[1]:+.3f}, {eff[2]:+.3f}]'} "
        f"| {lift} | {record['verdict']} "
        f"| {record['wall_seconds']} s ({record['cycle_seconds_mean']} s) |\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--variant", type=int, default=0)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--accounts", type=int, default=1500)
    parser.add_argument("--control-share", type=float, default=0.5)
    parser.add_argument(
        "--name", help="the record's name: bench/results/lift-<crm>-<name>.json (default: effect / null)"
    )
    add_response_flags(parser, p_task=0.4, p_base=0.15)
    args = parser.parse_args()
    response = response_of(args)
    if not response.on:
        raise SystemExit("error: --p-task and --p-base are both 0: the world opens no opportunity to measure")
    if args.days <= args.outcome_days:
        raise SystemExit(
            f"error: --days {args.days} leaves no task a full --outcome-days {args.outcome_days} to follow"
        )
    rules = lift_rules(args.control_share)
    supported, said = control_groups_supported(rules, args.crm)
    if not supported:
        print(f"control groups: not in this upsync, running without them\n{said}\n", file=sys.stderr)
        rules = (HERE / "rules.toml").read_text()
    began = time.monotonic()
    figures = run(
        args.crm,
        args.variant,
        args.days,
        args.accounts,
        seed=args.seed,
        response=response,
        rules=rules,
        writeback=f"owner_weekly_budget = {BUDGET}",
        after=report_after(args.days, args.outcome_days),
        progress=True,
    )
    effect = round(args.p_task - args.p_base, 4)
    checks, problem = compare(figures.get("report"), effect)
    if "report_error" in figures:
        checks, problem = None, f"upsync report failed: {figures['report_error']}"
    record = {
        "crm": args.crm,
        "variant": args.variant,
        "accounts": args.accounts,
        "days": args.days,
        "outcome_days": args.outcome_days,
        "p_task": args.p_task,
        "p_base": args.p_base,
        "win_rate": args.win_rate,
        "seed": args.seed,
        "control_share": args.control_share if supported else None,
        "planted_effect": effect,
        "response": figures.get("response"),
        "response_by_kind": figures.get("response_by_kind"),
        "world_check": world_check(figures["response"], args.p_task, args.p_base),
        "checks": checks,
        "verdict": "contains"
        if checks is not None and not problem
        else "no lift in report"
        if checks is None
        else "misses",
        "problem": problem,
        "report": figures.get("report"),
        "timing": {k: figures[k] for k in ("windows", "hits", "misses", "offers", "outside", "tasks")},
        "wall_seconds": round(time.monotonic() - began, 1),
        "cycle_seconds_mean": figures["cycle_seconds_mean"],
        "cycle_seconds_max": figures["cycle_seconds_max"],
        "world_windows": figures.get("response_windows"),  # per window: its task, its deal
    }
    name = args.name or ("null" if effect == 0 else "effect")
    out = RESULTS / f"lift-{args.crm}-{name}.json"
    out.write_text(dump(record) + "\n")
    print(json.dumps({k: record[k] for k in ("response", "world_check", "checks", "verdict")}, indent=2))
    print(table(record))
    print(f"record: {out}")
    if checks is None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
