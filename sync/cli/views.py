"""How the commands show things to a person: rich tables for a terminal, plain data for --json."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from sync.cli.app import console, err
from sync.store import Store

__all__ = [
    "age",
    "freshness_rows",
    "jsonable",
    "n",
    "plan_json",
    "print_cycle",
    "print_explanation",
    "print_plan",
    "print_pull_errors",
    "print_rule_state",
    "print_tasks",
]


def n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_cycle(report: Any, system: str) -> None:
    if report.skipped:
        err.print(f"[yellow]{escape(report.skipped)}[/]", markup=True, highlight=False)
        return
    table = Table(title=f"upsync cycle · {system} · as of {report.as_of:%Y-%m-%d %H:%M} UTC")
    table.add_column("step")
    table.add_column("result", overflow="fold")
    for pull in report.pulls:
        text = f"{n(pull.records, 'record')} in {n(pull.pages, 'page')}"
        if pull.problems:
            text += f", {len(pull.problems)} unreadable (see log)"
        if pull.error:
            text = f"[red]{escape(pull.error)}[/]" + (f"\nhint: {escape(pull.hint)}" if pull.hint else "")
        table.add_row(f"pull {pull.stream}", text)
    table.add_row(
        "evaluate",
        f"{n(report.signals, 'signal')} fired, {report.blocked} held back by guards; "
        f"{n(len(report.actions), 'next best action')}",
    )
    plan = report.plan
    reasons = Counter(s.reason.split(";")[0].split(":")[0] for s in plan.skipped)
    skipped = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    text = (
        f"{n(len(plan.writes), 'task')} to create, {len(plan.updates) - len(plan.closes)} to update, "
        f"{len(plan.closes)} to close, {n(len(plan.fields), 'account')} with fields to set"
    )
    if plan.holds:
        text += f"; {len(plan.holds)} left alone (a person edited them)"
    if skipped:
        text += f"; skipped: {escape(skipped)}"
    if report.tasks_held:
        text += f"\n[yellow]{escape(report.tasks_held)}[/]"
    for rule_id, why in report.cycle.held_rules.items() if report.cycle else ():
        text += f"\n[yellow]rule {escape(rule_id)} held: {escape(why)}[/]"
    table.add_row("plan", text)
    if report.held:
        table.add_row("write", f"[bold red]held[/]: {escape(report.held)}")
    elif report.applied is None:
        table.add_row("write", "dry run: nothing written")
    else:
        a = report.applied
        text = (
            f"{a.created} created, {a.reconciled} reconciled, {a.updated} updated, {a.closed} closed, "
            f"{n(a.fields, 'account')} fields set; {a.failed} refused, {a.unknown} unconfirmed "
            f"({n(a.calls, 'CRM call')}, {a.retried} retried, {a.call_seconds:.1f} s)"
        )
        if a.errors:
            text += "\n[red]" + escape("\n".join(a.errors)) + "[/]"
        table.add_row("write", text)
    console.print(table)
    print_pull_errors(report.pulls)


def print_pull_errors(pulls: Sequence[Any]) -> None:
    """Each distinct error of the pull once on stderr, as ``error:`` and ``hint:`` (the table has
    every stream): a host that cannot be reached is one problem, not one per stream."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for pull in pulls:
        if pull.error:
            groups.setdefault((pull.error.removeprefix(f"{pull.stream}: "), pull.hint), []).append(pull.stream)
    for (what, hint), streams in groups.items():
        more = f" (and {n(len(streams) - 1, 'more stream')})" if len(streams) > 1 else ""
        err.print(f"[bold red]error:[/] {escape(streams[0])}: {escape(what)}{more}", markup=True, highlight=False)
        if hint:
            err.print(f"[bold]hint:[/] {escape(hint)}", markup=True, highlight=False)


def plan_json(plan: Any, held: str, unasked: Sequence[str] = (), held_back: Sequence[Any] = ()) -> dict[str, Any]:
    def prov(p: Any) -> Any:
        if p is None:
            return None
        return {"rule_id": p.rule_id, "rule_hash": p.rule_hash, "as_of": p.as_of.isoformat(), "inputs": dict(p.inputs)}

    return {
        "tasks_held": held or None,
        "unasked": list(unasked),
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
        "held_back": [{"account_id": h.account_id, "rule_id": h.rule_id, "reason": h.reason} for h in held_back],
    }


_HELD_SHOWN = 30
"""Rules held back listed one per line by ``upsync plan`` (``--json`` has them all)."""


def print_plan(
    plan: Any, held: str, owners: Mapping[str, str], unasked: Sequence[str] = (), held_back: Sequence[Any] = ()
) -> None:
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
            escape(owners.get(owner, owner)),
            str(c["create"]),
            str(c["update"]),
            str(c["close"]),
            str(c["skipped"]),
        )
    console.print(table)
    changed = Counter(name for f in plan.fields for name in f.values if name != "as_of")
    console.print(
        f"fields: {n(len(plan.fields), 'account')} to update"
        + (f" ({', '.join(f'{count} {name}' for name, count in changed.most_common())})" if changed else "")
    )
    if plan.holds:
        console.print(f"left alone, a person edited them: {len(plan.holds)}")
        for h in plan.holds[:20]:
            console.print(f"  {h.kind} {h.account_id} {h.target}: {h.reason}", markup=False)
    reasons = Counter(k.reason for k in plan.skipped)
    for reason, count in reasons.most_common(8):
        console.print(f"skipped {count}: {reason}", markup=False)
    if held_back:
        console.print(
            f"ripe rules without a task this cycle: {len(held_back)} (`upsync explain ACCOUNT` for one account)"
        )
        for h in held_back[:_HELD_SHOWN]:
            console.print(f"  {h.account_id} {h.rule_id}: {h.reason}", markup=False)
        if len(held_back) > _HELD_SHOWN:
            console.print(f"  … and {len(held_back) - _HELD_SHOWN} more (--json lists them all)")
    if held:
        console.print(f"[yellow]{escape(held)}[/]")
    if unasked:
        console.print(
            f"{n(len(unasked), 'task or account')} changed since upsync wrote it: "
            "`upsync apply` asks the CRM who changed them before touching them"
        )
    if plan.empty:
        console.print("nothing to change")


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def print_explanation(result: Any, all_features: bool) -> None:
    from rich.panel import Panel

    head = f"[bold]{escape(result.account_name)}[/] ({escape(result.account_id)}) · as of {result.as_of[:16]} UTC"
    action = result.action
    if action is None:
        console.print(Panel(f"{head}\nno next best action: no rule stands", expand=False))
    else:
        lines = [
            head,
            f"next best action: [bold]{escape(action.subject)}[/]",
            f"rule {action.rule_id} ({action.kind}), score {action.score:,.0f}; lifecycle {action.lifecycle}",
            f"owner: {escape(action.owner_id) if action.owner_id else '[red]none[/]'} ({escape(action.owner_note)})",
            *(f"  · {escape(r)}" for r in action.reasons),
        ]
        console.print(Panel("\n".join(lines), expand=False))
    table = Table(title="features")
    for column in ("group", "feature", "value", "unit"):
        table.add_column(column)
    for f in result.features:
        if f.value is None and not all_features:
            continue
        table.add_row(f.group, f.name, escape(f.shown), f.unit)
    console.print(table)
    rules = Table(title="rules")
    for column in ("rule", "signal", "verdict", "decided by"):
        rules.add_column(column, overflow="fold")
    style = {"fired": "green", "held back": "yellow", "not fired": "dim"}
    for r in result.rules:
        checks = escape("; ".join(f"{text} → {_shown(value)}" for text, value in r.checks))
        if r.blocked:
            checks += "\n" + "\n".join(f"[yellow]{gid}: {escape(why)}[/]" for gid, why in r.blocked)
        rules.add_row(r.rule_id, r.signal, f"[{style[r.verdict]}]{r.verdict}[/]", checks)
    console.print(rules)
    if result.held:
        console.print("fired, but no task this cycle:")
        for h in result.held:
            console.print(f"  {h.rule_id}: {h.reason}", markup=False)


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def print_rule_state(store: Store, system: str) -> None:
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


def print_tasks(rows: list[tuple[str, dict[str, Any]]], totals: Mapping[str, int], per_crm: int = 12) -> None:
    table = Table(
        title="Tasks now in each CRM (read back through simple-salesforce and hubspot-api-client)",
        caption=" · ".join(f"{system}: {n} upsync tasks" for system, n in totals.items()),
    )
    for col in ("CRM", "account", "owner", "subject", "due", "priority", "task id"):
        table.add_column(col, overflow="fold")
    for system in totals:
        mine = sorted((t for s, t in rows if s == system), key=lambda t: (str(t["account"]), str(t["id"])))
        for t in mine[:per_crm]:
            cells = (t["account"], t["owner"], t["subject"] or "", t["due"] or "", t["priority"] or "", t["id"])
            table.add_row(system, *(escape(str(c)) for c in cells))
        if len(mine) > per_crm:
            table.add_row(system, f"… and {len(mine) - per_crm} more", "", "", "", "", "", end_section=True)
        else:
            table.add_section()
    console.print(table)


def print_backtest(result: Any, ruleset: Any, first: date, last: date) -> None:
    """Per rule and week: accounts fired / held back / tasks the replayed cycles would have created."""
    weekly = result.by_week()
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
    console.print(f"{result.tasks.height} tasks would have been created for {accounts} accounts; nothing was written")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_outcomes(result: Any, *, system: str, first: date, last: date, outcome_days: int) -> None:
    """The per-rule funnel (M10) and the over-selling watch (M11)."""
    days = outcome_days
    per_rule, total, m11 = result.rules, result.total, result.overselling
    table = Table(
        title=f"per-rule funnel · {system} · tasks created {first} → {last}",
        caption=f"deals count within {days} days after a task; revenue goes once, to the latest task "
        "before the deal; completed/opp/win % = completed ÷ tasks, tasks with a deal ÷ tasks, won ÷ with a deal",
    )
    heads = ("rule", "fired", "tasks", "completed", "declined", "withdrawn", "open", "opps", "won", "revenue")
    for col in (*heads, "completed %", "opp %", "win %"):
        table.add_column(col, justify="left" if col == "rule" else "right")
    for r in [*per_rule, *([total] if total else [])]:
        if r is total:
            table.add_section()
        table.add_row(
            r["rule_id"],
            *(f"{r[c]:,}" for c in ("fired", "tasks", "completed", "declined", "withdrawn", "open")),
            f"{r['opportunities']:,}",
            f"{r['won']:,}",
            f"{r['revenue']:,.0f}",
            _pct(r["task_to_completed"]),
            _pct(r["task_to_opportunity"]),
            _pct(r["opportunity_to_won"]),
        )
    if per_rule or total:
        console.print(table)
    else:
        console.print(f"no rules configured and nothing fired or written between {first} and {last}")
    line = f"M11 over-selling: {n(m11.tasks, 'task')} to {n(m11.accounts_offered, 'account')}"
    if m11.tasks_per_account_month_mean is not None:
        line += (
            f", {m11.tasks_per_account_month_mean:.1f} per contacted account and month"
            f" (max {m11.tasks_per_account_month_max})"
        )
    if m11.customers_at_start:
        line += (
            f"; churn {_pct(m11.offered_churn_rate)} of {m11.offered} offered customers"
            f" vs {_pct(m11.not_offered_churn_rate)} of {m11.not_offered} not offered"
        )
    else:
        line += "; churn: no contracts to compare"
    console.print(line, highlight=False)


def age(seconds: float) -> str:
    """A duration as a person reads it: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def freshness_rows(
    pulls: Mapping[str, Mapping[str, Any]],
    sources: Mapping[str, datetime | None],
    *,
    now: datetime,
    stale_after: float | None,
) -> list[tuple[str, str, str, str]]:
    """(source or stream, last successful pull, age, state) per source, then per stream under it.

    ``pulls``: stream → how its last pull ended (``Store.stream_pulls``); ``sources``: source →
    when all its streams last pulled without error; ``stale_after`` in seconds (None: never stale)."""

    def judged(ok_at: datetime | None, error: str | None, tried: str | None) -> tuple[str, str, str]:
        if ok_at is None:
            return "-", "-", f"failing: {error}" if error else "never pulled successfully"
        seconds = (now - ok_at).total_seconds()
        state = "fresh"
        if error:
            state = f"last try failed ({tried}): {error}"
        elif stale_after is not None and seconds > stale_after:
            state = f"stale (older than {age(stale_after)})"
        return f"{ok_at:%Y-%m-%d %H:%M} UTC", age(seconds), state

    rows: list[tuple[str, str, str, str]] = []
    for source, at in sources.items():
        rows.append((source, *judged(at, None, None)))
        for stream in sorted(s for s in pulls if s.split(".", 1)[0] == source):
            p = pulls[stream]
            ok_at = datetime.fromisoformat(p["ok_at"]) if p.get("ok_at") else None
            tried = p.get("tried_at")
            tried_at = f"{datetime.fromisoformat(tried):%Y-%m-%d %H:%M}" if tried else None
            rows.append((f"  {stream}", *judged(ok_at, p.get("error"), tried_at)))
    return rows
