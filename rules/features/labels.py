"""Features in a rep's words: a short label and a display format for each, for task bodies. Pure.

A value list in a task says "seats in use: 9" and "seat use: 90%", not ``seats_used: 9.0`` nor
``seat_utilisation: 0.9``. The format follows the feature's unit in the catalogue (a ratio is a
percent, a count a whole number, a date a date, ``arr`` money); a value that is not known is left
out (a rep cannot act on "unknown"). An admin's CRM field (``crm.<name>``) shows the label the
CRM gave it when the pull read one, else its field name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

from rules.features.catalogue import FEATURES

__all__ = ["LABELS", "label_of", "shown", "value_list"]

LABELS: Mapping[str, str] = {
    "account_name": "account",
    "owner_id": "owner",
    "workspace_id": "workspace",
    "owner_active": "owner active",
    "industry": "industry",
    "account_type": "account type",
    "lifecycle_stage": "lifecycle stage",
    "employees": "employees",
    "account_created": "account created",
    "health_rollup": "health (CRM)",
    "nps": "NPS",
    "csat": "CSAT",
    "do_not_contact": "do not contact",
    "is_customer": "customer",
    "customer_since": "customer since",
    "days_since_start": "days as a customer",
    "contract_end": "contract ends",
    "days_to_renewal": "days to renewal",
    "next_renewal": "next renewal",
    "active_contracts": "active contracts",
    "churned_on": "churned on",
    "seats_purchased": "seats purchased",
    "arr": "annual revenue (ARR)",
    "open_deals": "open deals",
    "won_deals_365d": "deals won in 12 months",
    "lost_deals_90d": "deals lost in 90 days",
    "products_owned": "products owned",
    "products_count": "products owned (count)",
    "usage_day": "latest usage day",
    "active_users": "active users",
    "active_users_7d": "active users (7-day mean)",
    "active_users_30d": "active users (30-day mean)",
    "active_users_90d": "active users (90-day mean)",
    "usage_vs_90d": "usage against the 90-day mean",
    "users_growth_30d": "user growth in 30 days",
    "wau": "weekly active users",
    "wau_ratio": "weekly active users per seat",
    "seats_used": "seats in use",
    "seat_limit": "seat limit",
    "seat_utilisation": "seat use",
    "storage_used_gb": "storage used",
    "storage_utilisation": "storage use",
    "api_calls_used": "API calls a day",
    "api_utilisation": "API use",
    "max_utilisation": "highest plan limit use",
    "integrations": "integrations",
    "integrations_added_30d": "integrations added in 30 days",
    "premium_views_7d": "premium feature views in 7 days",
    "pricing_views_7d": "pricing page views in 7 days",
    "trials_30d": "premium trials in 30 days",
    "trial_started_at": "latest trial started",
    "events_7d": "feature events in 7 days",
    "events_per_user_week": "events per user a week",
    "departments": "departments using the product",
    "new_usage_departments_30d": "new departments using it in 30 days",
    "activation_rate": "activation",
    "activated": "activated",
    "contacts": "contacts",
    "contacts_added_30d": "contacts added in 30 days",
    "contact_growth_30d": "contact growth in 30 days",
    "contact_departments": "departments among contacts",
    "new_departments_30d": "new departments among contacts in 30 days",
    "exec_contacts": "executive contacts",
    "last_activity_at": "last activity",
    "activities_30d": "activities in 30 days",
    "activities_90d": "activities in 90 days",
    "meetings_90d": "meetings in 90 days",
    "exec_activities_90d": "activities with executives in 90 days",
    "last_review_at": "last business review",
    "tickets_30d": "tickets in 30 days",
    "tickets_prev_30d": "tickets in the 30 days before",
    "ticket_growth": "ticket growth",
    "open_tickets": "open tickets",
    "open_escalations": "open escalations",
    "employees_growth_180d": "employee growth in 180 days",
    "parent_changed_90d": "parent company changed in 90 days",
    "new_children_30d": "new subsidiaries in 30 days",
    "has_parent": "has a parent company",
    "parent_is_customer": "parent company is a customer",
    "children": "subsidiaries",
    "children_without_contract": "subsidiaries without a contract",
    "group_customer": "group company is a customer",
    "group_products": "products the group owns",
    "offers_30d": "upsync tasks in 30 days",
    "last_offer_at": "last upsync task",
    # added by the evaluation (rules.engine.ruleset EXTRA_FEATURES)
    "health": "health score",
    "health_band": "health",
    "health_usage": "health: usage",
    "health_adoption": "health: adoption",
    "health_support": "health: support",
    "health_executive": "health: executive contact",
    "health_progress": "health: progress",
    "copurchase_product": "product to offer",
    "copurchase_from": "bought first",
    "copurchase_confidence": "customers who added it",
    "copurchase_lift": "likelier than average",
    "copurchase_support": "accounts that made the pair",
    "copurchase_lag_days": "days between the two purchases",
    "copurchase_evidence": "co-purchase evidence",
    "group_product": "product the group owns",
    "lifecycle": "lifecycle",
    "signals_14d": "signals in 14 days",
}
"""Every catalogue feature's label (a test holds the catalogue to it); others read their name."""

_UNITS = {f.name: f.unit for f in FEATURES} | {
    "health": "points",
    **{f"health_{c}": "points" for c in ("usage", "adoption", "support", "executive", "progress")},
    "copurchase_confidence": "ratio",
    "copurchase_support": "ratio",
    "copurchase_lift": "x",
    "copurchase_lag_days": "days",
    "signals_14d": "rules",
}
_MONEY = frozenset({"arr"})


def label_of(name: str, crm_labels: Mapping[str, str] | None = None) -> str:
    """A feature's label: the catalogue's, the CRM's own for ``crm.<name>``, else its name in words."""
    if name in LABELS:
        return LABELS[name]
    if crm_labels and crm_labels.get(name):
        return crm_labels[name]
    if name.startswith("crm."):
        return name.removeprefix("crm.")
    return name.replace("_", " ")


def _number(value: float, unit: str, name: str) -> str:
    if name in _MONEY:
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.0%}"
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "GB":
        return f"{value:,.1f} GB"
    if unit == "x":
        return f"{value:.1f}×"
    if unit in ("0-10", "events/user"):
        return f"{value:,.1f}".removesuffix(".0")
    if unit:  # a count: seats, users, days, points, tickets...
        return f"{round(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _date(text: str) -> str:
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return text
    return f"{day.day} {day:%b %Y}"


def shown(name: str, value: float | int | str | None) -> str | None:
    """``value`` as a rep reads it, in the feature's format; None when it is not known."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    unit = _UNITS.get(name, "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _number(float(value), unit, name)
    text = str(value)
    if not text.strip():
        return None
    return _date(text) if unit == "date" else text


def value_list(
    evidence: Mapping[str, float | int | str | None], crm_labels: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(label, shown value) of each known value, in the evidence's order."""
    out = []
    for name, value in evidence.items():
        text = shown(name, value)
        if text is not None:
            out.append((label_of(name, crm_labels), text))
    return out
