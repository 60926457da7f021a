"""The page's charts: altair specs rendered to SVG at build time (vl-convert), so the page needs no
script and no network. Every function takes an already aggregated frame (a handful of rows per
month, rule, week or owner) and returns one ``<svg>`` element as text."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import vl_convert

from sync.report.fmt import money, pct, points

__all__ = ["bridge_chart", "funnel_chart", "health_chart", "lift_chart", "owners_chart", "trend_chart"]

WIDTH = 640
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"  # the reader's own fonts: nothing fetched
GOOD, BAD, NEUTRAL, ACCENT = "#2e7d32", "#c62828", "#90a4ae", "#1565c0"
STAGES = ("fired", "tasks", "completed", "opportunities", "won")
STAGE_LABELS = ("signal fired", "task created", "task completed", "opportunity opened", "deal won")


def _svg(chart: alt.TopLevelMixin) -> str:
    spec: dict[str, Any] = chart.to_dict()
    spec["config"] = {
        **spec.get("config", {}),
        "font": FONT,
        "view": {"stroke": None},
        "axis": {"labelFontSize": 12, "titleFontSize": 12, "grid": True, "gridColor": "#eceff1"},
        "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "top"},
        "background": "white",
    }
    svg = vl_convert.vegalite_to_svg(spec)
    return svg[svg.index("<svg") :]  # no XML prolog inside HTML


def trend_chart(trend: pl.DataFrame) -> str:
    """NRR and GRR by month as two lines, with the 100 % line (revenue kept exactly) for reference."""
    base = alt.Chart(trend.with_columns(pl.col("month").cast(pl.String)))
    lines = base.mark_line(point=True, strokeWidth=2.5).encode(
        x=alt.X("month:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0, tickCount="month")),
        y=alt.Y("value:Q", title=None, axis=alt.Axis(format=".0%"), scale=alt.Scale(zero=False)),
        color=alt.Color("measure:N", title=None, scale=alt.Scale(domain=["NRR", "GRR"], range=[ACCENT, GOOD])),
        tooltip=["month:T", "measure:N", alt.Tooltip("value:Q", format=".1%")],
    )
    hundred = alt.Chart(pl.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], color=NEUTRAL).encode(y="y:Q")
    return _svg((hundred + lines).properties(width=WIDTH, height=240))


def bridge_chart(steps: pl.DataFrame, currency: str | None) -> str:
    """The MRR bridge as a waterfall: start, gains up, losses down, end."""
    labelled = steps.with_columns(
        pl.Series("label", [money(a, currency, compact=True) for a in steps.get_column("amount").to_list()])
    )
    order = labelled.get_column("step").to_list()
    base = alt.Chart(labelled).encode(x=alt.X("step:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar(size=56).encode(
        y=alt.Y("base:Q", title=None, axis=alt.Axis(format="~s")),
        y2="top:Q",
        color=alt.Color(
            "kind:N", legend=None, scale=alt.Scale(domain=["total", "gain", "loss"], range=[NEUTRAL, GOOD, BAD])
        ),
    )
    text = (
        base.mark_text(dy=-8, fontSize=12, fontWeight="bold")
        .encode(y=alt.Y("max_end:Q"), text="label:N")
        .transform_calculate(max_end="max(datum.base, datum.top)")
    )
    return _svg((bars + text).properties(width=WIDTH, height=260))


def funnel_chart(funnel: pl.DataFrame, currency: str | None) -> str:
    """Per rule: how many accounts reached each step from signal to won deal, and the revenue won."""
    rules = funnel.filter(pl.col("rule_id") != "TOTAL")
    order = rules.get_column("rule_id").to_list()
    long = rules.select("rule_id", *STAGES).unpivot(index="rule_id", variable_name="stage", value_name="count")
    long = long.with_columns(pl.col("stage").replace_strict(dict(zip(STAGES, STAGE_LABELS, strict=True))))
    height = max(60, 12 * len(STAGES) * len(order) // 2)
    counts = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("rule_id:N", sort=order, title=None),
            yOffset=alt.YOffset("stage:N", sort=list(STAGE_LABELS)),
            x=alt.X("count:Q", title="accounts / tasks"),
            color=alt.Color(
                "stage:N",
                title=None,
                sort=list(STAGE_LABELS),
                scale=alt.Scale(domain=list(STAGE_LABELS), range=["#b0bec5", "#64b5f6", "#1e88e5", "#fb8c00", GOOD]),
            ),
        )
        .properties(width=WIDTH * 0.62, height=height)
    )
    revenue = rules.select(
        "rule_id", "revenue", pl.Series("label", [money(v, currency, compact=True) for v in rules["revenue"].to_list()])
    )
    rev_base = alt.Chart(revenue).encode(y=alt.Y("rule_id:N", sort=order, title=None, axis=None))
    rev = rev_base.mark_bar(color=GOOD).encode(x=alt.X("revenue:Q", title="revenue won", axis=alt.Axis(format="~s")))
    rev_text = rev_base.mark_text(align="left", dx=3, fontSize=11).encode(x="revenue:Q", text="label:N")
    return _svg(alt.hconcat(counts, (rev + rev_text).properties(width=WIDTH * 0.28, height=height), spacing=24))


def lift_chart(lift: pl.DataFrame) -> str:
    """Per rule with enough data: treated minus control opportunity rate, with its 95 % interval."""
    rows = lift.select(
        "rule_id",
        "lift",
        "ci_low",
        "ci_high",
        pl.Series("label", [points(v) for v in lift.get_column("lift").to_list()]),
        pl.Series(
            "rates",
            [
                f"{pct(t)} with tasks vs {pct(c)} without"
                for t, c in zip(lift["treated_opportunity_rate"], lift["control_opportunity_rate"], strict=True)
            ],
        ),
    )
    order = rows.get_column("rule_id").to_list()
    base = alt.Chart(rows).encode(y=alt.Y("rule_id:N", sort=order, title=None))
    axis = alt.Axis(format="+.0%", title="extra opportunity rate with upsync's tasks (percentage points)")
    bars = base.mark_rule(strokeWidth=2, color=ACCENT).encode(x=alt.X("ci_low:Q", axis=axis), x2="ci_high:Q")
    dots = base.mark_point(filled=True, size=80, color=ACCENT).encode(
        x="lift:Q", tooltip=["rule_id:N", "label:N", "rates:N"]
    )
    text = base.mark_text(align="left", dx=8, dy=-9, fontSize=11).encode(x="lift:Q", text="label:N")
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#37474f", strokeDash=[4, 3]).encode(x="x:Q")
    return _svg((zero + bars + dots + text).properties(width=WIDTH, height=max(60, 30 * len(order))))


def health_chart(weekly: pl.DataFrame) -> str:
    """Accounts per health band, week by week, stacked: red at the bottom where it is seen first."""
    bands = ["red", "yellow", "green"]
    data = weekly.with_columns(
        pl.col("week").cast(pl.String),
        pl.col("band").replace_strict({b: i for i, b in enumerate(bands)}, default=len(bands)).alias("order"),
    )
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("week:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
            y=alt.Y("accounts:Q", title="accounts", axis=alt.Axis(format="~s")),
            color=alt.Color(
                "band:N", title=None, sort=bands, scale=alt.Scale(domain=bands, range=[BAD, "#f9a825", GOOD])
            ),
            order=alt.Order("order:Q"),
            tooltip=["week:T", "band:N", "accounts:Q"],
        )
    )
    return _svg(chart.properties(width=WIDTH, height=220))


def owners_chart(owners: pl.DataFrame) -> str:
    """Per owner: upsync's tasks created, completed and still open."""
    kinds = ["created", "completed", "open"]
    order = owners.get_column("owner").to_list()
    long = owners.select("owner", *kinds).unpivot(index="owner", variable_name="tasks", value_name="count")
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("owner:N", sort=order, title=None),
            yOffset=alt.YOffset("tasks:N", sort=kinds),
            x=alt.X("count:Q", title="tasks"),
            color=alt.Color(
                "tasks:N", title=None, sort=kinds, scale=alt.Scale(domain=kinds, range=["#90caf9", GOOD, "#fb8c00"])
            ),
        )
    )
    return _svg(chart.properties(width=WIDTH, height=max(60, 30 * len(order))))
