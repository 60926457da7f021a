"""Rules compiled once from config and evaluated over every account at once: signals, guards, next
best actions. Pure: frames and ``as_of`` in, frames out.

A rule (``[[rules]]``) is a condition in the rule language (:mod:`rules.expr`) over the features
(:mod:`rules.features`), an expected value, a kind, a playbook, an owner role and the guards that
hold it back. :func:`compile_ruleset` checks every rule against the feature catalogue and reports
every problem at once, each with the rule's id, the key and the column; nothing is evaluated with a
bad rule set. :func:`evaluate` then computes the features as of a moment, adds the health score,
co-purchase evidence and lifecycle stage, evaluates every rule's condition and every guard as
columns of one frame, and ranks what is left into one next best action per account.

Rules that read ``signals_14d`` (S12: several signals coinciding) run in a second stage, after
the others have fired.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from core.errors import RuleError, did_you_mean
from core.records import Action
from core.tables import Tables
from rules import copurchase, features, guards, health, nba
from rules.copurchase import MiningParams
from rules.expr import Compiled, ExprError, Schema, Type, compile_condition, compile_expr
from rules.features import FeatureParams
from rules.guards import GUARD_IDS, GUARDS, Guard, RuleContext
from rules.health import COMPONENTS, HealthParams
from rules.nba import NbaParams, Routing
from rules.plan import TaskRule, period_of, rule_hash
from rules.playbooks import Playbook

__all__ = [
    "EXTRA_FEATURES",
    "CompiledRule",
    "EngineParams",
    "Evaluation",
    "Problem",
    "RuleSet",
    "RuleSetError",
    "RuleSource",
    "actions",
    "compile_ruleset",
    "decide",
    "decision_columns",
    "default_guards",
    "evaluate",
    "format_value",
    "full_schema",
    "health_points",
    "prepare",
    "render",
    "rule_reason",
    "task_rules",
    "template_fields",
]

_RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
Kind = Literal["upsell", "cross-sell", "save", "review"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSource:
    """One ``[[rules]]`` entry as written in config.toml."""

    id: str
    kind: Kind
    when: str
    playbook: str
    signal: str = ""  # the DOMAIN.md signal(s) it implements, e.g. "S5" or "S2, S8"
    description: str = ""
    value: str = "1"  # expected value (currency): ranks actions; an expression over features
    priority: Literal["high", "normal", "low"] = "normal"
    owner: str = "auto"  # a role (see [roles]), or auto: the responsibility table decides
    guards: tuple[str, ...] | None = None  # replaces the guards that apply to the kind by default
    skip_guards: tuple[str, ...] = ()
    guard_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    window: Literal["week", "month", "quarter"] = "month"  # at most one task per account per window
    due_in_days: int = 3
    subject: str = "{rule_title}: {account_name}"
    reason: str | None = None  # template naming the values that make it true (G8)
    offer: str | None = None  # cross-sell: the product offered…
    offer_feature: str | None = None  # …or the text feature holding it (copurchase_product, group_product)
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
_STAGE_TWO = frozenset({"signals_14d"})


def full_schema(params: FeatureParams) -> Schema:
    return features.feature_schema(params, {name: spec[0] for name, spec in EXTRA_FEATURES.items()})


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

    @property
    def path(self) -> str:
        return f"rules[{self.index}] ({self.rule_id}).{self.key}"


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

    @property
    def id(self) -> str:
        return self.source.id

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def title(self) -> str:
        return self.source.description or self.source.id.replace("-", " ").capitalize()

    def context(self) -> RuleContext:
        return RuleContext(rule_id=self.id, kind=self.kind, offer=self.offer, reason_fields=self.reason_fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    params: EngineParams
    uses: frozenset[tuple[str, int]] = frozenset()

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


_SAMPLES: dict[Type, Any] = {
    Type.number: 0.5,
    Type.text: "text",
    Type.bool: True,
    Type.date: date(2026, 1, 1),
    Type.list: ["a"],
}


def _check_template(template: str, names: Mapping[str, Type]) -> tuple[list[str], str | None, str | None]:
    """(feature fields, problem, hint) of a subject/reason template."""
    try:
        parsed = template_fields(template)
    except ValueError as exc:
        return [], f"bad template: {exc}", "literal braces are written {{ and }}"
    used = []
    for name, spec in parsed:
        if name not in names:
            return [], f"unknown template field {{{name}}}", did_you_mean(name, sorted(names)) or "use a feature name"
        try:
            format(_SAMPLES[names[name]], spec)
        except (ValueError, TypeError) as exc:
            return [], f"bad format {{{name}:{spec}}}: {exc}", "e.g. {seat_utilisation:.0%} or {arr:,.0f}"
        if name not in TEMPLATE_EXTRAS:
            used.append(name)
    return used, None, None


def _coerce(default: Any, value: Any) -> Any:
    """A guard parameter override converted to the type of its default (TOML lists become tuples)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError("must be true or false")
        return value
    if isinstance(default, int | float) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("must be a number")
        if isinstance(default, int) and not float(value).is_integer():
            raise TypeError("must be a whole number")
        return type(default)(value)
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError("must be a list of strings")
        return tuple(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError("must be a table")
        return dict(value)
    return value


def _rule_guards(src: RuleSource, index: int, params: EngineParams, problems: list[Problem]) -> list[tuple[str, Guard]]:
    chosen: list[str] = []
    for key, ids in (("guards", src.guards or ()), ("skip_guards", src.skip_guards)):
        for j, gid in enumerate(ids):
            if gid not in GUARDS:
                problems.append(
                    Problem(
                        index,
                        src.id,
                        f"{key}[{j}]",
                        f"unknown guard {gid!r}",
                        did_you_mean(gid, sorted(GUARD_IDS)) or f"guards are {', '.join(GUARD_IDS)}",
                    )
                )
    if src.guards is not None:
        chosen = [g for g in src.guards if g in GUARDS]
    else:
        chosen = [gid for gid, g in params.guards.items() if g.enabled and src.kind in g.kinds]
    chosen = [g for g in GUARD_IDS if g in chosen and g not in src.skip_guards]
    out: list[tuple[str, Guard]] = []
    for gid in src.guard_params:
        if gid not in GUARDS:
            problems.append(
                Problem(
                    index, src.id, f"guard_params.{gid}", f"unknown guard {gid!r}", did_you_mean(gid, sorted(GUARD_IDS))
                )
            )
    for gid in chosen:
        base = params.guards.get(gid) or GUARDS[gid].type()
        overrides = src.guard_params.get(gid, {})
        names = {f.name: f for f in dataclasses.fields(base)}
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in names:
                problems.append(
                    Problem(
                        index,
                        src.id,
                        f"guard_params.{gid}.{name}",
                        "unknown parameter",
                        did_you_mean(name, sorted(names)) or f"{gid} takes {', '.join(names)}",
                    )
                )
                continue
            try:
                changes[name] = _coerce(getattr(base, name), value)
            except TypeError as exc:
                problems.append(Problem(index, src.id, f"guard_params.{gid}.{name}", str(exc)))
        try:
            out.append((gid, dataclasses.replace(base, **changes)))
        except (TypeError, ValueError) as exc:
            problems.append(Problem(index, src.id, f"guard_params.{gid}", str(exc)))
    return out


def _rendered(exc: ExprError, source: str) -> str:
    """The message with the source line and a caret under the column (the hint travels apart)."""
    return ExprError(exc.message, exc.column).render(source).replace("\n", "\n    ")


def compile_ruleset(sources: Sequence[RuleSource], params: EngineParams, *, playbooks: Collection[str]) -> RuleSet:
    """Check and compile every rule; raise :class:`RuleSetError` listing every problem found.

    Disabled rules are checked too (enabling one later must not be the moment it turns out bad)
    but left out of the set.
    """
    schema = full_schema(params.features)
    names: dict[str, Type] = {**schema.features, **TEMPLATE_EXTRAS}
    problems: list[Problem] = []
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    roles = params.routing.role_names()
    for i, src in enumerate(sources):
        if src.id in seen:
            problems.append(Problem(i, src.id, "id", f"duplicate rule id {src.id!r}", "rule ids are unique and stable"))
        seen.add(src.id)
        before = len(problems)
        when = value = None
        try:
            when = compile_condition(src.when, schema)
        except ExprError as exc:
            problems.append(Problem(i, src.id, "when", _rendered(exc, src.when), exc.hint))
        try:
            value = compile_expr(src.value, schema, expect=Type.number)
        except ExprError as exc:
            problems.append(Problem(i, src.id, "value", _rendered(exc, src.value), exc.hint))
        if src.playbook not in playbooks:
            problems.append(
                Problem(
                    i,
                    src.id,
                    "playbook",
                    f"unknown playbook {src.playbook!r}",
                    did_you_mean(src.playbook, sorted(playbooks)) or "add it under [[playbooks]]",
                )
            )
        if src.owner != "auto" and src.owner not in roles:
            problems.append(
                Problem(
                    i,
                    src.id,
                    "owner",
                    f"unknown role {src.owner!r}",
                    did_you_mean(src.owner, sorted(roles)) or f"roles are auto, {', '.join(sorted(roles))}",
                )
            )
        rule_guards = _rule_guards(src, i, params, problems)
        offer: pl.Expr | None = None
        if src.offer is not None and src.offer_feature is not None:
            problems.append(Problem(i, src.id, "offer", "set offer or offer_feature, not both"))
        elif src.offer is not None:
            offer = pl.lit(src.offer, dtype=pl.String)
        elif src.offer_feature is not None:
            if schema.features.get(src.offer_feature) is not Type.text:
                text_features = [n for n, t in schema.features.items() if t is Type.text]
                problems.append(
                    Problem(
                        i,
                        src.id,
                        "offer_feature",
                        f"{src.offer_feature!r} is not a text feature",
                        did_you_mean(src.offer_feature, sorted(text_features)),
                    )
                )
            else:
                offer = pl.col(src.offer_feature)
        if offer is None and any(g == "G7" for g, _ in rule_guards) and src.offer_feature is None and src.offer is None:
            problems.append(
                Problem(
                    i,
                    src.id,
                    "offer",
                    "G7 (relevance) needs to know what is offered",
                    'set offer = "<product name>" or offer_feature = "copurchase_product", or skip_guards = ["G7"]',
                )
            )
        reason_fields: list[str] = []
        for key in ("subject", "reason"):
            template = getattr(src, key)
            if template is None:
                continue
            used, message, hint = _check_template(template, names)
            if message:
                problems.append(Problem(i, src.id, key, message, hint))
            elif key == "reason":
                reason_fields = used
        if len(problems) > before or when is None or value is None:
            continue
        if not src.enabled:
            continue
        stage = 2 if _STAGE_TWO & (set(when.names) | set(value.names)) else 1
        compiled.append(
            CompiledRule(
                source=src,
                when=when,
                value=value,
                offer=offer,
                guards=tuple(rule_guards),
                reason_fields=tuple(reason_fields),
                stage=stage,
            )
        )
    if problems:
        raise RuleSetError(problems)
    uses = frozenset(u for r in compiled for c in (r.when, r.value) for u in c.uses)
    return RuleSet(rules=tuple(compiled), params=params, uses=uses)


# --- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """What the rules say as of one moment.

    - ``features``: one row per account, every feature (health, co-purchase, lifecycle included);
    - ``signals``: one row per rule that fired on an account: account, rule_id, kind, stage,
      value, blocked (the guard ids that hold it back, empty when it stands);
    - ``actions``: the next best action of every account with an unblocked signal: account,
      rule_id, kind, value, score, coinciding, supporting, lifecycle, role, owner, owner_note;
    - ``pairs``: the co-purchase pairs mined as of ``as_of``.
    """

    as_of: datetime
    features: pl.DataFrame
    signals: pl.DataFrame
    actions: pl.DataFrame
    pairs: pl.DataFrame

    def health_rows(self) -> pl.DataFrame:
        """(account_id, day, score, band, components…) for the daily health history."""
        return self.features.filter(pl.col("health").is_not_null()).select(
            pl.col("account").alias("account_id"),
            pl.lit(self.as_of.date()).alias("day"),
            pl.col("health").alias("score"),
            pl.col("health_band").alias("band"),
            *[pl.col(f"health_{c}") for c in COMPONENTS],
        )


_RANKED_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "lifecycle": pl.String(),
    "owner_id": pl.String(),
    "owner_active": pl.Boolean(),
    "rule_id": pl.String(),
    "kind": pl.String(),
    "value": pl.Float64(),
    "score": pl.Float64(),
    "coinciding": pl.Float64(),
}
_SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "rule_id": pl.String(),
    "kind": pl.String(),
    "stage": pl.Int64(),
    "value": pl.Float64(),
    "blocked": pl.List(pl.String()),
}


def prepare(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The features frame every rule reads (base features, health, co-purchase, lifecycle, guard
    history) and the co-purchase pairs."""
    p = ruleset.params
    today = as_of.date()
    f = features.compute(tables, as_of=as_of, params=p.features, uses=ruleset.uses)
    f = health.score(f, p.health, activation_ratio=p.features.activation_ratio)
    history = tables.checked().health.filter(pl.col("day") < today)
    f = f.join(health.health_series(f, history, today=today, weeks=p.features.series_weeks), on="account", how="left")
    bought = features.purchases(tables, as_of=as_of)
    pairs = copurchase.mine_pairs(bought, now=today, params=p.mining)
    owned = features.owned_products(tables, as_of=as_of)
    recs = copurchase.recommend(pairs, owned, params=p.mining).select(
        "account",
        pl.col("product").alias("copurchase_product"),
        pl.col("antecedent").alias("copurchase_from"),
        pl.col("confidence").alias("copurchase_confidence"),
        pl.col("lift").alias("copurchase_lift"),
        pl.col("support").alias("copurchase_support"),
        pl.col("median_lag_days").alias("copurchase_lag_days"),
        pl.col("evidence").alias("copurchase_evidence"),
    )
    f = f.join(recs, on="account", how="left").with_columns(
        pl.col("group_products").list.first().alias("group_product"),
        nba.lifecycle_expr(p.routing).alias("lifecycle"),
    )
    relevance = p.guards.get("G7")
    related = copurchase.related(pairs, owned, params=p.mining)
    rel = guards.relevant_products(
        f, relevance if isinstance(relevance, guards.Relevance) else guards.Relevance(), related
    )
    f = f.join(rel, on="account", how="left").with_columns(
        pl.col("_relevant").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
    t = tables.checked()
    guard_rules = []
    for rule in ruleset.rules:
        gp = dict(rule.guards)
        cap = gp.get("G2")
        cooldown = gp.get("G3")
        guard_rules.append(
            (
                rule.id,
                rule.kind,
                period_of(rule.source.window, as_of),
                cap if isinstance(cap, guards.FrequencyCap) else None,
                cooldown if isinstance(cooldown, guards.DeclineCooldown) else None,
            )
        )
    hist = guards.history_columns(
        f.select("account"),
        ledger=t.ledger,
        activities=t.activities,
        opportunities=t.opportunities,
        rules=guard_rules,
        kinds_by_rule={r.id: r.kind for r in ruleset.rules},
        as_of=as_of,
    )
    return f.join(hist, on="account", how="left"), pairs


_BITS = {gid: 1 << i for i, gid in enumerate(GUARD_IDS)}
_MASKS = {m: [gid for gid, bit in _BITS.items() if m & bit] for m in range(1 << len(GUARD_IDS))}
"""Every set of guards as the bit mask a row carries, and the guard ids it stands for."""


def _wide(f: pl.DataFrame, rules: Sequence[CompiledRule], offset: int) -> pl.DataFrame:
    """Per account (rows aligned with ``f``), for rule ``offset + i``: ``_fire{k}``, ``_value{k}`` and
    ``_mask{k}`` (one bit per guard that blocks it). Wide and positional: one pass over the frame
    for every rule and guard, no joins, no strings or lists per account (building either costs
    ten to twenty times more than an integer)."""
    exprs: list[pl.Expr] = []
    for i, rule in enumerate(rules):
        k = offset + i
        ctx = rule.context()
        exprs.append(rule.when.expr.alias(f"_fire{k}"))
        exprs.append(rule.value.expr.cast(pl.Float64).fill_null(0.0).alias(f"_value{k}"))
        bits = [guards.block_expr(gid, gp, ctx).cast(pl.Int32) * _BITS[gid] for gid, gp in rule.guards]
        exprs.append((pl.sum_horizontal(bits) if bits else pl.lit(0, pl.Int32)).alias(f"_mask{k}"))
    # with a column alongside, a rule made of literals alone ("true") broadcasts to every row
    return f.select(pl.col("account"), *exprs).drop("account")


def _live(k: int) -> pl.Expr:
    return pl.col(f"_fire{k}") & (pl.col(f"_mask{k}") == 0)


def _long(wide: pl.DataFrame, rules: Sequence[CompiledRule]) -> pl.DataFrame:
    """The wide verdicts as one row per (account, rule) that fired."""
    parts = []
    for k, rule in enumerate(rules):
        parts.append(
            wide.select("account", f"_fire{k}", f"_value{k}", f"_mask{k}")
            .filter(pl.col(f"_fire{k}"))
            .select(
                "account",
                pl.lit(rule.id).alias("rule_id"),
                pl.lit(rule.kind).alias("kind"),
                pl.lit(rule.stage, dtype=pl.Int64).alias("stage"),
                pl.col(f"_value{k}").alias("value"),
                pl.col(f"_mask{k}").replace_strict(_MASKS, return_dtype=pl.List(pl.String())).alias("blocked"),
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema=_SIGNAL_SCHEMA)


def _recently_fired(
    wide: pl.DataFrame, recent: pl.DataFrame, rules: Sequence[CompiledRule], *, today: date, days: int
) -> pl.Series:
    """Per account (aligned with ``wide``): first-stage rules the signal log saw fire unblocked within
    the coincidence window that are not firing unblocked today (those are counted already)."""
    index = {r.id: k for k, r in enumerate(rules) if r.stage == 1}
    past = (
        recent.filter(
            (pl.col("last_fired_on") > today - timedelta(days=days))
            & (pl.col("last_fired_on") <= today)
            & pl.col("rule_id").is_in(list(index))
        )
        .select(pl.col("account_id").alias("account"), "rule_id")
        .unique()
    )
    positions = wide.select("account").with_row_index("_row")
    if past.is_empty():
        return pl.Series("_past", [0.0] * wide.height, dtype=pl.Float64)
    live_now = pl.lit(False)
    for rule_id, k in index.items():
        live_now = pl.when(pl.col("rule_id") == rule_id).then(_live(k)).otherwise(live_now)
    joined = past.join(wide.with_row_index("_row"), on="account").filter(~live_now)
    counts = joined.group_by("_row").agg(pl.len().cast(pl.Float64).alias("_past"))
    return positions.join(counts, on="_row", how="left").sort("_row").get_column("_past").fill_null(0.0)


def decision_columns(ruleset: RuleSet) -> list[str]:
    """The feature columns :func:`decide` reads: what the rules, their guards and routing need."""
    cols = {"account", "lifecycle", "owner_id", "owner_active"}
    for rule in ruleset.rules:
        cols |= set(rule.when.columns) | set(rule.value.columns)
        if rule.source.offer_feature:
            cols.add(rule.source.offer_feature)
        for gid, _ in rule.guards:
            cols |= set(guards.columns(gid, rule.context()))
    return sorted(cols - _STAGE_TWO)


def evaluate(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> Evaluation:
    """Every rule over every account as of ``as_of``; see :class:`Evaluation`."""
    f, pairs = prepare(ruleset, tables, as_of=as_of)
    t = tables.checked()
    return decide(ruleset, f, as_of=as_of, recent=t.signals, owners=t.owners, pairs=pairs)


CHUNK_ROWS = 200_000
"""Accounts decided at a time: the per-rule intermediates of a chunk, not of the whole org, are in
memory at once (every step is per account, so chunks change nothing but the peak)."""


def decide(
    ruleset: RuleSet,
    f: pl.DataFrame,
    *,
    as_of: datetime,
    recent: pl.DataFrame,
    owners: pl.DataFrame,
    pairs: pl.DataFrame | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Evaluation:
    """The rules, guards and next best actions over a prepared features frame (:func:`prepare`).

    ``recent`` is the signal log (account_id, rule_id, last_fired_on), ``owners`` the CRM's users.
    Everything up to the ranking happens column-wise, one row per account: the next best action
    is the highest score among the rules standing on the row (ties: the rule listed first).
    """
    p = ruleset.params
    ordered = sorted(ruleset.rules, key=lambda r: r.stage)  # second-stage rules read the first's count
    counts: list[pl.Series] = []
    signals: list[pl.DataFrame] = []
    ranked: list[pl.DataFrame] = []
    for start in range(0, max(f.height, 1), chunk_rows):
        part = f.slice(start, chunk_rows)
        count, long, best = _decide_chunk(ruleset, ordered, part, as_of=as_of, recent=recent)
        counts.append(count)
        signals.append(long)
        ranked.append(best)
    f = f.with_columns(pl.concat(counts) if counts else pl.Series("signals_14d", [], dtype=pl.Float64))
    actions = nba.route(
        pl.concat(ranked) if ranked else pl.DataFrame(schema=_RANKED_SCHEMA),
        owners,
        routing=p.routing,
        rule_owner={r.id: r.source.owner for r in ruleset.rules},
    )
    return Evaluation(
        as_of=as_of,
        features=f,
        signals=pl.concat(signals) if signals else pl.DataFrame(schema=_SIGNAL_SCHEMA),
        actions=actions,
        pairs=pairs if pairs is not None else pl.DataFrame(schema=copurchase.PAIR_SCHEMA),
    )


def _decide_chunk(
    ruleset: RuleSet, ordered: Sequence[CompiledRule], f: pl.DataFrame, *, as_of: datetime, recent: pl.DataFrame
) -> tuple[pl.Series, pl.DataFrame, pl.DataFrame]:
    """(signals_14d per row, the long signals, the best action per account) of one chunk."""
    p = ruleset.params
    first = [r for r in ordered if r.stage == 1]
    second = [r for r in ordered if r.stage == 2]
    wide = pl.concat(
        [f.select("account", "lifecycle", "owner_id", "owner_active"), _wide(f, first, 0)], how="horizontal"
    )
    past = _recently_fired(wide, recent, ordered, today=as_of.date(), days=p.nba.coincide_days)
    now = pl.sum_horizontal([_live(k).cast(pl.Float64) for k in range(len(first))]) if first else pl.lit(0.0)
    count = wide.select((now + past).alias("signals_14d")).get_column("signals_14d")
    if second:
        wide = pl.concat([wide, _wide(f.with_columns(count), second, len(first))], how="horizontal")
    order = {r.id: k for k, r in enumerate(ruleset.rules)}
    n = len(ordered)
    if not n:
        return count, pl.DataFrame(schema=_SIGNAL_SCHEMA), pl.DataFrame(schema=_RANKED_SCHEMA)
    # step by step, each intermediate a column: polars evaluates a repeated sub-expression each
    # time it appears, and the ranking below refers to every score twice
    bonus = 1 + p.nba.coincide_bonus * (pl.max_horizontal(pl.col("signals_14d"), pl.lit(1.0)) - 1)
    scored = wide.with_columns(count).with_columns(
        [
            pl.when(_live(k)).then(pl.col(f"_value{k}") * (bonus if rule.stage == 1 else 1.0)).alias(f"_score{k}")
            for k, rule in enumerate(ordered)
        ]
    )
    scored = scored.with_columns(pl.max_horizontal([f"_score{k}" for k in range(n)]).alias("score"))
    # ties go to the rule listed first in config, whatever its stage
    tied = [pl.when(pl.col(f"_score{k}") == pl.col("score")).then(pl.lit(order[r.id])) for k, r in enumerate(ordered)]
    value = pl.lit(None, pl.Float64)
    for k, rule in enumerate(ordered):
        value = pl.when(pl.col("_k") == order[rule.id]).then(pl.col(f"_value{k}")).otherwise(value)
    ids = {k: r.id for k, r in enumerate(ruleset.rules)}
    kinds = {k: r.kind for k, r in enumerate(ruleset.rules)}
    best = (
        scored.with_columns(pl.min_horizontal(tied).alias("_k"))
        .filter(pl.col("_k").is_not_null())
        .select(
            "account",
            "lifecycle",
            "owner_id",
            "owner_active",
            pl.col("_k").replace_strict(ids, return_dtype=pl.String).alias("rule_id"),
            pl.col("_k").replace_strict(kinds, return_dtype=pl.String).alias("kind"),
            value.alias("value"),
            "score",
            pl.max_horizontal(pl.col("signals_14d"), pl.lit(1.0)).alias("coinciding"),
        )
    )
    return count, _long(wide, ordered), best


# --- from frames to actions ------------------------------------------------------------------------

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
    """``str.format`` where an unknown value reads "unknown" instead of failing its format spec."""

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


def actions(evaluation: Evaluation, ruleset: RuleSet, *, system: Any, extra: Sequence[str] = ()) -> list[Action]:
    """The evaluation's next best actions as values the planner and the CLI take; ``extra``
    features join every action's evidence (a sequence's anchor date, e.g. ``contract_end``)."""
    acts = evaluation.actions
    if acts.is_empty():
        return []
    cols = {"account", "account_name", *extra}
    for rule in ruleset.rules:
        cols |= _columns_for(rule)
    present = [c for c in evaluation.features.columns if c in cols]
    rows = {
        r["account"]: r
        for r in evaluation.features.join(acts.select("account"), on="account", how="semi").select(present).to_dicts()
    }
    supports = _supporting(evaluation, ruleset)
    out = []
    for a in acts.sort("account").to_dicts():
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
        out.append(
            Action(
                system=system,
                account_id=a["account"],
                account_name=row.get("account_name") or "",
                rule_id=rule.id,
                kind=rule.kind,
                owner_id=a.get("owner"),
                owner_note=a.get("owner_note") or "",
                role=a.get("role") or "",
                lifecycle=a.get("lifecycle") or "",
                value=float(a.get("value") or 0.0),
                score=float(a.get("score") or 0.0),
                subject=render(rule.source.subject, _template_values(rule, row)),
                reasons=tuple(reasons),
                supporting=supporting,
                evidence=evidence,
            )
        )
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
        )
        for rule in ruleset.rules
    }


def health_points(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> pl.DataFrame:
    """Health rows (account_id, day, score, band, components) as of one past moment: how the
    history is filled in for trends when upsync starts on an org with stored usage."""
    p = ruleset.params
    f = features.compute(tables, as_of=as_of, params=p.features)
    f = health.score(f, p.health, activation_ratio=p.features.activation_ratio)
    return f.filter(pl.col("health").is_not_null()).select(
        pl.col("account").alias("account_id"),
        pl.lit(as_of.date()).alias("day"),
        pl.col("health").alias("score"),
        pl.col("health_band").alias("band"),
        *[pl.col(f"health_{c}") for c in COMPONENTS],
    )


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
