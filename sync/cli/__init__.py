"""The ``upsync`` command (typer + rich): thin commands over the orchestration, one error policy.

``app`` (:mod:`sync.cli.app`) holds the options and the error policy; the commands live by
what they do: running the cycle (:mod:`sync.cli.cycle`), reading what upsync knows
(:mod:`sync.cli.insight`), the CRM's readiness (:mod:`sync.cli.crm`) and the bundled sandbox
(:mod:`sync.cli.demo`); :mod:`sync.cli.views` draws what they show.
"""

from __future__ import annotations

import sys

from sync.cli import crm, cycle, demo, insight
from sync.cli.app import app

__all__ = ["app", "main"]
_COMMANDS = (crm, cycle, demo, insight)  # importing them registers their commands


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
