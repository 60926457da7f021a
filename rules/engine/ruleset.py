"""A rule set: the rules as written (``[[rules]]``), compiled, and the parameters they run with."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from core.errors import RuleError
from rules import features, guards
from rules.copurchase import MiningParams
from rules.expr import Compiled, Schema, Type
from rules.features import FeatureParams
from rules.guards import GUARDS, Guard, RuleContext
from rules.health import COMPONENTS, HealthParams
from rules.nba import NbaParams, Routing
from rules.plan import TaskRule, rule_hash
from rules.playbooks import Playbook

_RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
Kind = Literal["upsell", "cross-sell", "save", "review"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSource:
    """One ``[[rules]]`` entry as written in config.toml."""

    id: str
    kind: Kind
    when: str
    playbook: str
    signal: str = ""  # the signal(s) it implements (the README's S1–S18), e.g. "S5" or "S2, S8"
    description: str = ""
    value: str = "1"  # expected value (currency): ranks actions; an expression over features
    priority: Literal["high", "normal", "low"] = "normal"
    owner: str = "auto"  # a role (see [roles]), or auto: the responsibility table decides
    guards: tuple[str, ...] | None = None  # replaces the guards that apply to the kind by default
    skip_guards: tuple[str, ...] = ()
    guard_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    window: str = "month"  # week, month, quarter or a date feature: at most one task per account per window
    due_in_days: int = 3
    subject: str = "{rule_title}: {account_name}"
    reason: str | None = None  # template naming the values that make it true (G8)
    offer: str | None = None  # cross-sell: the product offered…
    offer_feature: str | None = None  # …or the text feature holding it (copurchase_product, group_product)
    offer_kind: Literal["upsell", "cross-sell", "renewal", "save", "review"] | None = None
    """What G3 reads a lost deal as a no to for this rule (``renewal`` for a renewal offer); default its kind."""
    control_share: float | None = None
    """Share of ripe accounts kept without a task, per window, to measure the rule's effect (a
    randomized control group); None: ``[writeback] control_share`` (0.10); 0 turns it off."""
    enabled: bool = True

    def __post_init__(self) -> None:
        if not _RULE_ID.fullmatch(self.id):
            raise ValueError(f"rule id {self.id!r} must be kebab-case, e.g. seats-near-limit")
        if not 0 <= self.due_in_days <= 365:
            raise ValueError("due_in_days must be between 0 and 365")
        if len(self.subject) > 200:
            raise ValueError("subject must be at most 200 characters")


def default_guards() -> dict[str, Guard]:
    return {gid: info.type() for gid, info in GUARDS.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineParams:
    """Everything but the rules: feature definitions, health, co-purchase, guards, NBA, routing."""

    features: FeatureParams = field(default_factory=FeatureParams)
    health: HealthParams = field(default_factory=HealthParams)
    mining: MiningParams = field(default_factory=MiningParams)
    guards: Mapping[str, Guard] = field(default_factory=default_guards)
    nba: NbaParams = field(default_factory=NbaParams)
    routing: Routing = field(default_factory=Routing)
    crm: Mapping[str, str | None] = field(default_factory=dict)
    """The admin's extra CRM fields as features (``crm.mrr_rollup__c``) → their CRM type (number,
    bool, text, date, datetime), or None while the CRM has not been asked (see ``compile``)."""
    anchors: Mapping[str, str] = field(default_factory=dict)
    """Sequence playbooks (A4) → their anchor date feature: a sequence's tasks share one period,
    its anchor date, and count once against G2."""
    control_share: float = 0.10
    """The control share of a rule that sets none (``[writeback] control_share``)."""


EXTRA_FEATURES: dict[str, tuple[Type, str, str]] = {
    "health": (Type.number, "0-100", "health score: weighted components ([health])"),
    "health_band": (Type.text, "", "green, yellow or red"),
    **{f"health_{c}": (Type.number, "0-100", f"health component: {c}") for c in COMPONENTS},
    "copurchase_product": (Type.text, "", "the product co-purchase evidence says to offer (S15)"),
    "copurchase_from": (Type.text, "", "the owned product that evidence starts from"),
    "copurchase_confidence": (Type.number, "ratio", "share of owners of copurchase_from who added it"),
    "copurchase_lift": (Type.number, "x", "how much likelier than at large"),
    "copurchase_support": (Type.number, "ratio", "share of all accounts that made the pair"),
    "copurchase_lag_days": (Type.number, "days", "median days from the first product to the second"),
    "copurchase_evidence": (Type.text, "", "the evidence in a sentence"),
    "group_product": (Type.text, "", "the first product its group owns and it does not (S16)"),
    "lifecycle": (Type.text, "", "prospect, at_risk, onboarding, renewal, expansion or adoption (A7)"),
    "signals_14d": (Type.number, "rules", "distinct rules fired unblocked within [nba].coincide_days (S12)"),
}
"""Features the evaluation adds to the base catalogue (documented with it in the README)."""
STAGE_TWO = frozenset({"signals_14d"})


def full_schema(params: FeatureParams, crm: Mapping[str, Type] | None = None) -> Schema:
    """Every feature a rule may read: the catalogue, the evaluation's and the typed CRM fields."""
    return features.feature_schema(params, {**{name: spec[0] for name, spec in EXTRA_FEATURES.items()}, **(crm or {})})


TEMPLATE_EXTRAS: dict[str, Type] = {
    "account": Type.text,
    "rule": Type.text,
    "rule_title": Type.text,
    "offer": Type.text,
    "playbook": Type.text,
}
"""Names a subject or reason template may use besides features."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in one rule: which rule, which key, where in the text, and a hint."""

    index: int
    rule_id: str
    key: str
    message: str
    hint: str | None = None
    where: str | None = None  # a key path outside [[rules]] (health.weights.crm.x), instead of the rule's

    @property
    def path(self) -> str:
        return self.where or f"rules[{self.index}] ({self.rule_id}).{self.key}"


class RuleSetError(RuleError):
    """The rule set has problems; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p.path}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the rules:\n{lines}", hint="fix the rules named above")


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledRule:
    source: RuleSource
    when: Compiled
    value: Compiled
    offer: pl.Expr | None
    guards: tuple[tuple[str, Guard], ...]
    reason_fields: tuple[str, ...]
    stage: int
    window: Compiled | None = None
    """The window as a date (a date feature, or an expression such as ``started(…)``); None for a
    calendar window. The features frame carries it as a column named by the window's text."""

    @property
    def id(self) -> str:
        return self.source.id

    @property
    def expressions(self) -> tuple[Compiled, ...]:
        """Every expression of the rule the features must serve: condition, value, window."""
        return (self.when, self.value) if self.window is None else (self.when, self.value, self.window)

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def offer_kind(self) -> str:
        return self.source.offer_kind or self.source.kind

    @property
    def reads_usage(self) -> bool:
        """Its condition or value reads usage (a stale usage feed holds it: G10, the breaker)."""
        exprs = self.expressions
        return features.reads_usage(
            frozenset().union(*(e.columns for e in exprs)), frozenset().union(*(e.uses for e in exprs))
        )

    def control_share(self, default: float) -> float:
        """Its control group's share: its own ``control_share``, else ``default``."""
        return default if self.source.control_share is None else self.source.control_share

    @property
    def title(self) -> str:
        return self.source.description or self.source.id.replace("-", " ").capitalize()

    def context(self) -> RuleContext:
        return RuleContext(
            rule_id=self.id,
            kind=self.kind,
            offer=self.offer,
            reason_fields=self.reason_fields,
            reads_usage=self.reads_usage,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    params: EngineParams
    uses: frozenset[tuple[str, int]] = frozenset()
    products: frozenset[str] = frozenset()
    """Product name patterns the rules' ``owns()`` / ``acquired()`` read."""
    daily: Mapping[str, int] = field(default_factory=dict)
    """Daily series the rules read → the most days any of them reads (what the features build)."""
    sources: tuple[RuleSource, ...] = ()
    """Every rule as written (disabled ones too): what :func:`rules.engine.compile.retype` recompiles."""
    playbooks: frozenset[str] = frozenset()
    deferred: tuple[str, ...] = ()
    """Rules naming a CRM field whose type the CRM has not told yet: checked as far as any type
    allows, not compiled; nothing is evaluated until they are (``retype``)."""

    def rule(self, rule_id: str) -> CompiledRule:
        return next(r for r in self.rules if r.id == rule_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)


def template_fields(template: str) -> list[tuple[str, str]]:
    """(field name, format spec) of every replacement field of a ``str.format`` template."""
    out = []
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            out.append((name, spec or ""))
    return out


def task_rules(ruleset: RuleSet, playbooks: Mapping[str, Playbook]) -> dict[str, TaskRule]:
    """Each rule as the planner needs it, with its playbook and a hash of its text (provenance)."""
    return {
        rule.id: TaskRule(
            id=rule.id,
            kind=rule.kind,
            signal=rule.source.signal,
            title=rule.title,
            priority=rule.source.priority,
            due_in_days=rule.source.due_in_days,
            window=rule.source.window,
            playbook=playbooks[rule.source.playbook],
            hash=rule_hash(rule.source),
            cap=next((g for gid, g in rule.guards if gid == "G2" and isinstance(g, guards.FrequencyCap)), None),
            control_share=rule.control_share(ruleset.params.control_share),
        )
        for rule in ruleset.rules
    }


def feature_reference() -> str:
    """The README's feature table (Markdown), from the catalogue itself: the docs cannot drift."""
    lines = ["| feature | type | unit | group | meaning |", "| --- | --- | --- | --- | --- |"]
    for f in features.FEATURES:
        lines.append(f"| `{f.name}` | {f.type.value} | {f.unit} | {f.group} | {f.doc} |")
    for name, (kind, unit, doc) in EXTRA_FEATURES.items():
        lines.append(f"| `{name}` | {kind.value} | {unit} | evaluation | {doc} |")
    lines.append("")
    lines.append("| weekly series (`rising`, `falling`, `change`) | unit | meaning |")
    lines.append("| --- | --- | --- |")
    for s in features.SERIES:
        lines.append(f"| `{s.name}` | {s.unit} | {s.doc} |")
    lines.append("| `health` | 0-100 | the health score on the same day each week (stored daily) |")
    lines.append("")
    lines.append("| daily series (`ago`, `delta`, `change_over`, `…_over`, `crossed_…`, `streak`) | unit | a day's |")
    lines.append("| --- | --- | --- |")
    for s in features.DAILY:
        lines.append(f"| `{s.name}` | {s.unit} | {s.doc} |")
    return "\n".join(lines)


def decline_statuses(ruleset: RuleSet) -> list[str]:
    """Every task status that means "no" (G3): the guard's defaults and each rule's own, in order."""
    default = ruleset.params.guards.get("G3")
    statuses = dict.fromkeys(default.decline_statuses if isinstance(default, guards.DeclineCooldown) else ())
    for rule in ruleset.rules:
        for _gid, guard in rule.guards:
            if isinstance(guard, guards.DeclineCooldown):
                statuses.update(dict.fromkeys(guard.decline_statuses))
    return list(statuses)
