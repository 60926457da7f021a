"""The CLI as an admin meets it: validate reports every problem at once, errors carry hints."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import trustme

from tests.conftest import upsync_cmd

ROOT = Path(__file__).resolve().parents[2]


def test_validate_names_a_misspelt_key_a_wrong_type_and_a_missing_env_var_in_one_run(tmp_path: Path) -> None:
    text = (ROOT / "config.toml").read_text()
    text = text.replace('sync_key_property = "upsync_sync_key"', 'sync_key_propety = "upsync_sync_key"')
    text = text.replace("every_minutes = 15", 'every_minutes = "15m"')
    # the sandbox's CA is not beside this copy: validate would name each ca_file too (in the same run)
    text = re.sub(r"(?m)^ca_file = .*\n", "", text)
    config = tmp_path / "config.toml"
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("HUBSPOT_TOKEN", "USAGE_TOKEN")}
    env["HUBSPOT_TOKEN"] = "x"
    result = subprocess.run(upsync_cmd("validate", "--config", str(config)), env=env, capture_output=True, text=True)
    assert result.returncode == 2
    out = " ".join(result.stderr.split())
    assert "hubspot.sync_key_propety: unknown key (did you mean 'sync_key_property'?)" in out
    assert "schedule.every_minutes: input should be a valid integer" in out
    assert "usage.token_env: environment variable USAGE_TOKEN is not set" in out
    assert "3 problems" in out
    assert "hint:" in out


def test_validate_accepts_the_bundled_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"  # beside the CA file `upsync sandbox` writes for it
    config.write_text((ROOT / "config.toml").read_text())
    (tmp_path / ".sandbox").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / ".sandbox" / "ca.pem"))
    env = dict(os.environ, HUBSPOT_TOKEN="x", USAGE_TOKEN="y")
    result = subprocess.run(upsync_cmd("validate", "--config", str(config)), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "seats-near-limit" in result.stdout


@pytest.mark.parametrize("as_of", ["yesterday", "2026-13-01"])
def test_a_bad_as_of_is_a_config_error_with_a_hint(tmp_path: Path, as_of: str) -> None:
    env = dict(os.environ, HUBSPOT_TOKEN="x", USAGE_TOKEN="y")
    result = subprocess.run(
        upsync_cmd(
            "sync", "--once", "--config", str(ROOT / "config.toml"), "--state", str(tmp_path / "s.db"), "--as-of", as_of
        ),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "is not an ISO-8601 date or datetime" in result.stderr and "hint:" in result.stderr
