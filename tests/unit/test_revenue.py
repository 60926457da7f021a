"""Revenue measures on small hand-computed tables: the bridge, NRR, GRR, churn, ARPA, LTV, currencies."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from rules.revenue import MRR_SCHEMA, CurrencyError, ltv, monthly_bridge, retention, to_currency

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def frame(*rows: tuple[str, date, str, float], currency: str = "JPY") -> pl.DataFrame:
    return pl.DataFrame(
        [{"account": a, "month": m, "product": p, "mrr": v, "currency": currency} for a, m, p, v in rows],
        schema=MRR_SCHEMA,
    )


BOOK = frame(
    ("a", JAN, "P", 100), ("a", MAR, "P", 150),  # upsell +50
    ("b", JAN, "P", 200), ("b", MAR, "P", 200), ("b", MAR, "Q", 80),  # cross-sell +80
    ("c", JAN, "P", 300), ("c", MAR, "P", 250),  # contraction 50
    ("d", JAN, "P", 100), ("d", JAN, "Q", 100), ("d", MAR, "P", 150), ("d", MAR, "Q", 40),  # +50 and -60 at once
    ("e", JAN, "P", 120), ("e", MAR, "P", 120),  # gone in February, back in March
    ("f", JAN, "P", 80),  # churned
    ("g", MAR, "P", 60),  # new
)  # fmt: skip


def test_the_bridge_from_january_to_march_splits_expansion_into_upsell_and_cross_sell() -> None:
    r = retention(BOOK, start=JAN, end=MAR)
    assert (r.start_mrr, r.end_mrr, r.new) == (1000, 1050, 60)
    assert (r.expansion, r.upsell, r.cross_sell) == (180, 100, 80)  # a +50, d's P +50; b's Q +80
    assert (r.contraction, r.churn) == (110, 80)  # c −50 and d's Q −60 in the same month as its upsell
    assert r.nrr == pytest.approx(0.99)  # (1000 + 180 − 110 − 80) / 1000: the cohort pays 990 now
    assert r.grr == pytest.approx(0.81)  # (1000 − 110 − 80) / 1000
    assert (r.cohort, r.churned) == (6, 1) and r.logo_churn == pytest.approx(1 / 6)
    assert r.mrr_churn == pytest.approx(0.08)
    assert r.arpa == pytest.approx(1050 / 6) and r.arr_growth == pytest.approx(0.05)


def test_an_account_that_churns_and_returns_is_churn_then_new_month_by_month() -> None:
    book = frame(("e", JAN, "P", 120), ("e", MAR, "P", 120), *(("x", m, "P", 100.0) for m in (JAN, FEB, MAR)))
    bridge = {r["month"]: r for r in monthly_bridge(book).to_dicts()}
    assert (bridge[FEB]["start_mrr"], bridge[FEB]["churn"], bridge[FEB]["end_mrr"]) == (220, 120, 100)
    assert (bridge[MAR]["start_mrr"], bridge[MAR]["new"], bridge[MAR]["end_mrr"]) == (100, 120, 220)
    # over the quarter it was there at both ends: retained, neither churn nor new
    r = retention(book, start=JAN, end=MAR)
    assert (r.churn, r.new, r.nrr) == (0, 0, 1.0)


def test_a_period_with_no_paying_account_at_its_start_has_no_ratios() -> None:
    r = retention(frame(("g", MAR, "P", 60)), start=JAN, end=MAR)
    assert (r.nrr, r.grr, r.logo_churn, r.arr_growth) == (None, None, None, None) and r.new == 60


def test_seed_004_ltv_of_a_cross_sell() -> None:
    assert ltv(10_000, lifetime_months=36) == 360_000
    assert ltv(15_000, lifetime_months=36) == 540_000  # +¥180,000 after the cross-sell
    assert ltv(10_000, monthly_churn=1 / 36) == pytest.approx(360_000)
    assert ltv(10_000) is None and ltv(10_000, monthly_churn=0.0) is None


def test_several_currencies_are_refused_unless_each_has_a_rate() -> None:
    mixed = pl.concat(
        [frame(("a", JAN, "P", 10_000), ("a", MAR, "P", 15_000)), frame(("u", JAN, "P", 100), currency="USD")]
    )
    with pytest.raises(CurrencyError, match="several currencies \\(JPY, USD\\)"):
        retention(mixed, start=JAN, end=MAR)
    with pytest.raises(CurrencyError, match="MRR in USD besides JPY and no rate for it"):
        to_currency(mixed, "JPY")
    r = retention(to_currency(mixed, "JPY", {"USD": 150.0}), start=JAN, end=MAR)
    assert (r.start_mrr, r.churn, r.expansion) == (25_000, 15_000, 5_000)
