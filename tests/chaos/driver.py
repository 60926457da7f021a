"""The chaos driver: kill -9 ``upsync sync --once --tasks`` at random moments, restart it, and check
what an operator would see in the CRM afterwards.

One seeded ``random.Random`` draws everything: which phase each kill aims at, which request it
waits for, how long it waits, and the edits the world gets between launches (accounts that start
firing, accounts whose signal clears). Every draw is printed, so a failure replays with the same
``UPSYNC_CHAOS_SEED``. Kills land where a real ``kill -9`` would:

- ``start``: a random delay after launch, before the first request (imports, opening and
  migrating the state, the lease);
- ``pull``: just before or just after the sandbox answers the n-th read of the launch;
- ``plan``: a random delay after the last usage page was answered (the usage API is pulled last),
  while the process decides and records, before its first write;
- ``write``: just before the n-th write reaches the CRM (never lands) or just after the CRM
  stored it (the answer never comes back).

A kill that comes after the run was recorded finished lands in ``exit`` (read off ``runs``).

Where each kill really landed is read off the sandbox's request log, not taken from the aim: a
plan kill whose timer outlived the plan lands in ``write``, a write kill on a launch with nothing
to write never fires (the launch finishes and counts as a restart).

The verdict is computed from the sandbox world, not from upsync's state or code: duplicates are
sync keys held by more than one task, lost accounts are those the world says should have an open
task (``seat_heavy``) and have none, stale ones have an open task the world no longer asks for. The
``runs`` table is read with the database's own driver.
"""

from __future__ import annotations

import itertools
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Fault, Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

__all__ = [
    "LANDED",
    "PHASES",
    "Chaos",
    "Launch",
    "Shot",
    "Verdict",
    "replicas",
    "run_statuses",
]

PHASES = ("start", "pull", "plan", "write")
AIM = (1, 3, 2, 4)
"""Kills aimed at each phase per ten, drawn from a shuffled bag (so even CI's few kills reach every
phase): writes are where a duplicate or a loss would be born."""
LANDED = (*PHASES, "exit")
"""Where a kill can land: a phase, or ``exit`` (the run was already recorded finished: the
process was closing its connections when it died)."""
"""Relative odds of aiming at each phase: writes are where a duplicate or a loss would be born."""

WRITES = {
    "salesforce": ("PATCH", re.compile(r"/composite/sobjects")),
    "hubspot": ("POST", re.compile(r"/batch/(create|update|upsert|archive)$")),
}
"""The CRM requests that change something; every other request is a read."""

READS_PER_PULL = {"salesforce": 12, "hubspot": 17}
"""Reads of an incremental pull at the test world's size (measured: the owners, one query or
search per object, associations, one usage page). A pull kill waits for a read drawn from 1..this."""

PLAN_GAP = 0.12
"""Seconds after the last usage answer before a kill counts as past the pull: the usage pages of
a full pull are ~70 ms apart, so a longer silence means the process is deciding."""

PLAN_SECONDS = 0.4
"""How long a cycle decides at the test world's size (measured: last read to first write)."""

START_SECONDS = 1.0
"""How long a launch takes to its first request (interpreter, imports, state): measured ~1 s."""

LAUNCH_TIMEOUT = 300

WRITEBACK = "first_run_tasks = true\nowner_weekly_budget = 1000"
"""Tasks from the first run on, and no owner budget: every account the world says should have a
task gets one, whatever the edits between launches pile onto one owner."""


@dataclass(frozen=True)
class Shot:
    """One kill as drawn: the phase aimed at and how."""

    aim: str
    nth: int = 0  # pull and write: the n-th matching request of the launch
    side: str = ""  # pull and write: "before" the sandbox acts on it, or "after" (answer lost)
    delay: float = 0.0  # start: seconds after launch; plan: seconds after the last usage answer

    def describe(self) -> str:
        if self.aim in ("pull", "write"):
            return f"{self.aim} {self.side} request {self.nth}"
        return f"{self.aim} +{self.delay:.2f}s"


@dataclass
class Launch:
    """One process: what was aimed, where the kill landed, how it ended."""

    index: int
    shot: Shot | None
    edits: list[str]
    returncode: int
    wall: float
    ended_at: float
    phase: str = ""  # where the kill landed; "" when the process was not killed
    last_request: str = ""  # the last request the sandbox saw before the kill

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def describe(self) -> str:
        aim = self.shot.describe() if self.shot else "clean"
        edits = f" edits: {', '.join(self.edits)};" if self.edits else ""
        if self.killed:
            end = f"killed in {self.phase} (last request: {self.last_request or 'none'})"
        else:
            end = f"finished rc={self.returncode}"
        return f"launch {self.index}:{edits} aim {aim} → {end} after {self.wall:.2f}s"


@dataclass
class Verdict:
    """What an operator would notice after the chaos and one clean cycle."""

    crm: str
    tasks: int
    duplicates: int
    lost: list[str]
    stale: list[str]
    running: int
    final_status: str
    final_rc: int
    statuses: dict[str, int] = field(default_factory=dict)

    def problems(self) -> list[str]:
        out = []
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate tasks (one sync key, several tasks)")
        if self.lost:
            out.append(f"{len(self.lost)} accounts should have an open task and have none: {self.lost[:5]}")
        if self.stale:
            out.append(f"{len(self.stale)} open tasks the world no longer asks for: {self.stale[:5]}")
        if self.running:
            out.append(f"{self.running} runs left 'running'")
        if self.final_rc != 0 or self.final_status != "ok":
            out.append(f"the final run ended {self.final_status!r} (rc {self.final_rc})")
        return out


def run_statuses(state: str) -> list[str]:
    """The ``runs`` table's statuses in run order, read with the database's own driver."""
    if "://" in state:
        import psycopg

        with psycopg.connect(state.replace("postgresql+psycopg://", "postgresql://")) as conn:
            return [str(r[0]) for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    if not Path(state).exists():
        return []
    with sqlite3.connect(state) as conn:
        return [str(r[0]) for r in conn.execute("SELECT status FROM runs ORDER BY id")]


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def bump(self) -> int:
        with self._lock:
            self.value += 1
            return self.value


@dataclass
class _Nth(Fault):
    """A fault on the n-th request that ``kind`` accepts, counted across services by ``seen``."""

    nth: int = 1
    kind: Callable[[str, str], bool] = field(default=lambda method, path: True)
    seen: _Counter = field(default_factory=_Counter)

    def matches(self, method: str, path: str) -> bool:
        return self.kind(method, path) and self.seen.bump() == self.nth


class _Killer:
    """SIGKILL for one process, at most once, from whichever thread gets there first."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.at: float | None = None
        self._lock = threading.Lock()

    def fire(self) -> None:
        with self._lock:
            if self.at is not None or self.proc.returncode is not None:
                return
            self.at = time.monotonic()
            self.proc.send_signal(signal.SIGKILL)  # checks the process is not reaped yet: no stray pid
        # The answer of an "after" kill must never reach the client: leave only once it is gone.
        deadline = time.monotonic() + 10
        while self.proc.returncode is None and time.monotonic() < deadline:
            time.sleep(0.005)


class _Timer:
    """One pending kill that each new arming replaces (a plan kill: re-armed at every usage answer)."""

    def __init__(self, fire: Callable[[], None]) -> None:
        self._fire = fire
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self, delay: float) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()


class Chaos:
    """Launches, kills and restarts upsync on one CRM of ``sandbox``; ``say`` gets every draw."""

    def __init__(
        self,
        sandbox: Sandbox,
        crm: str,
        workdir: Path,
        *,
        seed: int,
        state: str | None = None,
        say: Callable[[str], None] = print,
        edit_odds: float = 0.35,
        case: str = "kills",
    ) -> None:
        self.sb = sandbox
        self.crm = crm
        self.workdir = workdir
        self.state = state or str(workdir / f"state-{crm}.db")
        self.say = say
        self.edit_odds = edit_odds
        self.rng = random.Random(f"upsync-chaos:{seed}:{crm}:{case}")  # str seeds are stable across runs
        self.config = write_config(workdir, sandbox, crm, writeback=WRITEBACK)
        self.env = sandbox_env(sandbox)
        self.launches: list[Launch] = []
        self.cleared: list[str] = []
        self._bag: list[str] = []
        firing = seat_heavy(sandbox, crm)
        eligible = seat_heavy(sandbox, crm, threshold=0.0)  # every guard passes; only the seats are short
        self._to_clear = sorted(firing)
        self._to_fire = sorted(a for a, facts in eligible.items() if a not in firing and facts["used"] >= 1)
        say(f"chaos {crm} {case}: seed {seed}; {len(firing)} accounts firing, {len(self._to_fire)} that could")

    # -- the world between launches ---------------------------------------------------------

    def edit_world(self, *, force: bool = False) -> list[str]:
        """Maybe (surely with ``force``) one account starts firing and one stops. Each account is
        edited once at most, so no signal comes back in the month its task key belongs to."""
        if self.rng.random() >= self.edit_odds and not force:
            return []
        done = []
        if len(self._to_clear) > 1:  # first: an account fired now is not cleared before a run saw it
            done.append(f"clear {self.clear_one()}")
        fired = self.fire_one()
        if fired:
            done.append(f"fire {fired}")
        return done

    def fire_one(self) -> str:
        """A seeded pick among the accounts that pass every guard: its seats now ~90 % used; "" when
        none can be picked yet.

        ``seat_heavy`` models G1 by NPS only; G1 also holds back an account whose health is red, a
        score too involved to model here. So the pick is among accounts whose health band, as the
        CRM shows it (upsync's own field, set by the first finished run), is green or yellow:
        fewer seats only raise the usage part of the score, so the band cannot turn red."""
        healthy = [i for i, a in enumerate(self._to_fire) if self._band(a) in ("green", "yellow")]
        if not healthy:
            return ""
        account = self._to_fire.pop(healthy[self.rng.randrange(len(healthy))])
        used = seat_heavy(self.sb, self.crm, threshold=0.0)[account]["used"]
        self._set_seats(account, max(1, int(used / 0.9)))
        self._to_clear.append(account)  # its task may be closed later on: then it never fires again
        return account

    def clear_one(self) -> str:
        """A seeded pick among the accounts that fired at the start: its signal clears (far below 80 %)."""
        account = self._to_clear.pop(self.rng.randrange(len(self._to_clear)))
        self._set_seats(account, 10_000)
        self.cleared.append(account)
        return account

    def _band(self, account: str) -> Any:
        world = self.sb.world
        if self.crm == "salesforce":
            return world.salesforce.objects["Account"][account].get("Upsync_Health_Band__c")
        return world.hubspot.objects["companies"][account]["properties"].get("upsync_health_band")

    def _set_seats(self, account: str, seats: int) -> None:
        world = self.sb.world
        if self.crm == "salesforce":
            user = next(
                str(uid)
                for uid, u in sorted(world.salesforce.objects["User"].items())
                if u["IsActive"] and uid != world.salesforce.integration_user_id
            )
            sf_sandbox.edit_as_user(world, "Account", account, {"Seats_Purchased__c": seats}, user)
        else:
            hs_sandbox.edit_as_user(world, "companies", account, {"upsync_seats_purchased": seats}, "1")

    def lose_state(self) -> None:
        """The state is gone (a disk, a bad restore, a new host); the CRM keeps every task."""
        removed = [p.name for p in self.workdir.glob(Path(self.state).name + "*")]
        for name in removed:
            (self.workdir / name).unlink()
        wanted = seat_heavy(self.sb, self.crm)
        orphans = sorted({t["account"] for t in upsync_tasks(self.sb, self.crm) if _is_open(t, self.crm)} - set(wanted))
        gone = ", ".join(sorted(removed)) or "nothing"
        self.say(f"state lost: removed {gone}; open tasks no longer asked for: {orphans}")

    # -- one launch ---------------------------------------------------------------------------

    def draw(self) -> Shot:
        if not self._bag:
            self._bag = [phase for phase, n in zip(PHASES, AIM, strict=True) for _ in range(n)]
            self.rng.shuffle(self._bag)
        aim = self._bag.pop()
        if aim == "start":
            return Shot(aim, delay=round(self.rng.uniform(0.05, START_SECONDS), 3))
        if aim == "plan":
            return Shot(aim, delay=round(PLAN_GAP + self.rng.uniform(0.0, PLAN_SECONDS), 3))
        side = self.rng.choice(("before", "after"))
        top = READS_PER_PULL[self.crm] if aim == "pull" else 3
        return Shot(aim, nth=self.rng.randint(1, top), side=side)

    def _is_write(self, service: str, method: str, path: str) -> bool:
        want, pattern = WRITES[self.crm]
        return service == self.crm and method == want and pattern.search(path) is not None

    def launch(self, shot: Shot | None, *, edits: Sequence[str] = ()) -> Launch:
        """Start one ``sync --once --tasks`` as of the sandbox's clock; kill it as ``shot`` says."""
        services = {name: s for name, s in self.sb.services.items() if name in (self.crm, "usage")}
        marks = {name: len(s.requests) for name, s in services.items()}
        time.sleep(0.01)  # what the last launch wrote sorts before this one's as-of
        as_of = self.sb.world.now().isoformat()
        cmd = upsync_cmd(
            "sync", "--once", "--tasks", "--config", str(self.config), "--state", self.state, "--as-of", as_of
        )
        index = len(self.launches) + 1
        runs_before = len(run_statuses(self.state))
        log = self.workdir / f"launch-{self.crm}-{index:03d}.log"
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
            killer = _Killer(proc)
            timer = _Timer(killer.fire)
            self._arm(shot, services, killer, timer)
            try:
                proc.wait(timeout=LAUNCH_TIMEOUT)
            finally:
                timer.cancel()
                for s in services.values():
                    s.faults.clear()
        ended = time.monotonic()
        launch = Launch(index, shot, list(edits), proc.returncode, ended - started, ended)
        if launch.killed and killer.at is not None:
            requests = sorted(
                (r.at, name, r.method, r.path) for name, s in services.items() for r in s.requests[marks[name] :]
            )
            launch.phase, launch.last_request = self._landed(requests, killer.at)
            runs = run_statuses(self.state)
            if len(runs) > runs_before and runs[-1] != "running":
                launch.phase = "exit"
        self.launches.append(launch)
        self.say(launch.describe())
        return launch

    def _arm(self, shot: Shot | None, services: dict[str, Any], killer: _Killer, timer: _Timer) -> None:
        if shot is None:
            return
        if shot.aim == "start":
            timer.arm(shot.delay)
        elif shot.aim == "plan":
            services["usage"].faults.add(Fault(path="", times=10**9, after=lambda: timer.arm(shot.delay)))
        else:
            self._trip(shot, services, killer.fire)

    def _trip(self, shot: Shot, services: dict[str, Any], fire: Callable[[], None]) -> None:
        """Call ``fire`` just before or after the ``shot.nth`` read or write, counted over ``services``."""
        seen = _Counter()
        for name, service in services.items():

            def kind(method: str, path: str, name: str = name) -> bool:
                return self._is_write(name, method, path) == (shot.aim == "write")

            before, after = (fire, None) if shot.side == "before" else (None, fire)
            service.faults.add(_Nth(path="", nth=shot.nth, kind=kind, seen=seen, before=before, after=after))

    def _landed(self, requests: list[tuple[float, str, str, str]], at: float) -> tuple[str, str]:
        """The phase a kill at ``at`` interrupted, from the requests the sandbox had seen by then."""
        seen = [r for r in requests if r[0] <= at]
        if not seen:
            return "start", ""
        _, service, method, path = seen[-1]
        last = f"{service} {method} {path}"
        if any(self._is_write(s, m, p) for _, s, m, p in seen):
            return "write", last
        past_usage = any(s == "usage" for _, s, _, _ in seen) and (service != "usage" or at - seen[-1][0] >= PLAN_GAP)
        return ("plan" if past_usage else "pull"), last

    # -- series and verdict ----------------------------------------------------------------------

    def kills(self, count: int, *, clean_odds: float = 0.25) -> None:
        """Launch until ``count`` kills have landed; after a kill, a launch runs clean with
        ``clean_odds`` (a restart that must recover on its own). The world may change before each."""
        landed = 0
        clean = False
        attempts = 0
        while landed < count:
            attempts += 1
            assert attempts <= 4 * count + 10, f"only {landed} of {count} kills landed in {attempts} launches"
            shot = None if clean else self.draw()
            # A write kill needs something to write: a restart after a finished cycle has nothing.
            edits = self.edit_world(force=shot is not None and shot.aim == "write")
            launch = self.launch(shot, edits=edits)
            if launch.killed:
                landed += 1
                clean = self.rng.random() < clean_odds
            else:
                clean = False

    def verdict(self) -> Verdict:
        """One clean cycle, then what the CRM and the runs table say."""
        final = self.launch(None)
        statuses = run_statuses(self.state)
        tasks = upsync_tasks(self.sb, self.crm)
        keys = Counter(t["key"] for t in tasks)
        wanted = seat_heavy(self.sb, self.crm)
        open_by_account = Counter(t["account"] for t in tasks if _is_open(t, self.crm))
        verdict = Verdict(
            crm=self.crm,
            tasks=len(tasks),
            duplicates=sum(n - 1 for n in keys.values()),
            lost=sorted(a for a in wanted if open_by_account[a] == 0),
            stale=sorted(a for a, n in open_by_account.items() if a not in wanted or n > 1),
            running=statuses.count("running"),
            final_status=statuses[-1] if statuses else "none",
            final_rc=final.returncode,
            statuses=dict(Counter(statuses)),
        )
        self.say(f"verdict {self.crm}: {verdict}")
        return verdict

    def figures(self) -> dict[str, Any]:
        """Kills per phase, restarts, and recovery: after each kill, the launches left alone (not
        killed) until one ended ``ok``, and their seconds (1 launch is a restart that recovers at once)."""
        killed = [x for x in self.launches if x.killed]
        recoveries: list[tuple[int, float]] = []
        for i, x in enumerate(self.launches):
            if not x.killed or (i + 1 < len(self.launches) and self.launches[i + 1].killed):
                continue  # only the last kill of a row is followed by a restart left alone
            alone = list(itertools.takewhile(lambda y: not y.killed, self.launches[i + 1 :]))
            until_ok = list(itertools.takewhile(lambda y: y.returncode != 0, alone))
            if len(until_ok) < len(alone):
                runs = [*until_ok, alone[len(until_ok)]]
                recoveries.append((len(runs), sum(y.wall for y in runs)))
        n = len(recoveries) or 1
        return {
            "kills": len(killed),
            "per_phase": {p: sum(1 for x in killed if x.phase == p) for p in LANDED},
            "aimed": {p: sum(1 for x in killed if x.shot and x.shot.aim == p) for p in PHASES},
            "launches": len(self.launches),
            "restarts": len(self.launches) - 1,
            "missed": sum(1 for x in self.launches if x.shot and not x.killed),
            "recoveries": len(recoveries),
            "recovery_launches": round(sum(r[0] for r in recoveries) / n, 2),
            "recovery_seconds": round(sum(r[1] for r in recoveries) / n, 2),
        }


def _is_open(task: dict[str, Any], crm: str) -> bool:
    raw = task["raw"]
    status = raw["Status"] if crm == "salesforce" else raw["properties"]["hs_task_status"]
    return status not in ("Completed", "COMPLETED")


@dataclass
class ReplicaResult:
    returncodes: list[int]
    killed: str
    statuses: list[str]


def replicas(
    sandbox: Sandbox,
    crm: str,
    workdir: Path,
    url: str,
    count: int,
    *,
    seed: int,
    say: Callable[[str], None] = print,
) -> tuple[ReplicaResult, Chaos]:
    """``count`` processes start one cycle each at once on one PostgreSQL state; the one holding
    the writer lease is killed -9 at a random read or write of its cycle. The others must each
    run a whole cycle after it."""
    chaos = Chaos(sandbox, crm, workdir, seed=seed, state=url, say=say, case=f"replicas-{count}")
    shot = chaos.draw()
    while shot.aim not in ("pull", "write"):
        shot = chaos.draw()
    if shot.aim == "write":  # a fresh state's first cycle writes tasks, then fields: two calls at least
        shot = Shot("write", nth=min(shot.nth, 2), side=shot.side)
    # Each replica names itself to PostgreSQL, so the lease holder is found from pg_locks.
    names = [f"chaos-replica-{i}" for i in range(count)]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    killed: list[str] = []

    def kill_holder() -> None:
        import psycopg

        from sync.store.lease import advisory_key

        key = advisory_key("writer")
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = %s",
                (key,),
            ).fetchone()
        if row is None or row[0] not in procs:
            say(f"no replica holds the lease at the kill (holder: {row})")
            return
        killed.append(row[0])
        killer = _Killer(procs[row[0]])
        killer.fire()

    time.sleep(0.01)
    as_of = sandbox.world.now().isoformat()
    services = {name: s for name, s in sandbox.services.items() if name in (crm, "usage")}
    chaos._trip(shot, services, kill_holder)
    say(f"{count} replicas on one PostgreSQL state; the lease holder dies at {shot.describe()}")
    logs = []
    try:
        for name in names:
            log = (workdir / f"{name}.log").open("wb")
            logs.append(log)
            state = f"{url}?application_name={name}"
            cmd = upsync_cmd(
                "sync", "--once", "--tasks", "--config", str(chaos.config), "--state", state, "--as-of", as_of
            )
            procs[name] = subprocess.Popen(cmd, env=chaos.env, stdout=log, stderr=subprocess.STDOUT)
        codes = [procs[name].wait(timeout=LAUNCH_TIMEOUT) for name in names]
    finally:
        for service in services.values():
            service.faults.clear()
        for log in logs:
            log.close()
    result = ReplicaResult(codes, killed[0] if killed else "", run_statuses(url))
    say(f"replicas: return codes {dict(zip(names, codes, strict=True))}, killed {result.killed or 'none'}")
    say(f"runs: {result.statuses}")
    return result, chaos
