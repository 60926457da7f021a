"""The ``upsync`` app: its consoles, shared options, the one error policy and a command's context.

Every command is registered with :func:`command`, which applies the error policy once: an error
raised on purpose (:class:`core.errors.UpsyncError`) prints ``error:`` and ``hint:`` and exits
with its code; anything else is a bug: the traceback, exit 70. A command returns its exit code
(or None for 0). Commands are thin: they parse options, call the orchestration, and print.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from core.clock import Clock, make_clock
from core.errors import UpsyncError
from sync.config import Config, load_config
from sync.observe.logs import REDACTOR, JsonFormatter, log_format, secrets_of, url_password
from sync.settings import Settings
from sync.store import Store

if TYPE_CHECKING:
    from sync.runner import Context

__all__ = [
    "AsOfOpt",
    "ConfigOpt",
    "JsonOpt",
    "StateOpt",
    "TasksOpt",
    "VerboseOpt",
    "app",
    "build_context",
    "command",
    "console",
    "cycle_context",
    "err",
    "open_store",
    "read_config",
    "setup_logging",
]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="upsync",
    help="Tell your CRM, in native tasks and fields, which customers are ripe for an upsell, a cross-sell or a save.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file", show_default=True)]
StateOpt = Annotated[
    str | None, typer.Option("--state", help="state.db path or database URL (default: [upsync].state)")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="run as of this UTC date/time (ISO-8601) instead of now: replays and tests"),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="log every step")]
TasksOpt = Annotated[
    bool | None,
    typer.Option(
        "--tasks/--no-tasks",
        help="create tasks even on a first run or backfill (--tasks), or none at all (--no-tasks)",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def command(group: typer.Typer = app, name: str | None = None) -> Callable[[F], F]:
    """Register a command under the error policy; an int it returns is its exit code."""

    def register(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> None:
            try:
                code = fn(*args, **kwargs)
            except UpsyncError as exc:
                message = REDACTOR.redact(exc.message)
                err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
                if exc.hint:
                    err.print(f"[bold]hint:[/] {escape(REDACTOR.redact(exc.hint))}", markup=True, highlight=False)
                raise typer.Exit(exc.exit_code) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception:
                err.print("upsync hit a bug; please report it with this traceback:")
                err.print(traceback.format_exc(), markup=False, highlight=False)
                raise typer.Exit(70) from None
            if code:
                raise typer.Exit(code)

        group.command(name)(guarded)
        return fn

    return register


def setup_logging(verbose: bool) -> None:
    """Rich text on a terminal, one JSON object per line elsewhere (``UPSYNC_LOG_FORMAT`` forces
    either); every line passes the redactor, which the config's secrets are added to as it loads."""
    handler: logging.Handler
    if log_format(os.environ, sys.stderr) == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(REDACTOR))
    else:
        handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(REDACTOR)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)


def read_config(config: Path, env: Mapping[str, str] | None = None, *, files: bool = False) -> Config:
    """The settings and compiled rules of ``config``; every problem at once, as a ConfigError
    (``files``: the files it names too). The secrets they name are redacted from every log line
    from now on."""
    env = os.environ if env is None else env
    loaded = load_config(config, env, files=files)
    REDACTOR.protect(secrets_of(loaded.settings, env))
    return loaded


def open_store(settings: Settings, state: str | None, config: Path) -> Store:
    """``--state``, else ``[upsync].state`` (a relative path is relative to the config file)."""
    target = state or settings.upsync.state
    if "://" not in target and not Path(target).is_absolute() and state is None:
        target = str(config.parent / target)
    REDACTOR.protect(url_password(target))
    logging.getLogger("upsync").info("state: %s", target)  # a URL's password is masked by the redactor
    return Store.open(target)


def build_context(config: Config, store: Store, clock: Clock, env: Mapping[str, str], dry_run: bool) -> Context:
    """A cycle's context; the connectors are imported here, late: each vendor SDK is slow to import."""
    from connectors.http import interruptible_sleep
    from sync.runner import Context, connect_crm, connect_usage
    from sync.tokens import StoreTokenCache

    settings = config.settings
    stop = threading.Event()  # set by SIGTERM/SIGINT: retries waiting out a backoff give up at once
    crm = settings.upsync.crm
    tokens = StoreTokenCache(store, crm)
    return Context(
        settings=settings,
        _ruleset=config.ruleset,
        stop=stop,
        store=store,
        crm=connect_crm(settings, env, sleep=interruptible_sleep(stop, system=crm), token_cache=tokens),
        usage=connect_usage(settings, env, sleep=interruptible_sleep(stop, system="usage")),
        clock=clock,
        dry_run=dry_run,
    )


@contextmanager
def cycle_context(config: Path, state: str | None, as_of: str | None, *, dry_run: bool) -> Iterator[Context]:
    """The settings, store, connectors and clock of one command, closed when it ends."""
    loaded = read_config(config)
    store = open_store(loaded.settings, state, config)
    ctx = build_context(loaded, store, make_clock(as_of), os.environ, dry_run)
    try:
        yield ctx
    finally:
        ctx.close()
