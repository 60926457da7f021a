"""Task keys an admin can read: rule, account and period visible, within the CRM's 80 characters,
the same task always the same key, two tasks never one."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rules.plan import KEY_MAX, identify, legacy_key, op_key, parse_key
from rules.plan.keys import Window, recent_periods

NOW = datetime(2026, 6, 15, 9, tzinfo=timezone.utc)
SF_ACCOUNT = "001Ak00000abcDEFGH"
PERIODS = recent_periods(NOW)


@pytest.mark.parametrize(
    ("rule", "period", "key"),
    [
        ("seats-near-limit", "2026-06", "seats-near-limit|001Ak00000abcDEFGH|2026-06"),
        ("usage-drop", "2026-W24", "usage-drop|001Ak00000abcDEFGH|2026-W24"),
        ("qbr-due", "2026-Q2", "qbr-due|001Ak00000abcDEFGH|2026-Q2"),
        ("renewal-window", "2026-09-30", "renewal-window|001Ak00000abcDEFGH|2026-09-30"),
        ("renewal-sequence#share-case", "2026-09-30", "renewal-sequence#share-case|001Ak00000abcDEFGH|2026-09-30"),
    ],
)
def test_a_key_names_rule_account_and_period_and_reads_back(rule: str, period: str, key: str) -> None:
    assert op_key(rule, "salesforce", SF_ACCOUNT, period) == key
    parts = parse_key(key)
    assert parts is not None and not parts.shortened
    assert (parts.rule, parts.step, parts.account_id, parts.period) == (
        rule.partition("#")[0],
        rule.partition("#")[2] or None,
        SF_ACCOUNT,
        period,
    )


def test_a_key_that_would_not_fit_keeps_account_and_period_and_the_start_of_the_rule() -> None:
    long_rule = "expansion-candidate-with-rising-weekly-active-users-and-many-new-departments"
    key = op_key(long_rule, "salesforce", SF_ACCOUNT, "2026-09-30")
    assert len(key) == KEY_MAX
    assert key.startswith("expansion-candidate-") and key.endswith(f"|{SF_ACCOUNT}|2026-09-30")
    parts = parse_key(key)
    assert parts is not None and parts.shortened and long_rule.startswith(parts.rule)
    assert op_key(long_rule, "salesforce", SF_ACCOUNT, "2026-09-30") == key  # deterministic


def test_two_long_rule_ids_that_share_their_start_never_share_a_key() -> None:
    stem = "renewal-for-customers-on-the-annual-business-plan-with-more-than-fifty-seats"
    keys = {
        op_key(f"{stem}-{tail}", "salesforce", SF_ACCOUNT, period)
        for tail in ("eu", "us", "apac")
        for period in ("2026-W24", "2026-06", "2026-Q2", "2026-09-30")
    }
    assert len(keys) == 12 and all(len(k) <= KEY_MAX for k in keys)
    steps = {op_key(f"{stem}#{s}", "salesforce", SF_ACCOUNT, "2026-09-30") for s in ("review", "demo", "quote")}
    assert len(steps) == 3


def test_a_key_stays_within_the_field_whatever_the_account_id() -> None:
    odd = "x" * 90  # no CRM has such an id: the key is opaque but fits and is distinct
    june, july = (op_key("seats-near-limit", "hubspot", odd, p) for p in ("2026-06", "2026-07"))
    assert len(june) <= KEY_MAX and len(july) <= KEY_MAX and june != july


def test_a_hubspot_key_carries_the_company_id() -> None:
    assert op_key("seats-near-limit", "hubspot", "30284701", "2026-06") == "seats-near-limit|30284701|2026-06"


RULES: list[tuple[str, Window]] = [("seats-near-limit", "month"), ("usage-drop", "week"), ("qbr-due", "quarter")]


def test_identify_reads_the_rule_and_period_from_a_readable_key() -> None:
    for rule, window in RULES:
        period = PERIODS[window][2]  # an earlier period within the lookback
        key = op_key(rule, "salesforce", SF_ACCOUNT, period)
        assert identify(key, "salesforce", SF_ACCOUNT, RULES, PERIODS) == (rule, period)


def test_identify_still_recognises_an_old_hash_key() -> None:
    old = legacy_key("usage-drop", "salesforce", SF_ACCOUNT, PERIODS["week"][3])
    assert len(old) == 40 and parse_key(old) is None
    assert identify(old, "salesforce", SF_ACCOUNT, RULES, PERIODS) == ("usage-drop", PERIODS["week"][3])


def test_identify_matches_a_shortened_key_to_its_own_long_rule_only() -> None:
    stem = "renewal-for-customers-on-the-annual-business-plan-with-more-than-fifty-seats"
    rules: list[tuple[str, Window]] = [(f"{stem}-eu", "month"), (f"{stem}-us", "month")]
    key = op_key(f"{stem}-us", "salesforce", SF_ACCOUNT, "2026-05")
    assert identify(key, "salesforce", SF_ACCOUNT, rules, PERIODS) == (f"{stem}-us", "2026-05")


@pytest.mark.parametrize(
    "key",
    [
        op_key("seats-near-limit", "salesforce", "001OTHER", "2026-06"),  # another account's task
        op_key("removed-rule", "salesforce", SF_ACCOUNT, "2026-06"),  # a rule no longer configured
        op_key("seats-near-limit", "salesforce", SF_ACCOUNT, "2024-01"),  # older than the lookback
        op_key("seats-near-limit", "salesforce", SF_ACCOUNT, "2026-W24"),  # not the rule's window
        op_key("seats-near-limit#review", "salesforce", SF_ACCOUNT, "2026-09-30"),  # a sequence step
        "seats-near-limit|001Ak00000abcDEFGH",  # not upsync's shape
        "typed by a person",
    ],
)
def test_identify_leaves_tasks_it_cannot_place_alone(key: str) -> None:
    assert identify(key, "salesforce", SF_ACCOUNT, RULES, PERIODS) is None
