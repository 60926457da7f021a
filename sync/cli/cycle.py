"""Commands that run the cycle or part of it: validate, sync, run, plan, apply, backfill, import-usage."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from core.clock import make_clock, parse_instant, system_clock
from core.errors import ConfigError, StateError, UpsyncError
from sync.cli.app import (
    AsOfOpt,
    ConfigOpt,
    StateOpt,
    TasksOpt,
    VerboseOpt,
    build_context,
    command,
    console,
    cycle_context,
    err,
    open_store,
    read_config,
    setup_logging,
)
from sync.cli.views import plan_json, print_cycle, print_plan
from sync.store import Store

if TYPE_CHECKING:
    from connectors.base import Stream
    from sync.pull import PullReport
    from sync.runner import Context

__all__ = ["apply", "backfill", "import_usage", "plan", "run", "sync", "validate"]


@command()
def validate(config: ConfigOpt = Path("config.toml"), state: StateOpt = None) -> None:
    """Check config.toml and its environment; print every problem at once."""
    settings = read_config(config, files=True).settings
    rules = ", ".join(r.id for r in settings.rules if r.enabled) or "none"
    console.print(f"[green]ok[/]: {config} (crm: {settings.upsync.crm}; rules: {rules})")
    if state is not None:
        Store.open(state).close()


@command()
def sync(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    once: Annotated[bool, typer.Option("--once", help="run one cycle and exit (else: the daemon, as `run`)")] = False,
    as_of: AsOfOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan, but write nothing to the CRM")] = False,
    tasks: TasksOpt = None,
    verbose: VerboseOpt = False,
) -> int:
    """Pull, evaluate, plan and write back: one cycle with --once."""
    if not once:
        return _daemon(config, state, verbose)
    setup_logging(verbose)
    from sync.observe.observer import Observer
    from sync.runner import run_cycle

    with cycle_context(config, state, as_of, dry_run=dry_run) as ctx:
        wait = ctx.settings.schedule.lease_wait_seconds
        observer = Observer(ctx.settings, os.environ, command="sync --once")
        report = observer.run(lambda: run_cycle(ctx, command="sync --once", tasks=tasks, wait_seconds=wait))
    print_cycle(report, ctx.settings.upsync.crm)
    return exit_code(report)


HELD_EXIT = 4
"""A cycle the circuit breaker held: nothing written until a person runs ``upsync apply --confirm``."""


def exit_code(report: Any) -> int:
    """0 ok; 1 errors (or skipped: another replica held the lease); 4 held by the breaker."""
    if report.held:
        return HELD_EXIT
    return 0 if report.ok else 1


@command()
def run(config: ConfigOpt = Path("config.toml"), state: StateOpt = None, verbose: VerboseOpt = True) -> int:
    """The daemon: a cycle now and every [schedule].every_minutes; SIGTERM stops it cleanly."""
    return _daemon(config, state, verbose)


def _daemon(config: Path, state: str | None, verbose: bool) -> int:
    setup_logging(verbose)
    from connectors.http import interruptible_sleep
    from sync.observe.observer import Observer
    from sync.runner import run_cycle
    from sync.scheduler import run_daemon

    loaded = read_config(config)
    settings = loaded.settings
    store = open_store(settings, state, config)
    ctx = build_context(loaded, store, system_clock, os.environ, False)
    log = logging.getLogger("upsync")
    # an alert's retry backoff ends at once on SIGTERM, as a connector's does
    observer = Observer(settings, os.environ, command="run", sleep=interruptible_sleep(ctx.stop, system="alerts"))

    def cycle() -> None:
        try:
            observer.run(lambda: run_cycle(ctx, command="run"))  # the runner logs its outcome, the observer counts it
        except UpsyncError as exc:
            log.error("cycle stopped: %s (hint: %s)", exc.message, exc.hint)

    log.info("upsync daemon: %s every %d min", settings.upsync.crm, settings.schedule.every_minutes)
    try:
        server = observer.serve()
    except UpsyncError:
        ctx.close()
        raise
    try:
        run_daemon(
            cycle,
            every_minutes=settings.schedule.every_minutes,
            jitter_seconds=settings.schedule.jitter_seconds,
            misfire_grace_seconds=settings.schedule.misfire_grace_seconds,
            first_run_at=system_clock(),
            stop=ctx.stop,
        )
    finally:
        if server is not None:
            server.stop()
        ctx.close()
    return 0


@command()
def plan(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    tasks: TasksOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="every change with its key and provenance, as JSON")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print what the next write-back would change in the CRM (from stored data); writes nothing."""
    setup_logging(verbose)
    from rules.explain import held_windows
    from sync.config import typed_rules
    from sync.runner import plan_cycle

    loaded = read_config(config)
    settings = loaded.settings
    with open_store(settings, state, config) as store:
        _, cycle = plan_cycle(store, settings, loaded.ruleset, as_of=make_clock(as_of)(), writer=None, tasks=tasks)
        owners = store.owner_names(settings.upsync.crm)
        ruleset = typed_rules(loaded.ruleset, store.crm_types(settings.upsync.crm))
    held = held_windows(cycle.evaluation, ruleset, skipped=cycle.plan.skipped, held_rules=cycle.held_rules)
    if as_json:
        data = plan_json(cycle.plan, cycle.tasks_held, cycle.unasked, held)
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        print_plan(cycle.plan, cycle.tasks_held, owners, cycle.unasked, held)


@command()
def apply(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    tasks: TasksOpt = None,
    confirm: Annotated[
        bool,
        typer.Option("--confirm", help="write a plan the circuit breaker held (you checked it) and release the hold"),
    ] = False,
    verbose: VerboseOpt = False,
) -> int:
    """Write the plan `upsync plan` prints (from stored data, no pull); honours dry_run."""
    setup_logging(verbose)
    from sync.observe.observer import Observer
    from sync.runner import run_cycle

    with cycle_context(config, state, as_of, dry_run=False) as ctx:
        wait = ctx.settings.schedule.lease_wait_seconds
        command = "apply --confirm" if confirm else "apply"
        observer = Observer(ctx.settings, os.environ, command=command)
        report = observer.run(
            lambda: run_cycle(ctx, command=command, pull=False, tasks=tasks, wait_seconds=wait, confirm=confirm)
        )
    print_cycle(report, ctx.settings.upsync.crm)
    return exit_code(report)


@command()
def backfill(
    source: Annotated[
        str, typer.Option("--source", help="salesforce, hubspot or usage (the CRM must be the config's)")
    ],
    objects: Annotated[
        str | None, typer.Option("--objects", help="comma-separated objects, e.g. accounts,contracts (default: all)")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="only records modified since this date (UTC)")] = None,
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    write: Annotated[
        bool, typer.Option("--write/--no-write", help="then evaluate and set upsync's account fields")
    ] = True,
    tasks: Annotated[bool, typer.Option("--tasks", help="also create tasks for what fires now")] = False,
    verbose: VerboseOpt = False,
) -> int:
    """One-shot history load: resumable after a kill, progress per object. Then sets upsync's
    account fields; creates no CRM tasks for the past unless --tasks."""
    setup_logging(verbose)
    from sync.runner import SKIPPED, backfill_streams, run_cycle

    loaded = read_config(config)
    settings = loaded.settings
    since_at = parse_instant(since, what="--since") if since else None
    wanted = {o.strip() for o in objects.split(",")} if objects else None
    ctx = build_context(loaded, open_store(settings, state, config), make_clock(as_of), os.environ, dry_run=True)
    try:
        streams = backfill_streams(ctx, source, wanted)
        with ctx.lease(wait_seconds=settings.schedule.lease_wait_seconds) as held:
            if not held:
                raise StateError(SKIPPED, hint="run the backfill when the other replica's cycle has finished")
            reports = _load_history(ctx, streams, since_at)
            failed = [r for r in reports if r.error]
            console.print(
                f"backfill: {sum(r.records for r in reports):,} records from {len(reports)} objects"
                + (f"; {len(failed)} stopped early: run it again to resume" if failed else "")
            )
            if write and not failed and not ctx.stop.is_set():
                ctx.dry_run = settings.upsync.dry_run
                cycle = run_cycle(ctx, command="backfill", pull=False, tasks=tasks)
                print_cycle(cycle, settings.upsync.crm)
                if not cycle.ok:
                    return 1
    finally:
        ctx.close()
    return 1 if failed else 0


def _load_history(ctx: Context, streams: Sequence[Stream], since: datetime | None) -> list[PullReport]:
    """The backfill's pulls, with a progress bar per object (records, rate)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sync.runner import backfill as load_history

    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed:>10,.0f} records"),
        TextColumn("{task.fields[rate]:>8} /s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:

        def progress(stream: str) -> Any:
            task = bar.add_task(stream, total=None, rate="-")
            began = time.monotonic()

            def tick(n: int) -> None:
                bar.advance(task, n)
                done = bar.tasks[task].completed
                bar.update(task, rate=f"{done / max(time.monotonic() - began, 1e-6):,.0f}")

            def done(error: str | None, hint: str | None) -> None:
                finished = bar.tasks[task].completed or 1
                bar.update(task, total=finished, completed=finished)
                if error:
                    bar.console.print(f"[red]{escape(error)}[/]" + (f"\nhint: {escape(hint)}" if hint else ""))

            return tick, done

        return load_history(ctx, streams, since=since, as_of=ctx.clock(), progress=progress)


@command(name="import-usage")
def import_usage(
    path: Annotated[Path, typer.Argument(help="a .csv or .ndjson export of daily usage")],
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
) -> int:
    """Load historical usage from a file export (same field mapping as the usage API)."""
    from sync.runner import import_usage_file

    settings = read_config(config).settings
    if not path.is_file():
        raise ConfigError(f"{path}: no such file", hint="pass the path of a .csv or .ndjson export")
    with open_store(settings, state, config) as store:
        stored, problems = import_usage_file(
            store,
            path,
            settings,
            clock=make_clock(as_of),
            on_problem=lambda p: err.print(f"skipped {p}", markup=False, highlight=False),
        )
    console.print(
        f"imported {stored:,} usage rows from {path.name}" + (f"; {problems} lines skipped" if problems else "")
    )
    return 1 if problems and not stored else 0
