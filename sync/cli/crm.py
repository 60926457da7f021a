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
    from sync.runner import connect_crm

    crm = connect_crm(read_config(config).settings, os.environ)
    try:
        report = crm.writer.setup_schema() if setup else crm.writer.check_schema()
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
    console.print("ready: upsync can read its fields and write back" if report.ok else "[red]not ready[/]: see above")
    return 0 if report.ok else 1
