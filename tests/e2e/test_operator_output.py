"""What people read is shown as it is: bracketed names and hints are data, never terminal markup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox import salesforce as sf_sandbox
from sandbox.server import Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e

MARKUP_NAME = "[bold]Acme[/bold] [red]Holdings[/] [/]"


def test_explain_shows_an_account_name_written_like_terminal_markup_as_it_is(tmp_path: Path, sandbox: Sandbox) -> None:
    account = sorted(sandbox.world.salesforce.objects["Account"])[0]
    user = next(
        str(uid)
        for uid, u in sandbox.world.salesforce.objects["User"].items()
        if u["IsActive"] and uid != sandbox.world.salesforce.integration_user_id
    )
    sf_sandbox.edit_as_user(sandbox.world, "Account", account, {"Name": MARKUP_NAME}, user)
    config = write_config(tmp_path, sandbox, "salesforce")
    env = sandbox_env(sandbox)
    common = ["--config", str(config), "--state", str(tmp_path / "state.db")]
    now = sandbox.world.now().isoformat()
    pulled = subprocess.run(
        upsync_cmd("sync", "--once", "--dry-run", "--as-of", now, *common), env=env, capture_output=True
    )
    assert pulled.returncode == 0, pulled.stderr.decode()

    shown = subprocess.run(upsync_cmd("explain", account, "--as-of", now, *common), env=env, capture_output=True)
    assert shown.returncode == 0, shown.stderr.decode()
    assert MARKUP_NAME.encode() in shown.stdout


def test_a_hint_naming_a_config_section_in_brackets_is_printed_whole(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    env = {**sandbox_env(sandbox), "HUBSPOT_TOKEN": "not-the-token"}
    now = sandbox.world.now().isoformat()
    cmd = upsync_cmd(
        "sync", "--once", "--dry-run", "--as-of", now, "--config", str(config), "--state", str(tmp_path / "s.db")
    )
    done = subprocess.run(cmd, env=env, capture_output=True)
    assert done.returncode == 1
    assert b"[hubspot.oauth]" in done.stdout.replace(b"\n", b"")
