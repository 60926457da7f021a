"""Per-account features as of one moment, computed from stored records. Pure: frames and ``as_of`` in.

A feature is a named, documented value with a unit, one per account: what rules (``[[rules]].when``)
compare, what the health score weighs and what ``upsync explain`` shows. :data:`FEATURES` is the
catalogue (the README's feature reference is generated from it); :func:`compute` builds them all
for every account in one vectorised pass over the stored tables.

"As of" is strict: a record counts only if it existed at ``as_of`` (created, closed, dated or, for
usage, delivered by the usage API no later than then), so a replay of a past day sees what that day
saw. Windows are whole days ending yesterday: "7 days" are the 7 calendar days before ``as_of``'s
date, the usage of today being incomplete. Fields the CRM overwrites in place (employees, parent)
are reconstructed from the change log the store keeps (``account_events``).

Weekly series (``rising(wau, 3)``) are held as columns ``<metric>@w0 … @wN``: ``w0`` the last 7
days, ``w1`` the 7 before, and so on; usage metrics are weekly means of daily values, tickets and
activities weekly counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from core.tables import Tables
from rules.expr import Schema, Type

__all__ = [
    "FEATURES",
    "SERIES",
    "Feature",
    "FeatureParams",
    "Series",
    "compute",
    "feature_schema",
    "owned_products",
    "purchases",
    "series_columns",
]

N, B, T, D, L = Type.number, Type.bool, Type.text, Type.date, Type.list


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of the features frame: name, type, unit and what it means."""

    name: str
    type: Type
    unit: str
    doc: str
    group: str


@dataclass(frozen=True, slots=True)
class Series:
    """A metric kept as weekly points, for ``rising``/``falling``/``change``."""

    name: str
    unit: str
    doc: str


def _f(group: str, *items: tuple[str, Type, str, str]) -> list[Feature]:
    return [Feature(name, kind, unit, doc, group) for name, kind, unit, doc in items]


FEATURES: tuple[Feature, ...] = tuple(
    [
        *_f(
            "account",
            ("account_name", T, "", "the account's name in the CRM"),
            ("owner_id", T, "", "the CRM owner's id"),
            ("workspace_id", T, "", "the product workspace: the CRM's field, else matched by domain"),
            ("owner_active", B, "", "the owner is an active user (inactive owners get no tasks)"),
            ("industry", T, "", "CRM industry"),
            ("account_type", T, "", "CRM account type (Salesforce Type)"),
            ("lifecycle_stage", T, "", "CRM lifecycle stage (HubSpot lifecyclestage)"),
            ("employees", N, "people", "number of employees in the CRM"),
            ("account_created", D, "date", "when the account was created in the CRM"),
            ("health_rollup", N, "points", "the CRM's own health field, if it has one"),
            ("nps", N, "0-10", "net promoter score roll-up, where the CRM has one"),
            ("csat", N, "%", "customer satisfaction roll-up, where the CRM has one"),
            ("do_not_contact", B, "", "the CRM's do-not-contact / hold flag"),
        ),
        *_f(
            "contract",
            (
                "is_customer",
                B,
                "",
                "an active contract, a current contract end, an active asset or a deal won in 365 days",
            ),
            ("customer_since", D, "date", "start of the first activated contract (else the first won deal)"),
            ("days_since_start", N, "days", "days since customer_since"),
            ("contract_end", D, "date", "end of the current contract (the latest active one; else the CRM's field)"),
            ("days_to_renewal", N, "days", "days until contract_end (negative once lapsed)"),
            ("seats_purchased", N, "seats", "seats bought, from the CRM"),
            ("arr", N, "currency/year", "amount of deals won in the last 365 days"),
            ("open_deals", N, "deals", "open opportunities"),
            ("won_deals_365d", N, "deals", "deals won in the last 365 days"),
            ("lost_deals_90d", N, "deals", "deals lost in the last 90 days"),
            ("products_owned", L, "products", "names of the products the account owns (assets, else won line items)"),
            ("products_count", N, "products", "how many products the account owns"),
        ),
        *_f(
            "usage",
            ("usage_day", D, "date", "the latest day with usage data"),
            ("active_users", N, "users", "active users on usage_day"),
            ("active_users_7d", N, "users", "mean daily active users, last 7 days"),
            ("active_users_30d", N, "users", "mean daily active users, last 30 days"),
            ("active_users_90d", N, "users", "mean daily active users, last 90 days"),
            ("usage_vs_90d", N, "ratio", "active_users_7d / active_users_90d (0.5 = usage halved)"),
            ("users_growth_30d", N, "ratio", "active_users_7d against the week 30 days earlier, minus 1"),
            ("wau", N, "users", "weekly active users on usage_day"),
            ("wau_ratio", N, "ratio", "wau / seat_limit"),
            ("seats_used", N, "seats", "seats in use on usage_day"),
            ("seat_limit", N, "seats", "seats purchased in the CRM, else the plan's seat limit"),
            ("seat_utilisation", N, "ratio", "seats_used / seat_limit"),
            ("storage_used_gb", N, "GB", "storage in use on usage_day"),
            ("storage_utilisation", N, "ratio", "storage used / storage limit"),
            ("api_calls_used", N, "calls/day", "API calls on usage_day"),
            ("api_utilisation", N, "ratio", "API calls / daily API limit"),
            ("max_utilisation", N, "ratio", "the highest of seat, storage and API utilisation"),
            ("integrations", N, "integrations", "active integrations on usage_day"),
            (
                "integrations_added_30d",
                N,
                "integrations",
                "integrations on usage_day minus the first day of the last 30",
            ),
            ("premium_views_7d", N, "views", "premium-feature views, last 7 days"),
            ("pricing_views_7d", N, "views", "pricing or option page views, last 7 days"),
            ("trials_30d", N, "trials", "premium trials started, last 30 days"),
            ("trial_started_at", D, "date", "the latest day a premium trial started"),
            ("events_7d", N, "events", "tracked feature events, last 7 days"),
            ("events_per_user_week", N, "events/user", "events_7d per active user"),
            ("departments", N, "departments", "departments with active users on usage_day"),
            (
                "new_usage_departments_30d",
                N,
                "departments",
                "departments using the product now that did not 30+ days ago",
            ),
            ("activation_rate", N, "ratio", "wau / seat_limit: how much of what was bought is used"),
            ("activated", B, "", "activation_rate at or above [features].activation_ratio"),
        ),
        *_f(
            "people",
            ("contacts", N, "contacts", "contacts on the account"),
            ("contacts_added_30d", N, "contacts", "contacts created in the last 30 days"),
            ("contact_growth_30d", N, "ratio", "contacts_added_30d / contacts before them"),
            ("contact_departments", N, "departments", "distinct departments among contacts"),
            (
                "new_departments_30d",
                N,
                "departments",
                "departments of contacts added in 30 days that no older contact has",
            ),
            ("exec_contacts", N, "contacts", "contacts with an executive title ([features].exec_title)"),
        ),
        *_f(
            "activity",
            ("last_activity_at", D, "date", "the latest call, meeting, email, note or task (upsync's own tasks aside)"),
            ("activities_30d", N, "activities", "activities in the last 30 days"),
            ("activities_90d", N, "activities", "activities in the last 90 days"),
            ("meetings_90d", N, "meetings", "meetings in the last 90 days"),
            ("exec_activities_90d", N, "activities", "activities with an executive contact, last 90 days"),
            ("last_review_at", D, "date", "the latest meeting whose subject matches [features].review_subject"),
        ),
        *_f(
            "support",
            ("tickets_30d", N, "tickets", "tickets opened in the last 30 days"),
            ("tickets_prev_30d", N, "tickets", "tickets opened in the 30 days before those"),
            ("ticket_growth", N, "ratio", "(tickets_30d - tickets_prev_30d) / tickets_prev_30d"),
            ("open_tickets", N, "tickets", "tickets open now"),
            ("open_escalations", N, "tickets", "open tickets escalated or at an escalation priority"),
        ),
        *_f(
            "life events",
            ("employees_growth_180d", N, "ratio", "employee count change over the last 180 days (from the change log)"),
            ("parent_changed_90d", B, "", "the account joined or changed its parent in the last 90 days"),
            ("new_children_30d", N, "accounts", "child accounts created in the last 30 days"),
        ),
        *_f(
            "hierarchy",
            ("has_parent", B, "", "the account has a parent account"),
            ("parent_is_customer", B, "", "its parent is a customer"),
            ("children", N, "accounts", "child accounts"),
            ("children_without_contract", N, "accounts", "child accounts that are not customers"),
            ("group_customer", B, "", "its parent, a sibling or a child is a customer"),
            ("group_products", L, "products", "products its group owns that it does not"),
        ),
        *_f(
            "offers",
            ("offers_30d", N, "tasks", "tasks upsync created on the account in the last 30 days"),
            ("last_offer_at", D, "date", "when upsync last created a task on the account"),
        ),
    ]
)
"""Every base feature, in catalogue order. Health, co-purchase, lifecycle and signal features are
added by the evaluation (see :mod:`rules.evaluate`), which extends the schema with them."""

SERIES: tuple[Series, ...] = (
    Series("wau", "users", "weekly mean of daily weekly-active users"),
    Series("active_users", "users", "weekly mean of daily active users"),
    Series("seats_used", "seats", "weekly mean of seats in use"),
    Series("events", "events", "weekly mean of daily tracked feature events"),
    Series("tickets", "tickets", "tickets opened each week"),
    Series("activities", "activities", "activities each week"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureParams:
    """``[features]`` in config.toml: the definitions an org tunes."""

    review_subject: str = r"(?i)\b(quarterly business review|business review|qbr)\b"
    exec_title: str = r"(?i)^(chief|c[a-z]{1,2}o\b|vp\b|vice president|head\b|director|general counsel|president)"
    activation_ratio: float = 0.4
    tracked: tuple[str, ...] = ("documents", "comments", "search", "reports", "analytics", "dashboards", "automations")
    escalation_priorities: tuple[str, ...] = ("URGENT",)
    series_weeks: int = 8
    activated_contract_statuses: tuple[str, ...] = ("Activated",)


def feature_schema(params: FeatureParams, extra: Mapping[str, Type] | None = None) -> Schema:
    """The rule language's view of the features: names, types, series, trackable product features."""
    features = {f.name: f.type for f in FEATURES}
    if extra:
        features.update(extra)
    return Schema(
        features=features,
        series={s.name: params.series_weeks for s in SERIES} | {"health": params.series_weeks},
        tracked=params.tracked,
    )


def series_columns(name: str, weeks: int) -> list[str]:
    return [f"{name}@w{i}" for i in range(weeks)]


# --- computation -------------------------------------------------------------------------------


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _count_where(cond: pl.Expr) -> pl.Expr:
    return cond.cast(pl.Int64).sum()


def compute(
    tables: Tables,
    *,
    as_of: datetime,
    params: FeatureParams,
    uses: Iterable[tuple[str, int]] = (),
) -> pl.DataFrame:
    """Every base feature for every account live at ``as_of``: one row per account, key ``account``.

    ``uses`` lists the ``uses(feature, days)`` windows the rules asked for (columns
    ``uses:<feature>:<days>d``). The frame also carries ``_today`` (the as-of date, for
    ``days_since``) and the weekly series columns.
    """
    t = tables.checked()
    today = as_of.date()
    accounts = t.accounts.filter(pl.col("created_at").is_null() | (pl.col("created_at") <= as_of))
    base = accounts.select(
        pl.col("crm_id").alias("account"),
        pl.col("name").alias("account_name"),
        "owner_id",
        "parent_id",
        "workspace_id",
        "industry",
        "account_type",
        "lifecycle_stage",
        pl.col("employees").cast(pl.Float64),
        pl.col("created_at").dt.date().alias("account_created"),
        "health_rollup",
        "nps",
        "csat",
        pl.col("do_not_contact").fill_null(False),
        pl.col("seats_purchased").cast(pl.Float64),
        pl.col("contract_end").alias("_crm_contract_end"),
    )
    owners = t.owners.select(pl.col("crm_id").alias("owner_id"), pl.col("active").alias("owner_active"))
    out = base.join(owners, on="owner_id", how="left")
    out = out.join(_contracts(t, today, params), on="account", how="left")
    out = out.join(_deals(t, today), on="account", how="left")
    out = out.join(_ownership(t, as_of), on="account", how="left")
    out = out.join(_usage(t, as_of, params, uses), on="workspace_id", how="left")
    out = out.join(_contacts(t, as_of, params), on="account", how="left")
    out = out.join(_activities(t, as_of, params), on="account", how="left")
    out = out.join(_tickets(t, as_of, params), on="account", how="left")
    out = out.join(_life_events(t, as_of), on="account", how="left")
    out = out.join(_offers(t, as_of), on="account", how="left")

    zero_filled = [
        "open_deals",
        "won_deals_365d",
        "lost_deals_90d",
        "products_count",
        "contacts",
        "contacts_added_30d",
        "exec_contacts",
        "contact_departments",
        "new_departments_30d",
        "activities_30d",
        "activities_90d",
        "meetings_90d",
        "exec_activities_90d",
        "tickets_30d",
        "tickets_prev_30d",
        "open_tickets",
        "open_escalations",
        "new_children_30d",
        "offers_30d",
        *series_columns("tickets", params.series_weeks),
        *series_columns("activities", params.series_weeks),
    ]
    out = out.with_columns(
        [pl.col(c).fill_null(0.0) for c in zero_filled]
        + [
            pl.col("products_owned").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("parent_changed_90d").fill_null(False),
            pl.col("arr").fill_null(0.0),
            pl.col("_active_contract").fill_null(False),
            pl.col("_active_asset").fill_null(False),
            pl.coalesce("_first_start", "_first_won").alias("customer_since"),
        ]
    )
    seat_limit = (
        pl.when(pl.col("seats_purchased") > 0).then(pl.col("seats_purchased")).otherwise(pl.col("_usage_seats_limit"))
    )
    out = out.with_columns(
        seat_limit.alias("seat_limit"),
        pl.coalesce(pl.col("_active_contract_end"), pl.col("_crm_contract_end")).alias("contract_end"),
    )
    out = out.with_columns(
        _ratio(pl.col("seats_used"), pl.col("seat_limit")).alias("seat_utilisation"),
        _ratio(pl.col("wau"), pl.col("seat_limit")).alias("wau_ratio"),
        _ratio(pl.col("wau"), pl.col("seat_limit")).alias("activation_rate"),
        (pl.col("contract_end") - pl.lit(today)).dt.total_days().cast(pl.Float64).alias("days_to_renewal"),
        (pl.lit(today) - pl.col("customer_since")).dt.total_days().cast(pl.Float64).alias("days_since_start"),
        (
            pl.col("_active_contract")
            | (pl.col("_crm_contract_end") >= pl.lit(today)).fill_null(False)
            | pl.col("_active_asset")
            | (pl.col("won_deals_365d") > 0)
        )
        .fill_null(False)
        .alias("is_customer"),
    )
    out = out.with_columns(
        pl.max_horizontal("seat_utilisation", "storage_utilisation", "api_utilisation").alias("max_utilisation"),
        (pl.col("activation_rate") >= params.activation_ratio).alias("activated"),
        _ratio(pl.col("contacts_added_30d"), pl.col("contacts") - pl.col("contacts_added_30d")).alias(
            "contact_growth_30d"
        ),
        _ratio(pl.col("tickets_30d") - pl.col("tickets_prev_30d"), pl.col("tickets_prev_30d")).alias("ticket_growth"),
    )
    out = out.join(_hierarchy(out, t, today), on="account", how="left")
    out = out.with_columns(
        pl.col("children").fill_null(0.0),
        pl.col("children_without_contract").fill_null(0.0),
        pl.col("has_parent").fill_null(False),
        pl.col("group_products").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.lit(today).alias("_today"),
    )
    keep = ["account", "_today", *(f.name for f in FEATURES)]
    keep += [c for c in out.columns if "@w" in c or c.startswith("uses:")]
    return out.select(keep).sort("account")


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null when the denominator is zero or unknown (never inf)."""
    return pl.when(den != 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)


def _contracts(t: Tables, today: date, params: FeatureParams) -> pl.DataFrame:
    c = t.contracts.filter(pl.col("start_date").is_not_null() & (pl.col("start_date") <= today))
    activated = pl.col("status").is_in(list(params.activated_contract_statuses))
    active = activated & (pl.col("end_date").is_null() | (pl.col("end_date") >= today))
    return (
        c.group_by("account_id")
        .agg(
            pl.col("start_date").filter(activated).min().alias("_first_start"),
            _count_where(active).gt(0).alias("_active_contract"),
            pl.col("end_date").filter(active).max().alias("_active_contract_end"),
        )
        .rename({"account_id": "account"})
    )


def _won(t: Tables, today: date) -> pl.DataFrame:
    return t.opportunities.filter(
        pl.col("is_won").fill_null(False) & pl.col("close_date").is_not_null() & (pl.col("close_date") <= today)
    )


def _deals(t: Tables, today: date) -> pl.DataFrame:
    o = t.opportunities
    created = pl.col("created_at").dt.date()
    closed = pl.col("is_closed").fill_null(False) & (pl.col("close_date") <= today)
    won = closed & pl.col("is_won").fill_null(False)
    lost = closed & ~pl.col("is_won").fill_null(False)
    open_ = (created <= today) & ~closed
    recent = pl.col("close_date") > today - _days(365)
    return (
        o.group_by("account_id")
        .agg(
            _count_where(open_).cast(pl.Float64).alias("open_deals"),
            _count_where(won & recent).cast(pl.Float64).alias("won_deals_365d"),
            _count_where(lost & (pl.col("close_date") > today - _days(90))).cast(pl.Float64).alias("lost_deals_90d"),
            pl.col("amount").filter(won & recent).sum().alias("arr"),
            pl.col("close_date").filter(won).min().alias("_first_won"),
        )
        .rename({"account_id": "account"})
    )


def purchases(tables: Tables, *, as_of: datetime) -> pl.DataFrame:
    """Every purchase known at ``as_of``: (account, product name, at). Won deals' line items (at the
    close date) and assets (at the purchase date): what co-purchase mining reads."""
    t = tables.checked()
    today = as_of.date()
    names = t.products.select(pl.col("crm_id").alias("product_id"), pl.col("name").alias("product"))
    won = _won(t, today).select(
        pl.col("crm_id").alias("opportunity_id"), "account_id", pl.col("close_date").alias("at")
    )
    from_lines = t.line_items.join(won, on="opportunity_id").join(names, on="product_id")
    from_assets = (
        t.assets.filter(pl.col("purchase_date").is_not_null() & (pl.col("purchase_date") <= today))
        .join(names, on="product_id", how="left")
        .select("account_id", pl.coalesce("product", "name").alias("product"), pl.col("purchase_date").alias("at"))
    )
    both = pl.concat(
        [
            from_lines.select(pl.col("account_id").alias("account"), "product", "at"),
            from_assets.rename({"account_id": "account"}),
        ]
    )
    return both.filter(pl.col("account").is_not_null() & pl.col("product").is_not_null())


def _current_asset(today: date) -> pl.Expr:
    """An asset the account holds today: purchased by then, not obsolete, not past its usage end."""
    return (
        pl.col("purchase_date").is_not_null()
        & (pl.col("purchase_date") <= today)
        & (pl.col("status").fill_null("") != "Obsolete")
        & (pl.col("usage_end_date").is_null() | (pl.col("usage_end_date") >= today))
    )


def owned_products(tables: Tables, *, as_of: datetime) -> pl.DataFrame:
    """(account, product) owned at ``as_of``: current assets where the CRM keeps assets, else the
    products of won deals (an installed base beats a purchase history: it drops what was replaced)."""
    t = tables.checked()
    today = as_of.date()
    names = t.products.select(pl.col("crm_id").alias("product_id"), pl.col("name").alias("product"))
    current = _current_asset(today)
    assets = (
        t.assets.filter(pl.col("purchase_date") <= today)
        .join(names, on="product_id", how="left")
        .select(
            pl.col("account_id").alias("account"),
            pl.coalesce("product", "name").alias("product"),
            current.alias("current"),
        )
    )
    with_assets = assets.select("account").unique()
    from_assets = assets.filter(pl.col("current")).select("account", "product")
    won = _won(t, today).select(pl.col("crm_id").alias("opportunity_id"), pl.col("account_id").alias("account"))
    from_lines = (
        t.line_items.join(won, on="opportunity_id")
        .join(names, on="product_id")
        .select("account", "product")
        .join(with_assets, on="account", how="anti")
    )
    return (
        pl.concat([from_assets, from_lines])
        .filter(pl.col("account").is_not_null() & pl.col("product").is_not_null())
        .unique()
        .sort("account", "product")
    )


def _ownership(t: Tables, as_of: datetime) -> pl.DataFrame:
    today = as_of.date()
    owned = owned_products(t, as_of=as_of)
    current_asset = t.assets.filter(_current_asset(today))
    return (
        owned.group_by("account")
        .agg(pl.col("product").sort().alias("products_owned"), pl.len().cast(pl.Float64).alias("products_count"))
        .join(
            current_asset.select(pl.col("account_id").alias("account"))
            .unique()
            .with_columns(pl.lit(True).alias("_active_asset")),
            on="account",
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("_active_asset").fill_null(False))
    )


def _usage(t: Tables, as_of: datetime, params: FeatureParams, uses: Iterable[tuple[str, int]]) -> pl.DataFrame:
    today = as_of.date()
    weeks = params.series_weeks
    u = t.usage.filter(
        (pl.col("day") < today) & (pl.col("updated_at").is_null() | (pl.col("updated_at") <= as_of))
    ).with_columns((pl.lit(today) - pl.col("day")).dt.total_days().alias("_age"))
    tracked = list(dict.fromkeys([*params.tracked, *(f for f, _ in uses)]))
    event_cols = [f"_fe:{name}" for name in tracked]
    try:
        u = u.with_columns(_feature_events(tracked))
    except pl.exceptions.ComputeError:  # a row that is not an object of numbers: read what can be read
        u = u.with_columns(_feature_events(tracked, lenient=True))
    u = u.with_columns((pl.sum_horizontal(event_cols) if event_cols else pl.lit(0.0)).alias("_events"))
    age = pl.col("_age")

    def within(days: int) -> pl.Expr:
        return age <= days

    latest = pl.col("day") == pl.col("day").max()

    def last(col: str) -> pl.Expr:
        return pl.col(col).filter(latest).first()

    first_within_30 = pl.col("integrations").filter(pl.col("day") == pl.col("day").filter(within(30)).min()).first()

    aggs: list[pl.Expr] = [
        pl.col("day").max().alias("usage_day"),
        last("active_users").alias("active_users"),
        last("weekly_active_users").alias("wau"),
        last("seats_used").alias("seats_used"),
        last("seats_limit").alias("_usage_seats_limit"),
        last("storage_used_gb").alias("storage_used_gb"),
        _ratio(last("storage_used_gb"), last("storage_limit_gb")).alias("storage_utilisation"),
        last("api_calls_used").alias("api_calls_used"),
        _ratio(last("api_calls_used"), last("api_calls_limit")).alias("api_utilisation"),
        last("integrations").alias("integrations"),
        (last("integrations") - first_within_30).alias("integrations_added_30d"),
        pl.col("active_users").filter(within(7)).mean().alias("active_users_7d"),
        pl.col("active_users").filter(within(30)).mean().alias("active_users_30d"),
        pl.col("active_users").filter(within(90)).mean().alias("active_users_90d"),
        pl.col("active_users").filter((age > 30) & (age <= 37)).mean().alias("_users_30d_ago"),
        pl.col("premium_feature_views").filter(within(7)).sum().alias("premium_views_7d"),
        pl.col("pricing_page_views").filter(within(7)).sum().alias("pricing_views_7d"),
        pl.col("trials_started").filter(within(30)).sum().alias("trials_30d"),
        pl.col("day").filter(pl.col("trials_started") > 0).max().alias("trial_started_at"),
        pl.col("_events").filter(within(7)).sum().alias("events_7d"),
        pl.col("users_by_department").filter(latest).first().alias("_dept_now"),
        pl.col("users_by_department")
        .filter(pl.col("day") == pl.col("day").filter(age > 30).max())
        .first()
        .alias("_dept_before"),
        pl.col("_age").max().alias("_oldest"),
    ]
    for name, days in sorted(set(uses)):
        aggs.append(pl.col(f"_fe:{name}").filter(within(days)).sum().alias(f"uses:{name}:{days}d"))
    for metric, col in (("wau", "weekly_active_users"), ("active_users", "active_users"), ("seats_used", "seats_used")):
        for i in range(weeks):
            aggs.append(pl.col(col).filter((age > 7 * i) & (age <= 7 * (i + 1))).mean().alias(f"{metric}@w{i}"))
    for i in range(weeks):
        aggs.append(pl.col("_events").filter((age > 7 * i) & (age <= 7 * (i + 1))).mean().alias(f"events@w{i}"))
    g = (
        u.group_by("workspace_id")
        .agg(aggs)
        .with_columns(
            _departments(pl.col("_dept_now")).alias("_dept_now"),
            _departments(pl.col("_dept_before")).alias("_dept_before"),
        )
    )
    return g.with_columns(
        _ratio(pl.col("active_users_7d"), pl.col("active_users_90d")).alias("usage_vs_90d"),
        (_ratio(pl.col("active_users_7d"), pl.col("_users_30d_ago")) - 1).alias("users_growth_30d"),
        _ratio(pl.col("events_7d"), pl.col("active_users_7d")).alias("events_per_user_week"),
        pl.col("_dept_now").list.len().cast(pl.Float64).alias("departments"),
        pl.when(pl.col("_oldest") > 30)
        .then(pl.col("_dept_now").list.set_difference(pl.col("_dept_before")).list.len().cast(pl.Float64))
        .otherwise(None)
        .alias("new_usage_departments_30d"),
    ).drop("_dept_now", "_dept_before", "_oldest", "_users_30d_ago")


def _feature_events(tracked: Sequence[str], *, lenient: bool = False) -> list[pl.Expr]:
    """One column ``_fe:<name>`` per tracked feature from the ``feature_events`` JSON (absent: 0).

    Decoded once into a struct of just those keys: a path match per feature reads the whole JSON
    text again each time, eight times slower for eight features. ``lenient`` takes that slower path,
    where a value that is not a number (or a row that is not JSON) counts as absent."""
    if not tracked:
        return []
    if lenient:
        return [
            pl.col("feature_events")
            .str.json_path_match("$['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']")
            .cast(pl.Float64, strict=False)
            .fill_null(0.0)
            .alias(f"_fe:{name}")
            for name in tracked
        ]
    decoded = pl.col("feature_events").str.json_decode(pl.Struct({name: pl.Float64 for name in tracked}))
    return [decoded.struct.field(name).fill_null(0.0).alias(f"_fe:{name}") for name in tracked]


def _departments(json: pl.Expr) -> pl.Expr:
    """The departments with at least one user in a ``users_by_department`` JSON object, each as its
    quoted key: the positive entries are rewritten to ``"key":+`` (whatever the count), then listed."""
    positive = json.str.replace_all(r'("(?:[^"\\]|\\.)*")\s*:\s*[1-9]', "${1}:+")
    return positive.str.extract_all(r'"(?:[^"\\]|\\.)*":\+')


def _contacts(t: Tables, as_of: datetime, params: FeatureParams) -> pl.DataFrame:
    c = t.contacts.filter(pl.col("created_at").is_null() | (pl.col("created_at") <= as_of))
    recent = (pl.col("created_at") > as_of - _days(30)).fill_null(False)
    department = pl.col("department")
    return (
        c.group_by("account_id")
        .agg(
            pl.len().cast(pl.Float64).alias("contacts"),
            _count_where(recent).cast(pl.Float64).alias("contacts_added_30d"),
            department.drop_nulls().n_unique().cast(pl.Float64).alias("contact_departments"),
            department.filter(recent).drop_nulls().unique().alias("_new_depts"),
            department.filter(~recent).drop_nulls().unique().alias("_old_depts"),
            _count_where(pl.col("title").fill_null("").str.contains(params.exec_title))
            .cast(pl.Float64)
            .alias("exec_contacts"),
        )
        .select(
            pl.col("account_id").alias("account"),
            "contacts",
            "contacts_added_30d",
            "contact_departments",
            "exec_contacts",
            pl.col("_new_depts")
            .list.set_difference(pl.col("_old_depts"))
            .list.len()
            .cast(pl.Float64)
            .alias("new_departments_30d"),
        )
    )


def _activities(t: Tables, as_of: datetime, params: FeatureParams) -> pl.DataFrame:
    execs = t.contacts.filter(pl.col("title").fill_null("").str.contains(params.exec_title)).select(
        pl.col("crm_id").alias("contact_id"), pl.lit(True).alias("_exec")
    )
    a = (
        t.activities.filter(
            pl.col("sync_key").is_null() & pl.col("activity_at").is_not_null() & (pl.col("activity_at") <= as_of)
        )
        .join(execs, on="contact_id", how="left")
        .with_columns((pl.lit(as_of) - pl.col("activity_at")).dt.total_days().alias("_age"))
    )
    age = pl.col("_age")
    meeting = pl.col("activity_type") == "meeting"
    review = meeting & pl.col("subject").fill_null("").str.contains(params.review_subject)
    aggs = [
        pl.col("activity_at").max().dt.date().alias("last_activity_at"),
        _count_where(age < 30).cast(pl.Float64).alias("activities_30d"),
        _count_where(age < 90).cast(pl.Float64).alias("activities_90d"),
        _count_where(meeting & (age < 90)).cast(pl.Float64).alias("meetings_90d"),
        _count_where(pl.col("_exec").fill_null(False) & (age < 90)).cast(pl.Float64).alias("exec_activities_90d"),
        pl.col("activity_at").filter(review).max().dt.date().alias("last_review_at"),
    ]
    for i in range(params.series_weeks):
        aggs.append(_count_where((age >= 7 * i) & (age < 7 * (i + 1))).cast(pl.Float64).alias(f"activities@w{i}"))
    return a.group_by("account_id").agg(aggs).rename({"account_id": "account"})


def _tickets(t: Tables, as_of: datetime, params: FeatureParams) -> pl.DataFrame:
    k = t.tickets.filter(pl.col("created_at").is_not_null() & (pl.col("created_at") <= as_of)).with_columns(
        (pl.lit(as_of) - pl.col("created_at")).dt.total_days().alias("_age")
    )
    age = pl.col("_age")
    closed_then = (
        pl.when(pl.col("closed_at").is_not_null())
        .then(pl.col("closed_at") <= as_of)
        .otherwise(pl.col("is_closed").fill_null(False))
    )
    is_open = ~closed_then
    escalated = pl.col("is_escalated").fill_null(False) | pl.col("priority").is_in(list(params.escalation_priorities))
    aggs = [
        _count_where(age < 30).cast(pl.Float64).alias("tickets_30d"),
        _count_where((age >= 30) & (age < 60)).cast(pl.Float64).alias("tickets_prev_30d"),
        _count_where(is_open).cast(pl.Float64).alias("open_tickets"),
        _count_where(is_open & escalated).cast(pl.Float64).alias("open_escalations"),
    ]
    for i in range(params.series_weeks):
        aggs.append(_count_where((age >= 7 * i) & (age < 7 * (i + 1))).cast(pl.Float64).alias(f"tickets@w{i}"))
    return k.group_by("account_id").agg(aggs).rename({"account_id": "account"})


def _life_events(t: Tables, as_of: datetime) -> pl.DataFrame:
    e = t.account_events.filter(pl.col("changed_at") <= as_of)
    employees = (
        e.filter((pl.col("field") == "employees") & (pl.col("changed_at") > as_of - _days(180)))
        .sort("changed_at")
        .group_by("account_id")
        .agg(pl.col("old_value").first().cast(pl.Float64, strict=False).alias("_employees_before"))
    )
    # the value at as_of: the new value of the last change before it (the stored value may be newer)
    now_value = (
        e.filter(pl.col("field") == "employees")
        .sort("changed_at")
        .group_by("account_id")
        .agg(pl.col("new_value").last().cast(pl.Float64, strict=False).alias("_employees_then"))
    )
    parent = (
        e.filter((pl.col("field") == "parent_id") & (pl.col("changed_at") > as_of - _days(90)))
        .group_by("account_id")
        .agg(pl.lit(True).alias("parent_changed_90d"))
    )
    children = (
        t.accounts.filter(
            pl.col("parent_id").is_not_null()
            & (pl.col("created_at") <= as_of)
            & (pl.col("created_at") > as_of - _days(30))
        )
        .group_by("parent_id")
        .agg(pl.len().cast(pl.Float64).alias("new_children_30d"))
        .rename({"parent_id": "account_id"})
    )
    ids = pl.concat([df.select("account_id") for df in (employees, now_value, parent, children)]).unique()
    out = (
        ids.join(employees, on="account_id", how="left")
        .join(now_value, on="account_id", how="left")
        .join(parent, on="account_id", how="left")
        .join(children, on="account_id", how="left")
        .join(
            t.accounts.select(pl.col("crm_id").alias("account_id"), pl.col("employees").cast(pl.Float64)),
            on="account_id",
            how="left",
        )
    )
    current = pl.coalesce("_employees_then", "employees")
    return out.select(
        pl.col("account_id").alias("account"),
        _ratio(current - pl.col("_employees_before"), pl.col("_employees_before")).alias("employees_growth_180d"),
        "parent_changed_90d",
        "new_children_30d",
    )


def _offers(t: Tables, as_of: datetime) -> pl.DataFrame:
    led = t.ledger.filter(pl.col("created_at") <= as_of)
    return (
        led.group_by("account_id")
        .agg(
            _count_where(pl.col("created_at") > as_of - _days(30)).cast(pl.Float64).alias("offers_30d"),
            pl.col("created_at").max().dt.date().alias("last_offer_at"),
        )
        .rename({"account_id": "account"})
    )


def _hierarchy(features: pl.DataFrame, t: Tables, today: date) -> pl.DataFrame:
    """Parent, children and siblings: who in the group is a customer, and what the group owns."""
    node = features.select("account", "parent_id", "is_customer", "products_owned")
    parents = node.select(
        pl.col("account").alias("parent_id"),
        pl.col("is_customer").alias("parent_is_customer"),
        pl.col("products_owned").alias("_parent_products"),
    )
    kids = node.filter(pl.col("parent_id").is_not_null())
    by_parent = kids.group_by("parent_id").agg(
        pl.len().cast(pl.Float64).alias("children"),
        _count_where(~pl.col("is_customer")).cast(pl.Float64).alias("children_without_contract"),
        pl.col("is_customer").any().alias("_child_customer"),
        pl.col("products_owned")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .alias("_children_products"),
        pl.col("is_customer").cast(pl.Int64).sum().alias("_customer_children"),
    )
    out = (
        node.join(parents, on="parent_id", how="left")
        .join(by_parent.rename({"parent_id": "account"}), on="account", how="left")
        .join(
            by_parent.select(
                "parent_id",
                pl.col("_customer_children").alias("_sibling_customers"),
                pl.col("_children_products").alias("_sibling_products"),
            ),
            on="parent_id",
            how="left",
        )
    )
    empty = pl.lit([], dtype=pl.List(pl.String))
    sibling_customers = pl.col("_sibling_customers").fill_null(0) - pl.col("is_customer").cast(pl.Int64)
    group = (
        pl.col("_parent_products")
        .fill_null(empty)
        .list.concat(pl.col("_children_products").fill_null(empty))
        .list.concat(pl.col("_sibling_products").fill_null(empty))
        .list.unique()
        .list.set_difference(pl.col("products_owned"))
        .list.sort()
    )
    return out.select(
        "account",
        pl.col("parent_id").is_not_null().alias("has_parent"),
        pl.col("parent_is_customer"),
        "children",
        "children_without_contract",
        (
            pl.col("parent_is_customer").fill_null(False)
            | pl.col("_child_customer").fill_null(False)
            | (sibling_customers > 0)
        ).alias("group_customer"),
        group.alias("group_products"),
    )
