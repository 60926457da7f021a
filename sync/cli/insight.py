"""Commands that read what upsync knows and write nothing: explain, backtest, report, status."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from core.clock import make_clock
from core.errors import ConfigError
from sync.cli.app import AsOfOpt, ConfigOpt, JsonOpt, StateOpt, command, console, err, open_store, read_config
from sync.cli.liftview import print_lift
from sync.cli.views import freshness_rows, jsonable, print_backtest, print_explanation, print_outcomes, print_rule_state

__all__ = ["backtest", "explain", "report", "status"]


@command()
def explain(
    account: Annotated[str, typer.Argument(help="the account's CRM id, or a part of its name")],
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    all_features: Annotated[bool, typer.Option("--all", help="list every feature, unknown ones too")] = False,
) -> int:
    """Why upsync thinks what it thinks about one account: features, every rule's verdict with the
    values that decided it, the guards that held it back, and the next best action. Reads only."""

    from rules.explain import explain_account, find_accounts
    from sync.config import typed_rules
    from sync.runner import plan_cycle

    loaded = read_config(config)
    settings = loaded.settings
    clock = make_clock(as_of)
    system = settings.upsync.crm
    with open_store(settings, state, config) as store:
        ruleset = typed_rules(loaded.ruleset, store.crm_types(system))
        # the cycle's own plan (nothing asked, nothing written): why a rule that fired gets no task
        _, cycle = plan_cycle(store, settings, ruleset, as_of=clock(), writer=None)
        evaluation = cycle.evaluation
    matches = find_accounts(evaluation.features, account)
    if not matches:
        raise ConfigError(
            f"no {system} account matches {account!r}",
            hint="pass the CRM id or part of the name; `upsync status` counts the accounts stored",
        )
    if len(matches) > 1 and matches[0][1].lower() != account.lower():
        listed = "; ".join(f"{name} ({crm_id})" for crm_id, name in matches[:10])
        raise ConfigError(f"{len(matches)} accounts match {account!r}: {listed}", hint="pass the CRM id")
    result = explain_account(
        evaluation, ruleset, matches[0][0], system=system, skipped=cycle.plan.skipped, held_rules=cycle.held_rules
    )
    if as_json:
        console.print_json(data=jsonable(result))
    else:
        print_explanation(result, all_features)
    return 0


@command()
def backtest(
    start: Annotated[str, typer.Option("--from", help="first day to replay (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="last day to replay (YYYY-MM-DD)")],
    every: Annotated[int, typer.Option("--every", min=1, help="replay every N-th day")] = 1,
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Replay the rules as of each day over stored history: what would have fired when, and the
    tasks the cycles would have created, per rule and week. Writes nothing."""

    from rules.backtest import backtest as replay
    from rules.decide import usage_since
    from sync.config import typed_rules

    loaded = read_config(config)
    settings = loaded.settings
    first, last = _period(start, end)
    ruleset = loaded.ruleset
    weeks = ruleset.params.features.series_weeks
    with open_store(settings, state, config) as store:
        ruleset = typed_rules(ruleset, store.crm_types(settings.upsync.crm))
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
    if as_json:
        weekly = result.by_week()
        console.print_json(
            data={
                "from": first.isoformat(),
                "to": last.isoformat(),
                "weeks": jsonable(weekly.to_dicts()),
                "tasks": jsonable(result.tasks.to_dicts()),
            }
        )
        return 0
    print_backtest(result, ruleset, first, last)
    return 0


@command()
def status(config: ConfigOpt = Path("config.toml"), state: StateOpt = None, as_of: AsOfOpt = None) -> None:
    """Freshness per source, cursors, recent runs, health bands, signals per rule and accounts with no
    usage match."""

    from sync.hold import last_pulled

    loaded = read_config(config)
    settings = loaded.settings
    store = open_store(settings, state, config)
    try:
        system = settings.upsync.crm
        counts = store.counts()
        console.print(
            f"state schema v{store.schema_version()}: {counts['accounts']} accounts, "
            f"{counts['usage_daily']} usage rows, {counts['ledger']} ledger entries"
        )
        sources = [system, *(["usage"] if settings.usage is not None else [])]
        stale_after = settings.breaker.params().stale_after
        fresh = Table(title="freshness: the last successful pull per source and stream")
        for col in ("source", "last successful pull", "age", "state"):
            fresh.add_column(col, overflow="fold")
        for row in freshness_rows(
            store.stream_pulls(),
            {s: last_pulled(store, s) for s in sources},
            now=make_clock(as_of)(),
            stale_after=stale_after.total_seconds() if stale_after else None,
        ):
            fresh.add_row(*(escape(c) for c in row))
        console.print(fresh)
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
            runs.add_row(str(r["id"]), r["command"], f"{r['as_of']:%Y-%m-%d %H:%M}", r["status"], escape(r["summary"]))
        console.print(runs)
        print_rule_state(store, system)
        # a CRM-only setup (no [usage]) reads no usage at all: no account is "unmatched"
        unmatched = store.unmatched_accounts(system) if settings.usage is not None else []
        if unmatched:
            t = Table(title=f"{len(unmatched)} accounts with no usage data (never silently dropped)")
            for col in ("crm id", "name", "workspace id"):
                t.add_column(col)
            for crm_id, name, ws in unmatched[:50]:
                t.add_row(crm_id, escape(name or ""), escape(ws or "(no workspace id on the account)"))
            console.print(t)
        orphans = store.unmatched_workspaces(system) if settings.usage is not None else []
        if orphans:  # usage that no account's rules will ever see: a workspace id or domain is missing in the CRM
            shown = ", ".join(escape(ws) for ws in orphans[:5]) + (", …" if len(orphans) > 5 else "")
            console.print(f"{len(orphans)} workspaces with usage match no CRM account: {shown}")
    finally:
        store.close()


@command()
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
    html: Annotated[
        Path | None,
        typer.Option("--html", help="write the report as one self-contained page (charts inline) to this file"),
    ] = None,
) -> int:
    """Did it work? First the period's revenue in plain words (NRR, GRR, expansion, churn, from the
    CRM's won deals), then per rule: accounts fired, tasks created, completed, declined, deals that
    followed, won and revenue (M10), the over-selling watch (M11), and treated vs control: what the
    tasks caused (the lift, with its 95 % interval). ``--html``: all of it as one page. Reads only."""

    from rules.engine import decline_statuses
    from rules.lift import lift
    from rules.metrics import outcomes
    from sync.cli.revenue import cross_sell_offers, headline, revenue_measures
    from sync.config import typed_rules

    loaded = read_config(config)
    settings = loaded.settings
    days = outcome_days or settings.writeback.outcome_days
    now = make_clock(as_of)()
    first, last = _period(start, end, today=now.date(), days=90)
    ruleset = loaded.ruleset
    system = settings.upsync.crm
    with open_store(settings, state, config) as store:
        tables = store.outcome_tables(system)
        revenue_inputs = store.revenue_tables(system)
        ruleset = typed_rules(ruleset, store.crm_types(system))
    replay = now if as_of is not None else None  # a replay sees no outcome after its --as-of
    declines = decline_statuses(ruleset)
    result = outcomes(
        tables,
        since=first,
        until=last,
        outcome_days=days,
        decline_statuses=declines,
        rule_ids=ruleset.ids,
        as_of=replay,
        contract_statuses=settings.features.activated_contract_statuses,
    )
    lifted = lift(tables, since=first, until=last, outcome_days=days, rule_ids=ruleset.ids, as_of=replay)
    revenue, mrr = revenue_measures(
        revenue_inputs,
        settings.revenue,
        first=first,
        last=last,
        as_of=now.date(),
        statuses=settings.features.activated_contract_statuses,
        offers=cross_sell_offers(tables, ruleset, first=first, last=last),
        outcome_days=days,
    )
    if html is not None:
        _write_page(
            html,
            store_args=(settings, state, config),
            system=system,
            first=first,
            last=last,
            days=days,
            rows=[*result.rules, *([result.total] if result.total else [])],
            tables=tables,
            lifted=lifted,
            mrr=mrr,
            currency=settings.revenue.currency,
        )
        return 0
    if as_json:
        console.print_json(
            data={
                "system": system,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "outcome_days": days,
                "as_of": replay.isoformat() if replay else None,
                "decline_statuses": declines,
                "rules": result.rules,
                "total": result.total,
                "overselling": jsonable(result.overselling),
                "lift": lifted.to_dicts(),
                "revenue": revenue,
            }
        )
        return 0
    console.print(escape(headline(revenue)), highlight=False)
    print_outcomes(result, system=system, first=first, last=last, outcome_days=days)
    print_lift(lifted.to_dicts(), outcome_days=days)
    return 0


def _write_page(
    path: Path,
    *,
    store_args: tuple[Any, str | None, Path],
    system: str,
    first: date,
    last: date,
    days: int,
    rows: list[dict[str, Any]],
    tables: Any,
    lifted: Any,
    mrr: Any,
    currency: str,
) -> None:
    """``report --html``: the page from the store's frames and this report's funnel; prints its path."""
    import polars as pl

    from rules.metrics import FUNNEL_SCHEMA
    from sync.report import build_page, report_data

    with open_store(*store_args) as store:
        data = report_data(
            store,
            system=system,
            first=first,
            last=last,
            outcome_days=days,
            funnel=pl.DataFrame(rows, schema=FUNNEL_SCHEMA),
            tables=tables,
            lift=lifted,
            mrr=mrr,
            currency=currency,
        )
    page = build_page(data)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"--html {path}: cannot write the page ({e.strerror})", hint="pass a writable path") from None
    console.print(str(path), highlight=False, soft_wrap=True)


def _period(start: str | None, end: str | None, *, today: date | None = None, days: int = 0) -> tuple[date, date]:
    """``--from`` and ``--to`` as dates, both included; left out, the period is the ``days`` up to ``today``."""
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else (last - timedelta(days=days - 1) if last else None)
    except ValueError:
        raise ConfigError(
            "--from and --to take dates: YYYY-MM-DD", hint="e.g. --from 2026-04-01 --to 2026-05-31"
        ) from None
    if first is None or last is None:
        raise ConfigError("--from and --to are required", hint="e.g. --from 2026-04-01 --to 2026-05-31")
    if last < first:
        raise ConfigError("--to is before --from")
    return first, last
