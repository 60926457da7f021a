"""Everything a command needs before it opens state: the settings, and the rules compiled from them.

Compiling the rules is the orchestration's first step, not the settings': ``sync.settings`` only
composes and validates the sections. Problems in the file and problems in the rules are
reported together, each with its key path (``rules[0] (seats-near-limit).when: …``), so a bad
rule set fails ``upsync validate`` and every command, and the daemon never starts with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.extra_fields import feature_name
from core.errors import ConfigError, ConfigProblem
from rules.engine import EngineParams, RuleSet, RuleSetError, compile_ruleset, retype
from sync.settings import CONFIG_HINT, Settings, check_settings, missing_files, read_toml, salvage

__all__ = ["Config", "compile_rules", "crm_fields", "engine_params", "load_config", "parse_config", "typed_rules"]


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded config.toml: its settings and its compiled rules."""

    settings: Settings
    ruleset: RuleSet


def crm_fields(settings: Settings, types: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The configured CRM's extra account fields as features (``crm.mrr_rollup__c``) → their CRM
    type from ``types`` (what the CRM's schema said, as the store keeps it), None when unknown."""
    crm = getattr(settings, settings.upsync.crm, None)
    names = crm.extra_names() if crm is not None else ()
    return {feature_name(n): (types or {}).get(feature_name(n)) for n in names}


def engine_params(settings: Settings, crm_types: Mapping[str, str] | None = None) -> EngineParams:
    """Everything the rules engine takes but the rules; the CRM's fallback owner is the routing
    fallback unless ``[routing] fallback_owner`` names one; ``crm_types``: the extra CRM fields'
    types as the CRM reported them (:func:`crm_fields`)."""
    routing = settings.routing
    crm = getattr(settings, settings.upsync.crm, None)
    if routing.fallback_owner is None and crm is not None and crm.fallback_owner_id:
        routing = dataclasses.replace(routing, fallback_owner=crm.fallback_owner_id)
    return EngineParams(
        features=settings.features,
        health=settings.health,
        mining=settings.copurchase,
        guards=settings.guards.by_id(),
        nba=settings.nba,
        routing=routing,
        crm=crm_fields(settings, crm_types),
        anchors={p.id: p.anchor for p in settings.playbooks if p.steps},
        control_share=settings.writeback.control_share,
    )


def compile_rules(settings: Settings, crm_types: Mapping[str, str] | None = None) -> RuleSet:
    """The rules of ``settings``, compiled (with the extra CRM fields' types, when known); a
    ConfigError names every problem in them."""
    try:
        return _compile(settings, crm_types=crm_types)
    except RuleSetError as exc:
        raise ConfigError(_problems(exc), hint=CONFIG_HINT) from None


TYPES_HINT = "the CRM's describe / properties API gives these types; `upsync crm check` lists each extra field's"


def typed_rules(ruleset: RuleSet, crm_types: Mapping[str, str] | None) -> RuleSet:
    """``ruleset`` compiled with the extra CRM fields' types the CRM reported (as stored by the
    pull); a ConfigError names each rule they make wrong (``crm.tier > 10`` on a picklist)."""
    if not ruleset.params.crm or crm_types is None:
        return ruleset
    try:
        return retype(ruleset, crm_types)
    except RuleSetError as exc:
        raise ConfigError(_problems(exc), hint=TYPES_HINT) from None


def parse_config(
    raw: Mapping[str, Any], env: Mapping[str, str], *, base_dir: Path | None = None, files: bool = False
) -> Config:
    """Validate already-parsed TOML and compile its rules; one ConfigError lists every problem.

    A file that does not validate still has its rules, playbook references and (with ``files``)
    files checked, from what did validate (:func:`sync.settings.salvage`): every problem in one
    run, not one kind per run."""
    settings, problems = check_settings(raw, env, base_dir=base_dir)
    checked = settings or salvage(raw, base_dir=base_dir)
    ruleset = None
    if checked is not None:
        if files:
            problems.extend(missing_files(checked))
        # a playbook that failed validation is reported as such, not as every rule's unknown playbook
        playbooks = _raw_ids(raw.get("playbooks")) if settings is None else None
        try:
            ruleset = _compile(checked, playbooks)
        except RuleSetError as exc:
            problems.extend(_problems(exc))
    if problems or settings is None or ruleset is None:
        raise ConfigError(_unique(problems), hint=CONFIG_HINT)
    return Config(settings=settings, ruleset=ruleset)


def load_config(path: Path, env: Mapping[str, str], *, files: bool = False) -> Config:
    """Read ``path``, validate it and compile its rules; one ConfigError lists every problem.
    ``files``: also check that the files it names (``ca_file``) exist, as ``upsync validate`` does."""
    return parse_config(read_toml(path), env, base_dir=path.parent, files=files)


def _compile(
    settings: Settings, playbooks: list[str] | None = None, *, crm_types: Mapping[str, str] | None = None
) -> RuleSet:
    ids = [p.id for p in settings.playbooks] if playbooks is None else playbooks
    return compile_ruleset(settings.rules, engine_params(settings, crm_types), playbooks=ids)


def _raw_ids(playbooks: Any) -> list[str]:
    items = playbooks if isinstance(playbooks, list) else []
    return [str(p["id"]) for p in items if isinstance(p, dict) and "id" in p]


def _unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    unique: dict[tuple[str, str], ConfigProblem] = {}
    for problem in problems:
        unique.setdefault((problem.path, problem.message), problem)
    return list(unique.values())


def _problems(exc: RuleSetError) -> list[ConfigProblem]:
    return [ConfigProblem(p.path, p.message, p.hint) for p in exc.problems]
