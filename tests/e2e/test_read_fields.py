"""The fields upsync reads: `crm check` checks them as it checks those it writes, and an optional
one switched off (``= false``) is neither checked nor read."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e

CRMS = ["salesforce", "hubspot"]


def configured(tmp_path: Path, sb: Sandbox, crm: str, line: str) -> Path:
    """The sandbox's config with ``line`` added to the CRM's section."""
    sections = {"salesforce": "", "hubspot": "", crm: line}
    return write_config(tmp_path, sb, crm, salesforce=sections["salesforce"], hubspot=sections["hubspot"])


@pytest.mark.parametrize("crm", CRMS)
def test_crm_check_names_a_field_the_pull_reads_that_the_org_lacks(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    """`crm check` said "ready", then the pull failed on INVALID_FIELD: now it names the field, its
    key and what to do; switched off (false), the field is neither checked nor read."""
    section = 'seats_field = "Seats_Bought__c"' if crm == "salesforce" else 'seats_property = "seats_bought"'
    config = configured(tmp_path, sandbox, crm, section)
    env = sandbox_env(sandbox)
    done = subprocess.run(upsync_cmd("crm", "check", "--config", str(config)), env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    shown = " ".join(done.stdout.split())
    key = "salesforce.seats_field" if crm == "salesforce" else "hubspot.seats_property"
    name = "Seats_Bought__c" if crm == "salesforce" else "seats_bought"
    assert f"missing {'Account.' if crm == 'salesforce' else 'Company property '}{name} ({key}, read)" in shown, shown
    assert f"switch it off: {key.split('.')[1]} = false" in shown and "not ready" in shown

    off = configured(tmp_path, sandbox, crm, section.split("=")[0] + "= false")
    checked = subprocess.run(upsync_cmd("crm", "check", "--config", str(off)), env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Seats_Purchased__c" not in checked.stdout and "upsync_seats_purchased" not in checked.stdout


@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("spelling", ["false", '""'])
def test_an_optional_field_switched_off_is_not_read(tmp_path: Path, sandbox: Sandbox, crm: str, spelling: str) -> None:
    from sync.runner import connect_crm
    from sync.settings import load_settings

    key = "seats_field" if crm == "salesforce" else "seats_property"
    name = "Seats_Purchased__c" if crm == "salesforce" else "upsync_seats_purchased"
    config = configured(tmp_path, sandbox, crm, f"{key} = {spelling}")
    env = sandbox_env(sandbox)
    settings = load_settings(config, env)
    assert getattr(getattr(settings, crm), key) is None
    connector = connect_crm(settings, env)
    accounts: Any = next(s for s in connector.streams if s.name in ("salesforce.accounts", "hubspot.companies"))
    read = accounts.decl.fields if crm == "salesforce" else accounts.decl.properties
    assert name not in read and ("Name" in read or "name" in read)
    connector.close()

    state = str(tmp_path / "s.db")
    now = sandbox.world.now().isoformat()
    done = subprocess.run(
        upsync_cmd("sync", "--once", "--dry-run", "--as-of", now, "--config", str(config), "--state", state),
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    if crm == "salesforce":  # the query the org was sent: HubSpot's search sends its properties in a POST body
        queries = [r.query for r in sandbox.salesforce.requests if "Account" in r.query]
        assert queries and not any(name in q for q in queries)
