"""The bundled sandbox: serve the stand-ins (``upsync sandbox``) or run the demo against them (``upsync demo``)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from core.clock import make_clock, system_clock
from sync.cli.app import (
    AsOfOpt,
    ConfigOpt,
    StateOpt,
    VerboseOpt,
    build_context,
    command,
    console,
    read_config,
    setup_logging,
)
from sync.cli.views import print_cycle, print_tasks
from sync.config import Config
from sync.settings import Settings
from sync.store import Store

__all__ = ["demo", "sandbox"]


@command()
def sandbox(
    config: ConfigOpt = Path("config.toml"),
    as_of: AsOfOpt = None,
    accounts: Annotated[int, typer.Option(help="customers in the sample world")] = 300,
    seed: Annotated[int, typer.Option(help="seed of the sample world")] = 7,
) -> None:
    """Serve the HTTPS stand-ins (Salesforce, HubSpot, usage API) on the ports config.toml names."""

    from sandbox.server import start_sandbox
    from sandbox.world import build_world

    settings = read_config(config, env=_sandbox_env(config)).settings
    ports = {
        "salesforce": _port(settings.salesforce.instance_url if settings.salesforce else None),
        "hubspot": _port(settings.hubspot.base_url if settings.hubspot else None),
        "usage": _port(settings.usage.base_url if settings.usage else None),
    }
    ca_file = next(
        (s.ca_file for s in (settings.salesforce, settings.hubspot, settings.usage) if s and s.ca_file),
        (config.parent / ".sandbox" / "ca.pem").resolve(),
    )
    world = build_world(seed=seed, accounts=accounts, anchor=make_clock(as_of)())
    with start_sandbox(world, ca_path=Path(ca_file), ports=ports) as sb:
        console.print(f"upsync sandbox: {accounts} customers as of {world.anchor:%Y-%m-%d %H:%M} UTC")
        for name, svc in sb.services.items():
            console.print(f"  {name:<10} {svc.url}")
        console.print(f"  CA file    {sb.ca_path}")
        console.print("tokens (sandbox only, export them in another shell):")
        for name, var in _token_vars(settings).items():
            console.print(f"  export {var}={world.tokens[name]}")
        console.print("Ctrl-C stops the sandbox.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("sandbox stopped")


def _port(url: str | None) -> int:
    if not url:
        return 0
    tail = url.split("://", 1)[-1].split("/", 1)[0]
    return int(tail.rsplit(":", 1)[1]) if ":" in tail else 443


def _token_vars(settings: Settings) -> dict[str, str]:
    return {
        name: section.token_env
        for name, section in (
            ("salesforce", settings.salesforce),
            ("hubspot", settings.hubspot),
            ("usage", settings.usage),
        )
        if section is not None
    }


def _sandbox_env(config: Path) -> dict[str, str]:
    """Env for settings that talk to the sandbox: every token_env set to the sandbox token."""
    import tomllib

    from sandbox.world import SANDBOX_TOKENS as tokens

    env = dict(os.environ)
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return env
    defaults = {"salesforce": "SALESFORCE_TOKEN", "hubspot": "HUBSPOT_TOKEN", "usage": "USAGE_TOKEN"}
    for name, default in defaults.items():
        section = raw.get(name)
        var = section.get("token_env", default) if isinstance(section, dict) else default
        env[str(var)] = tokens[name]
    return env


@command()
def demo(
    config: ConfigOpt = Path("config.toml"),
    state: StateOpt = None,
    accounts: Annotated[int, typer.Option(help="customers in the sample world")] = 300,
    verbose: VerboseOpt = False,
) -> None:
    """Start the sandbox in-process, run one cycle against Salesforce and one against HubSpot,
    and print the tasks now in each CRM, read back through the client libraries."""
    setup_logging(verbose)

    from sandbox.server import start_sandbox
    from sandbox.world import build_world
    from sync.runner import run_cycle

    clock = system_clock
    env = _sandbox_env(config)
    loaded = read_config(config, env=env)
    base = loaded.settings
    with tempfile.TemporaryDirectory(prefix="upsync-demo-") as tmp:
        world = build_world(seed=7, accounts=accounts, anchor=clock())
        with start_sandbox(world, ca_path=Path(tmp) / "ca.pem") as sb:
            console.print(f"sandbox up: Salesforce {sb.salesforce.url}, HubSpot {sb.hubspot.url}, usage {sb.usage.url}")
            rows: list[tuple[str, dict[str, Any]]] = []
            totals: dict[str, int] = {}
            for system in ("salesforce", "hubspot"):
                settings = _point_at_sandbox(base, sb, system)
                target = state or str(Path(tmp) / f"demo-{system}.db")
                if state is not None and "://" not in state:
                    target = f"{state}.{system}"
                store = Store.open(target)
                ctx = build_context(Config(settings, loaded.ruleset), store, clock, env, False)
                try:
                    report = run_cycle(ctx, command="demo", tasks=True)
                    print_cycle(report, system)
                    tasks = ctx.crm.writer.list_tasks()
                    names = store.account_names(system)
                    owners = store.owner_names(system)
                    by_key = {k: e.account_id for k, e in store.ledger(system).items()}
                    for t in tasks:
                        account_id = t["account_id"] or by_key.get(t["key"] or "")
                        t["account"] = names.get(account_id or "", account_id or "?")
                        t["owner"] = owners.get(t["owner_id"] or "", t["owner_id"] or "?")
                        rows.append((system, t))
                    totals[system] = len(tasks)
                finally:
                    ctx.close()
            print_tasks(rows, totals)


def _point_at_sandbox(base: Settings, sb: Any, system: str) -> Settings:
    upsync = base.upsync.model_copy(update={"crm": system, "dry_run": False})
    updates: dict[str, Any] = {"upsync": upsync}
    if base.salesforce is not None:
        updates["salesforce"] = base.salesforce.model_copy(
            update={"instance_url": sb.salesforce.url, "ca_file": sb.ca_path}
        )
    if base.hubspot is not None:
        updates["hubspot"] = base.hubspot.model_copy(update={"base_url": sb.hubspot.url, "ca_file": sb.ca_path})
    if base.usage is not None:
        updates["usage"] = base.usage.model_copy(update={"base_url": sb.usage.url, "ca_file": sb.ca_path})
    return base.model_copy(update=updates)
