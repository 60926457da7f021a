"""The canonical records of one account, from which each CRM's records are projected."""

from __future__ import annotations

from typing import NamedTuple

from sandbox.world.stories import NO_CONTRACT
from sandbox.world.vocabulary import FIXED_OWNERS


class Account:
    """One canonical customer: who it is, its story, and how many records of each kind it gets."""

    __slots__ = (
        "activities",
        "churn_day",
        "contacts",
        "contracts",
        "created",
        "csat",
        "deals",
        "domain",
        "employees",
        "health",
        "industry",
        "modified",
        "n",
        "name",
        "nps",
        "overlays",
        "owner",
        "parent",
        "seats",
        "story",
        "tickets",
        "tier",
        "workspace",
    )

    def __init__(self, n: int) -> None:
        self.n = n
        self.name = ""
        self.domain = ""
        self.industry = 0
        self.employees = 0
        self.owner = 0
        self.parent: int | None = None
        self.story = "steady"
        self.overlays: set[str] = set()
        self.tier = 0
        self.seats = 0
        self.workspace: str | None = None
        self.health = 0.0
        self.nps: float | None = None
        self.csat: float | None = None
        self.created = 0
        self.modified = 0
        self.contracts = self.deals = self.activities = self.contacts = self.tickets = 0
        self.churn_day: int | None = None  # a former customer: the day its last term ended

    @property
    def customer(self) -> bool:
        """It bought at some time (its contracts, deals and assets exist), paying or not now."""
        return self.story != NO_CONTRACT

    @property
    def paying(self) -> bool:
        """A customer whose last term has not ended: it pays today."""
        return self.customer and self.churn_day is None


class Contract(NamedTuple):
    start: int  # day
    end: int  # day (inclusive)
    term: int  # months
    status: str  # Salesforce Status
    created: int  # minute
    modified: int


class Deal(NamedTuple):
    kind: int  # _DEAL_*
    name: str
    stage: str  # Salesforce StageName
    close: int  # day
    amount: int
    created: int
    modified: int


class Line(NamedTuple):
    deal: int  # index into the bundle's deals
    product: int  # index into PRODUCTS
    quantity: int
    unit_price: int
    service: int  # day
    created: int
    modified: int


class Asset(NamedTuple):
    product: int
    quantity: int
    status: str
    purchased: int  # day
    installed: int | None
    usage_end: int | None
    created: int
    modified: int


class Contact(NamedTuple):
    first: str
    last: str
    email: str
    title: str
    department: str
    created: int
    modified: int


class Activity(NamedTuple):
    kind: str  # email, call, meeting, task, note
    subject: str
    when: int  # minute: due (task), start (meeting), sent/logged (others)
    created: int
    modified: int
    contact: int  # index into the bundle's contacts, -1 for none
    deal: int  # index into the bundle's deals, -1 for none
    done: bool
    priority: str  # High, Normal, Low
    variant: int  # kind-specific choice: call/email direction, meeting outcome, task type
    duration: int  # minutes (meetings, calls)


class Ticket(NamedTuple):
    subject: str
    status: str  # Salesforce Case Status
    priority: str  # High, Medium, Low
    escalated: bool
    origin: str
    created: int
    closed: int | None  # minute
    modified: int
    contact: int


class Subscription(NamedTuple):
    """What one customer pays for, as its story tells it: the world's own revenue truth
    (``sandbox/world/revenue.py``), told apart from the CRM records projected from the bundle."""

    start: int  # the first term's first day
    end: int  # the last activated term's last day (in the past for a former customer)
    seats: int
    plans: tuple[tuple[int, int], ...]  # (edition, since day), in order: one plan at a time
    addons: tuple[tuple[int, int, int], ...]  # (product, quantity, since day) of each recurring add-on


class Bundle(NamedTuple):
    """Everything one account owns, canonical: what both projections are made from."""

    contracts: list[Contract]
    deals: list[Deal]
    lines: list[Line]
    assets: list[Asset]
    contacts: list[Contact]
    activities: list[Activity]
    tickets: list[Ticket]
    contract_end: int | None  # the current contract's last day (the last one's, for a former customer)
    subscription: Subscription | None = None  # None: never bought, or no deal recorded it


def owner_email(first: str, last: str, i: int) -> str:
    """An owner's e-mail, the same in both CRMs; owners past the fixed cast carry their number."""
    suffix = "" if i < len(FIXED_OWNERS) - 1 else str(i)
    return f"{first.lower()}.{last.lower()}{suffix}@example.com"
