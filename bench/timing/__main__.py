"""Timing benchmark with ground truth: a 61-day daily simulation of upsync on a world that moves.

    python -m bench.timing --crm salesforce --variant 0 --days 61 --accounts 200
    python -m bench.timing --crm salesforce --p-task 0.4 --p-base 0.1   # the world answers tasks

The stand-ins run in this process over a :class:`sandbox.world.timeline.TimelineWorld`; each day
the stores are brought to that morning, reps close the tasks upsync wrote (2–10 days after, one in
five declined), and one ``upsync sync --once --as-of <day 09:00>`` runs as a subprocess with the
rules of ``bench/timing/rules.toml``. The tasks (from upsync's ledger, rule ids mapped to window
kinds by ``kinds.toml``) are scored against the windows the world recorded (``score.py``).
``--variant`` draws another world (and another CRM set-up, ``CrmVariant.from_seed``); 0 is the
sandbox's own field names. ``--p-task`` / ``--p-base`` make the world answer upsync's tasks with
new opportunities (``sandbox.world.timeline.response``; the lift bench, ``bench.lift``, uses it);
both 0, the default, is the timing bench as recorded: the world opens no deal of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bench.timing.score import offers_of, score
from sandbox.hubspot.edits import edit_as_user as hs_edit
from sandbox.salesforce.edits import edit_as_user as sf_edit
from sandbox.server import start_sandbox
from sandbox.world import CrmVariant, upsync_config
from sandbox.world.timeline import KINDS, Responder, Response, TimelineWorld, plan_accounts, windows
from sync.store import Store

HERE = Path(__file__).parent
START = date(2026, 6, 1)


def config(tmp: Path, sb: Any, crm: str, variant: CrmVariant, rules: str | None = None, writeback: str = "") -> Path:
    url = f'instance_url = "{sb.salesforce.url}"' if crm == "salesforce" else f'base_url = "{sb.hubspot.url}"'
    objects = (
        '["users", "accounts", "contracts", "opportunities", "products", "line_items", "assets", "tasks", "cases"]'
        if crm == "salesforce"
        else '["owners", "companies", "deals", "products", "line_items", "tickets", "tasks"]'
    )
    org = upsync_config(variant, crm)
    if "[guards.G3]" not in org:  # the org's own deal types, where not the CRM's standard ones
        org += "\n[guards.G3]\n"
        if crm == "hubspot" and variant.deal_kind_field(crm) is None:
            # HubSpot's standard dealtype cannot tell an upgrade from a renewal and this portal keeps
            # no kind property; in this world its lost existing-business deals are lost upgrades
            org += 'deal_types = { "existingbusiness" = "upsell" }\n'
    text = f"""
[upsync]
crm = "{crm}"
state = "{tmp / "state.db"}"

[retry]
attempts = 3
initial_seconds = 0.05
max_seconds = 0.2
give_up_after_seconds = 5

[usage]
base_url = "{sb.usage.url}"
ca_file = "{sb.ca_path}"
page_size = 1000

[writeback]
first_run_tasks = true
{writeback}

{(HERE / "rules.toml").read_text() if rules is None else rules}

[{crm}]
{url}
ca_file = "{sb.ca_path}"
objects = {objects}
{org}decline_statuses = ["Deferred", "DEFERRED"]
"""
    path = tmp / "config.toml"
    path.write_text(text)
    return path


def close_tasks(tw: TimelineWorld, day: int) -> int:
    """Reps close each upsync task 2–10 days after it appeared; one in five is declined."""
    world, closed = tw.world, 0
    today = tw.day_text(day)
    if tw.crm == "salesforce":
        for tid, row in list(world.salesforce.table("Task").items()):
            if not row.get("Upsync_Sync_Key__c") or row.get("IsClosed"):
                continue
            wait, declined = _rep(tid)
            if _days_between(row["CreatedDate"][:10], today) >= wait:
                status = "Deferred" if declined else "Completed"
                sf_edit(world, "Task", tid, {"Status": status, "IsClosed": True}, row["OwnerId"])
                closed += 1
    else:
        for tid, obj in list(world.hubspot.table("tasks").items()):
            props = obj["properties"]
            if not props.get("upsync_sync_key") or props.get("hs_task_status") in ("COMPLETED", "DEFERRED"):
                continue
            wait, declined = _rep(tid)
            if _days_between(obj["createdAt"][:10], today) >= wait:
                hs_edit(world, "tasks", tid, {"hs_task_status": "DEFERRED" if declined else "COMPLETED"}, 9_000_001)
                closed += 1
    return closed


def _rep(task_id: str) -> tuple[int, bool]:
    h = hashlib.blake2b(task_id.encode(), digest_size=2).digest()
    return 2 + h[0] % 9, h[1] % 5 == 0


def _days_between(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


After = Callable[[Path, Path, dict[str, str], TimelineWorld], dict[str, Any]]
"""Runs once the days are done, with the config, the temporary directory, the environment and the world."""


def run(
    crm: str,
    variant: int,
    days: int,
    accounts: int,
    seed: int = 1,
    *,
    response: Response | None = None,
    rules: str | None = None,
    writeback: str = "",
    after: After | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """``days`` cycles on ``accounts``; ``response`` (on) makes the world answer tasks, ``rules``
    replaces ``rules.toml``'s text, ``writeback`` adds lines to ``[writeback]``, ``after`` reads
    upsync's state before it is deleted."""
    plans = plan_accounts(seed, accounts, days, variant)
    truth = [w for p in plans for w in windows(p, days)]
    crm_variant = CrmVariant.from_seed(variant) if variant else CrmVariant()
    kinds: dict[str, str] = tomllib.loads((HERE / "kinds.toml").read_text())
    responder = Responder(plans, days, response, kinds=kinds) if response is not None and response.on else None
    tw = TimelineWorld(plans, crm=crm, start=START, variant=crm_variant, responder=responder)
    extra: dict[str, Any] = {}
    cycle_seconds: list[float] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="upsync-timing-") as tmp_name:
        tmp = Path(tmp_name)
        with start_sandbox(tw.world, ca_path=tmp / "ca.pem") as sb:
            path = config(tmp, sb, crm, crm_variant, rules, writeback)
            env = {**os.environ, **{f"{k.upper()}_TOKEN": v for k, v in tw.world.tokens.items()}}
            for day in range(days):
                tw.advance(day)
                close_tasks(tw, day)
                as_of = tw.at(day, 9).isoformat()
                t0 = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-m", "sync.cli", "sync", "--once", "--as-of", as_of, "--config", str(path)],
                    env=env,
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                )
                cycle_seconds.append(time.monotonic() - t0)
                if progress and (day + 1) % 10 == 0:
                    print(f"day {day + 1}/{days}: {cycle_seconds[-1]:.1f} s a cycle", file=sys.stderr, flush=True)
                if done.returncode != 0:
                    print(f"day {day}: exit {done.returncode}\n{done.stderr[-2000:]}", file=sys.stderr)
            ledger = Store.open(str(tmp / "state.db")).ledger(crm)
            keys = _task_keys(tw)
            if after is not None:
                extra = after(path, tmp, env, tw)
    keyed = tw.world.account_keys
    account_of = {k.salesforce_id if crm == "salesforce" else k.hubspot_id: i for i, k in enumerate(keyed)}
    tasks = [
        {
            "account": account_of[e.account_id],
            "rule": e.rule_id,
            "day": (e.created_at.date() - START).days if e.created_at else days,
            "key": e.key,
            "sequence": e.window if e.step else None,
        }
        for e in ledger.values()
        if e.crm_id is not None
    ]
    figures = score(truth, offers_of(tasks, kinds), days, task_keys=keys)
    # each missed window with the account's story, to tell the causes apart
    stories = {p.n: "+".join([p.story, *sorted(p.overlays)]) for p in plans}
    figures["missed"] = [
        f"{w.kind} {w.start}..{w.end} account {w.account} ({stories[w.account]})" for w in figures["missed"]
    ]
    return {
        "crm": crm,
        "variant": variant,
        "days": days,
        "accounts": accounts,
        "tasks": len(tasks),
        **figures,
        "wall_seconds": round(time.monotonic() - began, 1),
        "cycle_seconds_mean": round(sum(cycle_seconds) / max(1, len(cycle_seconds)), 2),
        "cycle_seconds_max": round(max(cycle_seconds, default=0.0), 2),
        **({"response": responder.summary(days)} if responder is not None else {}),
        **({"response_by_kind": {k: responder.summary(days, kind=k) for k in KINDS}} if responder else {}),
        **({"response_windows": responder.truth()} if responder is not None else {}),
        **extra,
    }


def _task_keys(tw: TimelineWorld) -> list[str]:
    if tw.crm == "salesforce":
        rows = tw.world.salesforce.table("Task").values()
        return [str(r["Upsync_Sync_Key__c"]) for r in rows if r.get("Upsync_Sync_Key__c")]
    return [
        str(o["properties"]["upsync_sync_key"])
        for o in tw.world.hubspot.table("tasks").values()
        if o["properties"].get("upsync_sync_key")
    ]


def add_response_flags(parser: argparse.ArgumentParser, *, p_task: float = 0.0, p_base: float = 0.0) -> None:
    """The world's answer to tasks (``sandbox.world.timeline.response``)."""
    parser.add_argument(
        "--p-task", type=float, default=p_task, help="chance of an opportunity within --outcome-days with upsync's task"
    )
    parser.add_argument("--p-base", type=float, default=p_base, help="the same without a task")
    parser.add_argument("--win-rate", type=float, default=0.5, help="share of the world's new opportunities won")
    parser.add_argument("--outcome-days", type=int, default=30, help="days over which --p-task / --p-base hold")
    parser.add_argument("--seed", type=int, default=1, help="seed of the world's answers")


def response_of(args: argparse.Namespace) -> Response:
    try:
        return Response(args.p_task, args.p_base, args.win_rate, args.outcome_days, args.seed)
    except ValueError as e:
        raise SystemExit(f"error: {e} (--p-task, --p-base, --win-rate, --outcome-days)") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), required=True)
    parser.add_argument("--variant", type=int, default=0)
    parser.add_argument("--days", type=int, default=61)
    parser.add_argument("--accounts", type=int, default=200)
    add_response_flags(parser)
    args = parser.parse_args()
    response = response_of(args)
    figures = run(args.crm, args.variant, args.days, args.accounts, response=response)
    text = json.dumps(figures, indent=2)
    print(text)
    suffix = "-response" if response.on else ""  # the timing record stays the world that does not answer
    out = HERE.parent / "results" / f"timing-{args.crm}-{args.variant}{suffix}.json"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
