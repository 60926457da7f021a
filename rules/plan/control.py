"""Randomized control groups: per rule and window, a share of the ripe accounts gets no task. Pure.

A sales leader keeps a rule if its tasks *caused* revenue; comparing accounts that got a task with
accounts that never fired is biased (they fired for a reason). So among the accounts where a rule
would otherwise get a task, a stable hash of (account, rule, period) keeps ``control_share`` of
them without one. The period is the task key's (``rules.plan.keys``: the month, the episode's first
day, the renewal date…), so the decision is the same on every cycle, replica and restart, and
after a lost state: a control account never gets that window's task. ``sha256`` rather than
``hash()``, which Python salts per process.

Only where a task would be written fresh is drawn: a key the ledger or the CRM already holds is
treated, whatever the hash says (the share was raised after the task was written, e.g.). A drawn
account is kept in the control group only if its task would be created now, past the cycle's
cap (G2) and the owner's budget, and it consumes neither: both arms are then the accounts that
would get the task, and the lift compares like with like. (Drawn before those checks, the control
arm would keep the accounts another rule's task had just capped, which the treated arm loses:
accounts with more going on, more deals, a lift biased down.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Mapping, Sequence
from datetime import date

from core.records import Action, CrmTask, LedgerEntry, TaskIntent
from rules.plan.choose import Considered
from rules.plan.values import ControlRecord, TaskRule

__all__ = ["control_reason", "hold_out", "in_control", "kept_out", "unit_share"]

_SCALE = float(1 << 64)


def unit_share(account_id: str, rule_id: str, period: str) -> float:
    """Where (account, rule, period) falls in [0, 1): uniform, stable, process-independent."""
    digest = hashlib.sha256(f"control|{rule_id}|{account_id}|{period}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_control(account_id: str, rule_id: str, period: str, share: float) -> bool:
    """Whether the account is in the rule's control group for ``period`` (never when share is 0)."""
    return share > 0 and unit_share(account_id, rule_id, period) < share


def control_reason(rule_id: str, share: float) -> str:
    """What ``plan`` and ``explain`` say of a control account."""
    return f"control group ({share * 100:.3g} % of {rule_id}, kept without a task to measure its effect)"


def hold_out(
    found: Considered,
    rule: TaskRule,
    *,
    ledger: Mapping[str, LedgerEntry],
    tasks: Mapping[str, CrmTask],
    written: Container[tuple[str, str, str]],
) -> None:
    """Move a control account's fresh intents out of ``found.todo`` into ``found.control`` (the
    planner keeps them without a task if they would be created now). ``written``: (account, rule,
    window) of every ledger row: a window with any task of the rule (a sequence's earlier step) is
    treated."""
    if rule.control_share <= 0 or not found.todo:
        return
    kept = []
    for intent in found.todo:
        unit = (intent.account_id, rule.id, intent.window)
        fresh = intent.key not in ledger and intent.key not in tasks and unit not in written
        if fresh and in_control(intent.account_id, rule.id, intent.window, rule.control_share):
            found.control.append(intent)
        else:
            kept.append(intent)
    found.todo = kept
    if not kept and not found.open:
        found.settled = True  # under tasks_per = "account" the next ripe rule may have the account


def kept_out(action: Action, rule: TaskRule, intents: Sequence[TaskIntent], day: date) -> list[ControlRecord]:
    """The control records of a rule's control intents that would have been created now (one per window)."""
    records: list[ControlRecord] = []
    for intent in intents:
        record = ControlRecord(
            system=action.system, rule_id=rule.id, account_id=intent.account_id, period=intent.window, day=day
        )
        if record not in records:
            records.append(record)
    return records
