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

from core.errors import ConfigError, ConfigProblem
from rules.engine import EngineParams, RuleSet, RuleSetError, compile_ruleset
from sync.settings import CONFIG_HINT, Settings, check_settings, read_toml

__all__ = ["Config", "compile_rules", "engine_params", "load_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded config.toml: its settings and its compiled rules."""

    settings: Settings
    ruleset: RuleSet


def engine_params(settings: Settings) -> EngineParams:
    """Everything the rules engine takes but the rules; the CRM's fallback owner is the routing
    fallback unless ``[routing] fallback_owner`` names one."""
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
    )


def compile_rules(settings: Settings) -> RuleSet:
    """The rules of ``settings``, compiled; a ConfigError names every problem in them."""
    try:
        return _compile(settings)
    except RuleSetError as exc:
        raise ConfigError(_problems(exc), hint=CONFIG_HINT) from None


def parse_config(raw: Mapping[str, Any], env: Mapping[str, str], *, base_dir: Path | None = None) -> Config:
    """Validate already-parsed TOML and compile its rules; one ConfigError lists every problem."""
    settings, problems = check_settings(raw, env, base_dir=base_dir)
    ruleset = None
    if settings is not None:
        try:
            ruleset = _compile(settings)
        except RuleSetError as exc:
            problems.extend(_problems(exc))
    if problems or settings is None or ruleset is None:
        raise ConfigError(problems, hint=CONFIG_HINT)
    return Config(settings=settings, ruleset=ruleset)


def load_config(path: Path, env: Mapping[str, str]) -> Config:
    """Read ``path``, validate it and compile its rules; one ConfigError lists every problem."""
    return parse_config(read_toml(path), env, base_dir=path.parent)


def _compile(settings: Settings) -> RuleSet:
    return compile_ruleset(settings.rules, engine_params(settings), playbooks=[p.id for p in settings.playbooks])


def _problems(exc: RuleSetError) -> list[ConfigProblem]:
    return [ConfigProblem(p.path, p.message, p.hint) for p in exc.problems]
