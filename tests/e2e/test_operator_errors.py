"""An operator's mistake is an error with a hint, never a bug; what people read is shown as it is."""

from __future__ import annotations

import subprocess
import time
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
    time.sleep(0.01)  # a cycle as of the edit's own millisecond would read it only next time
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


def test_a_token_ending_in_a_newline_works_and_is_never_echoed(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    token = sandbox.world.tokens["hubspot"]
    env = {**sandbox_env(sandbox), "HUBSPOT_TOKEN": token + "\n"}  # as `export T=$(cat token-file)` leaves it
    state = tmp_path / "s.db"
    now = sandbox.world.now().isoformat()
    cmd = upsync_cmd("sync", "--once", "--dry-run", "--as-of", now, "--config", str(config), "--state", str(state))
    done = subprocess.run(cmd, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert token.encode() not in done.stdout + done.stderr
    assert token.encode() not in state.read_bytes()


def test_validate_names_a_malformed_secret_without_showing_it(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    env = {**sandbox_env(sandbox), "HUBSPOT_TOKEN": "pat-na1 secret-part"}
    done = subprocess.run(upsync_cmd("validate", "--config", str(config)), env=env, capture_output=True)
    assert done.returncode == 2
    assert b"hubspot.token_env" in done.stderr and b"HUBSPOT_TOKEN" in done.stderr
    assert b"secret-part" not in done.stdout + done.stderr


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_missing_ca_file_is_a_configuration_error_not_a_bug(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    config = write_config(tmp_path, sandbox, crm)
    url = sandbox.salesforce.url if crm == "salesforce" else sandbox.hubspot.url
    ca_line = f'ca_file = "{sandbox.ca_path}"'
    config.write_text(config.read_text().replace(f'"{url}"\n{ca_line}', f'"{url}"\nca_file = "no/such/ca.pem"'))
    section = crm
    env = sandbox_env(sandbox)
    checked = subprocess.run(upsync_cmd("validate", "--config", str(config)), env=env, capture_output=True)
    assert checked.returncode == 2 and f"{section}.ca_file".encode() in checked.stderr, checked.stderr.decode()
    now = sandbox.world.now().isoformat()
    cmd = upsync_cmd("sync", "--once", "--as-of", now, "--config", str(config), "--state", str(tmp_path / "s.db"))
    ran = subprocess.run(cmd, env=env, capture_output=True)
    assert ran.returncode == 2, ran.stderr.decode()
    assert f"{section}.ca_file".encode() in ran.stderr and b"hint:" in ran.stderr


def test_a_refused_token_ends_the_cycle_in_error_and_writes_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    state = ["--state", str(tmp_path / "s.db"), "--config", str(config)]
    read = subprocess.run(
        upsync_cmd("sync", "--once", "--dry-run", "--as-of", sandbox.world.now().isoformat(), *state),
        env=sandbox_env(sandbox),
        capture_output=True,
    )
    assert read.returncode == 0, read.stderr.decode()  # the store now holds what the next plan writes

    env = {**sandbox_env(sandbox), "HUBSPOT_TOKEN": "pat-revoked"}
    cmd = upsync_cmd("sync", "--once", "--tasks", "-v", "--as-of", sandbox.world.now().isoformat(), *state)
    done = subprocess.run(cmd, env=env, capture_output=True)
    assert done.returncode == 1
    assert b"cycle ended with errors" in done.stderr and b"nothing is written" in done.stderr
    assert sandbox.hubspot.calls("POST", r"/batch/(create|update)$") == 0


def test_validate_lists_every_problem_of_the_file_in_one_run(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(
        tmp_path,
        sandbox,
        "hubspot",
        extra='\n[[rules]]\nid = "other"\nsignal = "S5"\nkind = "upsell"\nwhen = "seat_utilization >= 80%"\n'
        'playbook = "seat-expanson"\n',
    )
    text = config.read_text().replace("every_minutes = 15", 'every_minutes = "often"')
    text = text.replace(
        f'"{sandbox.hubspot.url}"\nca_file = "{sandbox.ca_path}"', f'"{sandbox.hubspot.url}"\nca_file = "no/ca.pem"'
    )
    config.write_text(text)
    done = subprocess.run(
        upsync_cmd("validate", "--config", str(config)), env=sandbox_env(sandbox), capture_output=True
    )
    assert done.returncode == 2, done.stderr.decode()
    shown = b" ".join(done.stderr.split())
    assert b"4 problems in the configuration" in shown, shown
    for path in (
        b"schedule.every_minutes:",  # schema
        b"hubspot.ca_file: no such file",  # a missing file
        b"rules[1] (other).when: unknown feature 'seat_utilization'",  # a rule expression
        b"rules[1] (other).playbook: unknown playbook 'seat-expanson'",  # a playbook reference
    ):
        assert path in shown, shown
    assert b"hint:" in shown
