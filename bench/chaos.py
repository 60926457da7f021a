"""Chaos benchmark: the chaos suite (tests/chaos) at larger counts, with its figures.

    python -m bench.chaos --kills 100 --seed 1            # 100 kills on each CRM, then the rest
    python -m bench.chaos --kills 20 --seed 7 --crm hubspot

Per CRM, on a fresh sandbox world (the tests' world: seed 11, 120 accounts): ``--kills`` kill -9
at seeded random moments of start, pull, plan and write, with restarts and edits to the world
between launches; then a lost state.db among kills; then two and three replicas on one PostgreSQL
state with the lease holder killed. Each ends with one clean cycle judged from the sandbox world:
duplicates, lost tasks, runs left ``running``, the final run's status. Every launch is logged (to
``--log``); the figures are printed and written as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.server import Sandbox, start_sandbox
from sandbox.world import build_world
from tests.chaos.driver import Chaos, Verdict, replicas
from tests.conftest import ANCHOR, POSTGRES

SEARCH_LAG = 3.0  # HubSpot: seconds a new task stays out of search, as in the tests


@contextmanager
def _sandbox(directory: Path, crm: str) -> Iterator[Sandbox]:
    world = build_world(seed=11, accounts=120, anchor=ANCHOR)
    with start_sandbox(world, ca_path=directory / "ca" / "ca.pem") as sb:
        if crm == "hubspot":
            app: Any = sb.hubspot.app
            app.state.search_lag_seconds = SEARCH_LAG
        yield sb


@contextmanager
def _postgres() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL (as the tests' ``postgres_url``)."""
    import psycopg

    name = f"upsync_chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _judged(verdict: Verdict) -> dict[str, Any]:
    """The verdict as figures."""
    return {
        "tasks": verdict.tasks,
        "duplicates": verdict.duplicates,
        "lost": len(verdict.lost),
        "stale_open": len(verdict.stale),
        "running_left": verdict.running,
        "final_status": verdict.final_status,
        "final_rc": verdict.final_rc,
    }


def _settle(crm: str) -> None:
    if crm == "hubspot":
        time.sleep(SEARCH_LAG)  # the judging cycle sees what search shows; see tests/chaos


def kills(crm: str, count: int, seed: int, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    began = time.monotonic()
    with _sandbox(work, crm) as sb:
        chaos = Chaos(sb, crm, work, seed=seed, say=say)
        chaos.kills(count)
        _settle(crm)
        verdict = chaos.verdict()
    figures = chaos.figures()
    return {**figures, **_judged(verdict), "wall_seconds": round(time.monotonic() - began, 1)}


def lost_state(crm: str, count: int, seed: int, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    began = time.monotonic()
    with _sandbox(work, crm) as sb:
        chaos = Chaos(sb, crm, work, seed=seed, say=say, edit_odds=0.5, case="lost-state")
        chaos.kills(count)
        _settle(crm)
        chaos.launch(None)
        chaos.lose_state()
        chaos.kills(count)
        _settle(crm)
        verdict = chaos.verdict()
    figures = chaos.figures()
    out = {**figures, **_judged(verdict)}
    return {**out, "wall_seconds": round(time.monotonic() - began, 1)}


def replica_case(crm: str, count: int, seed: int, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    began = time.monotonic()
    with _sandbox(work, crm) as sb, _postgres() as url:
        result, chaos = replicas(sb, crm, work, url, count, seed=seed, say=say)
        _settle(crm)
        verdict = chaos.verdict()
    survivors = [rc for rc in result.returncodes if rc != -9]
    return {
        "replicas": count,
        "killed": result.killed,
        "survivors_ok": sum(1 for rc in survivors if rc == 0),
        "runs": result.statuses,
        **_judged(verdict),
        "wall_seconds": round(time.monotonic() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100, help="kills per CRM (the lost-state case adds 2×10%%)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    parser.add_argument("--log", type=Path, help="every launch, kill and verdict (default: a temporary file)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    crms = ("salesforce", "hubspot") if args.crm == "both" else (args.crm,)

    with tempfile.TemporaryDirectory(prefix="upsync-chaos-") as tmp:
        log_path = args.log or Path(tmp) / "chaos.log"
        began = time.monotonic()
        figures: dict[str, Any] = {"seed": args.seed, "kills_per_crm": args.kills}
        with log_path.open("w") as log:

            def say(line: str) -> None:
                log.write(f"{time.monotonic() - began:8.2f} {line}\n")
                log.flush()

            say(f"bench.chaos --kills {args.kills} --seed {args.seed} --crm {args.crm}")
            for crm in crms:
                cases: dict[str, Any] = {}
                plan: list[tuple[str, Callable[..., dict[str, Any]], int]] = [
                    ("kills", kills, args.kills),
                    ("lost_state", lost_state, max(2, args.kills // 10)),
                    ("replicas_2", replica_case, 2),
                    ("replicas_3", replica_case, 3),
                ]
                for step, (name, case, count) in enumerate(plan, 1):
                    work = Path(tmp) / f"{crm}-{step}-{name}"
                    work.mkdir()
                    cases[name] = case(crm, count, args.seed, work, say)
                    print(f"{crm} {name}: {json.dumps(cases[name])}", flush=True)
                figures[crm] = cases
        figures["wall_seconds"] = round(time.monotonic() - began, 1)
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        if args.log is None:
            print(f"(the launch log was {log_path}; pass --log to keep it)")


if __name__ == "__main__":
    main()
