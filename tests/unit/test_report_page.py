"""The HTML report's content without a browser: the headline numbers, every section, and the short
notes a section shows when its data is not there yet. Expectations are computed by hand."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import polars as pl

from rules.metrics import FUNNEL_SCHEMA
from rules.revenue import MRR_SCHEMA
from sync.report import LIFT_SCHEMA, ReportData, build_page
from sync.report.data import HEALTH_COUNTS_SCHEMA, OWNER_TASKS_SCHEMA
from sync.report.measures import tasks_per_owner, weekly_bands
from sync.report.page import SECTIONS

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
UTC = timezone.utc


def _mrr(rows: list[tuple[str, date, str, float]], currency: str = "USD") -> pl.DataFrame:
    return pl.DataFrame(
        [{"account": a, "month": m, "product": p, "mrr": v, "currency": currency} for a, m, p, v in rows],
        schema=MRR_SCHEMA,
    )


# start 400 (A 100, B 200, D 100); A +50 (upsell), B churns (200), D −20, C new (50)
# NRR (400 + 50 − 20 − 200) / 400 = 57.5 %; GRR (400 − 20 − 200) / 400 = 45.0 %; 1 of 3 customers left
MRR = _mrr(
    [
        ("A", JAN, "core", 100.0),
        ("A", FEB, "core", 150.0),
        ("B", JAN, "core", 200.0),
        ("D", JAN, "core", 100.0),
        ("D", FEB, "core", 80.0),
        ("C", FEB, "core", 50.0),
    ]
)


def _funnel() -> pl.DataFrame:
    rows = [
        ("seats-near-limit", 10, 8, 5, 1, 0, 2, 4, 2, 12_000.0),
        ("renewal-90d", 4, 2, 1, 0, 0, 1, 1, 1, 500.0),
        ("TOTAL", 14, 10, 6, 1, 0, 3, 5, 3, 12_500.0),
    ]
    cols = [*list(FUNNEL_SCHEMA)[:9], "revenue"]
    df = pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])
    return df.with_columns(
        (pl.col("completed") / pl.col("tasks")).alias("task_to_completed"),
        (pl.col("opportunities") / pl.col("tasks")).alias("task_to_opportunity"),
        (pl.col("won") / pl.col("opportunities")).alias("opportunity_to_won"),
    ).cast(pl.Schema(FUNNEL_SCHEMA))


def _lift() -> pl.DataFrame:
    base = dict.fromkeys(LIFT_SCHEMA)
    ready = {**base, "rule_id": "seats-near-limit", "treated": 900, "control": 100, "lift": 0.05, "ci_low": 0.01,
             "ci_high": 0.09, "treated_opportunity_rate": 0.25, "control_opportunity_rate": 0.2, "enough_data": True,
             "note": ""}  # fmt: skip
    waiting = {**base, "rule_id": "renewal-90d", "treated": 40, "control": 4, "enough_data": False,
               "note": "not enough data yet: 4 accounts in the control group, 100 needed"}  # fmt: skip
    return pl.DataFrame([ready, waiting], schema=LIFT_SCHEMA)


def _data(**frames: Any) -> ReportData:
    return ReportData(system="salesforce", first=date(2026, 1, 1), last=date(2026, 2, 28), outcome_days=60, **frames)


def _full() -> ReportData:
    health = pl.DataFrame(
        {"day": [date(2026, 2, 2), date(2026, 2, 2)], "band": ["green", "red"], "accounts": [3, 1]},
        schema=HEALTH_COUNTS_SCHEMA,
    )
    owners = pl.DataFrame([{"owner": "Aiko Sato", "created": 6, "completed": 4, "open": 2}], schema=OWNER_TASKS_SCHEMA)
    return _data(mrr=MRR, funnel=_funnel(), lift=_lift(), health=health, owners=owners)


def test_the_headline_gives_retention_won_revenue_and_churn_in_plain_numbers() -> None:
    html = build_page(_full())
    headline = html[html.index('id="headline"') : html.index('id="trend"')]
    assert "57.5 %" in headline  # NRR
    assert "45.0 %" in headline  # GRR
    assert "$12.5k" in headline  # won after upsync's tasks, the funnel's total
    assert "3 tasks led to a won deal, of 10 created" in headline
    assert "$200" in headline  # churned MRR
    assert "1 of 3 customers left (33.3 %)" in headline


def test_every_section_is_there_in_order_each_chart_an_inline_svg_and_nothing_fetched() -> None:
    html = build_page(_full())
    positions = [html.index(f'id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions)
    for chart in ("trend", "bridge", "funnel", "lift", "health", "owners"):
        figure = re.search(rf'<figure class="chart" data-chart="{chart}"><svg[^>]*>(.*?)</svg>', html, re.S)
        assert figure and "role-mark" in figure.group(1), chart
    assert "How these are computed" in html
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "@import" not in html and "url(" not in html


def test_a_rule_without_enough_data_is_said_in_words_not_charted() -> None:
    html = build_page(_full())
    lift = html[html.index('id="lift"') : html.index('id="health"')]
    assert "renewal-90d</b>: not enough data yet: 4 accounts in the control group, 100 needed" in lift
    assert "+5.0 pts" in lift  # the charted rule's label


def test_absent_data_shows_a_note_per_section_and_no_chart() -> None:
    html = build_page(_data())
    assert "<figure" not in html
    for note in (
        "No MRR yet: retention appears",
        "No MRR yet: the bridge needs two months",
        "No rule fired and no task was created 2026-01-01 → 2026-02-28",
        "No control groups measured yet",
        "No health scores stored yet",
        "No tasks created 2026-01-01 → 2026-02-28",
    ):
        assert note in html, note
    headline = html[html.index('id="headline"') : html.index('id="trend"')]
    assert headline.count(">–<") == 3  # NRR, GRR and churn unknown, not 0 %
    assert "$" not in headline  # no currency known, none invented


def test_configured_rules_that_never_fired_are_a_note_not_a_chart_of_zeros() -> None:
    zeros = _funnel().with_columns(pl.col(c) * 0 for c in ("fired", "tasks", "completed", "opportunities", "won"))
    html = build_page(_data(funnel=zeros))
    assert "No rule fired and no task was created" in html
    assert 'data-chart="funnel"' not in html


def test_one_month_of_mrr_asks_for_a_second() -> None:
    html = build_page(_data(mrr=_mrr([("A", JAN, "core", 100.0)])))
    assert "MRR for one month only: retention needs two" in html


def test_mrr_in_two_currencies_is_refused_in_words_not_summed() -> None:
    mixed = pl.concat([MRR, _mrr([("E", JAN, "core", 10_000.0), ("E", FEB, "core", 10_000.0)], "JPY")])
    html = build_page(_data(mrr=mixed))
    assert "MRR in several currencies (JPY, USD)" in html
    assert 'data-chart="bridge"' not in html and 'data-chart="trend"' not in html


def test_tasks_per_owner_counts_created_completed_and_open() -> None:
    at = datetime(2026, 1, 10, 9, tzinfo=UTC)
    # k6 was created before the period
    ledger = pl.DataFrame(
        [
            {"key": "k1", "owner_id": "O1", "state": "confirmed", "created_at": at, "closed_at": None},
            {"key": "k2", "owner_id": "O1", "state": "confirmed", "created_at": at, "closed_at": None},
            {"key": "k3", "owner_id": "O1", "state": "confirmed", "created_at": at, "closed_at": at},  # withdrawn
            {"key": "k4", "owner_id": None, "state": "confirmed", "created_at": at, "closed_at": None},
            {"key": "k5", "owner_id": "O2", "state": "pending", "created_at": at, "closed_at": None},  # not in the CRM
            {"key": "k6", "owner_id": "O2", "state": "confirmed", "created_at": datetime(2025, 12, 1, tzinfo=UTC)},
        ],
        schema={
            "key": pl.String,
            "owner_id": pl.String,
            "state": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
            "closed_at": pl.Datetime("us", "UTC"),
        },
    )
    tasks = pl.DataFrame(
        [
            {"sync_key": "k1", "is_closed": False, "modified_at": at},
            {"sync_key": "k1", "is_closed": True, "modified_at": datetime(2026, 1, 12, tzinfo=UTC)},  # latest wins
            {"sync_key": "k2", "is_closed": False, "modified_at": at},
        ],
        schema={"sync_key": pl.String, "is_closed": pl.Boolean, "modified_at": pl.Datetime("us", "UTC")},
    )
    out = tasks_per_owner(ledger, tasks, {"O1": "Aiko Sato"}, since=JAN, until=date(2026, 1, 31))
    assert out.to_dicts() == [
        {"owner": "Aiko Sato", "created": 3, "completed": 1, "open": 1},
        {"owner": "(no owner)", "created": 1, "completed": 0, "open": 1},
    ]


def test_weekly_bands_take_each_weeks_last_scored_day() -> None:
    health = pl.DataFrame(
        {
            "day": [date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 4), date(2026, 3, 9)],
            "band": ["green", "red", "green", "red", "yellow"],
            "accounts": [5, 5, 7, 3, 10],
        },
        schema=HEALTH_COUNTS_SCHEMA,
    )
    assert weekly_bands(health).to_dicts() == [
        {"week": date(2026, 3, 2), "band": "green", "accounts": 7},
        {"week": date(2026, 3, 2), "band": "red", "accounts": 3},
        {"week": date(2026, 3, 9), "band": "yellow", "accounts": 10},
    ]
