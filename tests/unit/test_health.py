"""The health score: weighted components, known ones only, banded; a weekly history for trends."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from rules.health import HealthParams, health_series, score
from tests.unit.accounts import World, bundled_ruleset, day, evaluate, feature


def frame(**columns: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "account": ["a"],
        "is_customer": [True],
        "wau_ratio": [0.7],
        "events_per_user_week": [35.0],
        "csat": [None],
        "open_escalations": [0.0],
        "open_tickets": [0.0],
        "ticket_growth": [None],
        "activated": [True],
        "activation_rate": [0.7],
        "exec_activities_90d": [2.0],
        "activities_90d": [6.0],
    }
    base.update(columns)
    types = {name: pl.Float64 for name in base} | {
        "account": pl.String,
        "is_customer": pl.Boolean,
        "activated": pl.Boolean,
    }
    return pl.DataFrame(base, schema=types)


def test_a_customer_on_every_target_scores_100_green() -> None:
    out = score(frame(), HealthParams(), activation_ratio=0.4).to_dicts()[0]
    assert (out["health"], out["health_band"]) == (100.0, "green")


def test_each_component_counts_by_its_weight() -> None:
    params = HealthParams(weights={"usage": 3, "adoption": 1, "support": 0, "progress": 0, "executive": 0})
    out = score(frame(wau_ratio=[0.35], events_per_user_week=[35.0]), params, activation_ratio=0.4).to_dicts()[0]
    assert out["health_usage"] == 50.0
    assert out["health"] == 62.5  # (3 x 50 + 1 x 100) / 4


def test_an_unknown_component_does_not_drag_the_score_down() -> None:
    out = score(frame(wau_ratio=[None], activation_rate=[None], activated=[None]), HealthParams(), activation_ratio=0.4)
    row = out.to_dicts()[0]
    assert row["health_usage"] is None
    assert row["health"] == 100.0  # adoption, support and executive are all full marks


def test_escalations_and_rising_tickets_pull_support_and_the_band_down() -> None:
    unhappy = frame(
        csat=[50.0],
        open_escalations=[1.0],
        open_tickets=[2.0],
        ticket_growth=[1.0],
        wau_ratio=[0.1],
        events_per_user_week=[5.0],
        activated=[False],
        activation_rate=[0.1],
        exec_activities_90d=[0.0],
        activities_90d=[0.0],
    )
    row = score(unhappy, HealthParams(), activation_ratio=0.4).to_dicts()[0]
    assert row["health_support"] == 0.0  # 50 - 25 - 10 - 20, floored
    assert row["health_band"] == "red"


def test_prospects_have_no_health_score() -> None:
    row = score(frame(is_customer=[False]), HealthParams(), activation_ratio=0.4).to_dicts()[0]
    assert row["health"] is None and row["health_band"] is None


@pytest.mark.parametrize(("value", "band"), [(70.0, "green"), (69.9, "yellow"), (40.0, "yellow"), (39.9, "red")])
def test_bands_at_their_edges(value: float, band: str) -> None:
    params = HealthParams(
        weights={"usage": 1, "adoption": 0, "support": 0, "progress": 0, "executive": 0}, usage_target=1
    )
    row = score(frame(wau_ratio=[value / 100]), params, activation_ratio=0.4).to_dicts()[0]
    assert row["health_band"] == band


def test_bad_weights_and_bands_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown health component 'joy'"):
        HealthParams(weights={"joy": 1})
    with pytest.raises(ValueError, match="red <= green"):
        HealthParams(green=30, red=60)


def test_the_weekly_series_takes_the_stored_day_nearest_each_week() -> None:
    current = pl.DataFrame({"account": ["a", "b"], "health": [80.0, None]})
    history = pl.DataFrame(
        {
            "account_id": ["a", "a", "a", "b"],
            "day": [date(2026, 5, 25), date(2026, 5, 19), date(2026, 5, 3), date(2026, 5, 25)],
            "score": [75.0, 70.0, 50.0, 60.0],
        }
    )
    series = health_series(current, history, today=date(2026, 6, 1), weeks=4).sort("account").to_dicts()
    assert series[0] == {"account": "a", "health@w0": 80.0, "health@w1": 75.0, "health@w2": 70.0, "health@w3": None}
    assert series[1]["health@w1"] == 60.0


def test_the_engine_scores_every_customer_and_keeps_the_history_for_trends() -> None:
    w = World()
    w.customer("a")
    w.add("health", account_id="a", day=day(7), score=70.0, band="green")
    ev = evaluate(w, bundled_ruleset(["health-rising"]))
    assert 0 < feature(ev, "a", "health") <= 100
    assert feature(ev, "a", "health@w1") == 70.0
    [row] = ev.health_rows().to_dicts()
    assert (row["account_id"], row["day"], row["band"]) == ("a", day(0), feature(ev, "a", "health_band"))
