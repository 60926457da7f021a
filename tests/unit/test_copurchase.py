from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rules.copurchase import (
    PAIR_COLUMNS,
    PAIR_SCHEMA,
    RECOMMENDATION_COLUMNS,
    MiningParams,
    evidence,
    first_purchases,
    mine_pairs,
    recommend,
    related,
)

NOW = date(2026, 6, 1)
MATURE = date(2025, 1, 1)  # more than 183 days before NOW: the whole window is observable
RECENT = date(2026, 4, 1)  # two months before NOW: the window is still open
PARAMS = MiningParams()

PurchaseRow = tuple[str, str, date]


def purchases(rows: list[PurchaseRow]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"account": pl.String, "product": pl.String, "at": pl.Date}, orient="row")


def holdings(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"account": pl.String, "product": pl.String}, orient="row")


def pair_table(rows: list[tuple[str, str, int, int, float, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PAIR_SCHEMA, orient="row")


def after(day: date, days: int) -> date:
    return day + timedelta(days=days)


def accounting_world() -> list[PurchaseRow]:
    """10 Accounting owners among 20 accounts; 8 of them own Payroll, 2 without Accounting.

    a01–a04 add Payroll 0, 30, 61 and 183 days after Accounting; a05 only after 8 months; a06, a07 never;
    a08, a09 bought Accounting two months ago (outcome unknown); a10 two months ago and Payroll 20 days later.
    """
    rows: list[PurchaseRow] = []
    for account, lag in (("a01", 0), ("a02", 30), ("a03", 61), ("a04", 183), ("a05", 243)):
        rows += [(account, "Accounting", MATURE), (account, "Payroll", after(MATURE, lag))]
    rows += [("a06", "Accounting", MATURE), ("a07", "Accounting", MATURE)]
    rows += [("a08", "Accounting", RECENT), ("a09", "Accounting", RECENT)]
    rows += [("a10", "Accounting", RECENT), ("a10", "Payroll", after(RECENT, 20))]
    rows += [("b01", "Payroll", date(2025, 2, 1)), ("b02", "Payroll", date(2025, 2, 1))]
    rows += [(f"c{i:02d}", "CRM", MATURE) for i in range(1, 9)]
    return rows


# first_purchases


def test_first_purchases_keeps_the_earliest_date_and_ignores_rows_after_now() -> None:
    table = purchases(
        [
            ("x", "P", date(2026, 3, 1)),
            ("x", "P", date(2025, 3, 1)),
            ("x", "P", date(2026, 7, 1)),
            ("x", "Q", NOW),
            ("y", "P", date(2026, 7, 1)),
        ]
    )
    expected = purchases([("x", "P", date(2025, 3, 1)), ("x", "Q", NOW)])
    assert_frame_equal(first_purchases(table, now=NOW), expected)


def test_first_purchases_drops_rows_missing_a_value() -> None:
    table = pl.DataFrame(
        {"account": ["x", None, "z"], "product": ["P", "P", "P"], "at": [None, MATURE, MATURE]},
        schema={"account": pl.String, "product": pl.String, "at": pl.Date},
    )
    assert first_purchases(table, now=NOW).rows() == [("z", "P", MATURE)]


# mine_pairs


def test_owners_count_mature_owners_and_recent_ones_that_already_adopted() -> None:
    pairs = mine_pairs(purchases(accounting_world()), now=NOW, params=PARAMS)
    # owners: a01–a07 (mature) + a10 (recent but already adopted); adopters: a01–a04 + a10
    expected = pair_table([("Accounting", "Payroll", 8, 5, 5 / 20, 5 / 8, (5 / 8) / (8 / 20), 30.0)])
    assert_frame_equal(pairs, expected)
    assert pairs.row(0, named=True)["lift"] == 1.5625


def test_pairs_with_fewer_adopters_than_min_accounts_are_dropped() -> None:
    table = purchases(accounting_world())
    assert mine_pairs(table, now=NOW, params=MiningParams(min_accounts=6)).is_empty()
    # the reverse pair: only a01 bought Accounting within 183 days of its first Payroll (the same day)
    loose = mine_pairs(table, now=NOW, params=MiningParams(min_accounts=1))
    reverse = loose.filter(pl.col("antecedent") == "Payroll").row(0, named=True)
    # Payroll owners observable: a01, b01, b02 (a02–a05 and a10 had Accounting before Payroll: nothing to add)
    assert reverse == {
        "antecedent": "Payroll",
        "consequent": "Accounting",
        "owners": 3,
        "adopters": 1,
        "support": 1 / 20,
        "confidence": 1 / 3,
        "lift": 20 / 30,
        "median_lag_days": 0.0,
    }


def test_the_window_includes_its_last_day_and_not_the_next() -> None:
    table = purchases(
        [
            ("x", "A", MATURE),
            ("x", "B", after(MATURE, 90)),
            ("y", "A", MATURE),
            ("y", "B", after(MATURE, 91)),
        ]
    )
    pairs = mine_pairs(table, now=NOW, params=MiningParams(within_days=90, min_accounts=1))
    assert pairs.filter(pl.col("antecedent") == "A").select("owners", "adopters", "median_lag_days").row(0) == (
        2,
        1,
        90.0,
    )


def test_an_owner_whose_window_ends_today_is_observable_and_one_day_younger_is_not() -> None:
    rows: list[PurchaseRow] = [(f"x{i}", "A", MATURE) for i in range(2)]
    rows += [(f"x{i}", "B", after(MATURE, 1)) for i in range(2)]
    rows += [("ends-today", "A", after(NOW, -30)), ("ends-tomorrow", "A", after(NOW, -29))]
    pairs = mine_pairs(purchases(rows), now=NOW, params=MiningParams(within_days=30, min_accounts=1))
    assert pairs.filter(pl.col("antecedent") == "A").select("owners", "adopters").row(0) == (3, 2)


def test_an_account_that_had_b_before_a_is_neither_an_owner_of_a_nor_an_adopter() -> None:
    table = purchases(
        [
            ("x", "A", MATURE),
            ("x", "B", after(MATURE, 10)),
            ("y", "B", after(MATURE, -1)),
            ("y", "A", MATURE),
        ]
    )
    pairs = mine_pairs(table, now=NOW, params=MiningParams(min_accounts=1))
    assert pairs.filter(pl.col("antecedent") == "A").select("owners", "adopters").row(0) == (1, 1)


def test_purchases_after_now_are_ignored() -> None:
    world = accounting_world()
    future = [
        ("a06", "Payroll", after(NOW, 1)),  # would make a06 an adopter… next month
        ("d01", "Accounting", after(NOW, 1)),  # would grow N and the Accounting owners
        ("d01", "Payroll", after(NOW, 2)),
    ]
    baseline = mine_pairs(purchases(world), now=NOW, params=PARAMS)
    assert_frame_equal(mine_pairs(purchases(world + future), now=NOW, params=PARAMS), baseline)
    later = mine_pairs(purchases(world + future), now=after(NOW, 2), params=PARAMS)
    assert later.select("owners", "adopters").row(0) != baseline.select("owners", "adopters").row(0)


def test_a_datetime_now_counts_as_its_date() -> None:
    table = purchases([*accounting_world(), ("a06", "Payroll", NOW)])
    at_noon = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    assert_frame_equal(
        mine_pairs(table, now=at_noon, params=PARAMS), mine_pairs(table, now=NOW, params=PARAMS), check_exact=True
    )


def test_pairs_are_sorted_by_antecedent_then_confidence_and_lift_descending() -> None:
    rows: list[PurchaseRow] = []
    # A → B adopted by 3 of 4, A → C by 2 of 4, A → D by 3 of 4 as well, but D is common elsewhere (lower lift)
    for i, bought in enumerate(("BCD", "BCD", "BD", "")):
        rows += [(f"x{i}", "A", MATURE)] + [(f"x{i}", p, after(MATURE, 5)) for p in bought]
    rows += [("y0", "D", MATURE), ("y1", "D", MATURE)]
    pairs = mine_pairs(purchases(rows), now=NOW, params=MiningParams(min_accounts=2))
    assert pairs.select("antecedent", "consequent").rows()[:3] == [("A", "B"), ("A", "D"), ("A", "C")]
    assert pairs["antecedent"].to_list() == sorted(pairs["antecedent"].to_list())


def test_mining_empty_purchases_gives_an_empty_table_with_the_pair_schema() -> None:
    empty = pl.DataFrame({"account": [], "product": [], "at": []})
    pairs = mine_pairs(empty, now=NOW, params=PARAMS)
    assert pairs.is_empty()
    assert tuple(pairs.columns) == PAIR_COLUMNS
    assert pairs.schema == PAIR_SCHEMA


def test_mining_params_reject_a_negative_window_and_min_accounts_below_one() -> None:
    with pytest.raises(ValueError, match="within_days"):
        MiningParams(within_days=-1)
    with pytest.raises(ValueError, match="min_accounts"):
        MiningParams(min_accounts=0)


# recommend and related


def test_owners_of_accounting_lacking_payroll_are_offered_payroll_with_the_evidence() -> None:
    table = purchases(accounting_world())
    pairs = mine_pairs(table, now=NOW, params=PARAMS)
    owned = first_purchases(table, now=NOW).select("account", "product")
    offers = recommend(pairs, owned, params=PARAMS)
    sentence = "63% of accounts with Accounting added Payroll within 6 months (lift 1.6)"
    expected = pl.DataFrame(
        [
            (account, "Payroll", "Accounting", 5 / 8, 1.5625, 5 / 20, 8, 5, 30.0, sentence)
            for account in ("a06", "a07", "a08", "a09")
        ],
        schema={
            "account": pl.String,
            "product": pl.String,
            "antecedent": pl.String,
            "confidence": pl.Float64,
            "lift": pl.Float64,
            "support": pl.Float64,
            "owners": pl.Int64,
            "adopters": pl.Int64,
            "median_lag_days": pl.Float64,
            "evidence": pl.String,
        },
        orient="row",
    )
    assert_frame_equal(offers, expected)
    assert_frame_equal(related(pairs, owned, params=PARAMS), offers.select("account", "product"))


def test_the_best_pair_wins_by_confidence_then_lift_then_product_name() -> None:
    pairs = pair_table(
        [
            ("A", "B", 10, 5, 0.1, 0.5, 2.0, 10.0),
            ("C", "D", 10, 6, 0.1, 0.6, 1.6, 10.0),  # higher confidence beats higher lift
            ("E", "F", 10, 6, 0.1, 0.6, 1.8, 10.0),  # same confidence, higher lift
            ("G", "I", 10, 6, 0.1, 0.6, 1.8, 10.0),  # all equal: the first product name wins…
            ("G", "H", 10, 6, 0.1, 0.6, 1.8, 10.0),
            ("J", "H", 10, 6, 0.1, 0.6, 1.8, 10.0),  # …then the first antecedent name
        ]
    )
    owned = holdings(
        [
            ("confidence", "A"),
            ("confidence", "C"),
            ("lift", "C"),
            ("lift", "E"),
            ("names", "G"),
            ("names", "J"),
        ]
    )
    offers = recommend(pairs, owned, params=PARAMS)
    assert offers.select("account", "antecedent", "product").rows() == [
        ("confidence", "C", "D"),
        ("lift", "E", "F"),
        ("names", "G", "H"),
    ]


def test_only_pairs_meeting_every_threshold_are_offered_and_the_thresholds_are_inclusive() -> None:
    pairs = pair_table(
        [
            ("A", "at-thresholds", 10, 5, 0.0, 0.2, 1.5, 10.0),
            ("A", "low-confidence", 10, 5, 0.5, 0.19, 9.0, 10.0),
            ("A", "low-lift", 10, 5, 0.5, 0.9, 1.49, 10.0),
            ("A", "low-support", 10, 5, 0.01, 0.9, 9.0, 10.0),
            ("A", "few-adopters", 10, 4, 0.5, 0.9, 9.0, 10.0),
        ]
    )
    owned = holdings([("x", "A")])
    params = MiningParams(min_support=0.0, min_confidence=0.2, min_lift=1.5)
    assert related(pairs, owned, params=params).rows() == [
        ("x", "at-thresholds"),
        ("x", "low-support"),
    ]
    strict = MiningParams(min_support=0.02)
    assert related(pairs, owned, params=strict).rows() == []
    assert recommend(pairs, owned, params=params).select("product").item() == "low-support"


def test_an_account_that_already_owns_the_consequent_is_offered_nothing() -> None:
    pairs = pair_table([("A", "B", 10, 5, 0.1, 0.5, 2.0, 10.0), ("C", "B", 10, 5, 0.1, 0.9, 3.0, 10.0)])
    owned = holdings([("has-both", "A"), ("has-both", "B"), ("via-c", "C"), ("via-c", "B"), ("lacks", "A")])
    assert recommend(pairs, owned, params=PARAMS).select("account", "product").rows() == [("lacks", "B")]
    assert related(pairs, owned, params=PARAMS).rows() == [("lacks", "B")]


def test_related_lists_every_linked_product_an_account_lacks_once() -> None:
    pairs = pair_table(
        [
            ("A", "B", 10, 5, 0.1, 0.5, 2.0, 10.0),
            ("A", "C", 10, 5, 0.1, 0.3, 2.0, 10.0),
            ("D", "B", 10, 5, 0.1, 0.4, 2.0, 10.0),
            ("D", "E", 10, 5, 0.1, 0.1, 2.0, 10.0),  # below min_confidence: not evidence of relevance
        ]
    )
    owned = holdings([("x", "A"), ("x", "D"), ("y", "D"), ("y", "B")])
    assert related(pairs, owned, params=PARAMS).rows() == [("x", "B"), ("x", "C")]


def test_empty_pairs_or_holdings_give_empty_tables_with_their_columns() -> None:
    pairs = pair_table([("A", "B", 10, 5, 0.1, 0.5, 2.0, 10.0)])
    no_pairs = pl.DataFrame(schema=PAIR_SCHEMA)
    owned = holdings([("x", "A")])
    nothing_owned = pl.DataFrame({"account": [], "product": []})
    for p, o in ((no_pairs, owned), (pairs, nothing_owned), (no_pairs, nothing_owned)):
        offers = recommend(p, o, params=PARAMS)
        assert offers.is_empty() and tuple(offers.columns) == RECOMMENDATION_COLUMNS
        assert offers.schema["evidence"] == pl.String and offers.schema["owners"] == pl.Int64
        links = related(p, o, params=PARAMS)
        assert links.is_empty() and links.schema == pl.Schema({"account": pl.String, "product": pl.String})


# evidence


@pytest.mark.parametrize(
    ("within_days", "period"),
    [
        (183, "6 months"),
        (182, "6 months"),
        (91, "3 months"),
        (365, "12 months"),
        (30, "1 month"),
        (31, "1 month"),
        (60, "2 months"),
        (90, "90 days"),
        (45, "45 days"),
        (184, "184 days"),
        (14, "14 days"),
        (1, "1 day"),
        (0, "0 days"),
    ],
)
def test_the_evidence_sentence_names_the_window_in_months_when_it_is_about_whole_months(
    within_days: int, period: str
) -> None:
    assert evidence("Accounting", "Payroll", 0.31, 2.4, within_days) == (
        f"31% of accounts with Accounting added Payroll within {period} (lift 2.4)"
    )


@pytest.mark.parametrize(
    ("confidence", "lift", "percent", "lift_text"),
    [
        (0.3149, 2.44, "31%", "2.4"),
        (0.125, 2.25, "13%", "2.3"),  # exact halves round away from zero
        (0.2, 1.5, "20%", "1.5"),
        (1.0, 12.0, "100%", "12.0"),
        (0.004, 1.96, "0%", "2.0"),
    ],
)
def test_the_evidence_sentence_shows_a_whole_percent_and_lift_to_one_decimal(
    confidence: float, lift: float, percent: str, lift_text: str
) -> None:
    sentence = evidence("A", "B", confidence, lift, 183)
    assert sentence == f"{percent} of accounts with A added B within 6 months (lift {lift_text})"


def test_the_evidence_column_matches_the_evidence_function_row_by_row() -> None:
    pairs = pair_table(
        [
            ("A", "B", 10, 5, 0.1, 0.125, 2.25, 10.0),
            ("C", "D", 10, 5, 0.1, 0.3149, 1.96, 10.0),
            ("E", "F", 10, 5, 0.1, 2 / 3, 7 / 3, 10.0),
        ]
    )
    params = MiningParams(within_days=91, min_confidence=0.1)  # 12.5% must be offered too
    offers = recommend(pairs, holdings([("x", "A"), ("y", "C"), ("z", "E")]), params=params)
    assert offers.height == 3
    for row in offers.iter_rows(named=True):
        assert row["evidence"] == evidence(row["antecedent"], row["product"], row["confidence"], row["lift"], 91)
    assert offers["evidence"].to_list()[2] == "67% of accounts with E added F within 3 months (lift 2.3)"


# properties: mine_pairs and recommend against slow, obvious implementations

Stats = tuple[int, int, float, float, float, float]


def reference_pairs(rows: list[PurchaseRow], now: date, params: MiningParams) -> dict[tuple[str, str], Stats]:
    first: dict[str, dict[str, date]] = defaultdict(dict)
    for account, product, at in rows:
        if at <= now and (product not in first[account] or at < first[account][product]):
            first[account][product] = at
    n = len(first)
    holders = Counter(product for owned in first.values() for product in owned)
    window = timedelta(days=params.within_days)
    cutoff = now - window
    result: dict[tuple[str, str], Stats] = {}
    for a in holders:
        for b in holders:
            if a == b:
                continue
            owners, lags = 0, []
            for owned in first.values():
                if a not in owned or (b in owned and owned[b] < owned[a]):
                    continue
                adopted = b in owned and owned[a] <= owned[b] <= owned[a] + window
                if owned[a] <= cutoff or adopted:
                    owners += 1
                if adopted:
                    lags.append((owned[b] - owned[a]).days)
            adopters = len(lags)
            if adopters >= params.min_accounts:
                confidence = adopters / owners
                lift = confidence / (holders[b] / n)
                result[(a, b)] = (owners, adopters, adopters / n, confidence, lift, float(statistics.median(lags)))
    return result


purchase_rows = st.lists(
    st.tuples(
        st.sampled_from([f"acct{i}" for i in range(8)]),
        st.sampled_from(["A", "B", "C", "D"]),
        st.integers(-400, 30).map(lambda days: after(NOW, days)),
    ),
    max_size=40,
)
mining_params = st.builds(MiningParams, within_days=st.integers(0, 200), min_accounts=st.integers(1, 3))


@settings(deadline=None, max_examples=200)
@given(purchase_rows, mining_params)
def test_mine_pairs_agrees_with_a_slow_reference_on_random_tables(
    rows: list[PurchaseRow], params: MiningParams
) -> None:
    pairs = mine_pairs(purchases(rows), now=NOW, params=params)
    expected = reference_pairs(rows, NOW, params)
    got = {(r[0], r[1]): r[2:] for r in pairs.rows()}
    assert got.keys() == expected.keys()
    for key, (owners, adopters, *ratios) in got.items():
        assert (owners, adopters) == expected[key][:2], key
        assert all(math.isclose(x, y, rel_tol=1e-12) for x, y in zip(ratios, expected[key][2:], strict=True)), key
    order = [(r["antecedent"], -r["confidence"], -r["lift"], r["consequent"]) for r in pairs.iter_rows(named=True)]
    assert order == sorted(order)


@settings(deadline=None, max_examples=100)
@given(
    purchase_rows,
    st.builds(
        MiningParams,
        within_days=st.integers(0, 200),
        min_accounts=st.integers(1, 2),
        min_confidence=st.sampled_from([0.0, 0.2, 0.5]),
        min_lift=st.sampled_from([0.0, 1.0, 1.5]),
    ),
)
def test_recommend_and_related_agree_with_a_slow_reference_on_random_tables(
    rows: list[PurchaseRow], params: MiningParams
) -> None:
    pairs = mine_pairs(purchases(rows), now=NOW, params=params)
    owned = first_purchases(purchases(rows), now=NOW).select("account", "product")
    stats = {(r["antecedent"], r["consequent"]): r for r in pairs.iter_rows(named=True)}
    mine: dict[str, set[str]] = defaultdict(set)
    for account, product in owned.rows():
        mine[account].add(product)
    candidates: dict[str, list[tuple[float, float, str, str]]] = defaultdict(list)
    for account, products in mine.items():
        for (a, b), s in stats.items():
            meets = s["confidence"] >= params.min_confidence and s["lift"] >= params.min_lift
            if meets and a in products and b not in products:
                candidates[account].append((-s["confidence"], -s["lift"], b, a))
    links = {(account, b) for account, ranked in candidates.items() for _, _, b, _ in ranked}
    best = {account: min(ranked)[2:] for account, ranked in candidates.items()}
    offers = recommend(pairs, owned, params=params)
    assert {r[0]: r[1:3] for r in offers.select("account", "product", "antecedent").rows()} == best
    assert set(related(pairs, owned, params=params).rows()) == links
