"""The rules engine: rules compiled once from config (:mod:`~rules.engine.compile`) and evaluated
over every account at once (:mod:`~rules.engine.evaluate`) into signals, guards and next best
actions (:mod:`~rules.engine.actions`). Pure: frames and ``as_of`` in, frames out.

A rule (``[[rules]]``, :mod:`~rules.engine.ruleset`) is a condition in the rule language
(:mod:`rules.expr`) over the features (:mod:`rules.features`), an expected value, a kind, a
playbook, an owner role and the guards that hold it back.
"""

from rules.engine.actions import actions, format_value, render, rule_reason
from rules.engine.compile import compile_ruleset, retype
from rules.engine.evaluate import (
    CHUNK_ROWS,
    Evaluation,
    decision_columns,
    evaluate,
    evaluate_features,
    health_points,
    prepare,
)
from rules.engine.ruleset import (
    EXTRA_FEATURES,
    CompiledRule,
    EngineParams,
    Problem,
    RuleSet,
    RuleSetError,
    RuleSource,
    decline_statuses,
    default_guards,
    feature_reference,
    full_schema,
    task_rules,
    template_fields,
)

__all__ = [
    "CHUNK_ROWS",
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
    "decision_columns",
    "decline_statuses",
    "default_guards",
    "evaluate",
    "evaluate_features",
    "feature_reference",
    "format_value",
    "full_schema",
    "health_points",
    "prepare",
    "render",
    "retype",
    "rule_reason",
    "task_rules",
    "template_fields",
]
