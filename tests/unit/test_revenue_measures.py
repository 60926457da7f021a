"""The revenue measures over all months at once and per group: they agree with the plain per-period
computation, groups add up to the book, and the edge cases a finance reader checks by hand."""

from __future__ import annotations

import itertools
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.revenue import MRR_SCHEMA, CurrencyError, monthly_bridge, retention
from rules.revenue_groups import cohorts, monthly_bridge_by, retention_by
from rules.revenue_offers import cross_sell_conversion, measures

DEC, JAN, FEB, MAR, APR = date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)
MONTHS = [date(2026, m, 1) for m in range(1, 7)]


def frame(*rows: tuple[str, date, str, float], currency: str = "JPY") -> pl.DataFrame:
    return pl.DataFrame(
        [{"account": a, "month": m, "product": p, "mrr": v, "currency": currency} for a, m, p, v in rows],
        schema=MRR_SCHEMA,
    )


def row(bridge: pl.DataFrame, month: date) -> dict[str, object]:
    (found,) = bridge.filter(pl.col("month") == month).to_dicts()
    return found


rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.sampled_from(MONTHS),
        st.sampled_from([1, 1, 1, 15]),  # now and then a row dated inside its month
        st.sampled_from(["P", "Q", "R"]),
        st.sampled_from([0.0, -10.0, 50.0, 100.0, 120.5, 300.0]),
    ),
    max_size=40,
)


def book(drawn: list[tuple[str, date, int, str, float]]) -> pl.DataFrame:
    return frame(*((a, m.replace(day=d), p, v) for a, m, d, p, v in drawn))


FIELDS = {  # monthly_bridge's column: Retention's attribute
    "start_mrr": "start_mrr",
    "new": "new",
    "expansion": "expansion",
    "upsell": "upsell",
    "cross_sell": "cross_sell",
    "contraction": "contraction",
    "churn": "churn",
    "end_mrr": "end_mrr",
    "cohort": "cohort",
    "churned": "churned",
    "paying": "paying_at_end",
    "upsold": "upsold",
    "nrr": "nrr",
    "grr": "grr",
    "logo_churn": "logo_churn",
    "mrr_churn": "mrr_churn",
    "arpa": "arpa",
    "arr_growth": "arr_growth",
    "upsell_rate": "upsell_rate",
}


def same(column: object, reference: object) -> bool:
    return column is None if reference is None else column == pytest.approx(reference, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_the_vectorised_monthly_bridge_is_retention_month_by_month(
    drawn: list[tuple[str, date, int, str, float]],
) -> None:
    mrr = book(drawn)
    bridge = monthly_bridge(mrr, start=MONTHS[0], end=MONTHS[-1])
    assert bridge.get_column("month").to_list() == MONTHS[1:]  # every month, even one nobody paid in
    for before, month in itertools.pairwise(MONTHS):
        r, got = retention(mrr, start=before, end=month), row(bridge, month)
        for column, attribute in FIELDS.items():
            assert same(got[column], getattr(r, attribute)), (month, column, got[column], getattr(r, attribute))


@settings(max_examples=100, deadline=None)
@given(rows, st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["SMB", "ENT"])))
def test_groups_add_up_to_the_whole_book(
    drawn: list[tuple[str, date, int, str, float]], segment: dict[str, str]
) -> None:
    mrr = book(drawn)  # "e" (and any account the dict misses) is in no segment: the None group
    r = retention(mrr, start=JAN, end=MONTHS[-1])
    for groups in (segment, cohorts(mrr)):
        parts = retention_by(mrr, groups, start=JAN, end=MONTHS[-1])
        for column, attribute in list(FIELDS.items())[:12]:
            assert same(parts.get_column(column).sum(), getattr(r, attribute)), (column, groups)
    whole = monthly_bridge(mrr, start=JAN, end=MONTHS[-1])
    by_month = monthly_bridge_by(mrr, segment, start=JAN, end=MONTHS[-1]).drop("group").group_by("month").sum()
    for month in MONTHS[1:]:
        found = by_month.filter(pl.col("month") == month).to_dicts()
        for column in list(FIELDS)[:12]:
            assert same(found[0][column] if found else 0, row(whole, month)[column]), (month, column)


def test_a_segment_breakdown_by_hand() -> None:
    mrr = frame(
        ("a", JAN, "P", 100), ("a", MAR, "P", 150),
        ("b", JAN, "P", 200), ("b", MAR, "P", 200), ("b", MAR, "Q", 80),
        ("c", JAN, "P", 300),
        ("n", MAR, "P", 40),
    )  # fmt: skip
    segment = pl.DataFrame({"account": ["a", "c", "b"], "segment": ["SMB", "SMB", "ENT"]})  # "n" has none
    got = {r["segment"]: r for r in retention_by(mrr, segment, start=JAN, end=MAR).to_dicts()}
    assert list(got) == ["ENT", "SMB", None]  # sorted, the unassigned last
    smb, ent, none = got["SMB"], got["ENT"], got[None]
    assert (smb["start_mrr"], smb["upsell"], smb["churn"], smb["end_mrr"], smb["churned"]) == (400, 50, 300, 150, 1)
    assert smb["nrr"] == pytest.approx(150 / 400) and smb["logo_churn"] == 0.5 and smb["upsell_rate"] == 0.5
    assert (ent["cross_sell"], ent["upsell"], ent["nrr"], ent["upsell_rate"]) == (80, 0, 1.4, 0.0)
    assert (none["start_mrr"], none["new"], none["nrr"], none["new_customers"]) == (0, 40, None, 1)


def test_groups_are_one_value_per_account() -> None:
    mrr = frame(("a", JAN, "P", 100))
    twice = pl.DataFrame({"account": ["a", "a"], "owner_id": ["o1", "o2"]})
    with pytest.raises(ValueError, match="groups 'owner_id': account 'a' has 2 values"):
        retention_by(mrr, twice, start=JAN, end=FEB)
    with pytest.raises(ValueError, match="give 'account' and exactly one group column"):
        retention_by(mrr, pl.DataFrame({"account": ["a"], "x": [1], "y": [2]}), start=JAN, end=FEB)
    with pytest.raises(ValueError, match="clashes with a measure's name"):
        retention_by(mrr, pl.DataFrame({"account": ["a"], "cohort": [1]}), start=JAN, end=FEB)


def test_an_account_that_churns_and_returns_is_new_revenue_not_negative_churn() -> None:
    mrr = frame(("e", JAN, "P", 120), ("e", MAR, "P", 120), *(("x", m, "P", 100.0) for m in (JAN, FEB, MAR)))
    bridge = monthly_bridge(mrr)
    feb, mar = row(bridge, FEB), row(bridge, MAR)
    assert (feb["churn"], feb["churned"], feb["logo_churn"], feb["new"]) == (120, 1, 0.5, 0)
    assert (mar["churn"], mar["new"], mar["nrr"], mar["end_mrr"]) == (0, 120, 1.0, 220)  # its return is not NRR
    quarter = retention_by(mrr, None, start=JAN, end=MAR).row(0, named=True)
    # over the quarter it is there at both ends: retained; never a new customer (it first paid before)
    assert (quarter["churn"], quarter["new"], quarter["nrr"], quarter["new_customers"]) == (0, 0, 1.0, 0)
    assert quarter["monthly_churn"] == pytest.approx(1 / 3)  # 1 lost of 2 in February, 0 of 1 in March


def test_a_downgrade_beside_an_upsell_is_both_never_netted() -> None:
    mrr = frame(("d", JAN, "P", 100), ("d", JAN, "Q", 100), ("d", FEB, "P", 150), ("d", FEB, "Q", 40))
    feb = row(monthly_bridge(mrr), FEB)
    assert (feb["upsell"], feb["contraction"], feb["expansion"], feb["upsold"]) == (50, 60, 50, 1)
    assert (feb["nrr"], feb["grr"], feb["upsell_rate"]) == (0.95, 0.7, 1.0)  # (200+50-60)/200, (200-60)/200


def test_a_mid_month_start_counts_for_its_whole_month() -> None:
    # Convention: frames are monthly; a row dated inside a month is that month's, at its amount
    mrr = frame(("a", JAN, "P", 100), ("a", FEB, "P", 100), ("m", date(2026, 2, 15), "P", 50))
    feb = row(monthly_bridge(mrr), FEB)
    assert (feb["new"], feb["end_mrr"], feb["paying"]) == (50, 150, 2)
    r = retention(mrr, start=date(2026, 1, 20), end=date(2026, 2, 3))  # period bounds read the same way
    assert (r.start_mrr, r.new, r.end_mrr) == (100, 50, 150)
    assert cohorts(mrr).to_dicts() == [{"account": "a", "cohort_month": JAN}, {"account": "m", "cohort_month": FEB}]


def test_several_currencies_are_refused_everywhere() -> None:
    mixed = pl.concat([frame(("a", JAN, "P", 10_000)), frame(("u", FEB, "P", 100), currency="USD")])
    for compute in (
        lambda: monthly_bridge(mixed),
        lambda: retention_by(mixed, {"a": "x"}, start=JAN, end=FEB),
        lambda: monthly_bridge_by(mixed, {"a": "x"}, start=JAN, end=FEB),
        lambda: measures(mixed, start=JAN, end=FEB, currency="JPY"),
    ):
        with pytest.raises(CurrencyError, match="several currencies \\(JPY, USD\\)"):
            compute()


def test_an_empty_period_is_zeros_and_no_ratio() -> None:
    mrr = frame(("a", JAN, "P", 100), ("a", APR, "P", 100))
    bridge = monthly_bridge(mrr)
    assert bridge.get_column("month").to_list() == [FEB, MAR, APR]
    mar = row(bridge, MAR)  # nobody paid in February nor March
    assert (mar["start_mrr"], mar["end_mrr"], mar["cohort"], mar["nrr"], mar["arpa"], mar["logo_churn"]) == (
        0,
        0,
        0,
        None,
        None,
        None,
    )
    assert monthly_bridge(mrr.clear()).is_empty()
    nothing = measures(mrr.clear(), start=JAN, end=MAR, currency="JPY", cac=500)
    assert (nothing["start_mrr"], nothing["nrr"], nothing["ltv"], nothing["cac_payback_months"]) == (
        0,
        None,
        None,
        None,
    )
    with pytest.raises(ValueError, match="ends \\(2026-01-01\\) before it starts \\(2026-03-01\\)"):
        monthly_bridge(mrr, start=MAR, end=JAN)


def test_zero_starting_mrr_gives_no_ratios_not_division_errors() -> None:
    mrr = frame(("a", JAN, "P", 0), ("b", JAN, "P", -20), ("a", FEB, "P", 100))
    feb = row(monthly_bridge(mrr, start=JAN, end=FEB), FEB)
    assert (feb["start_mrr"], feb["new"], feb["cohort"]) == (0, 100, 0)
    assert [feb[c] for c in ("nrr", "grr", "logo_churn", "mrr_churn", "arr_growth", "upsell_rate")] == [None] * 6
    assert feb["arpa"] == 100


def test_upsell_rate_counts_accounts_that_upgraded_among_those_active() -> None:
    mrr = frame(
        ("a", JAN, "P", 100), ("a", MAR, "P", 150),  # upgraded
        ("b", JAN, "P", 100), ("b", MAR, "P", 100), ("b", MAR, "Q", 50),  # cross-sold only: not an upsell
        ("c", JAN, "P", 100), ("c", MAR, "P", 100),
        ("d", JAN, "P", 100),  # churned: in the base, not upgraded
        ("n", MAR, "P", 900),  # new: not in the base
    )  # fmt: skip
    m = measures(mrr, start=JAN, end=MAR, currency="JPY")
    assert (m["upsold"], m["cohort"], m["upsell_rate"]) == (1, 4, 0.25)
    assert m["arr_growth"] == pytest.approx(1300 / 400 - 1)  # M8: ARR 12 × 1,300 over 12 × 400


def test_seed_004_ltv_from_the_book() -> None:
    before = frame(*(("acme", m, "Accounting", 10_000.0) for m in (JAN, FEB, MAR)))
    after = pl.concat([before, frame(("acme", MAR, "Payroll", 5_000.0))])
    assert measures(before, start=JAN, end=MAR, currency="JPY", lifetime_months=36)["ltv"] == 360_000
    assert measures(after, start=JAN, end=MAR, currency="JPY", lifetime_months=36)["ltv"] == 540_000
    assert measures(before, start=JAN, end=MAR, currency="JPY")["ltv"] is None  # nobody churns: no lifetime


def test_ltv_from_the_monthly_churn() -> None:
    # four accounts at 100 a month; one leaves in February: monthly churn 1/4 then 0/3 = 1/7
    mrr = frame(*((a, m, "P", 100.0) for a in "abc" for m in (JAN, FEB, MAR)), ("d", JAN, "P", 100))
    m = measures(mrr, start=JAN, end=MAR, currency="JPY")
    assert m["monthly_churn"] == pytest.approx(1 / 7) and m["arpa"] == 100
    assert m["ltv"] == pytest.approx(700)  # ARPA 100 × lifetime 7 months


def test_cac_payback_and_ltv_to_cac_when_cac_is_given() -> None:
    mrr = frame(
        ("old", JAN, "P", 100), ("old", FEB, "P", 100), ("old", MAR, "P", 100),
        ("n1", FEB, "P", 200), ("n1", MAR, "P", 300),  # first month 200
        ("n2", MAR, "P", 400), ("n2", MAR, "Q", 200),  # first month 600
        ("back", DEC, "P", 50), ("back", MAR, "P", 50),  # a return, not a new customer
    )  # fmt: skip
    m = measures(mrr, start=JAN, end=MAR, currency="JPY", cac=1_200, lifetime_months=24)
    assert (m["new_customers"], m["new_customer_mrr"]) == (2, 400)
    assert m["cac_payback_months"] == 3  # 1,200 / 400 a month
    assert m["arpa"] == pytest.approx(1_050 / 4) and m["ltv_cac"] == pytest.approx(1_050 / 4 * 24 / 1_200)
    without = measures(mrr, start=JAN, end=MAR, currency="JPY")
    assert (without["cac"], without["cac_payback_months"], without["ltv_cac"]) == (None, None, None)
    with pytest.raises(ValueError, match="cac must be a positive amount per new customer, got 0"):
        measures(mrr, start=JAN, end=MAR, currency="JPY", cac=0)


OFFERS = pl.DataFrame(
    {
        "account": ["a", "b", "c", "d", "a"],
        "rule_id": ["payroll", "payroll", "payroll", "api", "api"],
        "offered_on": [date(2026, 1, 20), date(2026, 1, 20), date(2026, 1, 20), date(2026, 1, 31), date(2026, 1, 5)],
    }
)
HISTORY = frame(
    *((a, m, "Accounting", 100.0) for a in "abcd" for m in (DEC, JAN, FEB, MAR, APR)),
    ("a", FEB, "Payroll", 50),  # a buys Payroll in the month after its offer
    ("b", APR, "Payroll", 50),  # b buys it, but after 60 days
    ("c", DEC, "Payroll", 50), ("c", FEB, "Payroll", 80),  # c had it before: no conversion
    ("d", JAN, "API", 30), ("d", FEB, "API", 30),  # d had it in the offer's month already (no earlier)
)  # fmt: skip


def test_cross_sell_conversion_counts_accounts_that_bought_something_new_in_time() -> None:
    got = cross_sell_conversion(OFFERS, HISTORY, outcome_days=60).row(0, named=True)
    # a (Payroll in February) and d (API first paid in its offer's month: counted, the frame cannot tell
    # the day); b bought after 60 days (January 20 + 60 = March 21: window January to March); c had it
    assert got == {"offered": 4, "converted": 2, "conversion": 0.5}
    per_rule = {
        r["rule_id"]: r for r in cross_sell_conversion(OFFERS, HISTORY, outcome_days=60, by_rule=True).to_dicts()
    }
    assert (per_rule["payroll"]["offered"], per_rule["payroll"]["converted"]) == (3, 1)
    assert (per_rule["api"]["offered"], per_rule["api"]["converted"], per_rule["api"]["conversion"]) == (2, 2, 1.0)
    longer = cross_sell_conversion(OFFERS, HISTORY, outcome_days=90).row(0, named=True)  # to April 20: b too
    assert longer["converted"] == 3


def test_an_offer_of_a_named_product_converts_only_on_that_product() -> None:
    named = OFFERS.with_columns(pl.Series("product", ["Payroll", "Payroll", "Payroll", "Payroll", "Payroll"]))
    got = cross_sell_conversion(named, HISTORY, outcome_days=60, by_rule=True).to_dicts()
    assert {r["rule_id"]: r["converted"] for r in got} == {"api": 1, "payroll": 1}  # d bought API, not Payroll


def test_cross_sell_conversion_refuses_bad_input_and_has_no_ratio_without_offers() -> None:
    with pytest.raises(ValueError, match="offers lacks offered_on"):
        cross_sell_conversion(OFFERS.drop("offered_on"), HISTORY, outcome_days=60)
    with pytest.raises(ValueError, match="outcome_days must be a positive number of days, got 0"):
        cross_sell_conversion(OFFERS, HISTORY, outcome_days=0)
    assert cross_sell_conversion(OFFERS.clear(), HISTORY, outcome_days=60).to_dicts() == [
        {"offered": 0, "converted": 0, "conversion": None}
    ]
    m = measures(HISTORY, start=JAN, end=MAR, currency="JPY", offers=OFFERS, outcome_days=60)
    assert (m["cross_sell_offered"], m["cross_sell_converted"], m["cross_sell_conversion"]) == (4, 2, 0.5)
