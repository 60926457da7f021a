"""Contracts and products as they are: every contract's renewal, product patterns, acquisition dates."""

from __future__ import annotations

import pytest

from rules.expr import ExprError, Schema, compile_condition, interpret
from tests.unit.accounts import World, day, evaluate, feature, fired, ruleset


def _renewals() -> World:
    w = World()
    # two contracts: the second ends first; the renewal that comes next is the earlier one
    w.customer("two-contracts", ends_in=300)
    w.contract("two-contracts", started=200, ends_in=40)
    w.customer("one-contract", ends_in=120)
    w.customer("lapsed-one", ends_in=200)
    w.contract("lapsed-one", started=500, ends_in=-10)  # ended ten days ago: not a renewal to come
    return w


def test_the_next_renewal_is_the_earliest_end_among_active_contracts() -> None:
    ev = evaluate(_renewals(), ruleset({"id": "renewal", "kind": "upsell", "when": "days_to_renewal <= 90"}))
    assert feature(ev, "two-contracts", "next_renewal") == day(-40)
    assert feature(ev, "two-contracts", "contract_end") == day(-300)  # the latest, as before
    assert feature(ev, "two-contracts", "active_contracts") == 2
    assert feature(ev, "lapsed-one", "next_renewal") == day(-200)
    assert fired(ev, "renewal") == {"two-contracts"}


def _products() -> World:
    w = World()
    for account in ("accounting-pro", "accounting-old", "payroll-too", "family-only", "nothing", "dropped"):
        w.customer(account)
    for crm_id, name, family in (
        ("acc-pro", "Accounting Pro", "Back office"),
        ("acc-cloud", "Accounting Cloud", "Back office"),
        ("pay", "Payroll", "HR"),
        ("ledger", "Ledger Plus", "Accounting"),
    ):
        w.add("products", crm_id=crm_id, name=name, family=family)
    for account, product, bought, status in (
        ("accounting-pro", "acc-pro", 60, "Installed"),
        ("accounting-old", "acc-cloud", 400, "Installed"),
        ("accounting-old", "acc-pro", 30, "Installed"),  # a second accounting product, bought later
        ("payroll-too", "acc-pro", 90, "Installed"),
        ("payroll-too", "pay", 20, "Installed"),
        ("family-only", "ledger", 10, "Installed"),
        ("dropped", "acc-pro", 100, "Obsolete"),
    ):
        w.add("assets", account_id=account, product_id=product, status=status, purchase_date=day(bought))
    return w


def test_owns_matches_product_names_and_families_by_pattern_and_acquired_is_the_first_purchase() -> None:
    rules = ruleset(
        {
            "id": "payroll",
            "kind": "cross-sell",
            "offer": "Payroll",
            "when": "owns('accounting*') and not owns('Payroll') and days_since(acquired('Accounting*')) <= 180",
        },
        {"id": "any-accounting", "kind": "upsell", "when": "owns('Accounting')"},
        guards={"G7": {"related": {"Payroll": ["Accounting Pro", "Accounting Cloud"]}}},
    )
    ev = evaluate(_products(), rules)
    # owns Accounting (by name, or by family: Ledger Plus) and lacks Payroll, first bought within 180 days;
    # the old owner's first accounting purchase is 400 days ago, whatever it bought since
    assert fired(ev, "payroll") == {"accounting-pro", "family-only"}
    assert feature(ev, "accounting-old", "acquired:Accounting*") == day(400)
    assert feature(ev, "accounting-pro", "acquired:Accounting*") == day(60)
    # a family name matches too; an obsolete asset is not owned; no wildcard means the whole name
    assert fired(ev, "any-accounting") == {"family-only"}
    assert feature(ev, "dropped", "owns:Accounting*") is False
    assert feature(ev, "nothing", "acquired:Accounting*") is None


def test_owns_and_acquired_agree_with_the_reference_interpreter() -> None:
    ev = evaluate(
        _products(),
        ruleset(
            {
                "id": "x",
                "kind": "cross-sell",
                "offer": "Payroll",
                "when": "owns('Accounting*') or days_since(acquired('Pay*')) < 30",
            },
            guards={"G7": {"related": {"Payroll": ["Accounting Pro"]}}},
        ),
    )
    source = "owns('Accounting*') or days_since(acquired('Pay*')) < 30"
    frame = ev.features  # carries every column the rule set's product functions read
    cond = compile_condition(source, Schema(features={}, series={}, tracked=()))
    got = frame.select(cond.expr.alias("x")).get_column("x").to_list()
    want = [bool(interpret(cond.node, row)) for row in frame.rows(named=True)]
    assert got == want and any(got) and not all(got)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("owns(Accounting)", "needs a product name or pattern in quotes"),
        ("owns('*')", "needs a product name or pattern in quotes"),
        ("acquired('A') > 3", "compare"),
        ("owns('A', 'B')", "takes 1 argument"),
    ],
)
def test_product_functions_are_checked_with_a_pointed_error(source: str, message: str) -> None:
    schema = Schema(features={}, series={}, tracked=())
    with pytest.raises(ExprError, match=message):
        compile_condition(source, schema)
