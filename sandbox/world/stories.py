"""The stories dealt to accounts, each naming the signals it makes true in the data."""

from __future__ import annotations

from typing import Final

STORIES: Final[dict[str, str]] = {
    # usage stories: one per customer, dealt from a deck
    "seats_near_limit": "S5: seats_used >= 80% of seats_limit (= Seats_Purchased__c / upsync_seats_purchased) "
    "on the last usage day; every other customer stays below 80%",
    "storage_near_limit": "S5: storage_used_gb >= 80% of storage_limit_gb on the last usage day",
    "api_near_limit": "S5: api_calls_used >= 80% of api_calls_limit on the last usage day",
    "wau_rising": "S1, S11: weekly_active_users up week over week for the whole window; health_rollup >= 75",
    "premium_interest": "S2, S8: premium_feature_views and pricing_page_views every day of the last 7; "
    "every other one also starts a trial (trials_started) in those days",
    "new_integration": "S7: integrations up by one or two within the last 30 days",
    "dormant": "S13: active users of the last 7 days below half of the first 14 days' level, "
    "and no activity (Task/Event, engagements) in the last 60 days",
    "onboarding_stalled": "S10: the only contract started 30–60 days ago and active users stay under 20% of seats",
    "onboarded": "S9: the only contract started 30–45 days ago; active users climb from ~10% of seats to over half",
    "churn_risk": "S18, G1, G5: tickets of the last 30 days >= 1.5× the 30 before, an open escalated case "
    "(Status Escalated / hs_ticket_priority URGENT), health_rollup < 40, usage falling",
    "steady": "no signal of its own: the background",
    # overlays, dealt on top of a usage story
    "stakeholder_growth": "S3: two contacts created in the last 30 days, one in a department the account had "
    "no contact in; that department appears in users_by_department in the same days",
    "qbr_due": "S17: the last 'Quarterly business review' meeting is more than 90 days old "
    "(other customers with meetings had one in the last 90 days)",
    "open_escalation": "G5: a seats_near_limit account with an open escalated case/URGENT ticket: ripe, but blocked",
    "do_not_contact": "G6: flagged do-not-contact in the CRM (Do_Not_Contact__c / do_not_contact): ripe, but "
    "blocked; one seats_near_limit account per block of 20 without open_escalation (every other account: false)",
    "detractor": "G1: NPS 3–5 (NPS__c / nps_score) on a seats_near_limit account: ripe, but blocked by loyalty "
    "first; one per block of 20, never one with open_escalation or do_not_contact",
    "renewal_due": "S4: the current contract ends within 90 days (ends are spread over the next year)",
    "group_child_without_contract": "S16: a child account (ParentId / company → parent 14) with no contract, "
    "Type Prospect / lifecyclestage lead or opportunity, and no workspace linked in the CRM; its team uses a "
    "free workspace (5 seats) the CRM does not know: usage rows of ws-<n+1> that match no account",
    "new_child_account": "S14: a child account created in the last 30 days",
    "co_purchase_target": "S15: owns Analytics Pro but not Custom Dashboards, while most owners of "
    "Analytics Pro bought Custom Dashboards",
    "churned": "M7, G9: a former customer, a standalone steady account in most blocks of 20: its last contract "
    "ended 25–144 days ago without renewal (the renewal deal lost), Type Other / lifecyclestage other, no seats "
    "purchased, every asset Obsolete, and its workspace back on the free tier",
    "inactive_owner": "routing: owned by the inactive owner (Salesforce IsActive false, HubSpot archived)",
}
"""Every story a world carries, with where it shows in the data. ``World.stories`` lists the accounts."""

USAGE_STORIES: Final = (
    "seats_near_limit",
    "storage_near_limit",
    "api_near_limit",
    "wau_rising",
    "premium_interest",
    "new_integration",
    "dormant",
    "onboarding_stalled",
    "onboarded",
    "churn_risk",
    "steady",
)
DECK: Final = (
    *("seats_near_limit",) * 5,
    "storage_near_limit",
    "api_near_limit",
    *("wau_rising",) * 2,
    *("premium_interest",) * 2,
    "new_integration",
    "dormant",
    "onboarding_stalled",
    "onboarded",
    "churn_risk",
    "steady",
)
"""17 cards for the standalone customers of a block of 20: a quarter of all accounts near their seat limit."""
BLOCK: Final = 20
NO_CONTRACT: Final = "group_child_without_contract"
NEW_CUSTOMER: Final = frozenset({"onboarding_stalled", "onboarded"})
NEEDS_ROOM: Final = frozenset({"wau_rising", "onboarded", "dormant", "churn_risk"})
"""Stories told by a trend in user counts: on a 10-seat plan integer rounding would flatten it."""
NPS: Final = {"churn_risk": (2.0, 6.0), "wau_rising": (8.0, 10.0), "onboarded": (8.0, 10.0)}
"""NPS roll-up range (0–10) by usage story where a customer answered surveys; any other story: 6–10."""
