"""The sandbox's sample world: one deterministic set of customers served by every stand-in.

The same customers exist in the Salesforce stand-in (Accounts and everything hanging off them),
in the HubSpot stand-in (companies, contacts, deals, engagements…) and in the usage API (as
workspaces), so a demo, an e2e test or a benchmark against either CRM sees the same story. Each
customer is generated once, as canonical records (``_Bundle``), and *projected* into each store
that was asked for; the random stream is consumed only by the canonical generation, so a world
built with ``systems=("hubspot",)`` holds exactly the HubSpot half of the two-system world. Facts
added later (NPS, CSAT, the do_not_contact and detractor overlays) come from a hash of the seed and
the account number instead, so they left every value the stream gives a seed's world unchanged.

Everything is derived from ``seed``, the volumes and ``anchor`` (the sandbox's "today"), so two
worlds built with the same arguments are identical, and a world built for ``--as-of 2026-06-01``
has renewals, modstamps and usage relative to that day. Every modstamp lies before ``anchor``.

Why the customers look the way they do: upsync exists to find accounts that are ripe for an
upsell, a cross-sell or a save (``/work/shared/DOMAIN.md``, signals S1–S18 and guards G1–G8).
Each account is dealt a *story* that makes one or more of those signals true in the data (see
:data:`STORIES`), from a shuffled deck per block of 20 accounts, so every story is present in any
world of a few blocks and stories stay evenly spread at any size. ``world.stories`` is the
answer key: story → account numbers; ``world.account_keys[n]`` gives an account's ids.

Volumes are configurable (:class:`Volumes`) so the same generator serves the demo (300 accounts,
well under a second) and the benchmarks (100k accounts, 300k contracts and deals, 1M activities,
3M usage rows in one CRM). Large worlds stay compact: repeated strings (timestamps, dates,
picklist values, ids used as references) are shared objects, timestamps fall on whole minutes,
and usage rows are computed on read (:class:`UsageRows`) instead of being stored.

The stores are plain dictionaries behind one lock each: the stand-ins read and mutate them, and
tests inspect them directly (``world.salesforce.objects["Task"]``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, NamedTuple, SupportsIndex, overload

__all__ = [
    "SANDBOX_TOKENS",
    "STORIES",
    "SYSTEMS",
    "AccountKey",
    "AuthState",
    "HubSpotStore",
    "ItemFault",
    "SalesforceStore",
    "UsageRows",
    "UsageStore",
    "Volumes",
    "World",
    "build_world",
    "hs_time",
    "sf_date",
    "sf_id",
    "sf_time",
    "take_item_fault",
]

SYSTEMS: Final = ("salesforce", "hubspot")
"""The CRMs a world can hold; the usage API's rows are always built."""

SANDBOX_TOKENS = {
    "salesforce": "sandbox-salesforce-token",
    "hubspot": "sandbox-hubspot-token",
    "usage": "sandbox-usage-token",
}
"""Not secrets: the fixed tokens of the local stand-ins, printed by `upsync sandbox`."""


# --- formats ---------------------------------------------------------------------------------


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


# --- stores ----------------------------------------------------------------------------------


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
class ItemFault:
    """One record-level refusal a test armed (``sandbox.salesforce.refuse_items``,
    ``sandbox.hubspot.refuse_items``): the next ``times`` records of ``object_type`` (any type
    when None) whose written values match ``predicate`` are refused with ``code``/``message``,
    while the rest of their batch is written. The values are the record as the request sent
    them (canonical field names), with its id when the write names one."""

    predicate: Callable[[Mapping[str, Any]], bool]
    code: str
    message: str
    times: int = 1
    object_type: str | None = None


def take_item_fault(
    faults: list[ItemFault], lock: threading.RLock, object_type: str, values: Mapping[str, Any]
) -> ItemFault | None:
    """The first armed fault matching this record, counted down (and dropped when spent)."""
    with lock:
        for fault in faults:
            if fault.object_type not in (None, object_type) or not fault.predicate(values):
                continue
            fault.times -= 1
            if fault.times <= 0:
                faults.remove(fault)
            return fault
    return None


@dataclass
class SalesforceStore:
    """sObject name → Id → field values (REST JSON shapes: datetimes as strings)."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    integration_user_id: str = ""
    # Hard deletes (emptied recycle bin): gone from queryAll, still listed by /sobjects/{o}/deleted.
    deleted_log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Test hooks: per-record refusals (sandbox.salesforce.refuse_items) and fields an admin
    # deleted from the org, as (sObject, field) (sandbox.salesforce.remove_field).
    item_faults: list[ItemFault] = field(default_factory=list)
    removed_fields: set[tuple[str, str]] = field(default_factory=set)

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
    type_id)]``, as HubSpot's v4 associations API models them. The seeded world stores each
    association once, in the direction connectors/OBJECTS.md reads it (contact → company 1,
    deal → company 5, task → company 192, child company → parent 14…); the stand-in answers
    reads from the other side itself.
    """

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    associations: dict[tuple[str, str, str], list[tuple[str, int]]] = field(default_factory=dict)
    next_id: int = 20_000_000_001
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Test hook: per-input refusals of batch writes (sandbox.hubspot.refuse_items).
    item_faults: list[ItemFault] = field(default_factory=list)

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


USAGE_FIELDS: Final = (
    "workspace_id",
    "date",
    "active_users",
    "weekly_active_users",
    "seats_used",
    "seats_limit",
    "storage_used_gb",
    "storage_limit_gb",
    "api_calls_used",
    "api_calls_limit",
    "integrations",
    "premium_feature_views",
    "trials_started",
    "pricing_page_views",
    "feature_events",
    "users_by_department",
    "updated_at",
)
"""The keys of every seeded usage row: the canonical metrics of connectors/OBJECTS.md, plus the row key."""


class _UsageRow(dict[str, Any]):
    """A usage row handed out by :class:`UsageRows`: a plain dict that remembers where it came from.

    Seeded rows are computed on every read, so a caller that edits the dict it got (a late
    correction in a test: ``row["updated_at"] = …``) would otherwise edit a throw-away copy. The
    first write *pins* this dict as the row, so later reads return it and the edit sticks, and
    every write moves ``UsageRows.version`` so indexes over the rows know to rebuild. (A second
    copy read before the first was written stays a copy: read, write, read again.) Writes
    are seen through ``row[k] = v``, ``del``, ``update``, ``pop``, ``popitem``, ``setdefault`` and
    ``clear`` (not ``|=``); nested dicts (``feature_events``, ``users_by_department``) are fresh per
    read: to change one, assign the key.
    """

    __slots__ = ("_owner", "_slot")

    def __init__(self, values: dict[str, Any], owner: UsageRows, slot: int) -> None:
        super().__init__(values)
        self._owner = owner
        self._slot = slot

    def _written(self) -> None:
        owner: UsageRows | None = getattr(self, "_owner", None)  # unset in a copy.copy() of the row
        if owner is not None:
            owner._pin(self._slot, self)

    def __setitem__(self, key: str, value: Any) -> None:
        self._written()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._written()
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._written()
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self._written()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._written()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self._written()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._written()
        super().clear()


_Entry = int | dict[str, Any]


class UsageRows(MutableSequence[dict[str, Any]]):
    """The usage API's daily rows: a list of dicts whose seeded rows are computed on read.

    This is the interface the usage stand-in (and tests) rely on, kept stable on purpose:

    - it behaves as a ``list[dict]``: ``len``, iteration, ``rows[i]``, ``append``, ``insert``,
      ``del``, ``rows[i] = {...}``; every row has the keys of :data:`USAGE_FIELDS`;
    - seeded rows come in ascending ``(updated_at, workspace_id, date)`` order (the API's sort
      key; the world's nightly batch writes the rows of each day in workspace order), so a
      sort over them is linear; rows added later go where they are put;
    - ``version`` changes whenever an existing position changes: a write to a row dict it handed
      out, ``rows[i] = …``, an insert before the end, a delete. Appending (``append``, ``extend``,
      ``insert`` at the end) only grows ``len()``, so an index can take appended rows in without
      re-reading the others;
    - ``column(name)`` returns one field of every row, in order, without building the other
      fields: for ``updated_at``, ``workspace_id`` and ``date`` that is ~50× cheaper than
      iterating the rows (3M rows: ~0.3 s a column), which is what an index over millions of
      rows wants: key columns plus positions, then ``rows[i]`` for the rows of a page.

    Why computed: 3M stored rows with their nested dicts take ~3 GB; computed, they take the
    per-workspace story parameters (~0.5 KB per workspace). Reading a row costs a few
    microseconds; the same row read twice is equal but not the same object (unless written to).
    """

    def __init__(self, rows: Iterable[dict[str, Any]] = (), *, plan: _UsagePlan | None = None) -> None:
        self._plan = plan
        self._seeded = plan.size if plan is not None else 0
        self._tail: list[dict[str, Any]] = list(rows)
        self._order: list[_Entry] | None = None  # None: seeded rows 0..n-1 in order, then _tail
        self._pinned: dict[int, dict[str, Any]] = {}
        self.version = 0

    # -- reading ---------------------------------------------------------------------------

    def _row(self, entry: _Entry) -> dict[str, Any]:
        if not isinstance(entry, int):
            return entry
        pinned = self._pinned.get(entry)
        if pinned is not None:
            return pinned
        assert self._plan is not None
        return _UsageRow(self._plan.row(entry), self, entry)

    def _entries(self) -> Iterator[_Entry]:
        if self._order is not None:
            return iter(list(self._order))
        return _chain_entries(self._seeded, self._tail)

    def __len__(self) -> int:
        return len(self._order) if self._order is not None else self._seeded + len(self._tail)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for entry in self._entries():
            yield self._row(entry)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._row(self._entry(i)) for i in range(*index.indices(len(self)))]
        return self._row(self._entry(index))

    def _entry(self, index: SupportsIndex) -> _Entry:
        i = index.__index__()
        size = len(self)
        if i < 0:
            i += size
        if not 0 <= i < size:
            raise IndexError("usage row index out of range")
        if self._order is not None:
            return self._order[i]
        return i if i < self._seeded else self._tail[i - self._seeded]

    def column(self, name: str) -> list[Any]:
        """``[row.get(name) for row in self]``, computed without building whole rows where it can."""
        plan = self._plan
        if plan is None or name not in ("updated_at", "workspace_id", "date"):
            return [row.get(name) for row in self]
        seeded = plan.column(name) if self._seeded else []
        out: list[Any] = []
        for entry in self._entries():
            if isinstance(entry, int):
                pinned = self._pinned.get(entry)
                out.append(seeded[entry] if pinned is None else pinned.get(name))
            else:
                out.append(entry.get(name))
        return out

    # -- writing ---------------------------------------------------------------------------

    def _pin(self, slot: int, row: dict[str, Any]) -> None:
        self._pinned.setdefault(slot, row)
        self.version += 1

    def _explicit(self) -> list[_Entry]:
        """Switch to an explicit order (a structural change other than an append)."""
        if self._order is None:
            self._order = [*range(self._seeded), *self._tail]
            self._tail = []
        return self._order

    @overload
    def __setitem__(self, index: int, value: dict[str, Any]) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[dict[str, Any]]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        self.version += 1
        if isinstance(index, slice):
            self._explicit()[index] = list(value)
            return
        entry = self._entry(index)
        if isinstance(entry, int):
            self._pinned[entry] = value  # the seeded slot now holds the caller's dict
            return
        i = index if index >= 0 else index + len(self)
        if self._order is not None:
            self._order[i] = value
        else:
            self._tail[i - self._seeded] = value

    @overload
    def __delitem__(self, index: int) -> None: ...

    @overload
    def __delitem__(self, index: slice) -> None: ...

    def __delitem__(self, index: int | slice) -> None:
        self.version += 1
        if isinstance(index, int):
            self._entry(index)  # IndexError as a list would raise it
        del self._explicit()[index]

    def insert(self, index: int, value: dict[str, Any]) -> None:
        if self._order is None and index >= len(self):
            self._tail.append(value)  # an append: every existing position is intact, only len() grows
            return
        if index < len(self):
            self.version += 1
        self._explicit().insert(index, value)

    def __repr__(self) -> str:
        return f"UsageRows({len(self)} rows, version {self.version})"


def _chain_entries(seeded: int, tail: list[dict[str, Any]]) -> Iterator[_Entry]:
    yield from range(seeded)
    yield from list(tail)


@dataclass
class UsageStore:
    """Daily usage rows of the product usage API, one per (workspace_id, date).

    ``rows`` is a :class:`UsageRows` for a built world (a plain list works too); ``version``
    moves whenever the rows change, for indexes that cache a sorted view.
    """

    rows: MutableSequence[dict[str, Any]] = field(default_factory=UsageRows)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def version(self) -> int:
        rows = self.rows
        return rows.version if isinstance(rows, UsageRows) else 0


class AccountKey(NamedTuple):
    """One canonical account's ids in each system (``workspace_id`` is None without a workspace)."""

    salesforce_id: str
    hubspot_id: str
    workspace_id: str | None


# --- volumes -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Volumes:
    """How big a world is. Per-account figures are averages; totals are exact.

    Totals are ``round(per_account * accounts)``, shared out by story and company size: a
    dormant account gets fewer activities, a churn risk more tickets, a new customer exactly one
    contract. Every story keeps the records it needs (a QBR meeting, recent contacts, an open
    escalation) unless the total is too small for that, in which case stories fade before totals
    are broken. Line items (on won deals), assets (products owned) and products (12) follow
    from the rest. Usage rows: exactly ``accounts * usage_days``, one per account's workspace
    and day, for the ``usage_days`` days up to the day before the anchor.
    """

    accounts: int = 300
    contracts_per_account: float = 2.0
    deals_per_account: float = 3.0
    activities_per_account: float = 8.0
    contacts_per_account: float = 4.0
    tickets_per_account: float = 1.5
    usage_days: int = 35
    systems: tuple[str, ...] = SYSTEMS
    groups: bool = True
    """Parent/child account groups (stories S14, S16); off: every account is a standalone customer."""

    def __post_init__(self) -> None:
        if self.accounts < 0 or self.usage_days < 0:
            raise ValueError("accounts and usage_days must not be negative")
        for name in (
            "contracts_per_account",
            "deals_per_account",
            "activities_per_account",
            "contacts_per_account",
            "tickets_per_account",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        unknown = set(self.systems) - set(SYSTEMS)
        if unknown:
            raise ValueError(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")

    @classmethod
    def benchmark(cls, system: str) -> Volumes:
        """The benchmark target in one CRM: 100k accounts, 300k contracts and deals, 1M activities, 3M usage rows."""
        return cls(
            accounts=100_000,
            contracts_per_account=3.0,
            deals_per_account=3.0,
            activities_per_account=10.0,
            contacts_per_account=4.0,
            tickets_per_account=1.5,
            usage_days=30,
            systems=(system,),
        )

    @classmethod
    def minimal(cls, accounts: int = 300, usage_days: int = 35) -> Volumes:
        """The world as it was before the full object set: standalone customers, one contract each, usage."""
        return cls(
            accounts=accounts,
            contracts_per_account=1.0,
            deals_per_account=0.0,
            activities_per_account=0.0,
            contacts_per_account=0.0,
            tickets_per_account=0.0,
            usage_days=usage_days,
            groups=False,
        )

    def total(self, per_account: float) -> int:
        return round(per_account * self.accounts)


# --- the world ---------------------------------------------------------------------------------


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
    volumes: Volumes = field(default_factory=Volumes)
    stories: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Story name (:data:`STORIES`) → the account numbers dealt it: the answer key for tests and demos."""
    account_keys: list[AccountKey] = field(default_factory=list)
    """Account number → its Salesforce Account Id, HubSpot company id and workspace id."""

    def now(self) -> datetime:
        """The stand-ins' server clock: ``anchor`` plus the real time elapsed since the build.

        Writes are stamped with it, so records written during a run sort after the seeded ones.
        """
        return self.anchor + timedelta(seconds=time.monotonic() - self.started)


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
    "inactive_owner": "routing: owned by the inactive owner (Salesforce IsActive false, HubSpot archived)",
}
"""Every story a world carries, with where it shows in the data. ``World.stories`` lists the accounts."""

_USAGE_STORIES: Final = (
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
_DECK: Final = (
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
_BLOCK: Final = 20
_NO_CONTRACT: Final = "group_child_without_contract"
_NEW_CUSTOMER: Final = frozenset({"onboarding_stalled", "onboarded"})
_NEEDS_ROOM: Final = frozenset({"wau_rising", "onboarded", "dormant", "churn_risk"})
"""Stories told by a trend in user counts: on a 10-seat plan integer rounding would flatten it."""
_NPS: Final = {"churn_risk": (2.0, 6.0), "wau_rising": (8.0, 10.0), "onboarded": (8.0, 10.0)}
"""NPS roll-up range (0–10) by usage story where a customer answered surveys; any other story: 6–10."""


# --- catalogue and vocabulary ------------------------------------------------------------------

_WORDS: Final = (
    *("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent"),
    *("Hooli", "Vandelay", "Massive", "Dynamic", "Gringotts", "Oscorp", "Pied", "Piper", "Aperture", "Black"),
    *("Mesa", "Nakatomi", "Monarch", "Vehement", "Duff", "Krusty", "Ollivander", "Sirius", "Planet", "Express"),
    *("Blue", "Sun", "Nuka", "Rekall", "Oceanic", "Dunder", "Mifflin", "Sakura", "Fuji", "Hikari", "Kumo"),
    *("Midori", "Tsubasa", "Yamato", "Kaze", "Hoshi", "Sora"),
)
_SUFFIXES: Final = ("Corp", "Inc", "KK", "GmbH", "Ltd", "Labs", "Systems", "Holdings", "Group", "Works")
_REGIONS: Final = ("Japan", "Europe", "Americas", "Asia", "Nordics", "Finance", "Logistics", "Digital", "Retail")
# Salesforce Industry picklist value → HubSpot industry enumeration value.
_INDUSTRIES: Final = (
    ("Technology", "COMPUTER_SOFTWARE"),
    ("Consulting", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("Finance", "FINANCIAL_SERVICES"),
    ("Healthcare", "HOSPITAL_HEALTH_CARE"),
    ("Retail", "RETAIL"),
    ("Education", "EDUCATION_MANAGEMENT"),
    ("Transportation", "LOGISTICS_AND_SUPPLY_CHAIN"),
)
_EMPLOYEES: Final = (20, 45, 80, 150, 300, 800, 2500)
_PLANS: Final = ((0, 10), (1, 25), (2, 50), (2, 100), (3, 250))  # (edition, seats)
_STORAGE_LIMIT_GB: Final = (50, 250, 1000, 5000)  # per edition
_API_LIMIT: Final = (10_000, 50_000, 200_000, 1_000_000)  # calls per day, per edition
_FREE_SEATS, _FREE_STORAGE_GB, _FREE_API_CALLS = 5, 5, 1_000  # the free tier, no contract needed
_FIXED_OWNERS: Final = (
    ("Aiko Tanaka", True),
    ("Ben Carter", True),
    ("Chiara Rossi", True),
    ("Daisuke Mori", True),
    ("Elena Novak", True),
    ("Farid Haddad", True),
    ("Grace Kim", True),
    ("Hiro Sato", False),  # left the company: routing must not assign to an inactive owner
)
_FIRST: Final = (
    *("Akira", "Beatriz", "Carlos", "Dana", "Emil", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kenji", "Lena"),
    *("Mateo", "Nora", "Omar", "Priya", "Quinn", "Rina", "Sam", "Taro", "Uma", "Victor", "Wen", "Yuki", "Zoe"),
)
_LAST: Final = (
    *("Abe", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hayashi", "Ito", "Jensen", "Kato"),
    *("Lopez", "Muller", "Nakamura", "Okafor", "Patel", "Quist", "Rossi", "Suzuki", "Takahashi", "Ueda"),
    *("Varga", "Watanabe", "Xu", "Yamada", "Zhang"),
)
_DEPARTMENTS: Final = ("Sales", "Marketing", "Engineering", "Finance", "Operations", "HR", "Support", "IT", "Legal")
_TITLES: Final = {
    "Sales": ("VP Sales", "Sales Manager", "Account Executive"),
    "Marketing": ("CMO", "Marketing Manager", "Marketing Specialist"),
    "Engineering": ("CTO", "Engineering Manager", "Software Engineer"),
    "Finance": ("CFO", "Controller", "Financial Analyst"),
    "Operations": ("COO", "Operations Manager", "Operations Analyst"),
    "HR": ("CHRO", "HR Manager", "People Partner"),
    "Support": ("Head of Support", "Support Lead", "Support Engineer"),
    "IT": ("CIO", "IT Manager", "Systems Administrator"),
    "Legal": ("General Counsel", "Legal Counsel", "Paralegal"),
}


class _Product(NamedTuple):
    name: str
    code: str
    family: str
    price: int  # per seat and year when per_seat, else per unit and year
    per_seat: bool
    feature: str | None  # the usage feature it unlocks (feature_events key)


# Four families, as the Salesforce Product2.Family picklist has them.
_PRODUCTS: Final = (
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
_ANALYTICS, _DASHBOARDS = 4, 5
_CROSS_SELL: Final = tuple(range(4, len(_PRODUCTS)))
_CORE_FEATURES: Final = ("documents", "comments", "search", "reports")
_FEATURE_RATES: Final = {
    "documents": 3.0,
    "comments": 2.0,
    "search": 1.5,
    "reports": 0.6,
    "analytics": 0.5,
    "dashboards": 0.4,
    "automations": 0.8,
}

_DEAL_NEW, _DEAL_UPGRADE, _DEAL_CROSS, _DEAL_RENEWAL = 0, 1, 2, 3
_SF_DEAL_TYPES: Final = (
    "New Business",
    "Existing Business - Upgrade",
    "Existing Business - Cross-sell",
    "Existing Business - Renewal",
)
_HS_DEAL_TYPES: Final = ("newbusiness", "existingbusiness", "existingbusiness", "existingbusiness")
_OPEN_STAGES: Final = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
_HS_STAGE: Final = {
    "Prospecting": "appointmentscheduled",
    "Qualification": "qualifiedtobuy",
    "Needs Analysis": "presentationscheduled",
    "Value Proposition": "presentationscheduled",
    "Proposal/Price Quote": "decisionmakerboughtin",
    "Negotiation/Review": "contractsent",
    "Closed Won": "closedwon",
    "Closed Lost": "closedlost",
}

_ACTIVITY_KINDS: Final = ("email", "email", "email", "call", "call", "meeting", "meeting", "task", "task", "note")
_SUBJECTS: Final = {
    "email": ("Follow-up on usage review", "Renewal paperwork", "Invitation to product webinar", "Re: seat count"),
    "call": ("Check-in call", "Renewal call", "Discovery call", "Support follow-up call"),
    "meeting": ("Product demo", "Onboarding session", "Roadmap briefing", "Executive sponsor sync"),
    "task": ("Send case study", "Prepare usage report", "Schedule training", "Update account plan"),
    "note": ("Note: champion changed roles", "Note: budget cycle in Q3", "Note: evaluating competitors"),
}
_QBR: Final = "Quarterly business review"
_TICKET_SUBJECTS: Final = (
    "Cannot export report",
    "SSO login fails",
    "Slow dashboard load",
    "Sync error with CRM",
    "Billing question",
    "API rate limit exceeded",
    "User cannot be invited",
    "Data missing after import",
)
_HS_TICKET_STAGE: Final = {"New": "1", "Working": "3", "Escalated": "3", "Closed": "4"}
_HS_PRIORITY: Final = {"High": "HIGH", "Medium": "MEDIUM", "Low": "LOW"}

# HubSpot object id ranges: one block per type, so ids read as what they are; objects created at
# run time (tasks upsync writes) get ids from 30_000_000_001 up.
_HS_BASE: Final = {
    "companies": 10_000_000_000,
    "contacts": 11_000_000_000,
    "deals": 12_000_000_000,
    "line_items": 13_000_000_000,
    "products": 14_000_000_000,
    "tickets": 15_000_000_000,
    "tasks": 16_000_000_000,
    "calls": 17_000_000_000,
    "meetings": 18_000_000_000,
    "emails": 19_000_000_000,
    "notes": 20_000_000_000,
}
_HS_RUNTIME_IDS: Final = 30_000_000_001
# HUBSPOT_DEFINED association type ids, in the direction connectors/OBJECTS.md reads them.
_HS_ASSOC: Final = {
    ("contacts", "companies"): 1,
    ("deals", "companies"): 5,
    ("line_items", "deals"): 20,
    ("tickets", "companies"): 26,
    ("companies", "companies"): 14,
    ("tasks", "companies"): 192,
    ("tasks", "contacts"): 204,
    ("tasks", "deals"): 216,
    ("calls", "companies"): 182,
    ("calls", "contacts"): 194,
    ("calls", "deals"): 206,
    ("meetings", "companies"): 188,
    ("meetings", "contacts"): 200,
    ("meetings", "deals"): 212,
    ("emails", "companies"): 186,
    ("emails", "contacts"): 198,
    ("emails", "deals"): 210,
    ("notes", "companies"): 190,
    ("notes", "contacts"): 202,
    ("notes", "deals"): 214,
}
_HS_ENGAGEMENT: Final = {"email": "emails", "call": "calls", "meeting": "meetings", "task": "tasks", "note": "notes"}


# --- time ----------------------------------------------------------------------------------------

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_DAY: Final = 1440  # minutes


class _Clock:
    """Whole minutes and days (since 1970) relative to the anchor, each string formatted once.

    Timestamps on whole minutes repeat a lot in a big world; formatting each distinct value once
    and sharing the string object between records saves both time and memory. Ties on a modstamp
    are real (bulk edits, imports) and exercise the connectors' id tie-break.
    """

    def __init__(self, anchor: datetime) -> None:
        stamp = anchor.timestamp()
        self.top = math.ceil(stamp / 60) - 1  # the last whole minute strictly before the anchor
        self.today = math.floor(stamp / 86_400)
        self._days: dict[int, str] = {}
        self._sf: dict[int, str] = {}
        self._hs: dict[int, str] = {}
        self._usage: dict[int, str] = {}

    def past(self, minute: int) -> int:
        """``minute`` if it is before the anchor; else folded back into the three days before it.

        Folding (not clamping to the last minute) keeps the recent past looking like an ordinary
        org: clamping stacked thousands of records on one minute, a mass update nobody made.
        """
        if minute <= self.top:
            return minute
        return self.top - ((minute - self.top) * 7919) % (3 * _DAY)

    def at(self, days_ago: int, minute_of_day: int) -> int:
        return self.past((self.today - days_ago) * _DAY + minute_of_day)

    def day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
        return text

    def sf(self, minute: int) -> str:
        text = self._sf.get(minute)
        if text is None:
            m = minute % _DAY
            text = self._sf[minute] = f"{self.day(minute // _DAY)}T{m // 60:02d}:{m % 60:02d}:00.000+0000"
        return text

    def hs(self, minute: int) -> str:
        text = self._hs.get(minute)
        if text is None:
            m = minute % _DAY
            text = self._hs[minute] = f"{self.day(minute // _DAY)}T{m // 60:02d}:{m % 60:02d}:00.000Z"
        return text

    def usage(self, minute: int) -> str:
        text = self._usage.get(minute)
        if text is None:
            m = minute % _DAY
            text = self._usage[minute] = f"{self.day(minute // _DAY)}T{m // 60:02d}:{m % 60:02d}:00Z"
        return text


def _add_months(day: int, months: int) -> int:
    """Calendar months later (or earlier), the day of month capped at 28 so every month has it."""
    d = date.fromordinal(day + _EPOCH_ORDINAL)
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, min(d.day, 28)).toordinal() - _EPOCH_ORDINAL


# --- canonical records -------------------------------------------------------------------------


class _Account:
    """One canonical customer: who it is, its story, and how many records of each kind it gets."""

    __slots__ = (
        "activities",
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

    @property
    def customer(self) -> bool:
        return self.story != _NO_CONTRACT


class _Contract(NamedTuple):
    start: int  # day
    end: int  # day (inclusive)
    term: int  # months
    status: str  # Salesforce Status
    created: int  # minute
    modified: int


class _Deal(NamedTuple):
    kind: int  # _DEAL_*
    name: str
    stage: str  # Salesforce StageName
    close: int  # day
    amount: int
    created: int
    modified: int


class _Line(NamedTuple):
    deal: int  # index into the bundle's deals
    product: int  # index into _PRODUCTS
    quantity: int
    unit_price: int
    service: int  # day
    created: int
    modified: int


class _Asset(NamedTuple):
    product: int
    quantity: int
    status: str
    purchased: int  # day
    installed: int | None
    usage_end: int | None
    created: int
    modified: int


class _Contact(NamedTuple):
    first: str
    last: str
    email: str
    title: str
    department: str
    created: int
    modified: int


class _Activity(NamedTuple):
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


class _Ticket(NamedTuple):
    subject: str
    status: str  # Salesforce Case Status
    priority: str  # High, Medium, Low
    escalated: bool
    origin: str
    created: int
    closed: int | None  # minute
    modified: int
    contact: int


class _Bundle(NamedTuple):
    """Everything one account owns, canonical: what both projections are made from."""

    contracts: list[_Contract]
    deals: list[_Deal]
    lines: list[_Line]
    assets: list[_Asset]
    contacts: list[_Contact]
    activities: list[_Activity]
    tickets: list[_Ticket]
    contract_end: int | None  # the current contract's last day


# --- usage (computed on read) ------------------------------------------------------------------

_M64: Final = (1 << 64) - 1


def _mix(x: int) -> int:
    """SplitMix64's finaliser: 64 well-mixed bits from any integer, so row noise needs no stored state."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class _Workspace(NamedTuple):
    """A workspace's usage story as curve parameters: the rows are functions of these and the day."""

    workspace_id: str
    seats: int
    used: tuple[float, float]  # seats_used / seats, first and last day
    last_used: int  # exact on the last day (which side of 80% it falls on is the S5 story)
    active: tuple[float, float]  # active_users / seats_used, first and last day
    storage_limit: int
    storage: tuple[float, float]
    last_storage: float
    api_limit: int
    api: tuple[float, float]
    last_api: int
    integrations: int
    integration_days: tuple[int, ...]  # day indexes from which one more integration counts
    premium: bool
    trial_day: int  # day index of trials_started = 1, or -1
    departments: tuple[str, ...]  # the first takes what the others leave of the day's active users
    others: tuple[tuple[str, float], ...]  # every other department and its share of active users
    new_department: str | None
    new_department_day: int
    features: tuple[str, ...]  # feature_events keys
    rates: tuple[float, ...]  # events per active user and day, per feature


_NOISE: Final = tuple(tuple(0.8 + 0.4 * ((j * 37 + k * 101) % 64) / 63 for k in range(8)) for j in range(256))
"""256 rows of per-feature noise factors in [0.8, 1.2]: a row picks one by 8 bits of its hash."""


class _UsagePlan:
    """Every workspace's story parameters, and the rows computed from them (date-major order).

    Row ``slot`` is day ``slot // W`` of workspace ``slot % W``: the nightly batch writes the
    day's rows in workspace order between 00:05 and 03:00 UTC the next day, so this order is
    also ascending ``(updated_at, workspace_id, date)``.
    """

    def __init__(self, clock: _Clock, days: int, salt: int) -> None:
        self.clock = clock
        self.days = days
        self.salt = salt
        self.workspaces: list[_Workspace] = []
        self.first_day = clock.today - days
        self.dates = [clock.day(self.first_day + i) for i in range(days)]
        # updated_at of day i's rows, by batch position 0..174 (minutes after 00:05 the next day)
        self.stamps = [
            [clock.usage(clock.past((self.first_day + i + 1) * _DAY + 5 + offset)) for offset in range(175)]
            for i in range(days)
        ]

    @property
    def size(self) -> int:
        return len(self.workspaces) * self.days

    def column(self, name: str) -> list[str]:
        count = len(self.workspaces)
        if name == "date":
            return [d for d in self.dates for _ in range(count)]
        if name == "workspace_id":
            ids = [ws.workspace_id for ws in self.workspaces]
            return ids * self.days
        offsets = [(w * 175) // count for w in range(count)]
        return [stamps[offset] for stamps in self.stamps for offset in offsets]

    def row(self, slot: int) -> dict[str, Any]:
        count = len(self.workspaces)
        i, w = divmod(slot, count)
        ws = self.workspaces[w]
        days = self.days
        last = i == days - 1
        p = i / (days - 1) if days > 1 else 1.0
        h = _mix(self.salt ^ (slot * 0x9E3779B97F4A7C15))
        seats = ws.seats
        if last:
            used = ws.last_used
        else:
            r0, r1 = ws.used
            used = round(seats * (r0 + (r1 - r0) * p + ((h & 0xFFFF) / 65536.0 - 0.5) * 0.04))
            used = seats if used > seats else 1 if used < 1 else used
        a0, a1 = ws.active
        act = a0 + (a1 - a0) * p
        active = round(used * (act + (((h >> 16) & 0xFFFF) / 65536.0 - 0.5) * 0.06))
        active = used if active > used else 1 if active < 1 else active
        weekly = round(used * (act * 1.3 + 0.05))
        weekly = used if weekly > used else active if weekly < active else weekly
        if last:
            storage = ws.last_storage
            api = ws.last_api
        else:
            s0, s1 = ws.storage
            storage = round(
                ws.storage_limit * max(0.01, s0 + (s1 - s0) * p + (((h >> 32) & 0xFFFF) / 65536.0 - 0.5) * 0.01), 1
            )
            c0, c1 = ws.api
            api = round(ws.api_limit * (c0 + (c1 - c0) * p) * (0.9 + 0.2 * ((h >> 48) & 0xFFFF) / 65536.0))
            api = ws.api_limit if api > ws.api_limit else api  # the quota is a hard cap
        integrations = ws.integrations
        for start in ws.integration_days:
            if i >= start:
                integrations += 1
        premium_views = pricing = 0
        if ws.premium and i >= days - 7:
            premium_views = 1 + (h >> 8) % 3
            pricing = 1 + (h >> 12) % 2 if (h >> 10) & 1 or last else 0
        features = {
            name: round(active * rate * noise)
            for name, rate, noise in zip(ws.features, ws.rates, _NOISE[(h >> 24) & 255], strict=False)
        }
        by_department = {ws.departments[0]: 0}
        remaining = active
        if ws.new_department is not None and i >= ws.new_department_day and remaining > 1:
            share = round(active * 0.12)
            share = 1 if share < 1 else share
            by_department[ws.new_department] = share
            remaining -= share
        for name, weight in ws.others:
            if remaining <= 1:
                break
            share = round(active * weight)
            share = remaining - 1 if share >= remaining else 1 if share < 1 else share
            by_department[name] = share
            remaining -= share
        by_department[ws.departments[0]] = remaining
        return {
            "workspace_id": ws.workspace_id,
            "date": self.dates[i],
            "active_users": active,
            "weekly_active_users": weekly,
            "seats_used": used,
            "seats_limit": seats,
            "storage_used_gb": storage,
            "storage_limit_gb": ws.storage_limit,
            "api_calls_used": api,
            "api_calls_limit": ws.api_limit,
            "integrations": integrations,
            "premium_feature_views": premium_views,
            "trials_started": 1 if i == ws.trial_day else 0,
            "pricing_page_views": pricing,
            "feature_events": features,
            "users_by_department": by_department,
            "updated_at": self.stamps[i][(w * 175) // count],
        }


# --- generation --------------------------------------------------------------------------------


def _apportion(total: int, weights: Sequence[float], minimums: Sequence[int]) -> list[int]:
    """Split ``total`` over accounts: each its minimum, the rest in proportion to the weights.

    Cumulative rounding keeps the sum exactly ``total``. When the minimums alone exceed the
    total they are dropped (stories fade; the requested volume is honoured).
    """
    count = len(weights)
    if count == 0:
        return []
    if sum(minimums) > total:
        minimums = [0] * count
    rest = total - sum(minimums)
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * count, float(count)
    scale = rest / weight_sum
    out: list[int] = []
    cumulative = 0.0
    given = 0
    for weight, minimum in zip(weights, minimums, strict=True):
        cumulative += weight * scale
        upto = min(rest, int(cumulative + 0.5))
        out.append(minimum + upto - given)
        given = upto
    if given < rest:  # floating-point shortfall: give it to the last account with weight
        last = max(i for i in range(count) if weights[i] > 0)
        out[last] += rest - given
    return out


class _Generator:
    """Deals the stories, draws every canonical record from one random stream, and projects them."""

    def __init__(self, volumes: Volumes, seed: int, anchor: datetime) -> None:
        self.v = volumes
        self.seed = seed
        self.anchor = anchor
        self.rng = random.Random(seed)
        self.clock = _Clock(anchor)
        self.width = max(5, len(str(volumes.accounts)))
        self.sf = _SalesforceProjection(self.clock) if "salesforce" in volumes.systems else None
        self.hs = _HubSpotProjection(self.clock) if "hubspot" in volumes.systems else None
        self.usage = _UsagePlan(self.clock, volumes.usage_days, _mix(seed * 0x2545F4914F6CDD1D + 1))
        self.stories: dict[str, list[int]] = {name: [] for name in STORIES}
        self.keys: list[AccountKey] = []

    # -- pass 1: who the accounts are --------------------------------------------------------

    def plan(self) -> list[_Account]:
        rng = self.rng
        r = rng.random
        accounts = [_Account(n) for n in range(self.v.accounts)]
        active_owners = max(7, self.v.accounts // 400)
        for start in range(0, len(accounts), _BLOCK):
            block = accounts[start : start + _BLOCK]
            deck = list(_DECK)
            rng.shuffle(deck)
            if self.v.groups:
                cards = [*deck, rng.choice(("steady", "wau_rising")), "steady", _NO_CONTRACT]
            else:
                cards = [*deck, "steady", "steady", "wau_rising"]
                rng.shuffle(cards)
            for account, card in zip(block, cards, strict=False):
                account.story = card
            if self.v.groups and len(block) > 18:
                block[18].parent = block[17].n
            if self.v.groups and len(block) > 19:
                block[19].parent = block[17].n
                if r() < 0.5:
                    block[19].overlays.add("new_child_account")
            customers = [a for a in block if a.customer]
            growth = [a for a in customers if a.story not in ("dormant", "onboarding_stalled")]
            for a in rng.sample(growth, min(2, len(growth))):
                a.overlays.add("stakeholder_growth")
            reviewed = [a for a in customers if a.story not in _NEW_CUSTOMER]
            for a in rng.sample(reviewed, min(2, len(reviewed))):
                a.overlays.add("qbr_due")
            ripe = [a for a in block if a.story == "seats_near_limit"]
            if ripe:
                rng.choice(ripe).overlays.add("open_escalation")
        for a in accounts:
            n = a.n
            parent = accounts[a.parent] if a.parent is not None else None
            if parent is not None:
                a.name = f"{parent.name.rsplit(' ', 1)[0]} {rng.choice(_REGIONS)} {rng.choice(_SUFFIXES)}"
            else:
                a.name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIXES)}"
            a.domain = f"{a.name.lower().replace(' ', '-')}-{n}.example.com"
            a.industry = int(r() * len(_INDUSTRIES))
            a.employees = _EMPLOYEES[int(r() * len(_EMPLOYEES))]
            a.owner = active_owners if n % 17 == 0 else n % active_owners  # index active_owners: inactive
            if n % 17 == 0:
                a.overlays.add("inactive_owner")
            edition, seats = _PLANS[int(r() * len(_PLANS))]
            if a.n % _BLOCK == 17 and self.v.groups:  # a group's parent is a big customer
                edition, seats = (3, 250) if r() < 0.5 else (2, 100)
                a.employees = max(a.employees, 800)
            if seats < 25 and (a.story in _NEEDS_ROOM or "stakeholder_growth" in a.overlays):
                edition, seats = _PLANS[1 + int(r() * 4)]
            a.tier, a.seats = edition, seats
            if a.customer:
                a.workspace = self._workspace_id(n)
            low, high = {
                "churn_risk": (18.0, 35.0),
                "dormant": (30.0, 48.0),
                "onboarding_stalled": (38.0, 55.0),
                "onboarded": (65.0, 80.0),
                "wau_rising": (75.0, 92.0),
            }.get(a.story, (55.0, 85.0))
            a.health = round(low + (high - low) * r(), 1)
        self._allocate(accounts)
        self._surveys(accounts)
        return accounts

    def _hash(self, n: int) -> int:
        """64 bits derived from the seed and ``n`` alone: values added to the world after the random stream
        was fixed come from here, so they leave every value the stream produces where it was."""
        return _mix(self.seed * 1_000_003 + n)

    def _surveys(self, accounts: list[_Account]) -> None:
        """The CRM's survey and compliance facts: NPS, CSAT and the do_not_contact / detractor overlays.

        Drawn from :meth:`_hash`, never from ``self.rng``, so a seed's world is otherwise unchanged.
        """

        def unit(h: int, shift: int) -> float:
            return ((h >> shift) & 0xFFFF) / 65535.0

        for start in range(0, len(accounts), _BLOCK):
            block = accounts[start : start + _BLOCK]
            eligible = [a for a in block if a.story == "seats_near_limit" and "open_escalation" not in a.overlays]
            for overlay, salt in (("do_not_contact", 1), ("detractor", 2)):
                if not eligible:
                    break
                # a negative argument: never the hash an account's own values come from
                chosen = eligible[self._hash(-4 * (start + 1) - salt) % len(eligible)]
                chosen.overlays.add(overlay)
                eligible.remove(chosen)
        for a in accounts:
            if not a.customer:
                continue
            h = self._hash(a.n)
            nps: tuple[float, float] | None = None
            if "detractor" in a.overlays:
                nps = (3.0, 5.0)
            elif unit(h, 0) < 0.6:  # the others never answered a survey: unknown
                nps = _NPS.get(a.story, (6.0, 10.0))
            if nps is not None:
                a.nps = round(nps[0] + (nps[1] - nps[0]) * unit(h, 16), 1)
            if a.tickets:
                low, high = (40.0, 65.0) if a.story == "churn_risk" else (75.0, 98.0)
                a.csat = round(low + (high - low) * unit(h, 32), 1)

    def _allocate(self, accounts: list[_Account]) -> None:
        """Shares each requested total out over the accounts (see :class:`Volumes`)."""
        r = self.rng.random
        v = self.v
        size = [0.6 + 0.25 * _EMPLOYEES.index(a.employees) / 2 for a in accounts]
        noise = [0.6 + 0.8 * r() for _ in accounts]

        def share(total: int, weight: dict[str, float], minimum: dict[str, int]) -> list[int]:
            weights = [weight.get(a.story, 1.0) * size[i] * noise[i] for i, a in enumerate(accounts)]
            minimums = [max((minimum.get(s, 0) for s in (a.story, *a.overlays)), default=0) for a in accounts]
            return _apportion(total, weights, minimums)

        # A new customer has exactly its first contract; a group company without one has none.
        no_history = {_NO_CONTRACT: 0.0, **dict.fromkeys(_NEW_CUSTOMER, 0.0)}
        contracts = share(v.total(v.contracts_per_account), no_history, dict.fromkeys(_USAGE_STORIES, 1))
        deals = share(
            v.total(v.deals_per_account),
            {_NO_CONTRACT: 0.3, "seats_near_limit": 1.3, "wau_rising": 1.3, "onboarding_stalled": 0.5},
            {},
        )
        activities = share(
            v.total(v.activities_per_account),
            {_NO_CONTRACT: 0.2, "dormant": 0.5, "wau_rising": 1.5, "onboarded": 1.5, "seats_near_limit": 1.2},
            {"qbr_due": 2, "stakeholder_growth": 1},
        )
        contacts = share(v.total(v.contacts_per_account), {_NO_CONTRACT: 0.5}, {"stakeholder_growth": 3})
        tickets = share(
            v.total(v.tickets_per_account),
            {_NO_CONTRACT: 0.0, "churn_risk": 4.0, "dormant": 0.5},
            {"churn_risk": 4, "open_escalation": 1},
        )
        for i, a in enumerate(accounts):
            a.contracts, a.deals, a.activities = contracts[i], deals[i], activities[i]
            a.contacts, a.tickets = contacts[i], tickets[i]

    # -- pass 2: each account's records ------------------------------------------------------

    def run(self) -> World:
        accounts = self.plan()
        owners = self._owners(max(7, self.v.accounts // 400))
        if self.sf is not None:
            self.sf.start(owners, accounts)
        if self.hs is not None:
            self.hs.start(owners)
        for a in accounts:
            bundle = self._bundle(a)
            for story in (a.story, *a.overlays):
                self.stories[story].append(a.n)
            if bundle.contract_end is not None and bundle.contract_end - self.clock.today <= 90:
                self.stories["renewal_due"].append(a.n)
            if self._co_purchase_target(bundle):
                self.stories["co_purchase_target"].append(a.n)
            sf_account = self.sf.account_ids[a.n] if self.sf is not None else sf_id("001", a.n + 1)
            hs_company = str(_HS_BASE["companies"] + a.n + 1)
            self.keys.append(AccountKey(sf_account, hs_company, a.workspace))
            if self.sf is not None:
                self.sf.account(a, bundle)
            if self.hs is not None:
                self.hs.account(a, bundle)
        sf_store = self.sf.finish() if self.sf is not None else SalesforceStore()
        hs_store = self.hs.finish() if self.hs is not None else HubSpotStore(next_id=_HS_RUNTIME_IDS)
        if self.sf is None:  # still the integration user's id, for stand-ins that stamp writes
            sf_store.integration_user_id = sf_id("005", len(owners) + 1)
        return World(
            seed=self.seed,
            anchor=self.anchor,
            salesforce=sf_store,
            hubspot=hs_store,
            usage=UsageStore(rows=UsageRows(plan=self.usage)),
            volumes=self.v,
            stories={name: tuple(ids) for name, ids in self.stories.items()},
            account_keys=self.keys,
        )

    def _owners(self, active: int) -> list[tuple[str, str, bool]]:
        """(first, last, active) of every owner: the fixed cast, then more reps for big worlds, then the leaver."""
        cast: list[tuple[str, str, bool]] = []
        for name, is_active in _FIXED_OWNERS[:-1]:
            first, last = name.split(" ", 1)
            cast.append((first, last, is_active))
        k = 0
        while len(cast) < active:
            cast.append((_FIRST[k % len(_FIRST)], f"{_LAST[(k // len(_FIRST)) % len(_LAST)]}", True))
            k += 1
        first, last = _FIXED_OWNERS[-1][0].split(" ", 1)
        cast.append((first, last, False))
        return cast

    @staticmethod
    def _co_purchase_target(bundle: _Bundle) -> bool:
        owned = {asset.product for asset in bundle.assets if asset.status != "Obsolete"}
        return _ANALYTICS in owned and _DASHBOARDS not in owned

    def _bundle(self, a: _Account) -> _Bundle:
        clock = self.clock
        contracts, current_end = self._contracts(a)
        if contracts:
            first_start = contracts[0].start
            a.created = clock.past((first_start - 10 - int(self.rng.random() * 80)) * _DAY + 540)
        elif "new_child_account" in a.overlays:
            a.created = clock.at(3 + int(self.rng.random() * 26), 600)
        else:
            a.created = clock.at(100 + int(self.rng.random() * 1400), 600)
        days_ago = 1 + int(self.rng.random() * 50)
        a.modified = max(a.created, clock.at(days_ago, int(self.rng.random() * _DAY)))
        deals, lines, assets = self._deals(a, contracts, current_end)
        contacts = self._contacts(a)
        activities = self._activities(a, contacts, deals)
        tickets = self._tickets(a, contacts)
        self._workspace(a, assets, contacts)
        return _Bundle(contracts, deals, lines, assets, contacts, activities, tickets, current_end)

    def _contracts(self, a: _Account) -> tuple[list[_Contract], int | None]:
        if not a.customer or a.contracts == 0:
            return [], None
        r = self.rng.random
        clock = self.clock
        today = clock.today
        out: list[_Contract] = []
        if a.story in _NEW_CUSTOMER:
            start = today - (30 + int(r() * (16 if a.story == "onboarded" else 31)))
            end = _add_months(start, 12) - 1
            signed = (start - 3) * _DAY + 600
            out.append(_Contract(start, end, 12, "Activated", clock.past(signed), clock.past(signed + 3 * _DAY)))
            return out, end
        end = today + 1 + int(r() * 359)
        roll = r()
        term = 12 if roll < 0.7 else 24 if roll < 0.9 else 36
        start = _add_months(end + 1, -term)
        draft = a.contracts >= 2 and end - today <= 120 and r() < 0.6
        history = a.contracts - 1 - (1 if draft else 0)
        chain: list[tuple[int, int, int]] = [(start, end, term)]
        for _ in range(history):
            prev_start = _add_months(chain[-1][0], -12)
            chain.append((prev_start, chain[-1][0] - 1, 12))
        for s, e, t in reversed(chain):
            signed = (s - 1 - int(r() * 20)) * _DAY + 540 + int(r() * 480)
            out.append(_Contract(s, e, t, "Activated", clock.past(signed), clock.past(signed + int(r() * 10) * _DAY)))
        if draft:
            signed = clock.at(1 + int(r() * 30), 600)
            status = "Draft" if r() < 0.5 else "In Approval Process"
            out.append(_Contract(end + 1, _add_months(end + 1, 12) - 1, 12, status, signed, signed))
        return out, end

    def _deals(
        self, a: _Account, contracts: list[_Contract], current_end: int | None
    ) -> tuple[list[_Deal], list[_Line], list[_Asset]]:
        r = self.rng.random
        clock = self.clock
        today = clock.today
        price = _PRODUCTS[a.tier].price
        deals: list[_Deal] = []
        lines: list[_Line] = []
        plan_history: list[tuple[int, int]] = []  # (edition, since day)
        owned: dict[int, tuple[int, int]] = {}  # cross-sell product → (won day, quantity)
        wanted = a.deals
        activated = [c for c in contracts if c.status == "Activated"]

        def closed(kind: int, name: str, close: int, amount: int, won: bool) -> int:
            close = min(close, today - 1)
            created = clock.past((close - 20 - int(r() * 70)) * _DAY + 600)
            modified = clock.past(close * _DAY + 600 + int(r() * 3) * _DAY)
            stage = "Closed Won" if won else "Closed Lost"
            deals.append(_Deal(kind, name, stage, close, amount, created, max(created, modified)))
            return len(deals) - 1

        def opened(kind: int, name: str, close: int, amount: int, stage: str) -> None:
            created = clock.at(5 + int(r() * 55), 600)
            modified = max(created, clock.at(1 + int(r() * 4), int(r() * _DAY)))
            deals.append(_Deal(kind, name, stage, close, amount, created, modified))

        if a.customer and activated:
            first = activated[0]
            plan_edition = a.tier if r() < 0.7 or a.tier == 0 else a.tier - 1
            # 1. the new-business deal that made it a customer
            if len(deals) < wanted:
                index = closed(_DEAL_NEW, f"{a.name} - New Business", first.start - int(r() * 7), 0, True)
                items = [(plan_edition, a.seats)]
                if r() < 0.3:
                    items.append((9, 1))  # onboarding package
                if r() < 0.2:
                    items.append((_ANALYTICS, a.seats))  # analytics from day one: dashboards tend to follow (S15)
                self._won(deals, lines, index, items, owned)
                plan_history.append((plan_edition, deals[index].close))
            # 2. a renewal won at every later term start
            for c in activated[1:]:
                if len(deals) >= wanted:
                    break
                year = clock.day(c.start)[:4]
                index = closed(_DEAL_RENEWAL, f"{a.name} - Renewal {year}", c.start - 5, 0, True)
                self._won(deals, lines, index, [(plan_edition, a.seats)], owned)
            # 3. the open renewal of the current contract
            if current_end is not None and current_end - today <= 120 and len(deals) < wanted:
                stage = _OPEN_STAGES[4 + int(r() * 2)]
                name = f"{a.name} - Renewal {clock.day(current_end + 1)[:4]}"
                opened(_DEAL_RENEWAL, name, current_end, price * a.seats, stage)
            # 4. expansions: upgrades and cross-sells, won, lost or open
            since = first.start
            while len(deals) < wanted:
                upgrade = plan_edition < a.tier and r() < 0.5
                roll = r()
                span = max(1, today - since - 1)
                close = since + 1 + int(r() * span)
                if upgrade:
                    amount = _PRODUCTS[a.tier].price * a.seats
                    name = f"{a.name} - Upgrade to {_PRODUCTS[a.tier].name}"
                    if roll < 0.6:
                        index = closed(_DEAL_UPGRADE, name, close, 0, True)
                        self._won(deals, lines, index, [(a.tier, a.seats)], owned)
                        plan_history.append((a.tier, deals[index].close))
                        plan_edition = a.tier
                    elif roll < 0.85:
                        closed(_DEAL_UPGRADE, name, close, amount, False)
                    else:
                        opened(_DEAL_UPGRADE, name, today + 5 + int(r() * 90), amount, _OPEN_STAGES[int(r() * 6)])
                    continue
                product = self._cross_sell_product(owned)
                item = _PRODUCTS[product]
                quantity = a.seats if item.per_seat else 1
                name = f"{a.name} - {item.name}"
                if roll < 0.55:
                    index = closed(_DEAL_CROSS, name, close, 0, True)
                    self._won(deals, lines, index, [(product, quantity)], owned)
                elif roll < 0.8:
                    closed(_DEAL_CROSS, name, close, item.price * quantity, False)
                else:
                    opened(
                        _DEAL_CROSS, name, today + 5 + int(r() * 90), item.price * quantity, _OPEN_STAGES[int(r() * 6)]
                    )
            if not plan_history or plan_edition != a.tier:  # the current plan is what the contract says
                plan_history.append((a.tier, activated[-1].start))
        else:
            # a group company being worked: new business, open or lost
            for _ in range(wanted):
                seats = 10 + 5 * int(r() * 10)
                amount = _PRODUCTS[1].price * seats
                name = f"{a.name} - New Business"
                if r() < 0.7:
                    opened(_DEAL_NEW, name, today + 10 + int(r() * 120), amount, _OPEN_STAGES[int(r() * 6)])
                else:
                    closed(_DEAL_NEW, name, today - 30 - int(r() * 300), amount, False)
        assets = self._assets(a, plan_history, owned, current_end)
        return deals, lines, assets

    def _cross_sell_product(self, owned: dict[int, tuple[int, int]]) -> int:
        """What an expansion deal sells: owners of Analytics Pro mostly add Custom Dashboards (S15)."""
        r = self.rng.random
        if _ANALYTICS in owned and _DASHBOARDS not in owned and r() < 0.85:
            return _DASHBOARDS
        choices = [p for p in _CROSS_SELL if p not in owned] or list(_CROSS_SELL)
        weights = [3.0 if p == _ANALYTICS else 1.0 for p in choices]
        pick = r() * sum(weights)
        for product, weight in zip(choices, weights, strict=True):
            pick -= weight
            if pick < 0:
                return product
        return choices[-1]

    def _won(
        self,
        deals: list[_Deal],
        lines: list[_Line],
        index: int,
        items: list[tuple[int, int]],
        owned: dict[int, tuple[int, int]],
    ) -> None:
        """Line items for a won deal; the deal's amount is their total, its products become owned."""
        deal = deals[index]
        total = 0
        for product, quantity in items:
            unit = _PRODUCTS[product].price
            total += unit * quantity
            lines.append(_Line(index, product, quantity, unit, deal.close, deal.modified, deal.modified))
            if product >= 4:
                owned[product] = (deal.close, quantity)
        deals[index] = deal._replace(amount=total)

    def _assets(
        self,
        a: _Account,
        plan_history: list[tuple[int, int]],
        owned: dict[int, tuple[int, int]],
        current_end: int | None,
    ) -> list[_Asset]:
        clock = self.clock
        today = clock.today
        out: list[_Asset] = []
        plan_history = sorted({edition: day for edition, day in plan_history}.items(), key=lambda item: item[1])
        for k, (edition, since) in enumerate(plan_history):
            replaced = plan_history[k + 1][1] if k + 1 < len(plan_history) else None
            stamp = clock.past(since * _DAY + 720)
            if replaced is not None:
                out.append(
                    _Asset(
                        edition,
                        a.seats,
                        "Obsolete",
                        since,
                        since + 7,
                        replaced,
                        stamp,
                        clock.past(replaced * _DAY + 720),
                    )
                )
            else:
                out.append(_Asset(edition, a.seats, "Installed", since, since + 7, current_end, stamp, stamp))
        for product, (won, quantity) in sorted(owned.items()):
            stamp = clock.past(won * _DAY + 720)
            if today - won <= 14:
                out.append(_Asset(product, quantity, "Purchased", won, None, current_end, stamp, stamp))
            else:
                out.append(_Asset(product, quantity, "Installed", won, won + 7, current_end, stamp, stamp))
        return out

    def _contacts(self, a: _Account) -> list[_Contact]:
        rng = self.rng
        r = rng.random
        clock = self.clock
        count = a.contacts
        if count == 0:
            return []
        known = rng.sample(_DEPARTMENTS, 2 + int(r() * 3))
        growth = "stakeholder_growth" in a.overlays and count >= 2
        newcomer = next(d for d in _DEPARTMENTS if d not in known) if growth else None
        age = max(31, clock.today - a.created // _DAY)
        out: list[_Contact] = []
        emails: set[str] = set()
        for k in range(count):
            recent = growth and k >= count - 2
            department = newcomer if recent and k == count - 1 and newcomer else known[k % len(known)]
            first = _FIRST[int(r() * len(_FIRST))]
            last = _LAST[int(r() * len(_LAST))]
            local = f"{first}.{last}".lower()
            email = f"{local}@{a.domain}"
            if email in emails:
                email = f"{local}{k}@{a.domain}"
            emails.add(email)
            titles = _TITLES[department]
            title = titles[min(2, int(r() * 3.5))] if k else titles[0]  # the first contact is the executive
            if recent or age <= 31:
                created = clock.at(1 + int(r() * min(28, age - 1)), 540 + int(r() * 480))
            else:
                created = clock.at(31 + int(r() * (age - 30)), 540 + int(r() * 480))
            modified = clock.past(created + int(r() * 60) * _DAY)
            out.append(_Contact(first, last, email, title, department, created, modified))
        return out

    def _activities(self, a: _Account, contacts: list[_Contact], deals: list[_Deal]) -> list[_Activity]:
        r = self.rng.random
        clock = self.clock
        count = a.activities
        out: list[_Activity] = []
        dormant = a.story == "dormant"
        oldest = min(180, max(1, clock.today - a.created // _DAY))
        for k in range(count):
            kind = _ACTIVITY_KINDS[int(r() * len(_ACTIVITY_KINDS))]
            subject = _SUBJECTS[kind][int(r() * len(_SUBJECTS[kind]))]
            days_ago = 61 + int(r() * 120) if dormant else int(r() * oldest)
            if k == 0 and a.customer and a.story not in _NEW_CUSTOMER:  # the latest quarterly review
                kind, subject = "meeting", _QBR
                days_ago = 95 + int(r() * 80) if "qbr_due" in a.overlays else (61 if dormant else 5) + int(r() * 25)
            elif k == 1 and "stakeholder_growth" in a.overlays and len(contacts) >= 2:
                kind, subject, days_ago = "meeting", "Intro with new department", 1 + int(r() * 20)
            future = kind == "task" and r() < 0.25 and not dormant
            minute_of_day = 480 + int(r() * 600)
            if future:
                when = (clock.today + 1 + int(r() * 14)) * _DAY + minute_of_day
                created = clock.at(int(r() * 10), 540)
                done = False
            else:
                when = clock.at(days_ago, minute_of_day)
                created = when if kind != "task" else clock.past(when - int(r() * 7) * _DAY)
                done = kind != "meeting" or days_ago > 0
            modified = clock.past(max(created, when if not future else created) + int(r() * 120))
            contact = -1
            if contacts and kind != "note" and (kind != "task" or r() < 0.5):
                contact = int(r() * len(contacts))
                if subject == "Intro with new department":
                    contact = len(contacts) - 1
            deal = int(r() * len(deals)) if deals and r() < 0.15 else -1
            priority = ("High", "Normal", "Normal", "Low")[int(r() * 4)]
            variant = int(r() * 10)
            duration = (30, 45, 60)[int(r() * 3)]
            out.append(
                _Activity(kind, subject, when, created, modified, contact, deal, done, priority, variant, duration)
            )
        return out

    def _tickets(self, a: _Account, contacts: list[_Contact]) -> list[_Ticket]:
        r = self.rng.random
        clock = self.clock
        count = a.tickets
        out: list[_Ticket] = []
        risk = a.story == "churn_risk" and count >= 3
        recent = max(2, math.ceil(count * 0.6)) if risk else 0
        before = min(count - recent, int(recent / 1.5)) if risk else 0
        escalate = 0 if risk or "open_escalation" in a.overlays else -1
        for k in range(count):
            if risk and k < recent:
                days_ago = 1 + int(r() * 29) if k else 1 + int(r() * 9)
            elif risk and k < recent + before:
                days_ago = 31 + int(r() * 29)
            elif risk:
                days_ago = 61 + int(r() * 120)
            elif k == escalate:
                days_ago = 1 + int(r() * 9)
            else:
                days_ago = int(r() * 180)
            created = clock.at(days_ago, 480 + int(r() * 600))
            contact = int(r() * len(contacts)) if contacts and r() < 0.8 else -1
            subject = _TICKET_SUBJECTS[int(r() * len(_TICKET_SUBJECTS))]
            origin = ("Web", "Email", "Phone")[int(r() * 3)]
            if k == escalate:
                modified = clock.past(created + 60 + int(r() * 600))
                out.append(_Ticket(subject, "Escalated", "High", True, origin, created, None, modified, contact))
                continue
            priority = ("High", "Medium", "Medium", "Low", "Low")[int(r() * 5)]
            if days_ago > 14 or r() < 0.5:
                closed = clock.past(created + (1 + int(r() * 10)) * _DAY)
                out.append(_Ticket(subject, "Closed", priority, False, origin, created, closed, closed, contact))
            else:
                status = "New" if r() < 0.5 else "Working"
                modified = clock.past(created + int(r() * 600))
                out.append(_Ticket(subject, status, priority, False, origin, created, None, modified, contact))
        return out

    def _workspace_id(self, n: int) -> str:
        return f"ws-{n + 1:0{self.width}d}"

    def _workspace(self, a: _Account, assets: list[_Asset], contacts: list[_Contact]) -> None:
        """The usage story's curve parameters (see :class:`_UsagePlan`).

        Every account has a workspace in the usage API: a customer's is linked in the CRM; a
        group company without a contract runs a free one that nobody linked (usage with no
        account is everyday data, and upsync must cope with it).
        """
        rng = self.rng
        r = rng.random
        days = self.v.usage_days
        story = a.story
        seats = a.seats if a.customer else _FREE_SEATS
        near = (4 * seats + 4) // 5  # ceil(80%): the S5 line
        if story == "seats_near_limit":
            r1 = (0.82, 0.9, 0.97, 1.0)[int(r() * 4)]
            last_used = min(seats, max(near, round(seats * r1)))
            used = (r1 - 0.08, r1)
        else:
            r1 = (0.3, 0.35, 0.5, 0.6, 0.65, 0.7, 0.75)[int(r() * 7)]
            if story in ("wau_rising", "onboarded"):  # growing into the seats they bought
                r1 = 0.75
            used = (r1 - 0.05 if story not in ("wau_rising", "onboarded") else 0.45, r1)
            last_used = max(1, min(round(seats * r1), near - 1))
        active = {
            "wau_rising": (0.35, 0.85),
            "dormant": (0.75, 0.12),
            "onboarding_stalled": (0.1, 0.08),
            "onboarded": (0.2, 0.9),
            "churn_risk": (0.6, 0.35),
        }.get(story, (0.6 + 0.2 * r(), 0.6 + 0.2 * r()))
        if story == "onboarding_stalled":
            used = (0.5, 0.5)
            last_used = max(1, min(round(seats * 0.5), near - 1))
        storage_limit = _STORAGE_LIMIT_GB[a.tier] if a.customer else _FREE_STORAGE_GB
        s1 = 0.82 + 0.13 * r() if story == "storage_near_limit" else 0.2 + 0.5 * r()
        api_limit = _API_LIMIT[a.tier] if a.customer else _FREE_API_CALLS
        c1 = 0.82 + 0.16 * r() if story == "api_near_limit" else 0.1 + 0.5 * r()
        integrations = 0 if story == "onboarding_stalled" else int(r() * 4)
        if story == "onboarded":
            integrations = max(1, integrations)
        integration_days: tuple[int, ...] = ()
        if story == "new_integration" and days:
            first = max(0, days - 2 - int(r() * min(25, days)))
            integration_days = (first,) if r() < 0.6 else (first, min(days - 1, first + 2 + int(r() * 5)))
        premium = story == "premium_interest"
        trial_day = days - 1 - int(r() * 7) if premium and r() < 0.5 and days >= 7 else -1
        departments = tuple(dict.fromkeys(c.department for c in contacts if c.created < self.clock.top - 30 * _DAY))
        if not departments:
            departments = tuple(rng.sample(_DEPARTMENTS, 2))
        raw = [0.5 + r() for _ in departments]
        weights = [x / sum(raw) for x in raw]
        new_department = None
        new_day = days
        if "stakeholder_growth" in a.overlays:
            new_department = next(
                (c.department for c in reversed(contacts) if c.department not in departments),
                next(d for d in _DEPARTMENTS if d not in departments),
            )
            new_day = max(0, days - 3 - int(r() * min(20, days)))
        owned = {asset.product for asset in assets if asset.status != "Obsolete"}
        features = (*_CORE_FEATURES, *(p.feature for i, p in enumerate(_PRODUCTS) if i in owned and p.feature))
        scale = 0.1 if story == "onboarding_stalled" else 1.0
        self.usage.workspaces.append(
            _Workspace(
                workspace_id=self._workspace_id(a.n),
                seats=seats,
                used=used,
                last_used=last_used,
                active=active,
                storage_limit=storage_limit,
                storage=(s1 * 0.85, s1),
                last_storage=round(storage_limit * s1, 1),
                api_limit=api_limit,
                api=(c1 * 0.8, c1),
                last_api=round(api_limit * c1),
                integrations=integrations,
                integration_days=integration_days,
                premium=premium,
                trial_day=trial_day,
                departments=departments,
                others=tuple(zip(departments[1:], weights[1:], strict=True)),
                new_department=new_department,
                new_department_day=new_day,
                features=features,
                rates=tuple(_FEATURE_RATES[name] * scale for name in features),
            )
        )


# --- projections -------------------------------------------------------------------------------


class _SalesforceProjection:
    """Canonical records → Salesforce REST records (``SalesforceStore.objects``)."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.store = SalesforceStore()
        self.users: list[str] = []
        self.counters: dict[str, int] = {}
        self.products: list[str] = []
        self.account_ids: list[str] = []
        self.tables = {
            name: self.store.table(name)
            for name in (
                "User",
                "Account",
                "Contract",
                "Opportunity",
                "Product2",
                "OpportunityLineItem",
                "Asset",
                "Contact",
                "Task",
                "Event",
                "Case",
            )
        }

    def next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return sf_id(prefix, n)

    def start(self, owners: list[tuple[str, str, bool]], accounts: list[_Account]) -> None:
        clock = self.clock
        users = self.tables["User"]
        for i, (first, last, active) in enumerate(owners):
            uid = self.next_id("005")
            users[uid] = {
                "Id": uid,
                "Name": f"{first} {last}",
                "FirstName": first,
                "LastName": last,
                "Email": _owner_email(first, last, i),
                "IsActive": active,
                "SystemModstamp": clock.sf(clock.at(max(30, 400 - i), 540)),
            }
            self.users.append(uid)
        # The API user that the sandbox token belongs to: CreatedById/LastModifiedById of upsync's writes.
        integration = self.next_id("005")
        users[integration] = {
            "Id": integration,
            "Name": "Upsync Integration",
            "FirstName": "Upsync",
            "LastName": "Integration",
            "Email": "upsync-integration@example.com",
            "IsActive": True,
            "SystemModstamp": clock.sf(clock.at(500, 540)),
        }
        self.store.integration_user_id = integration
        products = self.tables["Product2"]
        for k, p in enumerate(_PRODUCTS):
            pid = self.next_id("01t")
            stamp = clock.sf(clock.at(900 - k, 540))
            admin = self.users[0]
            products[pid] = {
                "Id": pid,
                "Name": p.name,
                "ProductCode": p.code,
                "Family": p.family,
                "IsActive": True,
                "CreatedDate": stamp,
                "CreatedById": admin,
                "LastModifiedDate": stamp,
                "LastModifiedById": admin,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
            self.products.append(pid)
        self.counters["001"] = 0
        self.account_ids = [sf_id("001", a.n + 1) for a in accounts]

    def account(self, a: _Account, b: _Bundle) -> None:
        sf = self.clock.sf
        day = self.clock.day
        owner = self.users[a.owner]
        acc_id = self.account_ids[a.n]
        self.counters["001"] = a.n + 1
        created, modified = sf(a.created), sf(a.modified)
        industry = _INDUSTRIES[a.industry][0]
        self.tables["Account"][acc_id] = {
            "Id": acc_id,
            "Name": a.name,
            "OwnerId": owner,
            "ParentId": self.account_ids[a.parent] if a.parent is not None else None,
            "Website": f"https://www.{a.domain}",
            "Industry": industry,
            "NumberOfEmployees": a.employees,
            "Type": ("Customer - Channel" if a.n % 10 == 3 else "Customer - Direct") if a.customer else "Prospect",
            "Workspace_Id__c": a.workspace,
            "Seats_Purchased__c": a.seats if a.customer else 0,
            "Health_Rollup__c": a.health,
            "Do_Not_Contact__c": "do_not_contact" in a.overlays,
            "NPS__c": a.nps,
            "CSAT__c": a.csat,
            "CreatedDate": created,
            "CreatedById": owner,
            "LastModifiedDate": modified,
            "LastModifiedById": owner,
            "SystemModstamp": modified,
            "IsDeleted": False,
        }
        contracts = self.tables["Contract"]
        for c in b.contracts:
            cid = self.next_id("800")
            c_created, c_modified = sf(c.created), sf(c.modified)
            contracts[cid] = {
                "Id": cid,
                "AccountId": acc_id,
                "Status": c.status,
                "StatusCode": "InApproval" if c.status == "In Approval Process" else c.status,
                "StartDate": day(c.start),
                "EndDate": day(c.end),
                "ContractTerm": c.term,
                "OwnerId": owner,
                "CreatedDate": c_created,
                "CreatedById": owner,
                "LastModifiedDate": c_modified,
                "LastModifiedById": owner,
                "SystemModstamp": c_modified,
                "IsDeleted": False,
            }
        opportunities = self.tables["Opportunity"]
        deal_ids: list[str] = []
        for d in b.deals:
            oid = self.next_id("006")
            deal_ids.append(oid)
            d_created, d_modified = sf(d.created), sf(d.modified)
            opportunities[oid] = {
                "Id": oid,
                "AccountId": acc_id,
                "Name": d.name,
                "Type": _SF_DEAL_TYPES[d.kind],
                "StageName": d.stage,
                "IsClosed": d.stage.startswith("Closed"),
                "IsWon": d.stage == "Closed Won",
                "CloseDate": day(d.close),
                "Amount": float(d.amount),
                "OwnerId": owner,
                "CreatedDate": d_created,
                "CreatedById": owner,
                "LastModifiedDate": d_modified,
                "LastModifiedById": owner,
                "SystemModstamp": d_modified,
                "IsDeleted": False,
            }
        lines = self.tables["OpportunityLineItem"]
        for li in b.lines:
            lid = self.next_id("00k")
            stamp = sf(li.modified)
            lines[lid] = {
                "Id": lid,
                "OpportunityId": deal_ids[li.deal],
                "Product2Id": self.products[li.product],
                "Quantity": float(li.quantity),
                "UnitPrice": float(li.unit_price),
                "TotalPrice": float(li.unit_price * li.quantity),
                "ServiceDate": day(li.service),
                "CreatedDate": sf(li.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        assets = self.tables["Asset"]
        for s in b.assets:
            aid = self.next_id("02i")
            stamp = sf(s.modified)
            assets[aid] = {
                "Id": aid,
                "AccountId": acc_id,
                "Product2Id": self.products[s.product],
                "Name": _PRODUCTS[s.product].name,
                "Quantity": float(s.quantity),
                "Status": s.status,
                "PurchaseDate": day(s.purchased),
                "InstallDate": day(s.installed) if s.installed is not None else None,
                "UsageEndDate": day(s.usage_end) if s.usage_end is not None else None,
                "OwnerId": owner,
                "CreatedDate": sf(s.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        contacts = self.tables["Contact"]
        contact_ids: list[str] = []
        for p in b.contacts:
            pid = self.next_id("003")
            contact_ids.append(pid)
            stamp = sf(p.modified)
            contacts[pid] = {
                "Id": pid,
                "AccountId": acc_id,
                "FirstName": p.first,
                "LastName": p.last,
                "Email": p.email,
                "Title": p.title,
                "Department": p.department,
                "OwnerId": owner,
                "CreatedDate": sf(p.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        tasks, events = self.tables["Task"], self.tables["Event"]
        for act in b.activities:
            what = deal_ids[act.deal] if act.deal >= 0 else acc_id
            who = contact_ids[act.contact] if act.contact >= 0 else None
            stamp = sf(act.modified)
            if act.kind == "meeting":
                eid = self.next_id("00U")
                events[eid] = {
                    "Id": eid,
                    "Subject": act.subject,
                    "ActivityDate": day(act.when // _DAY),
                    "ActivityDateTime": sf(act.when),
                    "DurationInMinutes": act.duration,
                    "OwnerId": owner,
                    "WhatId": what,
                    "WhoId": who,
                    "AccountId": acc_id,
                    "CreatedDate": sf(act.created),
                    "CreatedById": owner,
                    "LastModifiedDate": stamp,
                    "LastModifiedById": owner,
                    "SystemModstamp": stamp,
                    "IsDeleted": False,
                }
                continue
            tid = self.next_id("00T")
            subtype = "Email" if act.kind == "email" else "Call" if act.kind == "call" else "Task"
            status = "Completed" if act.done else ("Not Started", "In Progress")[act.variant % 2]
            tasks[tid] = {
                "Id": tid,
                "Subject": f"Email: {act.subject}" if act.kind == "email" else act.subject,
                "ActivityDate": day(act.when // _DAY),
                "Status": status,
                "Priority": act.priority,
                "TaskSubtype": subtype,
                "OwnerId": owner,
                "WhatId": what,
                "WhoId": who,
                "AccountId": acc_id,
                "IsClosed": act.done,
                "Upsync_Sync_Key__c": None,
                "CreatedDate": sf(act.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        cases = self.tables["Case"]
        for t in b.tickets:
            case_id = self.next_id("500")
            stamp = sf(t.modified)
            cases[case_id] = {
                "Id": case_id,
                "AccountId": acc_id,
                "ContactId": contact_ids[t.contact] if t.contact >= 0 else None,
                "Subject": t.subject,
                "Status": t.status,
                "Priority": t.priority,
                "Origin": t.origin,
                "IsClosed": t.status == "Closed",
                "IsEscalated": t.escalated,
                "ClosedDate": sf(t.closed) if t.closed is not None else None,
                "OwnerId": owner,
                "CreatedDate": sf(t.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }

    def finish(self) -> SalesforceStore:
        self.store.counters.update(self.counters)
        return self.store


def _owner_email(first: str, last: str, i: int) -> str:
    suffix = "" if i < len(_FIXED_OWNERS) - 1 else str(i)
    return f"{first.lower()}.{last.lower()}{suffix}@example.com"


class _HubSpotProjection:
    """Canonical records → HubSpot CRM objects and v4 associations (``HubSpotStore``)."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.store = HubSpotStore()
        self.owners: list[str] = []
        self.products: list[str] = []
        self.counters = dict.fromkeys(_HS_BASE, 0)
        self.tables = {name: self.store.table(name) for name in ("owners", *_HS_BASE)}
        self.assoc = self.store.associations
        self._numbers: dict[int, str] = {}

    def next_id(self, object_type: str) -> str:
        n = self.counters[object_type] + 1
        self.counters[object_type] = n
        return str(_HS_BASE[object_type] + n)

    def number(self, value: int) -> str:
        """Shared string for an integer property value (amounts, quantities repeat a lot)."""
        text = self._numbers.get(value)
        if text is None:
            text = self._numbers[value] = str(value)
        return text

    def obj(self, object_id: str, properties: dict[str, str], created: str, modified: str) -> dict[str, Any]:
        return {
            "id": object_id,
            "properties": properties,
            "createdAt": created,
            "updatedAt": modified,
            "archived": False,
            "archivedAt": None,
        }

    def start(self, owners: list[tuple[str, str, bool]]) -> None:
        clock = self.clock
        table = self.tables["owners"]
        for i, (first, last, active) in enumerate(owners):
            hid = str(70_000_001 + i)
            table[hid] = {
                "id": hid,
                "email": _owner_email(first, last, i),
                "firstName": first,
                "lastName": last,
                "userId": 9_000_001 + i,
                "createdAt": clock.hs(clock.at(max(30, 400 - i), 540)),
                "updatedAt": clock.hs(clock.at(30 + i % 300, 540)),
                "archived": not active,
                "teams": [],
            }
            self.owners.append(hid)
        products = self.tables["products"]
        for k, p in enumerate(_PRODUCTS):
            pid = self.next_id("products")
            stamp = clock.hs(clock.at(900 - k, 540))
            products[pid] = self.obj(
                pid,
                {
                    "hs_object_id": pid,
                    "name": p.name,
                    "hs_sku": p.code,
                    "product_family": p.family,
                    "price": self.number(p.price),
                    "createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                },
                stamp,
                stamp,
            )
            self.products.append(pid)

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.assoc[(from_type, from_id, to_type)] = [(to_id, _HS_ASSOC[(from_type, to_type)])]

    def account(self, a: _Account, b: _Bundle) -> None:
        hs = self.clock.hs
        day = self.clock.day
        number = self.number
        owner = self.owners[a.owner]
        company = str(_HS_BASE["companies"] + a.n + 1)
        self.counters["companies"] = a.n + 1
        created, modified = hs(a.created), hs(a.modified)
        if a.customer:
            stage = "customer"
        else:
            stage = "opportunity" if any(not d.stage.startswith("Closed") for d in b.deals) else "lead"
        self.tables["companies"][company] = self.obj(
            company,
            {
                "hs_object_id": company,
                "name": a.name,
                "domain": a.domain,
                "hubspot_owner_id": owner,
                "industry": _INDUSTRIES[a.industry][1],
                "numberofemployees": number(a.employees),
                "lifecyclestage": stage,
                "workspace_id": a.workspace or "",
                "upsync_seats_purchased": number(a.seats if a.customer else 0),
                "contract_end_date": day(b.contract_end) if b.contract_end is not None else "",
                "health_rollup": str(a.health),
                "do_not_contact": "true" if "do_not_contact" in a.overlays else "false",
                "nps_score": str(a.nps) if a.nps is not None else "",
                "csat_score": str(a.csat) if a.csat is not None else "",
                "createdate": created,
                "hs_lastmodifieddate": modified,
            },
            created,
            modified,
        )
        if a.parent is not None:
            self.link("companies", company, "companies", str(_HS_BASE["companies"] + a.parent + 1))
        deal_ids: list[str] = []
        deals = self.tables["deals"]
        for d in b.deals:
            did = self.next_id("deals")
            deal_ids.append(did)
            d_created, d_modified = hs(d.created), hs(d.modified)
            is_closed = d.stage.startswith("Closed")
            deals[did] = self.obj(
                did,
                {
                    "hs_object_id": did,
                    "dealname": d.name,
                    "dealtype": _HS_DEAL_TYPES[d.kind],
                    "dealstage": _HS_STAGE[d.stage],
                    "pipeline": "default",
                    "closedate": hs(d.close * _DAY),
                    "amount": number(d.amount),
                    "hs_is_closed": "true" if is_closed else "false",
                    "hs_is_closed_won": "true" if d.stage == "Closed Won" else "false",
                    "hubspot_owner_id": owner,
                    "createdate": d_created,
                    "hs_lastmodifieddate": d_modified,
                },
                d_created,
                d_modified,
            )
            self.link("deals", did, "companies", company)
        lines = self.tables["line_items"]
        for li in b.lines:
            lid = self.next_id("line_items")
            product = _PRODUCTS[li.product]
            l_created, l_modified = hs(li.created), hs(li.modified)
            lines[lid] = self.obj(
                lid,
                {
                    "hs_object_id": lid,
                    "name": product.name,
                    "hs_product_id": self.products[li.product],
                    "hs_sku": product.code,
                    "quantity": number(li.quantity),
                    "price": number(li.unit_price),
                    "amount": number(li.unit_price * li.quantity),
                    "createdate": l_created,
                    "hs_lastmodifieddate": l_modified,
                },
                l_created,
                l_modified,
            )
            self.link("line_items", lid, "deals", deal_ids[li.deal])
        contact_ids: list[str] = []
        contacts = self.tables["contacts"]
        for p in b.contacts:
            pid = self.next_id("contacts")
            contact_ids.append(pid)
            p_created, p_modified = hs(p.created), hs(p.modified)
            contacts[pid] = self.obj(
                pid,
                {
                    "hs_object_id": pid,
                    "firstname": p.first,
                    "lastname": p.last,
                    "email": p.email,
                    "jobtitle": p.title,
                    "department": p.department,
                    "createdate": p_created,
                    "lastmodifieddate": p_modified,
                },
                p_created,
                p_modified,
            )
            self.link("contacts", pid, "companies", company)
        for act in b.activities:
            object_type = _HS_ENGAGEMENT[act.kind]
            eid = self.next_id(object_type)
            e_created, e_modified = hs(act.created), hs(act.modified)
            props: dict[str, str] = {"hs_object_id": eid, "hs_timestamp": hs(act.when), "hubspot_owner_id": owner}
            if act.kind == "email":
                props["hs_email_subject"] = act.subject
                props["hs_email_direction"] = "INCOMING_EMAIL" if act.variant < 3 else "EMAIL"
            elif act.kind == "call":
                props["hs_call_title"] = act.subject
                props["hs_call_status"] = "NO_ANSWER" if act.variant < 2 else "COMPLETED"
                props["hs_call_direction"] = "INBOUND" if act.variant >= 7 else "OUTBOUND"
            elif act.kind == "meeting":
                props["hs_meeting_title"] = act.subject
                props["hs_meeting_outcome"] = "COMPLETED" if act.done else "SCHEDULED"
            elif act.kind == "task":
                props["hs_task_subject"] = act.subject
                props["hs_task_status"] = "COMPLETED" if act.done else ("NOT_STARTED", "IN_PROGRESS")[act.variant % 2]
                props["hs_task_priority"] = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}[act.priority]
                props["hs_task_type"] = ("TODO", "CALL", "EMAIL")[act.variant % 3]
                props["upsync_sync_key"] = ""
            else:
                props["hs_note_body"] = act.subject
            props["hs_createdate"] = e_created
            props["hs_lastmodifieddate"] = e_modified
            self.tables[object_type][eid] = self.obj(eid, props, e_created, e_modified)
            self.link(object_type, eid, "companies", company)
            if act.contact >= 0:
                self.link(object_type, eid, "contacts", contact_ids[act.contact])
            if act.deal >= 0:
                self.link(object_type, eid, "deals", deal_ids[act.deal])
        tickets = self.tables["tickets"]
        for t in b.tickets:
            tid = self.next_id("tickets")
            t_created, t_modified = hs(t.created), hs(t.modified)
            tickets[tid] = self.obj(
                tid,
                {
                    "hs_object_id": tid,
                    "subject": t.subject,
                    "hs_pipeline": "0",
                    "hs_pipeline_stage": _HS_TICKET_STAGE[t.status],
                    "hs_ticket_priority": "URGENT" if t.escalated else _HS_PRIORITY[t.priority],
                    "hubspot_owner_id": owner,
                    "createdate": t_created,
                    "closed_date": hs(t.closed) if t.closed is not None else "",
                    "hs_lastmodifieddate": t_modified,
                },
                t_created,
                t_modified,
            )
            self.link("tickets", tid, "companies", company)

    def finish(self) -> HubSpotStore:
        self.store.next_id = _HS_RUNTIME_IDS  # ids of objects created at run time stand apart from seeded ones
        return self.store


def build_world(
    *,
    seed: int = 7,
    anchor: datetime,
    accounts: int | None = None,
    usage_days: int | None = None,
    contracts_per_account: float | None = None,
    deals_per_account: float | None = None,
    activities_per_account: float | None = None,
    contacts_per_account: float | None = None,
    tickets_per_account: float | None = None,
    systems: Iterable[str] | None = None,
    groups: bool | None = None,
    volumes: Volumes | None = None,
) -> World:
    """Build the seeded sample world as of ``anchor`` (tz-aware; "today" for every story).

    Volumes come from ``volumes`` (default :class:`Volumes`: 300 accounts, the demo world) with
    any keyword given here overriding its field, so ``build_world(anchor=a, accounts=50)`` and
    ``build_world(anchor=a, volumes=Volumes.benchmark("hubspot"))`` both read naturally.
    ``systems`` picks the CRM stores to fill (the other stays empty); usage is always built.

    About a quarter of the customers use 80% or more of their purchased seats on the last day
    of usage, so rule S5 has something to find, and every 17th account belongs to the inactive
    owner; the other stories are listed in :data:`STORIES` and found via ``world.stories``.
    """
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    anchor = anchor.astimezone(timezone.utc)
    overrides: dict[str, Any] = {
        "accounts": accounts,
        "usage_days": usage_days,
        "contracts_per_account": contracts_per_account,
        "deals_per_account": deals_per_account,
        "activities_per_account": activities_per_account,
        "contacts_per_account": contacts_per_account,
        "tickets_per_account": tickets_per_account,
        "systems": tuple(systems) if systems is not None else None,
        "groups": groups,
    }
    resolved = replace(volumes or Volumes(), **{k: v for k, v in overrides.items() if v is not None})
    return _Generator(resolved, seed, anchor).run()
