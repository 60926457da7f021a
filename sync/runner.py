"""One cycle, a straight line: gather → decide → apply → record.

The orchestration reads what the cycle needs once (:func:`gather`), hands it to the pure
:func:`rules.decide.decide`, writes the plan through the CRM's writer and records the outcome;
it decides nothing itself. ``as_of`` is the moment a cycle is computed for, from the pull's
signpost to the plan's keys.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import CrmConnector, Stream, TaskWriter
from connectors.usage.client import UsageConnector, read_usage_file
from connectors.usage.sql import SqlUsageConnector
from core import logfields
from core.clock import Clock
from core.errors import ConfigError, ConnectorError
from core.records import FIELD_NAMES, Action, EditSource, LedgerEntry
from core.tables import Tables
from rules import decide as decision
from rules.breaker import Volume
from rules.decide import CycleInputs, Decision
from rules.engine import Evaluation, RuleSet, task_rules
from rules.plan import CrmState, Plan, WritePolicy, field_suspects, task_suspects
from sync import hold
from sync.config import compile_rules, typed_rules
from sync.connect import cadences, connect_crm, connect_usage
from sync.pull import PullReport, backfill_stream, pull_stream
from sync.settings import Settings
from sync.store import Store
from sync.store.lease import Lease
from sync.writeback import ApplyReport, apply_plan

__all__ = [
    "Context",
    "RunReport",
    "backfill",
    "backfill_streams",
    "cadences",
    "connect_crm",
    "connect_usage",
    "evaluate_now",
    "fill_health_history",
    "gather",
    "import_usage_file",
    "owned_fields",
    "plan_cycle",
    "pull_all",
    "run_cycle",
    "write_policy",
]

log = logging.getLogger("upsync.runner")


def _note_types(ctx: Context) -> None:
    """Keep the extra CRM fields' types (describe / properties API, read once per connector) in
    the store, where every command compiles the rules with them (``upsync plan`` asks no CRM)."""
    crm = getattr(ctx.settings, ctx.system, None)
    if crm is None or not crm.extra_names():
        return
    try:
        types = dict(ctx.crm.extra_types())
        labels = dict(ctx.crm.extra_labels())
    except ConnectorError as exc:  # the accounts read met the same and said so; the last types stand
        log.warning("could not read the extra CRM fields' types: %s", exc)
        return
    if types != ctx.store.crm_types(ctx.system):
        ctx.store.set_crm_types(ctx.system, types)
    if labels != ctx.store.crm_labels(ctx.system):
        ctx.store.set_crm_labels(ctx.system, labels)


def _recall_schema(ctx: Context) -> None:
    """Hand the CRM connector the describe answers earlier runs kept: an incremental read asks none."""
    ctx.crm.remember_schema(ctx.store.crm_schema(ctx.system))


def _keep_schema(ctx: Context) -> None:
    """Keep what this run's reads learned of the CRM's schema for the next runs."""
    notes = dict(ctx.crm.schema_notes())
    if notes != ctx.store.crm_schema(ctx.system):
        ctx.store.set_crm_schema(ctx.system, notes)


def pull_all(
    ctx: Context,
    *,
    as_of: datetime,
    only: Callable[[str], bool] | None = None,
    progress: Callable[[str], Callable[[int], None] | None] | None = None,
) -> list[PullReport]:
    """Pull every stream of the CRM, then the usage API. After an auth or quota stop, the rest of
    that system's streams wait for the next run (their cursors untouched)."""
    reports: list[PullReport] = []
    _recall_schema(ctx)
    for connector in (ctx.crm, ctx.usage) if ctx.usage is not None else (ctx.crm,):
        full_refresh, deletes_every = cadences(ctx.settings, connector.system)
        halted: str | None = None
        report_quota = False
        first = len(reports)
        for stream in connector.streams:
            if only is not None and not only(stream.name):
                continue
            if ctx.stop.is_set():
                return reports
            if halted is not None:
                reports.append(PullReport(stream=stream.name, error=f"not read: {halted}", quota=report_quota))
                continue
            report = pull_stream(
                ctx.store,
                stream,
                as_of=as_of,
                clock=ctx.clock,
                stop=ctx.stop,
                full_refresh=full_refresh,
                deletes_every=deletes_every,
                progress=progress(stream.name) if progress else None,
            )
            reports.append(report)
            if report.halts_system:
                halted = f"{connector.system} stopped after {stream.name}"
                report_quota = report.quota
        read = reports[first:]
        if connector is ctx.crm and read:
            _note_types(ctx)
            _keep_schema(ctx)
        if only is None and read and not any(r.error or r.stopped for r in read):
            hold.note_pulled(ctx.store, connector.system, as_of=as_of)  # fresh: its rules may act
    return reports


def owned_fields(settings: Settings) -> tuple[str, ...]:
    """The account fields this config declares as upsync's (the only ones it ever writes)."""
    crm = settings.upsync.crm
    mapping = settings.salesforce.account_fields if crm == "salesforce" and settings.salesforce else None
    if crm == "hubspot" and settings.hubspot:
        mapping = settings.hubspot.company_properties
    return tuple(n for n in FIELD_NAMES if mapping and n in mapping)


def write_policy(settings: Settings) -> WritePolicy:
    """The write policy: ``[writeback]`` and the fields this CRM's config declares as upsync's."""
    return settings.writeback.policy(owned_fields(settings))


@dataclass
class Context:
    """Everything a cycle needs, built once by the CLI or the daemon."""

    settings: Settings
    store: Store
    crm: CrmConnector
    usage: UsageConnector | SqlUsageConnector | None  # None: no [usage] section, a CRM-only setup
    clock: Clock
    stop: threading.Event = field(default_factory=threading.Event)
    dry_run: bool = False
    _ruleset: RuleSet | None = None
    _leased: bool = False
    _lease: Lease | None = None

    @property
    def ruleset(self) -> RuleSet:
        """The rules, compiled once per context, and again when a pull read other types for the
        extra CRM fields than they were compiled with."""
        types = self.store.crm_types(self.system)
        if self._ruleset is None:
            self._ruleset = compile_rules(self.settings, types)
        self._ruleset = typed_rules(self._ruleset, types)
        return self._ruleset

    @property
    def system(self) -> str:
        return self.crm.system

    @contextmanager
    def lease(self, *, wait_seconds: float = 0.0) -> Iterator[bool]:
        """Hold the state's one-writer lease for the ``with`` block: True when held (at once, if this
        context holds it already), False when another replica holds it beyond ``wait_seconds``."""
        if self._leased:
            yield True
            return
        with self.store.writer_lease(wait_seconds=wait_seconds) as lease:
            self._leased = lease.held
            self._lease = lease
            try:
                yield lease.held
            finally:
                self._leased = False
                self._lease = None

    def lease_alive(self) -> bool:
        """Whether this context still holds the writer lease (asked before each write batch)."""
        return self._lease is None or self._lease.alive()

    def close(self) -> None:
        """Release the connectors and the store (the context owns all three)."""
        self.crm.close()
        if self.usage is not None:
            self.usage.close()
        self.store.close()


def _tables(store: Store, system: str, ruleset: RuleSet, *, as_of: datetime) -> Tables:
    """The rules' tables as of ``as_of``, usage read from as far back as missing health points need."""
    low, high = decision.health_window(ruleset, as_of)
    since = decision.read_since(ruleset, as_of, store.health_days(system, since=low, until=high))
    return store.rule_tables(system, since=since, until=as_of)


def gather(
    store: Store,
    system: str,
    ruleset: RuleSet,
    policy: WritePolicy,
    *,
    as_of: datetime,
    writer: TaskWriter | None,
    stale: Mapping[str, str] | None = None,
) -> CycleInputs:
    """Everything the cycle decides from, read once: the stored tables as of ``as_of``, the
    ledger, and upsync's tasks and fields as the CRM holds them. With a ``writer``, the CRM is
    asked who changed the few tasks and fields that moved since upsync wrote them (without one,
    as for ``upsync plan``, nothing is asked: a moved field counts as a person's, and the plan names
    what moved in ``Decision.unasked``). ``stale``: source → why its data is too old to act on."""
    ledger = store.ledger(system)
    crm = CrmState(
        tasks=store.own_tasks(system),
        accounts=store.account_states(system) if policy.fields else {},
        fields=store.field_memos(system) if policy.fields else {},
        labels=store.crm_labels(system),
    )
    if writer is not None:
        crm = _ask_who(writer, crm, ledger, policy.owned_fields)
    return CycleInputs(
        system=system,  # type: ignore[arg-type]
        tables=_tables(store, system, ruleset, as_of=as_of),
        ledger=ledger,
        crm=crm,
        writeback_started=store.meta(_writeback_key(system)) is not None,
        edits_asked=writer is not None,
        stale=dict(stale or {}),
    )


def _ask_who(
    writer: TaskWriter, state: CrmState, ledger: Mapping[str, LedgerEntry], owned: tuple[str, ...]
) -> CrmState:
    """Ask the CRM who changed the tasks and fields that moved since upsync wrote them."""
    tasks = task_suspects(ledger, state)
    fields = field_suspects(None, state, owned) if state.fields else {}
    task_edits: dict[str, EditSource] = {}
    account_edits: dict[str, EditSource] = {}
    try:
        if tasks:
            task_edits = writer.edit_sources("tasks", tasks)
        if fields:
            account_edits = writer.edit_sources("accounts", fields)
    except ConnectorError as exc:
        # Unknown authorship: a moved field is left alone as a person's, a task is checked again right
        # before any write (sync.writeback); both are asked about again next run.
        log.warning("cannot tell who edited %d tasks / %d accounts: %s", len(tasks), len(fields), exc)
    return replace(state, task_edits=task_edits, account_edits=account_edits)


def evaluate_now(store: Store, system: str, ruleset: RuleSet, *, as_of: datetime) -> Evaluation:
    """Every rule over every stored account of ``system`` as of ``as_of`` (reads only)."""
    ruleset = typed_rules(ruleset, store.crm_types(system))
    evaluation, _ = decision.evaluate(ruleset, _tables(store, system, ruleset, as_of=as_of), as_of=as_of)
    return evaluation


def fill_health_history(store: Store, system: str, ruleset: RuleSet, *, as_of: datetime) -> int:
    """Store the weekly health points the history lacks (a cycle does the same as it records);
    cheap when nothing is missing. Returns how many rows were written."""
    ruleset = typed_rules(ruleset, store.crm_types(system))
    low, high = decision.health_window(ruleset, as_of)
    if not decision.health_gaps(ruleset, as_of, store.health_days(system, since=low, until=high)):
        return 0
    rows = decision.missing_health(ruleset, _tables(store, system, ruleset, as_of=as_of), as_of=as_of)
    return store.save_health(system, rows) if not rows.is_empty() else 0


def plan_cycle(
    store: Store,
    settings: Settings,
    ruleset: RuleSet,
    *,
    as_of: datetime,
    writer: TaskWriter | None,
    tasks: bool | None = None,
) -> tuple[CycleInputs, Decision]:
    """Gather and decide, writing nothing. With a ``writer`` the CRM is asked who edited what
    moved since upsync wrote it; without one (``upsync plan``) nothing is called at all.
    ``tasks``: True creates tasks even on a first run or backfill, False never; None follows
    ``[writeback]``."""
    ruleset = typed_rules(ruleset, store.crm_types(settings.upsync.crm))
    policy = write_policy(settings)
    stale = hold.stale_inputs(store, settings, as_of=as_of)
    inputs = gather(store, settings.upsync.crm, ruleset, policy, as_of=as_of, writer=writer, stale=stale)
    rules = task_rules(ruleset, {p.id: p for p in settings.playbooks})
    return inputs, decision.decide(inputs, ruleset, policy, as_of=as_of, rules=rules, tasks=tasks)


def _writeback_key(system: str) -> str:
    return f"writeback_started:{system}"


def _record(ctx: Context, cycle: Decision, *, as_of: datetime) -> None:
    """Keep the day's health scores (and any weekly points the history lacked) and the signal log."""
    ctx.store.save_health(ctx.system, cycle.health)
    ctx.store.log_signals(ctx.system, cycle.evaluation.signals, day=as_of.date())


def _apply(ctx: Context, inputs: CycleInputs, cycle: Decision, *, as_of: datetime) -> ApplyReport:
    """Write the plan; the first write-back run is remembered (the flood guard's "first run").
    The control accounts are kept first: the day their tasks would have been written is today."""
    ctx.store.record_controls([asdict(c) for c in cycle.plan.controls], now=ctx.clock())
    applied = apply_plan(
        ctx.store, ctx.crm.writer, cycle.plan, inputs.ledger, clock=ctx.clock, stop=ctx.stop, leased=ctx.lease_alive
    )
    if ctx.store.meta(_writeback_key(ctx.system)) is None and not applied.stopped:
        ctx.store.set_meta(_writeback_key(ctx.system), as_of.isoformat())
    return applied


@dataclass(kw_only=True)
class RunReport:
    as_of: datetime
    pulls: list[PullReport]
    cycle: Decision | None
    applied: ApplyReport | None
    stopped: bool = False
    skipped: str = ""  # why the cycle did not run at all
    held: str = ""  # why the cycle's writes were held back (the circuit breaker), "" when they were not
    volume: Volume | None = None  # what the cycle changes, as the breaker counts it
    run_id: int | None = None  # the row in ``runs``

    @property
    def plan(self) -> Plan:
        return self.cycle.plan if self.cycle else Plan()

    @property
    def actions(self) -> tuple[Action, ...]:
        """Each account's next best action (the other ripe rules' actions are in ``cycle``)."""
        return tuple(a for a in self.cycle.actions if a.primary) if self.cycle else ()

    @property
    def tasks_held(self) -> str:
        return self.cycle.tasks_held if self.cycle else ""

    @property
    def signals(self) -> int:
        return self.cycle.evaluation.signals.height if self.cycle else 0

    @property
    def blocked(self) -> int:
        if self.cycle is None:
            return 0
        signals = self.cycle.evaluation.signals
        return signals.filter(signals.get_column("blocked").list.len() > 0).height

    def summary(self) -> dict[str, Any]:
        plan = self.plan
        applied = self.applied
        if self.skipped:
            return {"skipped": self.skipped}
        return {
            "pulled": {p.stream: p.records for p in self.pulls},
            "pull_errors": {p.stream: p.error for p in self.pulls if p.error},
            "problems": sum(len(p.problems) for p in self.pulls),
            "signals": self.signals,
            "blocked": self.blocked,
            "actions": len(self.actions),
            "planned": len(plan.writes),
            "updates": len(plan.updates),
            "field_writes": len(plan.fields),
            "skipped": len(plan.skipped),
            "holds": len(plan.holds),
            "tasks_held": self.tasks_held,
            "created": applied.created if applied else 0,
            "reconciled": applied.reconciled if applied else 0,
            "updated": applied.updated if applied else 0,
            "closed": applied.closed if applied else 0,
            "fields": applied.fields if applied else 0,
            "failed": applied.failed if applied else 0,
            "unknown": applied.unknown if applied else 0,
            "calls": applied.calls if applied else 0,
            "stopped": self.stopped,
            "held": self.held,
            "held_rules": dict(self.cycle.held_rules) if self.cycle else {},
            "volume": self.volume.as_dict() if self.volume and (applied or self.held) else None,
        }

    def errors(self) -> list[str]:
        """What went wrong, one line each: streams that stopped, writes that failed."""
        lines = [
            p.error if p.error.startswith(f"{p.stream}:") else f"{p.stream}: {p.error}" for p in self.pulls if p.error
        ]
        return lines + (list(self.applied.errors) if self.applied else [])

    @property
    def ok(self) -> bool:
        if self.skipped or self.held:
            return False
        return not any(p.error for p in self.pulls) and not (self.applied and self.applied.errors)

    @property
    def status(self) -> str:
        """The run's status as ``runs`` keeps it: ok, errors, held or skipped."""
        if self.skipped:
            return "skipped"
        if self.held:
            return "held"
        return "ok" if self.ok else "errors"


def run_cycle(
    ctx: Context,
    *,
    command: str = "sync",
    pull: bool = True,
    tasks: bool | None = None,
    wait_seconds: float = 0.0,
    confirm: bool = False,
) -> RunReport:
    """Pull every stream (unless ``pull`` is False: ``upsync apply``), then gather, decide, record
    and apply (unless a dry run), all as of the clock's moment, holding the state's one-writer
    lease. When another replica holds it beyond ``wait_seconds`` the cycle is skipped and says so.
    A cycle far from the last runs' volume is held by the breaker unless ``confirm`` (a person
    checked it: ``upsync apply --confirm``), which also releases an earlier hold."""
    with logfields.scoped():  # the run id bound below names this cycle's lines, and ends with it
        return _run_cycle(ctx, command=command, pull=pull, tasks=tasks, wait_seconds=wait_seconds, confirm=confirm)


def _run_cycle(
    ctx: Context, *, command: str, pull: bool, tasks: bool | None, wait_seconds: float, confirm: bool
) -> RunReport:
    as_of = ctx.clock()
    with ctx.lease(wait_seconds=wait_seconds) as held:
        if not held:
            return _skipped(ctx, command, as_of=as_of)
        killed = ctx.store.mark_killed(now=ctx.clock())
        if killed:
            log.warning("%d earlier runs ended without finishing (killed): marked killed", killed)
        run_id = ctx.store.start_run(command, started_at=as_of, as_of=as_of)
        logfields.bind(run_id=run_id)  # every line logged from here on names the run
        pulls = pull_all(ctx, as_of=as_of) if pull else []
        stopped = ctx.stop.is_set()
        inputs, cycle = plan_cycle(
            ctx.store, ctx.settings, ctx.ruleset, as_of=as_of, writer=ctx.crm.writer, tasks=tasks
        )
        _record(ctx, cycle, as_of=as_of)
        applied = None
        holding = ""
        volume = hold.volume(ctx.store, ctx.system, pulls, cycle.plan)
        refused = [p.stream for p in pulls if p.auth and p.stream.startswith(f"{ctx.system}.")]
        if refused:  # a write would be refused the same way, and would act on what could not be read
            log.error("%s refused upsync's credentials (%s): nothing is written this cycle", ctx.system, refused[0])
        elif not (ctx.dry_run or ctx.settings.upsync.dry_run) and not (stopped or ctx.stop.is_set()):
            holding = "" if confirm else hold.breaker_hold(ctx.store, ctx.settings, volume)
            if holding:
                log.error("cycle held: %s", holding)
            else:
                applied = _apply(ctx, inputs, cycle, as_of=as_of)
                stopped = stopped or applied.stopped
                if confirm and not applied.stopped and hold.release(ctx.store):
                    log.warning("the breaker's hold is released: this plan was confirmed and written")
        report = RunReport(
            as_of=as_of,
            pulls=pulls,
            cycle=cycle,
            applied=applied,
            stopped=stopped,
            held=holding,
            volume=volume,
            run_id=run_id,
        )
        ctx.store.finish_run(run_id, finished_at=ctx.clock(), status=report.status, summary=report.summary())
    if report.ok:
        log.info("cycle done: %s", report.summary())
    elif report.held:
        pass  # said above, with what releases it
    else:
        log.error("cycle ended with errors: %s", "; ".join(report.errors()) or report.summary())
    return report


SKIPPED = "another upsync holds this state's writer lease (a replica is running a cycle): skipped"


def _skipped(ctx: Context, command: str, *, as_of: datetime) -> RunReport:
    log.warning("cycle %s", SKIPPED)
    run_id = ctx.store.start_run(command, started_at=as_of, as_of=as_of)
    report = RunReport(as_of=as_of, pulls=[], cycle=None, applied=None, skipped=SKIPPED, run_id=run_id)
    ctx.store.finish_run(run_id, finished_at=ctx.clock(), status="skipped", summary=report.summary())
    return report


def backfill_streams(ctx: Context, source: str, objects: Collection[str] | None) -> list[Stream]:
    """The streams ``upsync backfill --source S --objects …`` names, or a ConfigError saying why not."""
    crm = ctx.settings.upsync.crm
    if source not in (crm, "usage"):
        raise ConfigError(
            f"--source {source!r}: this config reads {crm!r} and 'usage'",
            hint="pass --config with a config whose [upsync].crm is that CRM",
        )
    connector = ctx.usage if source == "usage" else ctx.crm
    if connector is None:
        raise ConfigError(NO_USAGE, hint=NO_USAGE_HINT)
    names = {s.name.split(".", 1)[1]: s for s in connector.streams}
    unknown = set(objects or ()) - set(names)
    if unknown:
        raise ConfigError(
            f"--objects: unknown {', '.join(sorted(unknown))}", hint=f"{source} objects: {', '.join(names)}"
        )
    return [s for name, s in names.items() if objects is None or name in objects]


NO_USAGE = "this config has no [usage] section: there is no usage to load"
NO_USAGE_HINT = "add [usage] with the usage API's base_url (its [usage.fields] map the export's items)"


Progress = Callable[[str], tuple[Callable[[int], None], Callable[[str | None, str | None], None]]]
"""stream name → (count records as they are stored, say how the stream ended: error and hint)."""


def backfill(
    ctx: Context, streams: Sequence[Stream], *, since: datetime | None, as_of: datetime, progress: Progress
) -> list[PullReport]:
    """Load history stream by stream (resumable after a kill); a spent API quota stops the rest."""
    reports = []
    _recall_schema(ctx)
    for stream in streams:
        tick, done = progress(stream.name)
        report = backfill_stream(
            ctx.store, stream, since=since, as_of=as_of, clock=ctx.clock, stop=ctx.stop, progress=tick
        )
        done(report.error, report.hint)
        reports.append(report)
        if report.error and report.quota:
            break
    _keep_schema(ctx)
    return reports


def import_usage_file(
    store: Store, path: Path, settings: Settings, *, clock: Clock, on_problem: Callable[[str], None]
) -> tuple[int, int]:
    """Load a usage export (``.ndjson`` read with ``[usage.fields]``, or ``.csv``): (rows stored,
    lines skipped); each skipped line is named ``file:line``."""
    if settings.usage is None:
        raise ConfigError(NO_USAGE, hint=NO_USAGE_HINT)
    stored = problems = 0
    latest = clock().date() + timedelta(days=1)  # usage is counted after the day: later is a bad date
    for page in read_usage_file(path, settings.usage):
        future = [r for r in page.records if r.values["day"] > latest]
        records = [r for r in page.records if r.values["day"] <= latest]
        store.commit_page(f"file:{path.name}", records, None, now=clock())
        stored += len(records)
        found = [*page.problems, *(f"{path.name}: {r.key}: the day is in the future (after {latest})" for r in future)]
        for problem in found:
            on_problem(problem)
        problems += len(found)
    if stored:  # an export is how some companies deliver usage: it counts as a fresh pull
        hold.note_pulled(store, "usage", as_of=clock())
    return stored, problems
