"""Why upsync thinks what it thinks about one account: features, every rule's verdict with the values
that decided it, the guards that held a rule back, and the next best action. Pure.

This is what ``upsync explain ACCOUNT`` prints; it is built from one :class:`~rules.engine.Evaluation`,
so it says exactly what the cycle decided, not a re-derivation of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from core.records import Action
from rules import engine, expr, guards
from rules.engine import EXTRA_FEATURES, Evaluation, RuleSet
from rules.features import FEATURES

__all__ = [
    "AccountExplanation",
    "FeatureValue",
    "HeldWindow",
    "RuleVerdict",
    "explain_account",
    "find_accounts",
    "held_windows",
]

_HAS_ITS_TASK = ("already written", "already written (closed)")
"""Skips that are not a window held back: the window has its task."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureValue:
    name: str
    group: str
    value: Any
    shown: str
    unit: str
    doc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleVerdict:
    """One rule on one account: did it fire, with which values, and what held it back."""

    rule_id: str
    kind: str
    signal: str
    title: str
    when: str
    fired: bool
    value: float | None
    verdict: str  # "fired", "held back" or "not fired"
    checks: tuple[tuple[str, Any], ...]  # each comparison / call / flag of `when`, with its value
    blocked: tuple[tuple[str, str], ...] = ()  # (guard id, why)
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountExplanation:
    account_id: str
    account_name: str
    as_of: str
    features: tuple[FeatureValue, ...]
    rules: tuple[RuleVerdict, ...]
    action: Action | None
    health_components: Mapping[str, Any] = field(default_factory=dict)
    held: tuple[HeldWindow, ...] = ()
    """Every rule that fired on the account and gets no task this cycle, with why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldWindow:
    """A rule that fired on an account and gets no task this cycle, and what holds it back: a
    guard (its id and reason), a held source, the cap or budget, an open task, the write policy."""

    account_id: str
    rule_id: str
    reason: str


def _guard_reasons(
    rule: engine.CompiledRule, row: Mapping[str, Any], blocked: list[str]
) -> tuple[tuple[str, str], ...]:
    params = dict(rule.guards)
    offer = rule.source.offer or (row.get(rule.source.offer_feature) if rule.source.offer_feature else None)
    return tuple((gid, guards.reason(gid, params[gid], row, rule.context(), offer=offer)) for gid in blocked)


def held_windows(
    evaluation: Evaluation,
    ruleset: RuleSet,
    *,
    skipped: Sequence[Any] = (),
    held_rules: Mapping[str, str] | None = None,
    account_id: str | None = None,
) -> list[HeldWindow]:
    """Why each rule that fired gets no task this cycle (of one account, or all): the guards that
    block it, a stale source holding the rule, then the plan's own reasons (``skipped``: the
    plan's :class:`~rules.plan.Skip` list; the cap counting this cycle, a budget, an open task,
    one task per account, an unknown anchor date). A window that has its task is not listed."""
    signals = evaluation.signals
    if account_id is not None:
        signals = signals.filter(pl.col("account") == account_id)
    out: list[HeldWindow] = []
    blocked = signals.filter(pl.col("blocked").list.len() > 0)
    if not blocked.is_empty():
        rows = {
            r["account"]: r
            for r in evaluation.features.join(blocked.select("account").unique(), on="account", how="semi").to_dicts()
        }
        for account, rule_id, gids in (
            blocked.select("account", "rule_id", "blocked").sort("account", "rule_id").iter_rows()
        ):
            reasons = _guard_reasons(ruleset.rule(rule_id), rows.get(account, {}), gids)
            out.append(
                HeldWindow(account_id=account, rule_id=rule_id, reason="; ".join(f"{g}: {w}" for g, w in reasons))
            )
    held = held_rules or {}
    if held:
        live = signals.filter((pl.col("blocked").list.len() == 0) & pl.col("rule_id").is_in(list(held)))
        out.extend(
            HeldWindow(account_id=a, rule_id=r, reason=f"held: {held[r]}")
            for a, r in live.select("account", "rule_id").sort("account", "rule_id").iter_rows()
        )
    seen: set[tuple[str, str, str]] = set()
    for skip in skipped:
        if (account_id is not None and skip.account_id != account_id) or skip.reason in _HAS_ITS_TASK:
            continue
        if (skip.account_id, skip.rule_id, skip.reason) not in seen:
            seen.add((skip.account_id, skip.rule_id, skip.reason))
            out.append(HeldWindow(account_id=skip.account_id, rule_id=skip.rule_id, reason=skip.reason))
    return out


def find_accounts(features: pl.DataFrame, query: str) -> list[tuple[str, str]]:
    """(id, name) of the accounts matching ``query``: its exact id, else names containing it
    (case-insensitive), best first."""
    exact = features.filter(pl.col("account") == query)
    if not exact.is_empty():
        return [(r["account"], r["account_name"] or "") for r in exact.select("account", "account_name").to_dicts()]
    named = features.filter(pl.col("account_name").str.to_lowercase().str.contains(query.lower(), literal=True))
    rows = named.select("account", "account_name").to_dicts()
    rows.sort(
        key=lambda r: (str(r["account_name"]).lower() != query.lower(), len(str(r["account_name"])), r["account"])
    )
    return [(r["account"], r["account_name"] or "") for r in rows]


def _catalogue() -> list[tuple[str, str, str, str]]:
    """(name, group, unit, doc) of every feature, base ones first."""
    out = [(f.name, f.group, f.unit, f.doc) for f in FEATURES]
    out += [(name, "evaluation", unit, doc) for name, (_, unit, doc) in EXTRA_FEATURES.items()]
    return out


def explain_account(
    evaluation: Evaluation,
    ruleset: RuleSet,
    account_id: str,
    *,
    system: Any,
    skipped: Sequence[Any] = (),
    held_rules: Mapping[str, str] | None = None,
) -> AccountExplanation:
    """One account as the cycle sees it; ``skipped`` and ``held_rules`` (the cycle's plan skips and
    held rules) say why a rule that fired gets no task this cycle."""
    row_frame = evaluation.features.filter(pl.col("account") == account_id)
    if row_frame.is_empty():
        raise KeyError(account_id)
    row: dict[str, Any] = row_frame.to_dicts()[0]
    values = tuple(
        FeatureValue(
            name=name,
            group=group,
            value=row.get(name),
            shown=engine.format_value(name, row.get(name)),
            unit=unit,
            doc=doc,
        )
        for name, group, unit, doc in _catalogue()
        if name in row
    )
    signals = {r["rule_id"]: r for r in evaluation.signals.filter(pl.col("account") == account_id).to_dicts()}
    verdicts = []
    for rule in ruleset.rules:
        hit = signals.get(rule.id)
        checks = tuple(expr.explain(rule.when.node, row))
        blocked: tuple[tuple[str, str], ...] = ()
        if hit is not None and hit["blocked"]:
            blocked = _guard_reasons(rule, row, hit["blocked"])
        verdict = "not fired" if hit is None else "held back" if blocked else "fired"
        verdicts.append(
            RuleVerdict(
                rule_id=rule.id,
                kind=rule.kind,
                signal=rule.source.signal,
                title=rule.title,
                when=rule.source.when,
                fired=hit is not None,
                value=hit["value"] if hit is not None else None,
                verdict=verdict,
                checks=checks,
                blocked=blocked,
                reason=engine.rule_reason(rule, row) if hit is not None else None,
            )
        )
    mine = dataclasses.replace(evaluation, actions=evaluation.actions.filter(pl.col("account") == account_id))
    acts = engine.actions(mine, ruleset, system=system)
    return AccountExplanation(
        account_id=account_id,
        account_name=str(row.get("account_name") or ""),
        as_of=evaluation.as_of.isoformat(),
        features=values,
        rules=tuple(verdicts),
        action=acts[0] if acts else None,
        health_components={
            k.removeprefix("health_"): row.get(k) for k in row if k.startswith("health_") and k != "health_band"
        },
        held=tuple(held_windows(evaluation, ruleset, skipped=skipped, held_rules=held_rules, account_id=account_id)),
    )
