"""What each account bought and owns as of a moment: contracts, won deals, purchases, current products."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

import polars as pl

from core.tables import Tables
from rules.features.catalogue import FeatureParams
from rules.features.window import count_where, day_span


def _terms(t: Tables, today: date, params: FeatureParams) -> pl.DataFrame:
    """Every contract term: (account_id, start_date, end_date, activated). Contracts (Salesforce),
    and the terms of won deals' recurring line items (HubSpot keeps no contract object)."""
    contracts = t.contracts.select(
        "account_id",
        "start_date",
        "end_date",
        pl.col("status").is_in(list(params.activated_contract_statuses)).fill_null(False).alias("activated"),
    )
    won = won_deals(t, today).select(pl.col("crm_id").alias("opportunity_id"), "account_id")
    lines = (
        t.line_items.filter(pl.col("term_end").is_not_null())
        .join(won, on="opportunity_id")
        .select("account_id", pl.col("term_start").alias("start_date"), pl.col("term_end").alias("end_date"))
        .unique()
        .with_columns(pl.lit(True).alias("activated"))
    )
    return pl.concat([contracts, lines])


def contract_terms(t: Tables, today: date, params: FeatureParams) -> pl.DataFrame:
    c = _terms(t, today, params).filter(pl.col("start_date").is_not_null() & (pl.col("start_date") <= today))
    activated = pl.col("activated")
    active = activated & (pl.col("end_date").is_null() | (pl.col("end_date") >= today))
    return (
        c.group_by("account_id")
        .agg(
            pl.col("start_date").filter(activated).min().alias("_first_start"),
            count_where(active).gt(0).alias("_active_contract"),
            pl.col("end_date").filter(active).max().alias("_active_contract_end"),
            pl.col("end_date").filter(active).min().alias("_next_contract_end"),
            count_where(active).cast(pl.Float64).alias("active_contracts"),
            pl.col("end_date").filter(activated).max().alias("_last_contract_end"),
        )
        .rename({"account_id": "account"})
    )


def won_deals(t: Tables, today: date) -> pl.DataFrame:
    return t.opportunities.filter(
        pl.col("is_won").fill_null(False) & pl.col("close_date").is_not_null() & (pl.col("close_date") <= today)
    )


def deal_features(t: Tables, today: date) -> pl.DataFrame:
    o = t.opportunities
    created = pl.col("created_at").dt.date()
    closed = pl.col("is_closed").fill_null(False) & (pl.col("close_date") <= today)
    won = closed & pl.col("is_won").fill_null(False)
    lost = closed & ~pl.col("is_won").fill_null(False)
    open_ = (created <= today) & ~closed
    recent = pl.col("close_date") > today - day_span(365)
    return (
        o.group_by("account_id")
        .agg(
            count_where(open_).cast(pl.Float64).alias("open_deals"),
            count_where(won & recent).cast(pl.Float64).alias("won_deals_365d"),
            count_where(lost & (pl.col("close_date") > today - day_span(90))).cast(pl.Float64).alias("lost_deals_90d"),
            pl.col("amount").filter(won & recent).sum().alias("arr"),
            pl.col("close_date").filter(won).min().alias("_first_won"),
            pl.col("close_date").filter(won).max().alias("_last_won"),
        )
        .rename({"account_id": "account"})
    )


def purchases(tables: Tables, *, as_of: datetime) -> pl.DataFrame:
    """Every purchase known at ``as_of``: (account, product name, at). Won deals' line items (at the
    close date) and assets (at the purchase date): what co-purchase mining reads."""
    t = tables.checked()
    today = as_of.date()
    names = t.products.select(pl.col("crm_id").alias("product_id"), pl.col("name").alias("product"))
    won = won_deals(t, today).select(
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


def is_current_asset(today: date) -> pl.Expr:
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
    current = is_current_asset(today)
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
    won = won_deals(t, today).select(pl.col("crm_id").alias("opportunity_id"), pl.col("account_id").alias("account"))
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


def ownership_features(t: Tables, as_of: datetime) -> pl.DataFrame:
    today = as_of.date()
    owned = owned_products(t, as_of=as_of)
    current_asset = t.assets.filter(is_current_asset(today))
    ended = (
        t.assets.filter(pl.col("purchase_date") <= today)
        .group_by("account_id")
        .agg(pl.col("usage_end_date").max().alias("_last_asset_end"))
        .rename({"account_id": "account"})
    )
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
        .join(ended, on="account", how="full", coalesce=True)
        .with_columns(pl.col("_active_asset").fill_null(False))
    )


def pattern_regex(pattern: str) -> str:
    """A product name pattern as a whole-text, case-insensitive regex: ``*`` any text, ``?`` one
    character, everything else literal (``Accounting*`` matches "Accounting Pro", not "Payroll")."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.strip()]
    return "(?is)^" + "".join(parts) + "$"


def product_patterns(t: Tables, as_of: datetime, patterns: Iterable[str]) -> pl.DataFrame | None:
    """Per account, for each pattern: ``owns:<pattern>`` (a product it owns now matches by name or
    family) and ``acquired:<pattern>`` (the first purchase of such a product it still owns).

    An owned product without a purchase date (an asset the CRM holds undated) counts as owned
    with an unknown acquisition date; a product no longer owned counts for neither."""
    wanted = sorted(set(patterns))
    if not wanted:
        return None
    families = (
        t.products.select("name", "family")
        .filter(pl.col("name").is_not_null())
        .group_by("name")
        .agg(pl.col("family").drop_nulls().first())
        .rename({"name": "product"})
    )
    owned = owned_products(t, as_of=as_of).join(families, on="product", how="left")
    bought = purchases(t, as_of=as_of).group_by("account", "product").agg(pl.col("at").min())
    owned = owned.join(bought, on=["account", "product"], how="left")
    aggs: list[pl.Expr] = []
    for pattern in wanted:
        regex = pattern_regex(pattern)
        hit = pl.col("product").str.contains(regex) | pl.col("family").fill_null("").str.contains(regex)
        aggs.append(hit.any().alias(f"owns:{pattern}"))
        aggs.append(pl.col("at").filter(hit).min().alias(f"acquired:{pattern}"))
    return owned.group_by("account").agg(aggs)
