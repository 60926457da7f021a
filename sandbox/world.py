"""The sandbox's sample world: one deterministic set of customers served by every stand-in.

The same companies exist in the Salesforce stand-in (as Accounts), in the HubSpot stand-in
(as companies) and in the usage API (as workspaces), so a demo or a test against either CRM
sees the same story. Everything is derived from ``seed`` and ``anchor`` (the sandbox's
"today"), so two worlds built with the same arguments are identical, and a world built for
``--as-of 2026-06-01`` has renewals, modstamps and usage relative to that day.

The stores are plain dictionaries behind one lock: the stand-ins read and mutate them, and
tests inspect them directly (``world.salesforce.objects["Task"]``).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "SANDBOX_TOKENS",
    "AuthState",
    "HubSpotStore",
    "SalesforceStore",
    "UsageStore",
    "World",
    "build_world",
    "hs_time",
    "sf_date",
    "sf_time",
]

_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Massive",
    "Dynamic",
    "Gringotts",
    "Oscorp",
    "Pied",
    "Piper",
    "Aperture",
    "Black",
    "Mesa",
    "Nakatomi",
    "Monarch",
    "Vehement",
    "Duff",
    "Krusty",
    "Ollivander",
    "Sirius",
    "Planet",
    "Express",
    "Blue",
    "Sun",
    "Nuka",
    "Rekall",
    "Oceanic",
    "Dunder",
    "Mifflin",
    "Sakura",
    "Fuji",
    "Hikari",
    "Kumo",
    "Midori",
    "Tsubasa",
    "Yamato",
    "Kaze",
    "Hoshi",
    "Sora",
)
_SUFFIXES = ("Corp", "Inc", "KK", "GmbH", "Ltd", "Labs", "Systems", "Holdings", "Group", "Works")
_INDUSTRIES = ("Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Education", "Logistics")
_PLANS = (("starter", 10), ("team", 25), ("business", 50), ("business", 100), ("enterprise", 250))
_OWNERS = (
    ("Aiko Tanaka", True),
    ("Ben Carter", True),
    ("Chiara Rossi", True),
    ("Daisuke Mori", True),
    ("Elena Novak", True),
    ("Farid Haddad", True),
    ("Grace Kim", True),
    ("Hiro Sato", False),  # left the company: routing must not assign to an inactive owner
)


SANDBOX_TOKENS = {
    "salesforce": "sandbox-salesforce-token",
    "hubspot": "sandbox-hubspot-token",
    "usage": "sandbox-usage-token",
}
"""Not secrets: the fixed tokens of the local stand-ins, printed by `upsync sandbox`."""


def sf_time(at: datetime) -> str:
    """Salesforce REST datetime format, e.g. ``2026-11-23T09:15:00.000+0000``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def sf_date(day: date) -> str:
    return day.isoformat()


def hs_time(at: datetime) -> str:
    """HubSpot ISO-8601 datetime with milliseconds and ``Z``, e.g. ``2026-11-23T09:15:00.000Z``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce-shaped id with the object's key prefix (001 Account, 005 User…)."""
    return f"{prefix}Dn000{n:07d}AAA"[:18]


@dataclass
class AuthState:
    """One system's credentials: which access tokens are valid now, and how to get new ones.

    Stand-ins accept ``Authorization: Bearer <t>`` for ``t in access_tokens``. Tests expire
    sessions with ``expire()``; the OAuth token endpoints (refresh-token and client-credentials
    grants) call ``issue()``.
    """

    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=lambda: {"sandbox-refresh-token"})
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    issued: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def valid(self, token: str | None) -> bool:
        with self.lock:
            return token is not None and token in self.access_tokens

    def issue(self) -> str:
        with self.lock:
            self.issued += 1
            token = f"sandbox-access-{self.issued}-{time.monotonic_ns() % 1_000_000_007}"
            self.access_tokens.add(token)
            return token

    def expire(self) -> None:
        """Every access token stops working (a session timeout, a revoked token)."""
        with self.lock:
            self.access_tokens.clear()


@dataclass
class SalesforceStore:
    """sObject name → Id → field values (REST JSON shapes: datetimes as strings)."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    integration_user_id: str = ""
    # Hard deletes (emptied recycle bin): gone from queryAll, still listed by /sobjects/{o}/deleted.
    deleted_log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def new_id(self, prefix: str) -> str:
        with self.lock:
            n = self.counters.get(prefix, 0) + 1
            self.counters[prefix] = n
            return sf_id(prefix, n)

    def table(self, sobject: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self.objects.setdefault(sobject, {})


@dataclass
class HubSpotStore:
    """Object type (``companies``, ``tasks``, ``owners``…) → id → object.

    An object is ``{"id", "properties": {...}, "createdAt", "updatedAt", "archived",
    "archivedAt"}``; associations are kept apart as ``(from_type, from_id, to_type) → [(to_id,
    type_id)]``, as HubSpot's v4 associations API models them.
    """

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    associations: dict[tuple[str, str, str], list[tuple[str, int]]] = field(default_factory=dict)
    next_id: int = 20_000_000_001
    lock: threading.RLock = field(default_factory=threading.RLock)

    def new_id(self) -> str:
        with self.lock:
            n = self.next_id
            self.next_id += 1
            return str(n)

    def table(self, object_type: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self.objects.setdefault(object_type, {})

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        with self.lock:
            self.associations.setdefault((from_type, from_id, to_type), []).append((to_id, type_id))


@dataclass
class UsageStore:
    """Daily usage rows of the product usage API, one per (workspace_id, date)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass
class World:
    seed: int
    anchor: datetime
    salesforce: SalesforceStore
    hubspot: HubSpotStore
    usage: UsageStore
    # The bearer tokens the stand-ins accept; anything else gets the real 401 body.
    tokens: dict[str, str] = field(default_factory=lambda: dict(SANDBOX_TOKENS))
    auth: dict[str, AuthState] = field(
        default_factory=lambda: {name: AuthState(access_tokens={token}) for name, token in SANDBOX_TOKENS.items()}
    )
    started: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        """The stand-ins' server clock: ``anchor`` plus the real time elapsed since the build.

        Writes are stamped with it, so records written during a run sort after the seeded ones.
        """
        return self.anchor + timedelta(seconds=time.monotonic() - self.started)


def build_world(*, seed: int = 7, accounts: int = 300, anchor: datetime, usage_days: int = 35) -> World:
    """Build the seeded sample world with ``accounts`` customers as of ``anchor`` (tz-aware UTC).

    About a quarter of the customers use 80% or more of their purchased seats on the last day
    of usage, so rule S5 has something to find; every record's modstamp lies before ``anchor``.
    """
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    anchor = anchor.astimezone(timezone.utc)
    rng = random.Random(seed)
    sf = SalesforceStore()
    hs = HubSpotStore()
    usage = UsageStore()

    sf_users = sf.table("User")
    hs_owners = hs.table("owners")
    owner_pairs: list[tuple[str, str]] = []
    for i, (name, active) in enumerate(_OWNERS):
        first, last = name.split(" ", 1)
        email = f"{first.lower()}.{last.lower()}@example.com"
        uid = sf.new_id("005")
        sf_users[uid] = {
            "Id": uid,
            "Name": name,
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "IsActive": active,
            "SystemModstamp": sf_time(anchor - timedelta(days=400 - i)),
        }
        hid = str(70_000_001 + i)
        hs_owners[hid] = {
            "id": hid,
            "email": email,
            "firstName": first,
            "lastName": last,
            "userId": 9_000_001 + i,
            "createdAt": hs_time(anchor - timedelta(days=400 - i)),
            "updatedAt": hs_time(anchor - timedelta(days=30 + i)),
            "archived": not active,
            "teams": [],
        }
        owner_pairs.append((uid, hid))
    active_owner_count = sum(1 for _, active in _OWNERS if active)
    # The API user that the sandbox token belongs to: CreatedById/LastModifiedById of upsync's writes.
    integration_id = sf.new_id("005")
    sf_users[integration_id] = {
        "Id": integration_id,
        "Name": "Upsync Integration",
        "FirstName": "Upsync",
        "LastName": "Integration",
        "Email": "upsync-integration@example.com",
        "IsActive": True,
        "SystemModstamp": sf_time(anchor - timedelta(days=500)),
    }
    sf.integration_user_id = integration_id

    sf_accounts = sf.table("Account")
    sf_contracts = sf.table("Contract")
    hs_companies = hs.table("companies")
    usage_rows = usage.rows
    hs.next_id = 10_000_000_001
    for n in range(accounts):
        name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIXES)}"
        slug = name.lower().replace(" ", "-")
        domain = f"{slug}-{n}.example.com"
        workspace_id = f"ws-{n + 1:05d}"
        owner_idx = n % active_owner_count if n % 17 else len(_OWNERS) - 1  # a few with the inactive owner
        sf_owner, hs_owner = owner_pairs[owner_idx]
        _plan, seats = rng.choice(_PLANS)
        created = anchor - timedelta(days=rng.randint(60, 1400), minutes=rng.randint(0, 1439))
        modified = anchor - timedelta(days=rng.randint(1, 50), seconds=rng.randint(0, 86_399))
        employees = rng.choice((20, 45, 80, 150, 300, 800, 2500))
        industry = rng.choice(_INDUSTRIES)

        acc_id = sf.new_id("001")
        sf_accounts[acc_id] = {
            "Id": acc_id,
            "Name": name,
            "OwnerId": sf_owner,
            "Website": f"https://www.{domain}",
            "Industry": industry,
            "NumberOfEmployees": employees,
            "Type": "Customer",
            "ParentId": None,
            "Workspace_Id__c": workspace_id,
            "Seats_Purchased__c": seats,
            "CreatedDate": sf_time(created),
            "LastModifiedDate": sf_time(modified),
            "SystemModstamp": sf_time(modified),
            "IsDeleted": False,
        }
        start = (created + timedelta(days=1)).date()
        term = 12
        end = start
        while end <= anchor.date():  # the contract that is active today
            start, end = end, date(end.year + 1, end.month, min(end.day, 28))
        contract_id = sf.new_id("800")
        sf_contracts[contract_id] = {
            "Id": contract_id,
            "AccountId": acc_id,
            "Status": "Activated",
            "StatusCode": "Activated",
            "StartDate": sf_date(start),
            "EndDate": sf_date(end - timedelta(days=1)),
            "ContractTerm": term,
            "CreatedDate": sf_time(created),
            "LastModifiedDate": sf_time(modified),
            "SystemModstamp": sf_time(modified),
            "IsDeleted": False,
        }

        company_id = hs.new_id()
        hs_companies[company_id] = {
            "id": company_id,
            "properties": {
                "hs_object_id": company_id,
                "name": name,
                "domain": domain,
                "hubspot_owner_id": hs_owner,
                "industry": industry.upper(),
                "numberofemployees": str(employees),
                "lifecyclestage": "customer",
                "workspace_id": workspace_id,
                "upsync_seats_purchased": str(seats),
                "createdate": hs_time(created),
                "hs_lastmodifieddate": hs_time(modified),
            },
            "createdAt": hs_time(created),
            "updatedAt": hs_time(modified),
            "archived": False,
            "archivedAt": None,
        }

        # Usage: a seat curve that ends near, under or over the 80% line.
        target = rng.choice((0.3, 0.35, 0.5, 0.6, 0.65, 0.7, 0.75, 0.82, 0.9, 0.97))
        for d in range(usage_days, 0, -1):
            day = (anchor - timedelta(days=d)).date()
            progress = (usage_days - d + 1) / usage_days
            used = max(1, round(seats * target * (0.85 + 0.15 * progress)))
            if d == 1:
                used = max(1, round(seats * target))
            active_users = max(1, round(used * rng.uniform(0.55, 0.95)))
            updated = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc) + timedelta(
                minutes=rng.randint(5, 180)
            )
            if updated >= anchor:
                updated = anchor - timedelta(minutes=1)
            usage_rows.append(
                {
                    "workspace_id": workspace_id,
                    "date": day.isoformat(),
                    "active_users": active_users,
                    "seats_used": used,
                    "seats_limit": seats,
                    "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
    usage_rows.sort(key=lambda r: (r["updated_at"], r["workspace_id"], r["date"]))
    hs.next_id = 30_000_000_001  # ids of objects created at run time (tasks) stand apart from seeded ones
    return World(seed=seed, anchor=anchor, salesforce=sf, hubspot=hs, usage=usage)
