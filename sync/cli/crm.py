"""``upsync crm check`` / ``crm setup``: is the CRM ready for upsync's fields and task key?"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape

from sync.cli.app import ConfigOpt, app, command, console, read_config

__all__ = ["crm_app"]

crm_app = typer.Typer(help="Check or prepare the CRM for upsync's fields and task key.", no_args_is_help=True)
app.add_typer(crm_app, name="crm")


@command(crm_app, "check")
def crm_check(config: ConfigOpt = Path("config.toml")) -> int:
    """Verify (describe / properties API) that every field upsync reads or writes exists; print what is missing."""
    return _schema(config, setup=False)


@command(crm_app, "setup")
def crm_setup(config: ConfigOpt = Path("config.toml")) -> int:
    """Create upsync's property group and properties where the CRM allows it (HubSpot)."""
    return _schema(config, setup=True)


def _schema(config: Path, *, setup: bool) -> int:
    from core.errors import ConfigError
    from sync.config import typed_rules
    from sync.runner import connect_crm

    loaded = read_config(config)
    crm = connect_crm(loaded.settings, os.environ)
    wrong: list[str] = []
    try:
        report = crm.writer.setup_schema() if setup else crm.writer.check_schema()
        if report.ok and loaded.ruleset.params.crm:  # the extra fields exist: do the rules read them right?
            try:
                typed_rules(loaded.ruleset, crm.extra_types())
            except ConfigError as exc:
                wrong = [str(p) for p in exc.problems]
    finally:
        crm.close()
    for name in report.present:
        console.print(f"[green]ok[/]       {escape(name)}")
    for name in report.created:
        console.print(f"[green]created[/]  {escape(name)}")
    for name in report.missing:
        console.print(f"[red]missing[/]  {escape(name)}")
    if report.instructions:
        console.print("\nAn admin must:")
        for line in report.instructions:
            console.print(f"  - {line}", markup=False)
    for problem in wrong:
        console.print(f"[red]rule[/]     {escape(problem)}")
    ok = report.ok and not wrong
    console.print("ready: upsync can read its fields and write back" if ok else "[red]not ready[/]: see above")
    return 0 if ok else 1
