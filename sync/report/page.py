"""The page's layout: headline numbers first, then one section per chart, each with a title in words,
a line saying what it means, and a note instead of a chart where the data is not there yet.

One HTML file with its CSS and SVG inline: it opens from a mail attachment or a shared drive with
no network, and runs no script.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from html import escape

import polars as pl

from rules.revenue import CurrencyError
from sync.report import charts
from sync.report.data import ReportData
from sync.report.fmt import count, money, pct
from sync.report.measures import Headline, bridge_steps, headline, retention_trend, weekly_bands

__all__ = ["SECTIONS", "build_page"]

SECTIONS = ("headline", "trend", "bridge", "funnel", "lift", "health", "owners")
"""Every section's id, in page order (tests and the browser check look each one up)."""

OWNERS_SHOWN = 15

_CSS = """
:root { --ink: #263238; --muted: #607d8b; --line: #e0e6ea; --good: #2e7d32; --bad: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7f8; color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; margin: 22px 0 8px; }
.card { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; }
.card .label { font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 34px; font-weight: 700; margin: 4px 0 2px; }
.card .sub { font-size: 13px; color: var(--muted); }
.good { color: var(--good); } .bad { color: var(--bad); }
section { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px;
          margin: 18px 0; }
section h2 { font-size: 19px; margin: 0 0 4px; }
.caption { margin: 0 0 12px; color: var(--muted); }
figure { margin: 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
.note { margin: 8px 0; padding: 10px 14px; background: #fff8e1; border-radius: 6px; }
ul.waiting { margin: 8px 0 0; color: var(--muted); }
footer { color: var(--muted); font-size: 14px; margin-top: 28px; }
footer dt { font-weight: 600; color: var(--ink); margin-top: 8px; }
footer dd { margin: 0 0 0 0; }
@media (max-width: 760px) { .cards { grid-template-columns: repeat(2, 1fr); } }
"""


def _figure(name: str, svg: str) -> str:
    return f'<figure class="chart" data-chart="{name}">{svg}</figure>'


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _section(sid: str, title: str, caption: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2><p class="caption">{escape(caption)}</p>{body}</section>'


def _card(label: str, value: str, sub: str, tone: str = "") -> str:
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value {tone}">{escape(value)}</div><div class="sub">{escape(sub)}</div></div>'
    )


def _month(d: date | None) -> str:
    return d.strftime("%b %Y") if d else "–"


def _headline(h: Headline, data: ReportData, currency: str | None) -> str:
    r = h.retention
    period = f"{_month(h.start)} → {_month(h.end)}" if r else (h.problem or "No MRR yet")
    nrr, grr = (r.nrr, r.grr) if r else (None, None)
    cards = [
        _card("Net revenue retention", pct(nrr), period, "good" if nrr and nrr >= 1 else "bad" if nrr else ""),
        _card("Gross revenue retention", pct(grr), "revenue kept, before expansion" if r else period),
        _card(
            "Won after upsync's tasks",
            money(h.won_revenue, currency, compact=True),
            f"{count(h.won_deals)} tasks led to a won deal, of {count(h.tasks)} created {data.first} → {data.last}",
            "good" if h.won_revenue > 0 else "",
        ),
        _card(
            "Churn",
            money(r.churn, currency, compact=True) if r else "–",
            f"{count(r.churned)} of {count(r.cohort)} customers left ({pct(r.logo_churn)})" if r else period,
            "bad" if r and r.churn > 0 else "",
        ),
    ]
    return f'<div class="cards" id="headline">{"".join(cards)}</div>'


def _trend(data: ReportData) -> str:
    title = "Revenue retention by month"
    if data.mrr.is_empty():
        return _section("trend", title, "", _note("No MRR yet: retention appears once upsync has revenue by month."))
    try:
        trend, span = retention_trend(data.mrr, last=data.last)
    except CurrencyError as e:
        return _section("trend", title, "", _note(str(e)))
    window = "12 months earlier" if span > 1 else "the month before"
    caption = (
        f"Each point: what the customers who paid {window} pay that month, as a share of what they paid then. "
        "Above 100 % (the dashed line) they grew on their own (NRR counts expansion); GRR counts only what was kept."
    )
    if trend.is_empty():
        return _section("trend", title, caption, _note("Not enough months of MRR yet for a trend."))
    return _section("trend", title, caption, _figure("trend", charts.trend_chart(trend)))


def _bridge(h: Headline, currency: str | None) -> str:
    title = "Where MRR came from and went"
    r = h.retention
    if r is None:
        return _section("bridge", title, "", _note(f"{h.problem or 'No MRR yet'}: the bridge needs two months of MRR."))
    caption = (
        f"From {_month(h.start)} to {_month(h.end)}: MRR at the start, plus new customers and expansion "
        f"(upsell {money(r.upsell, currency, compact=True)}, "
        f"cross-sell {money(r.cross_sell, currency, compact=True)}), "
        "minus contraction and churn, gives MRR at the end."
    )
    return _section("bridge", title, caption, _figure("bridge", charts.bridge_chart(bridge_steps(r), currency)))


def _funnel(data: ReportData, currency: str | None) -> str:
    title = "What each rule's tasks led to"
    rules = data.funnel.filter(pl.col("rule_id") != "TOTAL")
    if rules.is_empty() or not rules.select(pl.sum_horizontal(charts.STAGES).sum()).item():  # rules, all zero
        return _section(
            "funnel", title, "", _note(f"No rule fired and no task was created {data.first} → {data.last}.")
        )
    total = data.funnel.filter(pl.col("rule_id") == "TOTAL").row(0, named=True) if data.funnel.height else {}
    caption = (
        f"Per rule, tasks created {data.first} → {data.last}: accounts it fired on, tasks created, completed by a rep, "
        f"followed by an opportunity within {data.outcome_days} days, and won; right, the revenue won. "
        f"Overall {pct(total.get('task_to_completed'))} of tasks were completed and "
        f"{pct(total.get('task_to_opportunity'))} led to an opportunity."
    )
    return _section("funnel", title, caption, _figure("funnel", charts.funnel_chart(data.funnel, currency)))


def _lift(data: ReportData) -> str:
    title = "Did the tasks cause more opportunities?"
    caption = (
        "For each rule, a random share of ripe accounts gets no task (the control group). The dot is how many "
        "more accounts opened an opportunity with a task than without, in percentage points; the line is its "
        "95 % interval. A line that crosses zero means the difference may be chance."
    )
    if data.lift.is_empty():
        return _section(
            "lift",
            title,
            caption,
            _note(
                "No control groups measured yet: lift appears per rule once "
                "rules keep a control group and enough accounts have answered."
            ),
        )
    ready = data.lift.filter(pl.col("enough_data").fill_null(False) & pl.col("lift").is_not_null())
    waiting = data.lift.filter(~(pl.col("enough_data").fill_null(False) & pl.col("lift").is_not_null()))
    body = _figure("lift", charts.lift_chart(ready)) if ready.height else _note("No rule has enough data yet.")
    if waiting.height:
        items = "".join(
            f"<li><b>{escape(r['rule_id'])}</b>: {escape(r['note'] or 'not enough data yet')}</li>"
            for r in waiting.iter_rows(named=True)
        )
        body += f'<ul class="waiting">{items}</ul>'
    return _section("lift", title, caption, body)


def _health(data: ReportData) -> str:
    title = "Customer health over time"
    weekly = weekly_bands(data.health)
    if weekly.is_empty():
        return _section("health", title, "", _note("No health scores stored yet: they appear after the first cycle."))
    caption = "Accounts in each health band, week by week (green: healthy, yellow: watch, red: at risk)."
    return _section("health", title, caption, _figure("health", charts.health_chart(weekly)))


def _owners(data: ReportData) -> str:
    title = "Tasks per owner"
    if data.owners.is_empty():
        return _section("owners", title, "", _note(f"No tasks created {data.first} → {data.last}."))
    ranked = data.owners.sort(["created", "owner"], descending=[True, False])
    shown, rest = ranked.head(OWNERS_SHOWN), ranked.slice(OWNERS_SHOWN)
    caption = (
        f"upsync's tasks created {data.first} → {data.last} per owner: completed in the CRM, and still open "
        "(the rest were withdrawn by upsync when their signal cleared)."
    )
    if rest.height:
        created, completed, still_open = (int(rest.get_column(c).sum()) for c in ("created", "completed", "open"))
        caption += (
            f" The {OWNERS_SHOWN} owners with the most tasks; the other {rest.height} together: "
            f"{count(created)} created, {count(completed)} completed, {count(still_open)} open."
        )
    return _section("owners", title, caption, _figure("owners", charts.owners_chart(shown)))


_FOOTER = (
    ("MRR", "What each customer pays per month, from the CRM's contracts, deals and line items, in one currency."),
    (
        "NRR (net revenue retention)",
        "(MRR at start + expansion − contraction − churn) ÷ MRR at start, over the "
        "customers paying at the start; new customers are left out.",
    ),
    (
        "GRR (gross revenue retention)",
        "(MRR at start − contraction − churn) ÷ MRR at start: what was kept, never above 100 %.",
    ),
    (
        "Expansion, upsell, cross-sell",
        "More MRR from a customer that stayed: on a product it already paid for "
        "(upsell) or on a new one (cross-sell). Contraction is less MRR from a customer that stayed.",
    ),
    (
        "Churn",
        "The MRR of customers paying at the start and nothing at the end; a customer that returns later "
        "counts as new again.",
    ),
    (
        "Won after upsync's tasks",
        "Deals won within the outcome window after a task, each credited once, to the "
        "latest task on its account before the deal.",
    ),
    (
        "Lift",
        "Opportunity rate of accounts that got a task minus that of the randomly held-back control group, "
        "with a 95 % confidence interval; shown once both groups are large enough.",
    ),
    (
        "Health bands",
        "The weekly health score (usage, adoption, support, projects, engagement) banded "
        "green, yellow and red; each week as its last scored day saw it.",
    ),
)


def build_page(data: ReportData, *, title: str | None = None) -> str:
    """The whole page as one HTML string (UTF-8, no external reference)."""
    currencies = data.mrr.get_column("currency").drop_nulls().unique().to_list()
    currency = data.currency or (currencies[0] if len(currencies) == 1 else None)
    h = headline(data.mrr, data.funnel, first=data.first, last=data.last)
    builders: tuple[Callable[[], str], ...] = (
        lambda: _headline(h, data, currency),
        lambda: _trend(data),
        lambda: _bridge(h, currency),
        lambda: _funnel(data, currency),
        lambda: _lift(data),
        lambda: _health(data),
        lambda: _owners(data),
    )
    heading = title or "Did upsync's work pay off?"
    footer = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _FOOTER)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body><main>"
        f"<header><h1>{escape(heading)}</h1><p>{escape(data.system)} · tasks from {data.first} to {data.last}"
        f" · outcomes within {data.outcome_days} days</p></header>"
        + "".join(build() for build in builders)
        + f'<footer id="how"><h2>How these are computed</h2><dl>{footer}</dl></footer></main></body></html>'
    )
