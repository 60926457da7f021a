"""From an evaluation to the next best actions people read: values formatted, reasons written."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl

from core.records import Action
from rules import features, guards, nba
from rules.engine.evaluate import Evaluation
from rules.engine.ruleset import EXTRA_FEATURES, TEMPLATE_EXTRAS, CompiledRule, RuleSet, template_fields
from rules.plan import EPISODE, episode_column

UNITS: dict[str, str] = {f.name: f.unit for f in features.FEATURES} | {n: s[1] for n, s in EXTRA_FEATURES.items()}


def format_value(name: str, value: Any) -> str:
    """A feature value as a person reads it: ratios as percentages, whole numbers without decimals."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if UNITS.get(name) == "ratio":
            return f"{value:.0%}"
        if UNITS.get(name) == "x":
            return f"{value:.2f}×"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


class _SafeFormatter(string.Formatter):
    """``str.format`` where an unknown value reads "unknown" instead of failing its format spec,
    and a dotted feature name (``{crm.tier}``) is one name, not an attribute."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if field_name in kwargs:
            return kwargs[field_name], field_name
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "unknown"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        text: str = super().format_field(value, format_spec)
        return text


_FORMATTER = _SafeFormatter()


def render(template: str, values: Mapping[str, Any]) -> str:
    return _FORMATTER.vformat(template, (), dict(values))


def _jsonable(value: Any) -> float | int | str | None:
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _value_of(row: Mapping[str, Any], name: str) -> Any:
    """A feature's value, or a weekly series' latest week (``name@w0``) when the name is a series."""
    return row[name] if name in row else row.get(f"{name}@w0")


def _known_name(row: Mapping[str, Any], name: str) -> bool:
    return name in row or f"{name}@w0" in row


def rule_reason(rule: CompiledRule, row: Mapping[str, Any]) -> str:
    """Why ``rule`` fired on this row, for a person: its reason template, else its condition with
    the values of everything the condition names."""
    if rule.source.reason:
        return render(rule.source.reason, _template_values(rule, row))
    shown = ", ".join(f"{n} {format_value(n, _value_of(row, n))}" for n in rule.when.names if _known_name(row, n))
    return f"{rule.source.when} ({shown})" if shown else rule.source.when


def _template_values(rule: CompiledRule, row: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(row)
    values.update(
        account=row.get("account_name"),
        rule=rule.id,
        rule_title=rule.title,
        playbook=rule.source.playbook,
        offer=rule.source.offer or (row.get(rule.source.offer_feature) if rule.source.offer_feature else None),
    )
    return values


def _columns_for(rule: CompiledRule) -> set[str]:
    cols = set(rule.when.columns) | set(rule.when.names) | set(rule.reason_fields)
    for template in (rule.source.subject, rule.source.reason or ""):
        cols |= {name for name, _ in template_fields(template) if name not in TEMPLATE_EXTRAS}
    if rule.source.offer_feature:
        cols.add(rule.source.offer_feature)
    if rule.source.window == EPISODE:
        cols.add(episode_column(rule.id))
    return cols


def _supporting(evaluation: Evaluation, ruleset: RuleSet) -> dict[str, list[str]]:
    """Per account with an action: every rule standing on it, by value, then config order."""
    order = {r.id: k for k, r in enumerate(ruleset.rules)}
    live = (
        evaluation.signals.join(evaluation.actions.select("account"), on="account", how="semi")
        .filter(pl.col("blocked").list.len() == 0)
        .with_columns(pl.col("rule_id").replace_strict(order, default=len(order), return_dtype=pl.Int64).alias("_k"))
        .sort("account", "value", "_k", descending=[False, True, False])
    )
    out: dict[str, list[str]] = {}
    for account, rule_id in live.select("account", "rule_id").iter_rows():
        out.setdefault(account, []).append(rule_id)
    return out


def _every(evaluation: Evaluation, ruleset: RuleSet) -> pl.DataFrame:
    """Every unblocked signal as an action: the account's next best action (``primary``), and each
    other ripe rule routed to its own owner, scored by its value."""
    primary = evaluation.actions.with_columns(pl.lit(True).alias("primary"))
    others = (
        evaluation.signals.filter(pl.col("blocked").list.len() == 0)
        .join(primary.select("account", "rule_id"), on=["account", "rule_id"], how="anti")
        .join(primary.select("account"), on="account", how="semi")
        .join(evaluation.features.select("account", "lifecycle", "owner_id", "owner_active"), on="account")
        .select(
            "account",
            "lifecycle",
            "owner_id",
            "owner_active",
            "rule_id",
            "kind",
            "value",
            pl.col("value").alias("score"),
            pl.lit(1.0).alias("coinciding"),
        )
    )
    owners = evaluation.owners
    if owners is None:
        owners = pl.DataFrame(schema={"crm_id": pl.String(), "email": pl.String(), "active": pl.Boolean()})
    routed = nba.route(
        others,
        owners,
        routing=ruleset.params.routing,
        rule_owner={r.id: r.source.owner for r in ruleset.rules},
    ).with_columns(pl.lit(False).alias("primary"))
    return pl.concat([primary, routed], how="diagonal_relaxed")


def actions(
    evaluation: Evaluation, ruleset: RuleSet, *, system: Any, extra: Sequence[str] = (), every: bool = False
) -> list[Action]:
    """The evaluation's next best actions as values the planner and the CLI take; ``extra``
    features join every action's evidence (a sequence's anchor date, e.g. ``contract_end``).
    ``every``: each ripe (unblocked) rule as an action of its own, the next best action marked
    ``primary`` (``[writeback] tasks_per = "window"``)."""
    acts = _every(evaluation, ruleset) if every and not evaluation.actions.is_empty() else evaluation.actions
    if acts.is_empty():
        return []
    cols = {"account", "account_name", *extra}
    for rule in ruleset.rules:
        cols |= _columns_for(rule) | {guards.offers_column(rule.id)}
    present = [c for c in evaluation.features.columns if c in cols]
    rows = {
        r["account"]: r
        for r in evaluation.features.join(acts.select("account"), on="account", how="semi").select(present).to_dicts()
    }
    supports = _supporting(evaluation, ruleset)
    out = []
    for a in acts.sort("account", "rule_id").to_dicts():
        rule = ruleset.rule(a["rule_id"])
        row = rows.get(a["account"], {})
        reasons = [rule_reason(rule, row)]
        supporting = tuple(s for s in supports.get(a["account"], ()) if s != rule.id)
        for other_id in supporting:
            other = ruleset.rule(other_id)
            reasons.append(f"also {other.title.lower()}: {rule_reason(other, row)}")
        evidence = {
            n: _jsonable(_value_of(row, n))
            for n in (*rule.when.names, *rule.reason_fields, *extra)
            if _known_name(row, n)
        }
        if rule.source.window == EPISODE:  # the day this rule's run began: its task's period
            evidence[EPISODE] = _jsonable(row.get(episode_column(rule.id)))
        out.append(
            Action(
                system=system,
                account_id=a["account"],
                account_name=row.get("account_name") or "",
                rule_id=rule.id,
                kind=rule.kind,
                owner_id=a.get("owner"),
                owner_note=a.get("owner_note") or "",
                owner_name=a.get("owner_name"),
                role=a.get("role") or "",
                lifecycle=a.get("lifecycle") or "",
                value=float(a.get("value") or 0.0),
                score=float(a.get("score") or 0.0),
                subject=render(rule.source.subject, _template_values(rule, row)),
                reasons=tuple(reasons),
                supporting=supporting,
                evidence=evidence,
                primary=a.get("primary") is not False,
                offers=int(row.get(guards.offers_column(rule.id)) or 0),
            )
        )
    return out
