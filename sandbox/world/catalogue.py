"""The product catalogue, plans and deal vocabulary, and how each CRM spells them."""

from __future__ import annotations

from typing import Final, NamedTuple

EMPLOYEES: Final = (20, 45, 80, 150, 300, 800, 2500)
PLANS: Final = ((0, 10), (1, 25), (2, 50), (2, 100), (3, 250))  # (edition, seats)
STORAGE_LIMIT_GB: Final = (50, 250, 1000, 5000)  # per edition
API_LIMIT: Final = (10_000, 50_000, 200_000, 1_000_000)  # calls per day, per edition
TIERS: Final = ("SMB", "Mid-Market", "Enterprise")  # an admin's own account tier picklist
TIER_OF_EDITION: Final = (0, 0, 1, 2)  # per edition: its index in TIERS
MRR_PER_SEAT: Final = (20, 30, 45, 60)  # per edition, a month: what the MRR roll-up sums
FREE_SEATS, FREE_STORAGE_GB, FREE_API_CALLS = 5, 5, 1_000  # the free tier, no contract needed


class _Product(NamedTuple):
    name: str
    code: str
    family: str
    price: int  # per seat and year when per_seat, else per unit and year
    per_seat: bool
    feature: str | None  # the usage feature it unlocks (feature_events key)


# Four families, as the Salesforce Product2.Family picklist has them.
PRODUCTS: Final = (
    _Product("Upsync Starter", "PLT-STARTER", "Platform", 96, True, None),
    _Product("Upsync Team", "PLT-TEAM", "Platform", 180, True, None),
    _Product("Upsync Business", "PLT-BUSINESS", "Platform", 300, True, None),
    _Product("Upsync Enterprise", "PLT-ENTERPRISE", "Platform", 480, True, None),
    _Product("Analytics Pro", "ADD-ANALYTICS", "Add-on", 60, True, "analytics"),
    _Product("Custom Dashboards", "ADD-DASHBOARDS", "Add-on", 36, True, "dashboards"),
    _Product("Workflow Automation", "ADD-AUTOMATION", "Add-on", 48, True, "automations"),
    _Product("Storage Plus", "ADD-STORAGE", "Add-on", 1_200, False, None),
    _Product("API Plus", "ADD-API", "Add-on", 2_400, False, None),
    _Product("Onboarding Package", "SRV-ONBOARDING", "Services", 3_000, False, None),
    _Product("Admin Training", "SRV-TRAINING", "Services", 1_500, False, None),
    _Product("Premium Support", "SUP-PREMIUM", "Support", 4_800, False, None),
)
ANALYTICS, DASHBOARDS = 4, 5
CROSS_SELL: Final = tuple(range(4, len(PRODUCTS)))
CORE_FEATURES: Final = ("documents", "comments", "search", "reports")
FEATURE_RATES: Final = {
    "documents": 3.0,
    "comments": 2.0,
    "search": 1.5,
    "reports": 0.6,
    "analytics": 0.5,
    "dashboards": 0.4,
    "automations": 0.8,
}

DEAL_NEW, DEAL_UPGRADE, DEAL_CROSS, DEAL_RENEWAL = 0, 1, 2, 3
# each kind's Opportunity Type / dealtype value is the org's: sandbox.world.variant.CrmVariant
OPEN_STAGES: Final = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
HS_STAGE: Final = {
    "Prospecting": "appointmentscheduled",
    "Qualification": "qualifiedtobuy",
    "Needs Analysis": "presentationscheduled",
    "Value Proposition": "presentationscheduled",
    "Proposal/Price Quote": "decisionmakerboughtin",
    "Negotiation/Review": "contractsent",
    "Closed Won": "closedwon",
    "Closed Lost": "closedlost",
}

HS_TICKET_STAGE: Final = {"New": "1", "Working": "3", "Escalated": "3", "Closed": "4"}
HS_PRIORITY: Final = {"High": "HIGH", "Medium": "MEDIUM", "Low": "LOW"}


def recurring(product: int) -> bool:
    """Billed every year while the customer stays (plans, add-ons, support); services are sold once."""
    return PRODUCTS[product].family != "Services"


def tier_of(edition: int) -> str:
    """The account's tier as an admin's picklist holds it."""
    return TIERS[TIER_OF_EDITION[edition]]


def mrr_of(edition: int, seats: int, customer: bool) -> float:
    """The MRR roll-up of an account's live subscription (0 for a prospect)."""
    return float(MRR_PER_SEAT[edition] * seats) if customer else 0.0
