"""Next best actions + ledger + the CRM's current state → the exact list of CRM changes. Pure.

Same inputs, same plan. Four kinds of change come out, each with a deterministic key and its
provenance (rule, a hash of the rule's text, the deciding values, as-of):

- **create task**: one per next best action, keyed ``rule|account|period``, readable in the CRM
  (a sequence step: ``rule#step`` and the anchor date instead of the period; shortened with a
  hash past 80 characters), so the same rule on the same account in the same period is the same
  task forever;
- **update own task**: reassign or re-prioritise a task upsync created that nobody touched;
- **close own task**: its signal cleared (``on_clear = "close"``), with a note saying why;
- **set account fields**: upsync's own fields, only those whose value changed.

Respect for people comes first: a task or field a person edited (the CRM says who last changed
it) is left alone from then on, and the plan says why. Floods are held back: per-owner weekly
budgets filled by expected value, and no tasks at all on a first run or a backfill unless asked.
"""

from rules.plan.control import control_reason, in_control, unit_share
from rules.plan.fields import desired_fields, field_suspects, landed_fields, who_edited
from rules.plan.keys import (
    CALENDAR,
    EPISODE,
    KEY_MAX,
    anchored_period,
    episode_column,
    field_key,
    identify,
    legacy_key,
    op_key,
    parse_key,
    period_of,
    rule_hash,
)
from rules.plan.tasks import plan_changes, plan_tasks, task_suspects
from rules.plan.values import (
    MAX_ATTEMPTS,
    Adoption,
    ControlRecord,
    CrmState,
    Hold,
    Plan,
    Skip,
    TaskRule,
    WritePolicy,
)

__all__ = [
    "CALENDAR",
    "EPISODE",
    "KEY_MAX",
    "MAX_ATTEMPTS",
    "Adoption",
    "ControlRecord",
    "CrmState",
    "Hold",
    "Plan",
    "Skip",
    "TaskRule",
    "WritePolicy",
    "anchored_period",
    "control_reason",
    "desired_fields",
    "episode_column",
    "field_key",
    "field_suspects",
    "identify",
    "in_control",
    "landed_fields",
    "legacy_key",
    "op_key",
    "parse_key",
    "period_of",
    "plan_changes",
    "plan_tasks",
    "rule_hash",
    "task_suspects",
    "unit_share",
    "who_edited",
]
