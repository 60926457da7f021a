"""The stores the stand-ins serve: per-system records, credentials and armed item faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, MutableSequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sandbox.world.formats import sf_id
from sandbox.world.usage_rows import UsageRows


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
    # How this org differs from the stand-in's own describe (sandbox.world.variant): fields its
    # admin named otherwise, (sObject, stand-in name) → org name, and picklists with other values.
    field_renames: dict[tuple[str, str], str] = field(default_factory=dict)
    picklists: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    multi_currency: bool = False  # Opportunity has CurrencyIsoCode (sandbox.world.variant, sf_multi_currency)
    org_schema: Any = None  # the stand-in's describe of this org, built on first use

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
    association once, from the record that belongs to another towards the one it belongs to
    (contact → company 1, deal → company 5, task → company 192, child company → parent 14…),
    which is the direction upsync reads them in; the stand-in answers reads from the other
    side itself.
    """

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    associations: dict[tuple[str, str, str], list[tuple[str, int]]] = field(default_factory=dict)
    next_id: int = 20_000_000_001
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Test hook: per-input refusals of batch writes (sandbox.hubspot.refuse_items).
    item_faults: list[ItemFault] = field(default_factory=list)
    # How this portal differs from the stand-in's own properties (sandbox.world.variant): object
    # type → {stand-in property name → portal's name}, and enumeration options by (type, property).
    property_renames: dict[str, dict[str, str]] = field(default_factory=dict)
    property_options: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)

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
