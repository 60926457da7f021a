"""The ``upsync`` command (typer + rich): validate, sync, run, plan, apply, crm, explain, backtest, report, status…

The only place that reads the system clock: every command builds one clock (the real one, or
a fixed one from ``--as-of``) and hands it down. Errors raised on purpose (UpsyncError) print
``error:`` and ``hint:`` and exit with their code; anything else is a bug: traceback, exit 70.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from core.clock import Clock, make_clock, parse_instant, system_clock
from core.errors import ConfigError, UpsyncError
from sync.settings import Settings, load_settings
from sync.store import Store

__all__ = ["app", "main"]

T = TypeVar("T")
app = typer.Typer(
    name="upsync",
    help="Tell your CRM, in native tasks and fields, which customers are ripe for an upsell, a cross-sell or a save.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file", show_default=True)]
StateOpt = Annotated[
    str | None, typer.Option("--state", help="state.db path or database URL (default: [upsync].state)")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="run as of this UTC date/time (ISO-8601) instead of now: replays and tests"),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="log every step")]
TasksOpt = Annotated[
    bool | None,
    typer.Option(
        "--tasks/--no-tasks",
        help="create tasks even on a first run or backfill (--tasks), or none at all (--no-tasks)",
        show_default=False,
    ),
]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=False)],
        force=True,
    )


def _guard(fn: Callable[[], T]) -> T:
    """Top-level error policy: UpsyncError → message + hint + its exit code; else a bug (70)."""
    try:
        return fn()
    except UpsyncError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"[bold]hint:[/] {exc.hint}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        err.print("upsync hit a bug; please report it with this traceback:")
        err.print(traceback.format_exc(), markup=False, highlight=False)
        raise typer.Exit(70) from None


def _settings(config: Path, env: Mapping[str, str] | None = None) -> Settings:
    return load_settings(config, os.environ if env is None else env)


def _open_store(settings: Settings, state: str | None, config: Path) -> Store:
    target = state or settings.upsync.state
    if "://" not in target and not Path(target).is_absolute() and state is None:
        target = str(config.parent / target)
    return Store.open(target)


@app.command()
def validate(config: ConfigOpt = Path("config.toml"), state: StateOpt = None) -> None:
    """Check config.toml and its environment; print every problem at once."""

    def body() -> None:
        settings = _settings(config)
        rules = ", ".join(r.id for r in settings.rules if r.enabled) or "none"
        console.print(f"[green]ok[/]: {config} (crm: {settings.upsync.crm}; rules: {rules})")
        if state is not None:
            Store.open(state).close()

    _guard(body)


def _build_context(settings: Settings, store: Store, clock: Clock, env: Mapping[str, str], dry_run: bool) -> Any:
    from sync.runner import Context, connect_crm, connect_usage

    return Context(
        settings=settings,
        store=store,
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=clock,
        dry_run=dry_run,
    )


@contextmanager
def _cycle_context(config: Path, state: str | None, as_of: str | None, *, dry_run: bool) -> Iterator[Any]:
    """The settings, store, connectors and clock of one command, closed when it ends."""
    settings = _settings(config)
    store = _open_store(settings, state, config)
    ctx = _build_context(settings, store, make_clock(as_of), os.environ, dry_run)
    try:
        yield ctx
    finally:
        ctx.close()


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _print_report(report: Any, system: str) -> None:
    table = Table(title=f"upsync cycle · {system} · as of {report.started_at:%Y-%m-%d %H:%M} UTC")
    table.add_column("step")
    table.add_column("result", overflow="fold")
    for pull in report.pulls:
        text = f"{_n(pull.records, 'record')} in {_n(pull.pages, 'page')}"
        if pull.problems:
            text += f", {len(pull.problems)} unreadable (see log)"
        if pull.error:
            text = f"[red]{pull.error}[/]" + (f"\nhint: {pull.hint}" if pull.hint else "")
        table.add_row(f"pull {pull.stream}", text)
    table.add_row(
        "evaluate",
        f"{_n(report.signals, 'signal')} fired, {report.blocked} held back by guards; "
        f"{_n(len(report.actions), 'next best action')}",
    )
    plan = report.plan
    reasons = Counter(s.reason.split(";")[0].split(":")[0] for s in plan.skipped)
    skipped = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    text = (
        f"{_n(len(plan.writes), 'task')} to create, {len(plan.updates) - len(plan.closes)} to update, "
        f"{len(plan.closes)} to close, {_n(len(plan.fields), 'account')} with fields to set"
    )
    if plan.holds:
        text += f"; {len(plan.holds)} left alone (a person edited them)"
    if skipped:
        text += f"; skipped: {skipped}"
    if report.tasks_held:
        text += f"\n[yellow]{report.tasks_held}[/]"
    table.add_row("plan", text)
    if report.applied is None:
        table.add_row("write", "dry run: nothing written")
    else:
        a = report.applied
        text = (
            f"{a.created} created, {a.reconciled} reconciled, {a.updated} updated, {a.closed} closed, "
            f"{_n(a.fields, 'account')} fields set; {a.failed} refused, {a.unknown} unconfirmed "
            f"({_n(a.calls, 'CRM call')})"
        )
        if a.errors:
            text += "\n[red]" + "\n".join(a.errors) + "[/]"
        table.add_row("write", text)
    console.print(table)


@app.command()
def sync(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    once: Annotated[bool, typer.Option("--once", help="run one cycle and exit (else: the daemon, as `run`)")] = False,
    as_of: AsOfOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan, but write nothing to the CRM")] = False,
    tasks: TasksOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Pull, evaluate, plan and write back: one cycle with --once."""
    if not once:
        run(config=config, state=state, verbose=verbose)
        return
    _setup_logging(verbose)

    def body() -> int:
        from sync.runner import run_cycle

        with _cycle_context(config, state, as_of, dry_run=dry_run) as ctx:
            report = run_cycle(ctx, command="sync --once", tasks=tasks)
        _print_report(report, ctx.settings.upsync.crm)
        return 0 if report.ok else 1

    code = _guard(body)
    if code:
        raise typer.Exit(code)


@app.command()
def run(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    verbose: VerboseOpt = True,
) -> None:
    """The daemon: a cycle now and every [schedule].every_minutes; SIGTERM stops it cleanly."""
    _setup_logging(verbose)

    def body() -> None:
        from sync.runner import run_cycle
        from sync.scheduler import run_daemon

        settings = _settings(config)
        store = _open_store(settings, state, config)
        ctx = _build_context(settings, store, system_clock, os.environ, False)
        log = logging.getLogger("upsync")

        def cycle() -> None:
            try:
                run_cycle(ctx, command="run")
            except UpsyncError as exc:
                log.error("cycle stopped: %s (hint: %s)", exc.message, exc.hint)

        log.info("upsync daemon: %s every %d min", settings.upsync.crm, settings.schedule.every_minutes)
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
            ctx.close()

    _guard(body)


@app.command()
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
) -> None:
    """One-shot history load: resumable after a kill, progress per object. Then sets upsync's
    account fields; creates no CRM tasks for the past unless --tasks."""
    _setup_logging(verbose)

    def body() -> int:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from sync.pull import backfill_stream

        settings = _settings(config)
        if source not in (settings.upsync.crm, "usage"):
            raise ConfigError(
                f"--source {source!r}: this config reads {settings.upsync.crm!r} and 'usage'",
                hint="pass --config with a config whose [upsync].crm is that CRM",
            )
        clock = make_clock(as_of)
        since_at = parse_instant(since, what="--since") if since else None
        wanted = {o.strip() for o in objects.split(",")} if objects else None
        store = _open_store(settings, state, config)
        ctx = _build_context(settings, store, clock, os.environ, dry_run=True)
        connector = ctx.usage if source == "usage" else ctx.crm
        streams = [s for s in connector.streams if wanted is None or s.name.split(".", 1)[1] in wanted]
        unknown = (wanted or set()) - {s.name.split(".", 1)[1] for s in connector.streams}
        if unknown:
            ctx.close()
            known = ", ".join(s.name.split(".", 1)[1] for s in connector.streams)
            raise ConfigError(f"--objects: unknown {', '.join(sorted(unknown))}", hint=f"{source} objects: {known}")
        started = clock()
        reports = []
        columns = (
            TextColumn("{task.description:<28}"),
            BarColumn(),
            TextColumn("{task.completed:>10,.0f} records"),
            TextColumn("{task.fields[rate]:>8} /s"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=console, transient=False) as bar:
                for stream in streams:
                    task = bar.add_task(stream.name, total=None, rate="-")
                    began = time.monotonic()

                    def tick(n: int, task: Any = task, began: float = began) -> None:
                        bar.advance(task, n)
                        done = bar.tasks[task].completed
                        bar.update(task, rate=f"{done / max(time.monotonic() - began, 1e-6):,.0f}")

                    report = backfill_stream(
                        store, stream, since=since_at, run_started_at=started, clock=clock, stop=ctx.stop, progress=tick
                    )
                    bar.update(task, total=bar.tasks[task].completed or 1, completed=bar.tasks[task].completed or 1)
                    reports.append(report)
                    if report.error:
                        bar.console.print(f"[red]{report.error}[/]" + (f"\nhint: {report.hint}" if report.hint else ""))
                        if report.quota:
                            break
            failed = [r for r in reports if r.error]
            console.print(
                f"backfill: {sum(r.records for r in reports):,} records from {len(reports)} objects"
                + (f"; {len(failed)} stopped early: run it again to resume" if failed else "")
            )
            if write and not failed and not ctx.stop.is_set():
                from sync.runner import run_cycle

                ctx.dry_run = settings.upsync.dry_run
                cycle = run_cycle(ctx, command="backfill", pull=False, tasks=tasks)
                _print_report(cycle, settings.upsync.crm)
                if not cycle.ok:
                    return 1
        finally:
            ctx.close()
        return 1 if failed else 0

    code = _guard(body)
    if code:
        raise typer.Exit(code)


@app.command()
def plan(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    tasks: TasksOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="every change with its key and provenance, as JSON")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print what the next write-back would change in the CRM (from stored data); writes nothing."""
    _setup_logging(verbose)

    def body() -> None:
        from sync.runner import plan_cycle

        with _cycle_context(config, state, as_of, dry_run=True) as ctx:
            cycle = plan_cycle(ctx, as_of=ctx.clock(), record=False, tasks=tasks)
            if as_json:
                print(json.dumps(_plan_json(cycle.plan, cycle.tasks_held), indent=2, default=str, ensure_ascii=False))
            else:
                _print_plan(cycle.plan, cycle.tasks_held, ctx.store.owner_names(ctx.settings.upsync.crm))

    _guard(body)


@app.command()
def apply(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    tasks: TasksOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write the plan `upsync plan` prints (from stored data, no pull); honours dry_run."""
    _setup_logging(verbose)

    def body() -> int:
        from sync.runner import run_cycle

        with _cycle_context(config, state, as_of, dry_run=False) as ctx:
            report = run_cycle(ctx, command="apply", pull=False, tasks=tasks)
        _print_report(report, ctx.settings.upsync.crm)
        return 0 if report.ok else 1

    code = _guard(body)
    if code:
        raise typer.Exit(code)


def _plan_json(plan: Any, held: str) -> dict[str, Any]:
    def prov(p: Any) -> Any:
        if p is None:
            return None
        return {"rule_id": p.rule_id, "rule_hash": p.rule_hash, "as_of": p.as_of.isoformat(), "inputs": dict(p.inputs)}

    return {
        "tasks_held": held or None,
        "create": [
            {
                "key": t.key,
                "rule_id": t.rule_id,
                "account_id": t.account_id,
                "owner_id": t.owner_id,
                "subject": t.subject,
                "due_on": t.due_on.isoformat(),
                "priority": t.priority,
                "step": t.step,
                "reconcile": t in plan.reconciles,
                "body": t.body,
                "provenance": prov(t.provenance),
            }
            for t in plan.writes
        ],
        "update": [
            {
                "key": u.key,
                "rule_id": u.rule_id,
                "account_id": u.account_id,
                "close": u.close,
                "owner_id": u.owner_id,
                "priority": u.priority,
                "reason": u.reason,
                "provenance": prov(u.provenance),
            }
            for u in plan.updates
        ],
        "fields": [
            {"key": f.key, "account_id": f.account_id, "values": dict(f.values), "provenance": prov(f.provenance)}
            for f in plan.fields
        ],
        "held": [
            {"kind": h.kind, "account_id": h.account_id, "target": h.target, "value": h.value, "reason": h.reason}
            for h in plan.holds
        ],
        "skipped": [
            {"key": k.key, "rule_id": k.rule_id, "account_id": k.account_id, "owner_id": k.owner_id, "reason": k.reason}
            for k in plan.skipped
        ],
    }


def _print_plan(plan: Any, held: str, owners: Mapping[str, str]) -> None:
    groups: dict[tuple[str, str], Counter[str]] = {}
    for t in plan.writes:
        groups.setdefault((t.rule_id, t.owner_id or "-"), Counter())["create"] += 1
    for u in plan.updates:
        groups.setdefault((u.rule_id, u.owner_id or "-"), Counter())["close" if u.close else "update"] += 1
    for k in plan.skipped:
        groups.setdefault((k.rule_id, k.owner_id or "-"), Counter())["skipped"] += 1
    table = Table(title="upsync plan: task changes by rule and owner")
    for col in ("rule", "owner", "create", "update", "close", "skipped"):
        table.add_column(col, justify="right" if col not in ("rule", "owner") else "left")
    for (rule_id, owner), c in sorted(groups.items()):
        table.add_row(
            rule_id,
            owners.get(owner, owner),
            str(c["create"]),
            str(c["update"]),
            str(c["close"]),
            str(c["skipped"]),
        )
    console.print(table)
    changed = Counter(name for f in plan.fields for name in f.values if name != "as_of")
    console.print(
        f"fields: {_n(len(plan.fields), 'account')} to update"
        + (f" ({', '.join(f'{n} {name}' for name, n in changed.most_common())})" if changed else "")
    )
    if plan.holds:
        console.print(f"left alone, a person edited them: {len(plan.holds)}")
        for h in plan.holds[:20]:
            console.print(f"  {h.kind} {h.account_id} {h.target}: {h.reason}")
    reasons = Counter(k.reason for k in plan.skipped)
    for reason, n in reasons.most_common(8):
        console.print(f"skipped {n}: {reason}")
    if held:
        console.print(f"[yellow]{held}[/]")
    if plan.empty:
        console.print("nothing to change")


crm_app = typer.Typer(help="Check or prepare the CRM for upsync's fields and task key.", no_args_is_help=True)
app.add_typer(crm_app, name="crm")


def _schema(config: Path, *, setup: bool) -> int:
    settings = _settings(config)
    from sync.runner import connect_crm

    crm = connect_crm(settings, os.environ)
    try:
        report = crm.writer.setup_schema() if setup else crm.writer.check_schema()
    finally:
        crm.close()
    for name in report.present:
        console.print(f"[green]ok[/]       {name}")
    for name in report.created:
        console.print(f"[green]created[/]  {name}")
    for name in report.missing:
        console.print(f"[red]missing[/]  {name}")
    if report.instructions:
        console.print("\nAn admin must:")
        for line in report.instructions:
            console.print(f"  - {line}")
    console.print("ready: upsync can write back" if report.ok else "[red]not ready[/]: see above")
    return 0 if report.ok else 1


@crm_app.command("check")
def crm_check(config: ConfigOpt = Path("config.toml")) -> None:
    """Verify (describe / properties API) that every field upsync writes exists; print what is missing."""
    code = _guard(lambda: _schema(config, setup=False))
    if code:
        raise typer.Exit(code)


@crm_app.command("setup")
def crm_setup(config: ConfigOpt = Path("config.toml")) -> None:
    """Create upsync's property group and properties where the CRM allows it (HubSpot)."""
    code = _guard(lambda: _schema(config, setup=True))
    if code:
        raise typer.Exit(code)


@app.command("import-usage")
def import_usage(
    path: Annotated[Path, typer.Argument(help="a .csv or .ndjson export of daily usage")],
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Load historical usage from a file export (same field mapping as the usage API)."""

    def body() -> int:
        from connectors.usage.client import read_usage_file

        settings = _settings(config)
        assert settings.usage is not None
        if not path.is_file():
            raise ConfigError(f"{path}: no such file", hint="pass the path of a .csv or .ndjson export")
        clock = make_clock(as_of)
        store = _open_store(settings, state, config)
        stored = problems = 0
        try:
            for page in read_usage_file(path, settings.usage):
                store.commit_page(f"file:{path.name}", page.records, None, now=clock())
                stored += len(page.records)
                for problem in page.problems:
                    err.print(f"skipped {problem}", markup=False, highlight=False)
                problems += len(page.problems)
        finally:
            store.close()
        console.print(
            f"imported {stored:,} usage rows from {path.name}" + (f"; {problems} lines skipped" if problems else "")
        )
        return 1 if problems and not stored else 0

    code = _guard(body)
    if code:
        raise typer.Exit(code)


JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


@app.command()
def explain(
    account: Annotated[str, typer.Argument(help="the account's CRM id, or a part of its name")],
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    all_features: Annotated[bool, typer.Option("--all", help="list every feature, unknown ones too")] = False,
) -> None:
    """Why upsync thinks what it thinks about one account: features, every rule's verdict with the
    values that decided it, the guards that held it back, and the next best action. Reads only."""

    def body() -> int:
        from rules.explain import explain_account, find_accounts
        from sync.runner import evaluate_now

        settings = _settings(config)
        clock = make_clock(as_of)
        system = settings.upsync.crm
        with _open_store(settings, state, config) as store:
            evaluation = evaluate_now(store, system, settings.ruleset(), as_of=clock())
        matches = find_accounts(evaluation.features, account)
        if not matches:
            raise ConfigError(
                f"no {system} account matches {account!r}",
                hint="pass the CRM id or part of the name; `upsync status` counts the accounts stored",
            )
        if len(matches) > 1 and matches[0][1].lower() != account.lower():
            listed = "; ".join(f"{name} ({crm_id})" for crm_id, name in matches[:10])
            raise ConfigError(f"{len(matches)} accounts match {account!r}: {listed}", hint="pass the CRM id")
        result = explain_account(evaluation, settings.ruleset(), matches[0][0], system=system)
        if as_json:
            console.print_json(data=_jsonable(result))
        else:
            _print_explanation(result, all_features)
        return 0

    code = _guard(body)
    if code:
        raise typer.Exit(code)


def _jsonable(value: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _print_explanation(result: Any, all_features: bool) -> None:
    from rich.panel import Panel

    head = f"[bold]{result.account_name}[/] ({result.account_id}) · as of {result.as_of[:16]} UTC"
    action = result.action
    if action is None:
        console.print(Panel(f"{head}\nno next best action: no rule stands", expand=False))
    else:
        lines = [
            head,
            f"next best action: [bold]{action.subject}[/]",
            f"rule {action.rule_id} ({action.kind}), score {action.score:,.0f}; lifecycle {action.lifecycle}",
            f"owner: {action.owner_id or '[red]none[/]'} ({action.owner_note})",
            *(f"  · {r}" for r in action.reasons),
        ]
        console.print(Panel("\n".join(lines), expand=False))
    table = Table(title="features")
    for column in ("group", "feature", "value", "unit"):
        table.add_column(column)
    for f in result.features:
        if f.value is None and not all_features:
            continue
        table.add_row(f.group, f.name, f.shown, f.unit)
    console.print(table)
    rules = Table(title="rules")
    for column in ("rule", "signal", "verdict", "decided by"):
        rules.add_column(column, overflow="fold")
    style = {"fired": "green", "held back": "yellow", "not fired": "dim"}
    for r in result.rules:
        checks = "; ".join(f"{text} → {_shown(value)}" for text, value in r.checks)
        if r.blocked:
            checks += "\n" + "\n".join(f"[yellow]{gid}: {why}[/]" for gid, why in r.blocked)
        rules.add_row(r.rule_id, r.signal, f"[{style[r.verdict]}]{r.verdict}[/]", checks)
    console.print(rules)


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


@app.command()
def backtest(
    start: Annotated[str, typer.Option("--from", help="first day to replay (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="last day to replay (YYYY-MM-DD)")],
    every: Annotated[int, typer.Option("--every", min=1, help="replay every N-th day")] = 1,
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay the rules as of each day over stored history: what would have fired when, and the
    tasks the cycles would have created, per rule and week. Writes nothing."""

    def body() -> int:
        from datetime import timedelta

        from rules.backtest import backtest as replay
        from sync.runner import usage_since

        settings = _settings(config)
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            raise ConfigError(
                "--from and --to take dates: YYYY-MM-DD", hint="e.g. --from 2026-04-01 --to 2026-05-31"
            ) from None
        if last < first:
            raise ConfigError("--to is before --from")
        ruleset = settings.ruleset()
        weeks = ruleset.params.features.series_weeks
        with _open_store(settings, state, config) as store:
            tables = store.rule_tables(
                settings.upsync.crm,
                since=usage_since(ruleset, first - timedelta(days=7 * weeks)),
                until=datetime.combine(first, datetime.min.time(), timezone.utc),
            )
        with err.status("replaying") as status:
            result = replay(
                ruleset,
                tables,
                start=first,
                end=last,
                every=every,
                system=settings.upsync.crm,
                progress=lambda d: status.update(f"replaying {d.isoformat()}"),
            )
        weekly = result.by_week()
        if as_json:
            console.print_json(
                data={
                    "from": first.isoformat(),
                    "to": last.isoformat(),
                    "weeks": _jsonable(weekly.to_dicts()),
                    "tasks": _jsonable(result.tasks.to_dicts()),
                }
            )
            return 0
        table = Table(title=f"backtest {first} → {last}: accounts fired / held back / tasks, per week")
        table.add_column("rule")
        weeks_seen = weekly.get_column("week").unique().sort().to_list()
        for week in weeks_seen:
            table.add_column(week, justify="right")
        table.add_column("tasks", justify="right")
        cells = {(r["rule_id"], r["week"]): r for r in weekly.to_dicts()}
        for rule in ruleset.rules:
            row = [rule.id]
            for week in weeks_seen:
                c = cells.get((rule.id, week))
                row.append(f"{c['fired']}/{c['held']}/{c['tasks']}" if c and (c["fired"] or c["held"]) else "·")
            row.append(str(result.tasks.filter(result.tasks.get_column("rule_id") == rule.id).height))
            table.add_row(*row)
        console.print(table)
        accounts = result.tasks.get_column("account").n_unique() if result.tasks.height else 0
        console.print(
            f"{result.tasks.height} tasks would have been created for {accounts} accounts; nothing was written"
        )
        return 0

    code = _guard(body)
    if code:
        raise typer.Exit(code)


def _print_rule_state(store: Store, system: str) -> None:
    """The latest day's health bands and, per rule, the accounts it last fired on or was held back."""
    bands = store.health_bands(system)
    if bands:
        day, counts = bands
        shown = ", ".join(f"{counts.get(b, 0)} {b}" for b in ("green", "yellow", "red"))
        console.print(f"health on {day}: {shown}")
    rows = store.signal_summary(system)
    if rows:
        table = Table(title="signals (signal log)")
        for col in ("rule", "accounts fired", "held back", "last fired on"):
            table.add_column(col, justify="right" if col != "rule" else "left")
        for r in rows:
            table.add_row(r["rule_id"], str(r["fired"]), str(r["held"]), str(r["last_fired_on"] or "-"))
        console.print(table)


@app.command()
def status(config: ConfigOpt = Path("config.toml"), state: StateOpt = None) -> None:
    """Cursors, recent runs, health bands, signals per rule and accounts with no usage match."""

    def body() -> None:
        settings = _settings(config)
        store = _open_store(settings, state, config)
        try:
            system = settings.upsync.crm
            counts = store.counts()
            console.print(
                f"state schema v{store.schema_version()}: {counts['accounts']} accounts, "
                f"{counts['usage_daily']} usage rows, {counts['ledger']} ledger entries"
            )
            cursors = Table(title="cursors")
            for col in ("stream", "position", "last key"):
                cursors.add_column(col)
            for name, cur in sorted(store.cursors().items()):
                cursors.add_row(name, f"{cur.last_value:%Y-%m-%d %H:%M:%S} UTC", cur.last_key or "-")
            console.print(cursors)
            runs = Table(title="recent runs")
            for col in ("id", "command", "as of", "status", "summary"):
                runs.add_column(col, overflow="fold")
            for r in store.last_runs():
                runs.add_row(str(r["id"]), r["command"], f"{r['as_of']:%Y-%m-%d %H:%M}", r["status"], r["summary"])
            console.print(runs)
            _print_rule_state(store, system)
            unmatched = store.unmatched_accounts(system)
            if unmatched:
                t = Table(title=f"{len(unmatched)} accounts with no usage data (never silently dropped)")
                for col in ("crm id", "name", "workspace id"):
                    t.add_column(col)
                for crm_id, name, ws in unmatched[:50]:
                    t.add_row(crm_id, name, ws or "(no workspace id on the account)")
                console.print(t)
        finally:
            store.close()

    _guard(body)


@app.command()
def sandbox(
    config: ConfigOpt = Path("config.toml"),
    as_of: AsOfOpt = None,
    accounts: Annotated[int, typer.Option(help="customers in the sample world")] = 300,
    seed: Annotated[int, typer.Option(help="seed of the sample world")] = 7,
) -> None:
    """Serve the HTTPS stand-ins (Salesforce, HubSpot, usage API) on the ports config.toml names."""

    def body() -> None:
        from sandbox.server import start_sandbox
        from sandbox.world import build_world

        settings = _settings(config, env=_sandbox_env(config))
        ports = {
            "salesforce": _port(settings.salesforce.instance_url if settings.salesforce else None),
            "hubspot": _port(settings.hubspot.base_url if settings.hubspot else None),
            "usage": _port(settings.usage.base_url if settings.usage else None),
        }
        ca_file = next(
            (s.ca_file for s in (settings.salesforce, settings.hubspot, settings.usage) if s and s.ca_file),
            (config.parent / ".sandbox" / "ca.pem").resolve(),
        )
        world = build_world(seed=seed, accounts=accounts, anchor=make_clock(as_of)())
        with start_sandbox(world, ca_path=Path(ca_file), ports=ports) as sb:
            console.print(f"upsync sandbox: {accounts} customers as of {world.anchor:%Y-%m-%d %H:%M} UTC")
            for name, svc in sb.services.items():
                console.print(f"  {name:<10} {svc.url}")
            console.print(f"  CA file    {sb.ca_path}")
            console.print("tokens (sandbox only, export them in another shell):")
            for name, var in _token_vars(settings).items():
                console.print(f"  export {var}={world.tokens[name]}")
            console.print("Ctrl-C stops the sandbox.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("sandbox stopped")

    _guard(body)


def _port(url: str | None) -> int:
    if not url:
        return 0
    tail = url.split("://", 1)[-1].split("/", 1)[0]
    return int(tail.rsplit(":", 1)[1]) if ":" in tail else 443


def _token_vars(settings: Settings) -> dict[str, str]:
    return {
        name: section.token_env
        for name, section in (
            ("salesforce", settings.salesforce),
            ("hubspot", settings.hubspot),
            ("usage", settings.usage),
        )
        if section is not None
    }


def _sandbox_env(config: Path) -> dict[str, str]:
    """Env for settings that talk to the sandbox: every token_env set to the sandbox token."""
    import tomllib

    from sandbox.world import SANDBOX_TOKENS as tokens

    env = dict(os.environ)
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return env
    defaults = {"salesforce": "SALESFORCE_TOKEN", "hubspot": "HUBSPOT_TOKEN", "usage": "USAGE_TOKEN"}
    for name, default in defaults.items():
        section = raw.get(name)
        var = section.get("token_env", default) if isinstance(section, dict) else default
        env[str(var)] = tokens[name]
    return env


@app.command()
def demo(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    accounts: Annotated[int, typer.Option(help="customers in the sample world")] = 300,
    verbose: VerboseOpt = False,
) -> None:
    """Start the sandbox in-process, run one cycle against Salesforce and one against HubSpot,
    and print the tasks now in each CRM, read back through the client libraries."""
    _setup_logging(verbose)

    def body() -> None:
        from sandbox.server import start_sandbox
        from sandbox.world import build_world
        from sync.runner import run_cycle

        clock = system_clock
        env = _sandbox_env(config)
        base = _settings(config, env=env)
        with tempfile.TemporaryDirectory(prefix="upsync-demo-") as tmp:
            world = build_world(seed=7, accounts=accounts, anchor=clock())
            with start_sandbox(world, ca_path=Path(tmp) / "ca.pem") as sb:
                console.print(
                    f"sandbox up: Salesforce {sb.salesforce.url}, HubSpot {sb.hubspot.url}, usage {sb.usage.url}"
                )
                rows: list[tuple[str, dict[str, Any]]] = []
                totals: dict[str, int] = {}
                for system in ("salesforce", "hubspot"):
                    settings = _point_at_sandbox(base, sb, system)
                    target = state or str(Path(tmp) / f"demo-{system}.db")
                    if state is not None and "://" not in state:
                        target = f"{state}.{system}"
                    store = Store.open(target)
                    ctx = _build_context(settings, store, clock, env, False)
                    try:
                        report = run_cycle(ctx, command="demo", tasks=True)
                        _print_report(report, system)
                        tasks = ctx.crm.writer.list_tasks()
                        names = store.account_names(system)
                        owners = store.owner_names(system)
                        by_key = {k: e.account_id for k, e in store.ledger(system).items()}
                        for t in tasks:
                            account_id = t["account_id"] or by_key.get(t["key"] or "")
                            t["account"] = names.get(account_id or "", account_id or "?")
                            t["owner"] = owners.get(t["owner_id"] or "", t["owner_id"] or "?")
                            rows.append((system, t))
                        totals[system] = len(tasks)
                    finally:
                        ctx.close()
                _print_tasks(rows, totals)

    _guard(body)


def _point_at_sandbox(base: Settings, sb: Any, system: str) -> Settings:
    upsync = base.upsync.model_copy(update={"crm": system, "dry_run": False})
    updates: dict[str, Any] = {"upsync": upsync}
    if base.salesforce is not None:
        updates["salesforce"] = base.salesforce.model_copy(
            update={"instance_url": sb.salesforce.url, "ca_file": sb.ca_path}
        )
    if base.hubspot is not None:
        updates["hubspot"] = base.hubspot.model_copy(update={"base_url": sb.hubspot.url, "ca_file": sb.ca_path})
    if base.usage is not None:
        updates["usage"] = base.usage.model_copy(update={"base_url": sb.usage.url, "ca_file": sb.ca_path})
    return base.model_copy(update=updates)


def _print_tasks(rows: list[tuple[str, dict[str, Any]]], totals: Mapping[str, int], per_crm: int = 12) -> None:
    table = Table(
        title="Tasks now in each CRM (read back through simple-salesforce and hubspot-api-client)",
        caption=" · ".join(f"{system}: {n} upsync tasks" for system, n in totals.items()),
    )
    for col in ("CRM", "account", "owner", "subject", "due", "priority", "task id"):
        table.add_column(col, overflow="fold")
    for system in totals:
        mine = sorted((t for s, t in rows if s == system), key=lambda t: (str(t["account"]), str(t["id"])))
        for t in mine[:per_crm]:
            table.add_row(
                system, t["account"], t["owner"], t["subject"] or "", t["due"] or "", t["priority"] or "", t["id"]
            )
        if len(mine) > per_crm:
            table.add_row(system, f"… and {len(mine) - per_crm} more", "", "", "", "", "", end_section=True)
        else:
            table.add_section()
    console.print(table)


@app.command()
def report(
    start: Annotated[
        str | None, typer.Option("--from", help="first day of the period (YYYY-MM-DD; default: 89 days before --to)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="last day of the period (YYYY-MM-DD; default: today, or --as-of's day)")
    ] = None,
    outcome_days: Annotated[
        int | None,
        typer.Option(
            "--outcome-days",
            min=1,
            help="days after a task within which a new deal is its outcome (default: [writeback])",
        ),
    ] = None,
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Did it work? Per rule: accounts fired, tasks created, completed, declined, deals that followed,
    won and revenue (M10), and the over-selling watch (M11). Reads only."""

    def body() -> int:
        from datetime import timedelta

        from rules.guards import DeclineCooldown
        from rules.metrics import TOTAL, funnel, overselling

        settings = _settings(config)
        days = outcome_days or settings.writeback.outcome_days
        now = make_clock(as_of)()
        try:
            last = date.fromisoformat(end) if end else now.date()
            first = date.fromisoformat(start) if start else last - timedelta(days=89)
        except ValueError:
            raise ConfigError(
                "--from and --to take dates: YYYY-MM-DD", hint="e.g. --from 2026-03-01 --to 2026-05-31"
            ) from None
        if last < first:
            raise ConfigError("--to is before --from")
        ruleset = settings.ruleset()
        declines = dict.fromkeys(settings.guards.G3.decline_statuses)  # G3's "no", and every rule's own
        for rule in ruleset.rules:
            for _gid, guard in rule.guards:
                if isinstance(guard, DeclineCooldown):
                    declines.update(dict.fromkeys(guard.decline_statuses))
        system = settings.upsync.crm
        with _open_store(settings, state, config) as store:
            tables = store.outcome_tables(system)
        replay = now if as_of is not None else None  # a replay sees no outcome after its --as-of
        rows = funnel(
            tables,
            since=first,
            until=last,
            outcome_days=days,
            decline_statuses=list(declines),
            rule_ids=ruleset.ids,
            as_of=replay,
        ).to_dicts()
        m11 = overselling(
            tables, since=first, until=last, contract_statuses=settings.features.activated_contract_statuses
        )
        per_rule = [r for r in rows if r["rule_id"] != TOTAL]
        total = next((r for r in rows if r["rule_id"] == TOTAL), None)
        if as_json:
            console.print_json(
                data={
                    "system": system,
                    "from": first.isoformat(),
                    "to": last.isoformat(),
                    "outcome_days": days,
                    "as_of": replay.isoformat() if replay else None,
                    "decline_statuses": list(declines),
                    "rules": per_rule,
                    "total": total,
                    "overselling": _jsonable(m11),
                }
            )
            return 0

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.0%}"

        table = Table(
            title=f"per-rule funnel · {system} · tasks created {first} → {last}",
            caption=f"deals count within {days} days after a task; revenue goes once, to the latest task "
            "before the deal; completed/opp/win % = completed ÷ tasks, tasks with a deal ÷ tasks, won ÷ with a deal",
        )
        heads = ("rule", "fired", "tasks", "completed", "declined", "withdrawn", "open", "opps", "won", "revenue")
        for col in (*heads, "completed %", "opp %", "win %"):
            table.add_column(col, justify="left" if col == "rule" else "right")
        for r in [*per_rule, *([total] if total else [])]:
            if r["rule_id"] == TOTAL:
                table.add_section()
            table.add_row(
                r["rule_id"],
                *(f"{r[c]:,}" for c in ("fired", "tasks", "completed", "declined", "withdrawn", "open")),
                f"{r['opportunities']:,}",
                f"{r['won']:,}",
                f"{r['revenue']:,.0f}",
                pct(r["task_to_completed"]),
                pct(r["task_to_opportunity"]),
                pct(r["opportunity_to_won"]),
            )
        if rows:
            console.print(table)
        else:
            console.print(f"no rules configured and nothing fired or written between {first} and {last}")
        line = f"M11 over-selling: {_n(m11.tasks, 'task')} to {_n(m11.accounts_offered, 'account')}"
        if m11.tasks_per_account_month_mean is not None:
            line += (
                f", {m11.tasks_per_account_month_mean:.1f} per contacted account and month"
                f" (max {m11.tasks_per_account_month_max})"
            )
        if m11.customers_at_start:
            line += (
                f"; churn {pct(m11.offered_churn_rate)} of {m11.offered} offered customers"
                f" vs {pct(m11.not_offered_churn_rate)} of {m11.not_offered} not offered"
            )
        else:
            line += "; churn: no contracts to compare"
        console.print(line, highlight=False)
        return 0

    code = _guard(body)
    if code:
        raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
