"""A CRM-only setup: no [usage] section, no usage API. Cycles run, the rules that read usage see
none; the commands that load usage say what is missing instead of failing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sandbox.server import Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e


def crm_only(tmp_path: Path, sb: Sandbox, crm: str) -> Path:
    config = write_config(tmp_path, sb, crm)
    text, count = re.subn(r"\n\[usage\]\n.*?(?=\n\[writeback\])", "\n", config.read_text(), flags=re.DOTALL)
    assert count == 1 and "[usage]" not in text
    config.write_text(text)
    return config


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_cycle_runs_without_a_usage_section(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    config = crm_only(tmp_path, sandbox, crm)
    env = {k: v for k, v in sandbox_env(sandbox).items() if k != "USAGE_TOKEN"}  # nothing asks for it
    common = ["--config", str(config), "--state", str(tmp_path / "s.db")]
    checked = subprocess.run(upsync_cmd("validate", *common), env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

    now = sandbox.world.now().isoformat()
    done = subprocess.run(
        upsync_cmd("sync", "--once", "--as-of", now, *common), env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"pull {crm}." in done.stdout and "usage.daily" not in done.stdout
    assert sandbox.usage.calls() == 0


def test_loading_usage_without_a_usage_section_is_a_configuration_error(tmp_path: Path, sandbox: Sandbox) -> None:
    config = crm_only(tmp_path, sandbox, "hubspot")
    export = tmp_path / "usage.ndjson"
    export.write_text('{"workspace_id": "ws-1", "date": "2026-01-05", "updated_at": "2026-01-06T00:00:00Z"}\n')
    env = sandbox_env(sandbox)
    common = ["--config", str(config), "--state", str(tmp_path / "s.db")]
    for args in (("import-usage", str(export)), ("backfill", "--source", "usage")):
        done = subprocess.run(upsync_cmd(*args, *common), env=env, capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        shown = " ".join(done.stderr.split())
        assert "error:" in shown and "no [usage] section" in shown and "hint: add [usage]" in shown, shown
