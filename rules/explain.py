"""Why upsync thinks what it thinks about one account: features, every rule's verdict with the values
that decided it, the guards that held a rule back, and the next best action. Pure.

This is what ``upsync explain ACCOUNT`` prints; it is built from one :class:`~rules.engine.Evaluation`,
so it says exactly what the cycle decided, not a re-derivation of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from core.records import Action
from rules import engine, expr, guards
from rules.engine import EXTRA_FEATURES, Evaluation, RuleSet
from rules.features import FEATURES

__all__ = ["AccountExplanation", "FeatureValue", "RuleVerdict", "explain_account", "find_accounts"]


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


def explain_account(evaluation: Evaluation, ruleset: RuleSet, account_id: str, *, system: Any) -> AccountExplanation:
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
            params = dict(rule.guards)
            offer = rule.source.offer or (row.get(rule.source.offer_feature) if rule.source.offer_feature else None)
            blocked = tuple(
                (gid, guards.reason(gid, params[gid], row, rule.context(), offer=offer)) for gid in hit["blocked"]
            )
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
    )
