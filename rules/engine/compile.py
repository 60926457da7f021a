"""Compile the rules once: every rule checked against the feature catalogue, every problem at once.

Each problem names the rule's id, the key and, in a condition, the column; nothing is evaluated
with a bad rule set. Disabled rules are checked too (enabling one later must not be the moment it
turns out bad) but left out of the set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl

from core.errors import did_you_mean
from rules.engine.ruleset import (
    STAGE_TWO,
    TEMPLATE_EXTRAS,
    CompiledRule,
    EngineParams,
    Problem,
    RuleSet,
    RuleSetError,
    RuleSource,
    full_schema,
    template_fields,
)
from rules.expr import Compiled, ExprError, Schema, Type, compile_condition, compile_expr
from rules.expr.lexer import tokenize
from rules.features import CRM_TYPES, crm_schema
from rules.features.crm import CRM_PREFIX
from rules.guards import GUARD_IDS, GUARDS, Guard
from rules.plan import CALENDAR, EPISODE

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


def _window(src: RuleSource, i: int, schema: Schema, problems: list[Problem]) -> Compiled | None:
    """A rule's window beyond week / month / quarter: a date feature, or an expression giving a
    date (``started(seat_utilisation >= 80%)``): the period is that date, one task per date."""
    if src.window in CALENDAR or src.window == EPISODE:
        return None
    try:
        return compile_expr(src.window, schema, expect=Type.date)
    except ExprError as exc:
        dates = sorted(n for n, t in schema.features.items() if t is Type.date)
        problems.append(
            Problem(
                i,
                src.id,
                "window",
                f"unknown window {src.window!r}: {exc.message}",
                "a window is week, month, quarter, episode (one task per run of days the rule fires), "
                "a date feature (one task per distinct date: "
                f"{', '.join(dates)}) or a date expression such as started(seat_utilisation >= 80%)",
            )
        )
        return None


def _control_share(src: RuleSource, i: int, problems: list[Problem]) -> None:
    """A control share is a share of accounts: 0 (no control group) up to, not including, 1."""
    share = src.control_share
    if share is None:
        return
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        problems.append(
            Problem(
                i,
                src.id,
                "control_share",
                f"control_share must be at least 0 and below 1, not {share!r}",
                "0.1 keeps 10 % of the ripe accounts without a task to measure the rule's effect; 0 turns it off",
            )
        )


def _expressions(
    src: RuleSource, i: int, schema: Schema, names: Mapping[str, Type], problems: list[Problem]
) -> tuple[Compiled | None, Compiled | None, pl.Expr | None, list[str]]:
    """A rule's condition, value, offer and reason fields, checked against ``schema``: everything
    of a rule whose check depends on the features' types."""
    when = value = None
    try:
        when = compile_condition(src.when, schema)
    except ExprError as exc:
        problems.append(Problem(i, src.id, "when", _rendered(exc, src.when), exc.hint))
    try:
        value = compile_expr(src.value, schema, expect=Type.number)
    except ExprError as exc:
        problems.append(Problem(i, src.id, "value", _rendered(exc, src.value), exc.hint))
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
    return when, value, offer, reason_fields


def _named(src: RuleSource) -> set[str]:
    """The ``crm.<name>`` features a rule's expressions and templates name (as far as they parse)."""
    found: set[str] = set()
    for text in (src.when, src.value):
        with contextlib.suppress(ExprError):
            found.update(t.text for t in tokenize(text) if t.kind == "name" and t.text.startswith(CRM_PREFIX))
    for template in (src.subject, src.reason):
        with contextlib.suppress(ValueError):
            found.update(n for n, _ in template_fields(template or "") if n.startswith(CRM_PREFIX))
    return found


def _declared(params: EngineParams) -> dict[str, Type]:
    """Every declared CRM field with its type; one not typed yet is in as text, so a misspelt name
    is told its neighbours (a rule that names it is checked under every type, in :func:`_untyped`)."""
    return {**dict.fromkeys(params.crm, Type.text), **crm_schema(params.crm)}


_TRIED = (Type.number, Type.text, Type.bool, Type.date)
_MAX_UNTYPED = 3  # 4**3 typings at most: a rule naming more untyped fields is checked when they are typed


def _untyped(src: RuleSource, i: int, params: EngineParams, pending: Sequence[str], problems: list[Problem]) -> None:
    """Check a rule naming CRM fields of unknown type as far as any type allows: a problem is
    reported only when no typing of those fields makes the rule right (an unknown feature, a
    syntax error, an undeclared ``crm.<name>``); the rest waits for the CRM's types."""
    if len(pending) > _MAX_UNTYPED:
        return
    first: list[Problem] | None = None
    for typing in itertools.product(_TRIED, repeat=len(pending)):
        crm = {**_declared(params), **dict(zip(pending, typing, strict=True))}
        schema = full_schema(params.features, crm)
        found: list[Problem] = []
        _expressions(src, i, schema, {**schema.features, **TEMPLATE_EXTRAS}, found)
        if not found:
            return
        first = first if first is not None else found
    problems.extend(first or ())


def _health_weights(params: EngineParams, problems: list[Problem]) -> None:
    """A CRM field weighed in the health score (``[health.weights] "crm.x"``) must be declared and,
    once typed, a number (read as a 0–100 component)."""
    for name in params.health.weights:
        if not name.startswith(CRM_PREFIX):
            continue
        where = f'health.weights."{name}"'
        if name not in params.crm:
            problems.append(
                Problem(
                    -1,
                    "",
                    "",
                    f"unknown CRM field {name!r}: not declared in extra fields",
                    did_you_mean(name, sorted(params.crm))
                    or "declare it under [salesforce.extra_fields] Account or [hubspot.extra_properties] companies",
                    where=where,
                )
            )
        elif (kind := params.crm[name]) is not None and CRM_TYPES.get(kind) is not Type.number:
            problems.append(
                Problem(
                    -1, "", "", f"{name} is {kind} in the CRM: a health component must be a number (0-100)", where=where
                )
            )


def compile_ruleset(sources: Sequence[RuleSource], params: EngineParams, *, playbooks: Collection[str]) -> RuleSet:
    """Check and compile every rule; raise :class:`RuleSetError` listing every problem found.

    Disabled rules are checked too (enabling one later must not be the moment it turns out bad)
    but left out of the set. A rule naming a CRM field whose type is not known yet
    (``params.crm``: None) is checked as far as any type allows and listed in ``deferred``.
    """
    schema = full_schema(params.features, _declared(params))
    names: dict[str, Type] = {**schema.features, **TEMPLATE_EXTRAS}
    untyped = {name for name, kind in params.crm.items() if kind is None}
    problems: list[Problem] = []
    compiled: list[CompiledRule] = []
    deferred: list[str] = []
    seen: set[str] = set()
    roles = params.routing.role_names()
    _health_weights(params, problems)
    for i, src in enumerate(sources):
        if src.id in seen:
            problems.append(Problem(i, src.id, "id", f"duplicate rule id {src.id!r}", "rule ids are unique and stable"))
        seen.add(src.id)
        before = len(problems)
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
        window = _window(src, i, schema, problems)
        _control_share(src, i, problems)
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
        pending = sorted(_named(src) & untyped)
        if pending:
            _untyped(src, i, params, pending, problems)
            if len(problems) == before and src.enabled:
                deferred.append(src.id)
            continue
        when, value, offer, reason_fields = _expressions(src, i, schema, names, problems)
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
        if len(problems) > before or when is None or value is None:
            continue
        if not src.enabled:
            continue
        stage = 2 if STAGE_TWO & (set(when.names) | set(value.names)) else 1
        compiled.append(
            CompiledRule(
                source=src,
                when=when,
                value=value,
                offer=offer,
                guards=tuple(rule_guards),
                reason_fields=tuple(reason_fields),
                stage=stage,
                window=window,
            )
        )
    if problems:
        raise RuleSetError(problems)
    uses = frozenset(u for r in compiled for c in r.expressions for u in c.uses)
    daily: dict[str, int] = {}
    for c in (c for r in compiled for c in r.expressions):
        for name, days in c.daily.items():
            daily[name] = max(days, daily.get(name, 0))
    return RuleSet(
        rules=tuple(compiled),
        params=params,
        uses=uses,
        products=frozenset(p for r in compiled for c in r.expressions for p in c.products),
        daily=daily,
        sources=tuple(sources),
        playbooks=frozenset(playbooks),
        deferred=tuple(deferred),
    )


def retype(ruleset: RuleSet, crm: Mapping[str, str]) -> RuleSet:
    """The rule set compiled again with the CRM fields' types the CRM reported (feature → CRM
    type); the same set when nothing changed. Raises :class:`RuleSetError` for a rule the types
    make wrong (``crm.tier > 10`` on a picklist), naming it."""
    known = {name: crm.get(name) for name in ruleset.params.crm}
    if known == dict(ruleset.params.crm):
        return ruleset
    params = dataclasses.replace(ruleset.params, crm=known)
    return compile_ruleset(ruleset.sources, params, playbooks=ruleset.playbooks)
