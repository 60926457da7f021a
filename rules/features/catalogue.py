"""The feature catalogue: every base feature and weekly series, with its type, unit and meaning."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rules.expr import Schema, Type

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
            (
                "churned_on",
                D,
                "date",
                "not a customer any more: the day the last contract, asset or CRM contract end ran out "
                "(or a year after the last won deal); empty for a customer or an account that never was one",
            ),
            ("customer_since", D, "date", "start of the first activated contract (else the first won deal)"),
            ("days_since_start", N, "days", "days since customer_since"),
            ("contract_end", D, "date", "end of the current contract (the latest active one; else the CRM's field)"),
            ("next_renewal", D, "date", "the earliest end among active contracts (else the CRM's contract end field)"),
            ("days_to_renewal", N, "days", "days until next_renewal (negative once lapsed)"),
            ("active_contracts", N, "contracts", "contracts active today"),
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
added by the evaluation (see :mod:`rules.engine.evaluate`), which extends the schema with them."""

SERIES: tuple[Series, ...] = (
    Series("wau", "users", "weekly mean of daily weekly-active users"),
    Series("active_users", "users", "weekly mean of daily active users"),
    Series("seats_used", "seats", "weekly mean of seats in use"),
    Series("events", "events", "weekly mean of daily tracked feature events"),
    Series("tickets", "tickets", "tickets opened each week"),
    Series("activities", "activities", "activities each week"),
)


DAILY: tuple[Series, ...] = (
    Series("active_users", "users", "active users"),
    Series("wau", "users", "weekly active users"),
    Series("seats_used", "seats", "seats in use"),
    Series("storage_used_gb", "GB", "storage in use"),
    Series("api_calls_used", "calls", "API calls"),
    Series("integrations", "integrations", "active integrations"),
    Series("premium_views", "views", "premium-feature views"),
    Series("pricing_views", "views", "pricing or option page views"),
    Series("trials_started", "trials", "premium trials started"),
    Series("events", "events", "tracked feature events"),
    Series("seat_utilisation", "ratio", "seats_used / seat_limit (seats purchased, else that day's plan limit)"),
    Series("storage_utilisation", "ratio", "storage used / that day's storage limit"),
    Series("api_utilisation", "ratio", "API calls / that day's API limit"),
    Series("wau_ratio", "ratio", "wau / seat_limit (seats purchased, else that day's plan limit)"),
)
"""Metrics kept one value a day for ``ago``, ``delta``, ``change_over``, ``min_over``…, ``crossed_above``,
``crossed_below`` and ``streak``: a day without usage is unknown."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureParams:
    """``[features]`` in config.toml: the definitions an org tunes."""

    review_subject: str = r"(?i)\b(quarterly business review|business review|qbr)\b"
    exec_title: str = r"(?i)^(chief|c[a-z]{1,2}o\b|vp\b|vice president|head\b|director|general counsel|president)"
    activation_ratio: float = 0.4
    tracked: tuple[str, ...] = ("documents", "comments", "search", "reports", "analytics", "dashboards", "automations")
    escalation_priorities: tuple[str, ...] = ("URGENT",)
    series_weeks: int = 8
    series_days: int = 180
    """How far back a daily series function may look, in days (the usage read grows with it)."""
    activated_contract_statuses: tuple[str, ...] = ("Activated",)

    def __post_init__(self) -> None:
        if not 2 <= self.series_days <= 3650:
            raise ValueError(f"series_days must be from 2 to 3650, got {self.series_days}")


def feature_schema(params: FeatureParams, extra: Mapping[str, Type] | None = None) -> Schema:
    """The rule language's view of the features: names, types, series, trackable product features."""
    features = {f.name: f.type for f in FEATURES}
    if extra:
        features.update(extra)
    return Schema(
        features=features,
        series={s.name: params.series_weeks for s in SERIES} | {"health": params.series_weeks},
        tracked=params.tracked,
        daily=tuple(s.name for s in DAILY),
        series_days=params.series_days,
    )


USAGE_FEATURES = frozenset(f.name for f in FEATURES if f.group == "usage")
_USAGE_SERIES = (
    frozenset(s.name for s in SERIES if s.name not in ("tickets", "activities"))  # CRM counts, not usage
    | frozenset(s.name for s in DAILY)  # every daily series is usage (``name@d``)
    | {"health"}
)


def reads_usage(columns: Iterable[str], uses: Iterable[tuple[str, int]]) -> bool:
    """Whether an expression reading these feature ``columns`` (and ``uses()`` windows) reads usage:
    a usage feature, a weekly series, ``uses()`` or the health score (computed from usage)."""
    return bool(list(uses)) or any(
        c in USAGE_FEATURES or c.split("@", 1)[0] in _USAGE_SERIES or c.startswith("health") for c in columns
    )


def series_columns(name: str, weeks: int) -> list[str]:
    return [f"{name}@w{i}" for i in range(weeks)]
