"""Every feature for every account in one vectorised pass over the stored tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import polars as pl

from core.tables import Tables
from rules.features.catalogue import FEATURES, FeatureParams, series_columns
from rules.features.crm import crm_columns
from rules.features.daily import per_seat_series
from rules.features.products import contract_terms, deal_features, ownership_features, product_patterns
from rules.features.usage import usage_features
from rules.features.window import count_where, day_span, ratio


def compute(
    tables: Tables,
    *,
    as_of: datetime,
    params: FeatureParams,
    uses: Iterable[tuple[str, int]] = (),
    products: Iterable[str] = (),
    daily: Mapping[str, int] | None = None,
    crm: Mapping[str, str | None] | None = None,
) -> pl.DataFrame:
    """Every base feature for every account live at ``as_of``: one row per account, key ``account``.

    ``uses`` lists the ``uses(feature, days)`` windows the rules asked for (columns
    ``uses:<feature>:<days>d``), ``products`` the product name patterns of ``owns()`` and
    ``acquired()`` (columns ``owns:<pattern>``, ``acquired:<pattern>``), ``daily`` the daily series
    and the days of each they read (list columns ``<name>@d``, at least that many days long). The
    frame also carries ``_today`` (the as-of date, for ``days_since``) and the weekly series
    columns; ``crm``: the admin's CRM fields (feature → CRM type), columns ``crm.<name>`` of those
    whose type is known.
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
        *crm_columns(crm or {}),
    )
    owners = t.owners.select(pl.col("crm_id").alias("owner_id"), pl.col("active").alias("owner_active"))
    out = base.join(owners, on="owner_id", how="left")
    out = out.join(contract_terms(t, today, params), on="account", how="left")
    out = out.join(deal_features(t, today), on="account", how="left")
    out = out.join(ownership_features(t, as_of), on="account", how="left")
    out = out.join(usage_features(t, as_of, params, uses, daily or {}), on="workspace_id", how="left")
    out = out.join(_contacts(t, as_of, params), on="account", how="left")
    out = out.join(_activities(t, as_of, params), on="account", how="left")
    out = out.join(_tickets(t, as_of, params), on="account", how="left")
    out = out.join(_life_events(t, as_of), on="account", how="left")
    out = out.join(_offers(t, as_of), on="account", how="left")
    patterns = product_patterns(t, as_of, products)
    if patterns is not None:
        out = out.join(patterns, on="account", how="left").with_columns(
            [pl.col(c).fill_null(False) for c in patterns.columns if c.startswith("owns:")]
        )

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
        "active_contracts",
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
        pl.coalesce(pl.col("_next_contract_end"), pl.col("_crm_contract_end")).alias("next_renewal"),
    )
    out = out.with_columns(
        *per_seat_series(daily or {}),
        ratio(pl.col("seats_used"), pl.col("seat_limit")).alias("seat_utilisation"),
        ratio(pl.col("wau"), pl.col("seat_limit")).alias("wau_ratio"),
        ratio(pl.col("wau"), pl.col("seat_limit")).alias("activation_rate"),
        (pl.col("next_renewal") - pl.lit(today)).dt.total_days().cast(pl.Float64).alias("days_to_renewal"),
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
    # a former customer: whatever made it one ran out; the latest of those ends is when it churned
    ends = pl.max_horizontal(
        "_last_contract_end",
        "_crm_contract_end",
        pl.col("_last_won") + pl.duration(days=365),
        "_last_asset_end",
    )
    out = out.with_columns(pl.when(~pl.col("is_customer")).then(ends).alias("churned_on"))
    out = out.with_columns(
        pl.max_horizontal("seat_utilisation", "storage_utilisation", "api_utilisation").alias("max_utilisation"),
        (pl.col("activation_rate") >= params.activation_ratio).alias("activated"),
        ratio(pl.col("contacts_added_30d"), pl.col("contacts") - pl.col("contacts_added_30d")).alias(
            "contact_growth_30d"
        ),
        ratio(pl.col("tickets_30d") - pl.col("tickets_prev_30d"), pl.col("tickets_prev_30d")).alias("ticket_growth"),
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
    keep += [c for c in out.columns if "@w" in c or c.startswith(("uses:", "crm.", "owns:", "acquired:"))]
    keep += [c for c in out.columns if c.endswith("@d") and not c.startswith("_")]
    return out.select(keep).sort("account")


def _contacts(t: Tables, as_of: datetime, params: FeatureParams) -> pl.DataFrame:
    c = t.contacts.filter(pl.col("created_at").is_null() | (pl.col("created_at") <= as_of))
    recent = (pl.col("created_at") > as_of - day_span(30)).fill_null(False)
    department = pl.col("department")
    return (
        c.group_by("account_id")
        .agg(
            pl.len().cast(pl.Float64).alias("contacts"),
            count_where(recent).cast(pl.Float64).alias("contacts_added_30d"),
            department.drop_nulls().n_unique().cast(pl.Float64).alias("contact_departments"),
            department.filter(recent).drop_nulls().unique().alias("_new_depts"),
            department.filter(~recent).drop_nulls().unique().alias("_old_depts"),
            count_where(pl.col("title").fill_null("").str.contains(params.exec_title))
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
        count_where(age < 30).cast(pl.Float64).alias("activities_30d"),
        count_where(age < 90).cast(pl.Float64).alias("activities_90d"),
        count_where(meeting & (age < 90)).cast(pl.Float64).alias("meetings_90d"),
        count_where(pl.col("_exec").fill_null(False) & (age < 90)).cast(pl.Float64).alias("exec_activities_90d"),
        pl.col("activity_at").filter(review).max().dt.date().alias("last_review_at"),
    ]
    for i in range(params.series_weeks):
        aggs.append(count_where((age >= 7 * i) & (age < 7 * (i + 1))).cast(pl.Float64).alias(f"activities@w{i}"))
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
        count_where(age < 30).cast(pl.Float64).alias("tickets_30d"),
        count_where((age >= 30) & (age < 60)).cast(pl.Float64).alias("tickets_prev_30d"),
        count_where(is_open).cast(pl.Float64).alias("open_tickets"),
        count_where(is_open & escalated).cast(pl.Float64).alias("open_escalations"),
    ]
    for i in range(params.series_weeks):
        aggs.append(count_where((age >= 7 * i) & (age < 7 * (i + 1))).cast(pl.Float64).alias(f"tickets@w{i}"))
    return k.group_by("account_id").agg(aggs).rename({"account_id": "account"})


def _life_events(t: Tables, as_of: datetime) -> pl.DataFrame:
    e = t.account_events.filter(pl.col("changed_at") <= as_of)
    employees = (
        e.filter((pl.col("field") == "employees") & (pl.col("changed_at") > as_of - day_span(180)))
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
        e.filter((pl.col("field") == "parent_id") & (pl.col("changed_at") > as_of - day_span(90)))
        .group_by("account_id")
        .agg(pl.lit(True).alias("parent_changed_90d"))
    )
    children = (
        t.accounts.filter(
            pl.col("parent_id").is_not_null()
            & (pl.col("created_at") <= as_of)
            & (pl.col("created_at") > as_of - day_span(30))
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
        ratio(current - pl.col("_employees_before"), pl.col("_employees_before")).alias("employees_growth_180d"),
        "parent_changed_90d",
        "new_children_30d",
    )


def _offers(t: Tables, as_of: datetime) -> pl.DataFrame:
    led = t.ledger.filter(pl.col("created_at") <= as_of)
    return (
        led.group_by("account_id")
        .agg(
            count_where(pl.col("created_at") > as_of - day_span(30)).cast(pl.Float64).alias("offers_30d"),
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
        count_where(~pl.col("is_customer")).cast(pl.Float64).alias("children_without_contract"),
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
