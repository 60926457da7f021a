"""A sequence (A4) staged in time: each stage becomes a task when its date comes, one at a time. Pure.

A sequence's steps are due on dates relative to its anchor (T-90, T-75, …). The planner asks for
one stage task at a time: the latest stage whose date has come, once the stage before it is
closed. Stages whose date passed before that (a sequence started at T-50, or a stage left open
for weeks) are folded into it, so a rep gets one task that says what to catch up on, never a
pile of overdue ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from rules.playbooks import Playbook, Step


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """The stage a sequence is at: its step (folded stages in its text), when it is due, and why
    a stage that is due waits (``waiting``: the stage before it is still open)."""

    step: Step
    due_on: date
    written: bool
    waiting: str = ""


def _folded(step: Step, earlier: tuple[Step, ...]) -> Step:
    if not earlier:
        return step
    catch_up = "; ".join(f"{s.title}" + (f" ({s.what.rstrip('.')})" if s.what.strip() else "") for s in earlier)
    what = f"{step.what} Catch up on the earlier stage(s) in the same conversation: {catch_up}.".strip()
    return replace(step, what=what)


def current_stage(playbook: Playbook, anchor: date, today: date, written: Mapping[str, bool]) -> Stage | None:
    """The stage to have a task for as of ``today``, or None when none is due (before the first
    stage's date, or after the anchor). ``written``: step id → whether its task is closed, for
    every step that already has a task."""
    if today > anchor:
        return None
    steps = sorted(playbook.steps, key=lambda s: s.due(anchor))  # stable: ties keep the playbook's order
    done = [i for i, s in enumerate(steps) if s.id in written]
    last = done[-1] if done else -1
    ready = [i for i in range(last + 1, len(steps)) if steps[i].due(anchor) <= today]
    if ready and (last < 0 or written[steps[last].id]):
        new = ready[-1]
        return Stage(
            step=_folded(steps[new], tuple(steps[last + 1 : new])),
            due_on=max(steps[new].due(anchor), today),
            written=False,
        )
    if last < 0:
        return None
    before = done[-2] if len(done) > 1 else -1
    waiting = ""
    if ready:
        waiting = f"stage '{steps[ready[-1]].title}' is due; it waits until '{steps[last].title}' is closed"
    return Stage(
        step=_folded(steps[last], tuple(steps[before + 1 : last])),
        due_on=max(steps[last].due(anchor), today),
        written=True,
        waiting=waiting,
    )
