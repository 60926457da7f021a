"""The report's revenue measures on both CRMs, held against the world's own MRR.

A cycle pulls the sandbox world through the real clients, then ``upsync report --json`` computes
NRR, GRR, logo and MRR churn from the CRM's won deals, line items and contracts. The world knows
what each customer pays from its story alone (``sandbox.world.revenue``: plan history, seats,
add-ons, terms, churn), never from the records it serves: the two must agree to the cent.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from rules.revenue import Retention, retention
from sandbox.server import Sandbox, start_sandbox
from sandbox.world import CrmVariant, build_world
from sandbox.world.revenue import world_mrr
from sync.runner import pull_all
from tests.conftest import ANCHOR, make_context, sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e

FROM, TO = date(2025, 9, 1), date(2026, 5, 31)
"""Nine whole months: from the MRR on 31 Aug 2025 to the MRR on 31 May 2026."""
OPENING, CLOSING = date(2025, 8, 1), date(2026, 5, 1)
REVENUE = """
[revenue]
plan_families = ["Platform"]
one_off_families = ["Services"]
"""
"""The sandbox catalogue's families, as its admin would name them (none is assumed by default)."""


def _truth(sandbox: Sandbox, crm: str) -> Retention:
    mrr = world_mrr(sandbox.world, crm, first=OPENING, last=CLOSING, as_of=ANCHOR.date())
    return retention(mrr, start=OPENING, end=CLOSING)


def _report(tmp_path: Path, sandbox: Sandbox, crm: str) -> dict[str, Any]:
    config = write_config(tmp_path, sandbox, crm, extra=REVENUE)
    env = sandbox_env(sandbox)
    cycle = subprocess.run(
        upsync_cmd("sync", "--once", "--dry-run", "--config", str(config), "--as-of", ANCHOR.isoformat()),
        env=env,
        capture_output=True,
        text=True,
    )
    assert cycle.returncode == 0, cycle.stdout + cycle.stderr
    as_of = (ANCHOR + timedelta(hours=1)).isoformat()
    args = ("--from", FROM.isoformat(), "--to", TO.isoformat(), "--as-of", as_of)
    result = subprocess.run(
        upsync_cmd("report", "--json", "--config", str(config), *args), env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["revenue"])


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_reports_retention_is_the_worlds_own(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    truth = _truth(sandbox, crm)
    # the period holds every movement the measures are about: customers lost, grown and won
    churned = sandbox.world.stories["churned"]
    assert truth.churned == len(churned) >= 3
    assert truth.expansion > 0 and truth.upsell > 0 and truth.cross_sell > 0
    assert truth.new > 0 and truth.contraction == 0  # nobody in this world buys less and stays

    revenue = _report(tmp_path, sandbox, crm)

    assert (revenue["currency"], revenue["from"], revenue["to"]) == ("USD", "2025-09-01", "2026-05-31")
    assert revenue["start_mrr"] == pytest.approx(truth.start_mrr)
    assert revenue["end_mrr"] == pytest.approx(truth.end_mrr)
    assert revenue["nrr"] == pytest.approx(truth.nrr)
    assert revenue["grr"] == pytest.approx(truth.grr)
    assert revenue["logo_churn"] == pytest.approx(truth.logo_churn)
    assert revenue["mrr_churn"] == pytest.approx(truth.mrr_churn)
    assert (revenue["cohort"], revenue["churned"]) == (truth.cohort, truth.churned)
    assert revenue["expansion"] == pytest.approx(truth.expansion)
    assert revenue["new"] == pytest.approx(truth.new)
    assert revenue["nrr"] < 1 and revenue["grr"] < revenue["nrr"]  # churn outweighs expansion here


def _opportunity_describes(sandbox: Sandbox) -> int:
    return sandbox.salesforce.calls("GET", r"/sobjects/Opportunity/describe$")


def test_a_single_currency_org_is_described_once_and_its_deals_carry_no_currency(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='objects = ["opportunities"]')
    pull_all(ctx, as_of=ctx.clock())
    assert _opportunity_describes(sandbox) == 1  # the first pull is a full pass: it asks
    ctx.close()
    later = make_context(tmp_path, sandbox, "salesforce", salesforce='objects = ["opportunities"]')
    pull_all(later, as_of=later.clock())  # another run, another connector: the store kept the answer
    assert _opportunity_describes(sandbox) == 1
    with sqlite3.connect(tmp_path / "state-salesforce.db") as conn:
        currencies = {row[0] for row in conn.execute("SELECT currency FROM opportunities")}
    assert currencies == {None}  # the org's one currency: [revenue] currency
    later.close()


def test_a_multi_currency_org_has_each_deals_currency_read(tmp_path: Path) -> None:
    world = build_world(seed=11, accounts=40, anchor=ANCHOR, variant=CrmVariant(sf_multi_currency=True))
    with start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem") as sandbox:
        ctx = make_context(tmp_path, sandbox, "salesforce", salesforce='objects = ["opportunities"]')
        assert not [r.error for r in pull_all(ctx, as_of=ctx.clock()) if r.error]
        ctx.close()
    with sqlite3.connect(tmp_path / "state-salesforce.db") as conn:
        currencies = {row[0] for row in conn.execute("SELECT currency FROM opportunities")}
    assert currencies == {"USD"}


def test_hubspot_serves_what_hubspot_computes_for_recurring_line_items(sandbox: Sandbox) -> None:
    objects = sandbox.world.hubspot.objects
    families = {pid: p["properties"]["product_family"] for pid, p in objects["products"].items()}
    for item in objects["line_items"].values():
        p = item["properties"]
        if families[p["hs_product_id"]] == "Services":  # sold once: no billing, no MRR
            assert (p["recurringbillingfrequency"], p["hs_mrr"]) == ("", "")
        elif p["recurringbillingfrequency"]:
            assert p["recurringbillingfrequency"] == "annually"
            assert float(p["hs_mrr"]) == pytest.approx(float(p["amount"]) / 12)
            assert p["hs_recurring_billing_start_date"] <= p["hs_recurring_billing_end_date"]
    assert {d["properties"]["deal_currency_code"] for d in objects["deals"].values()} == {"USD"}


@pytest.mark.parametrize("crm", ["salesforce"])
def test_the_html_report_from_a_pulled_store_leads_with_the_same_retention(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    from bench.browser import INSTALL_HINT, find_chromium, open_report
    from sync.report.fmt import pct

    revenue = _report(tmp_path, sandbox, crm)
    config = tmp_path / f"config-{crm}.toml"
    page_file = tmp_path / "report.html"
    args = ("--from", FROM.isoformat(), "--to", TO.isoformat(), "--as-of", (ANCHOR + timedelta(hours=1)).isoformat())
    done = subprocess.run(
        upsync_cmd("report", "--html", str(page_file), "--config", str(config), *args),
        env=sandbox_env(sandbox),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert str(page_file) in done.stdout.replace("\n", "")
    if find_chromium() is None:
        pytest.fail(INSTALL_HINT)
    with open_report(page_file) as opened:
        headline = opened.page.inner_text("#headline")
    assert pct(revenue["nrr"]) in headline and pct(revenue["grr"]) in headline
    drawn = {c["name"] for c in opened.charts if c["marks"] > 0}
    assert {"trend", "bridge", "health"} <= drawn  # a dry run wrote no task: funnel and lift are said in words
    assert opened.console_errors == [] and opened.requests == []
