"""The world generator: plans the accounts, draws each one's records and projects them into the stores."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from sandbox.world.catalogue import ANALYTICS, DASHBOARDS
from sandbox.world.clock import DAY, Clock
from sandbox.world.formats import sf_id
from sandbox.world.generator.accounts import Accounts
from sandbox.world.generator.commerce import Commerce
from sandbox.world.generator.people import People
from sandbox.world.generator.workspaces import Workspaces
from sandbox.world.hubspot_projection import HS_BASE, HS_RUNTIME_IDS, HubSpotProjection
from sandbox.world.records import Account, Bundle, Subscription
from sandbox.world.salesforce_projection import SalesforceProjection
from sandbox.world.state import World
from sandbox.world.stores import AccountKey, HubSpotStore, SalesforceStore, UsageStore
from sandbox.world.stories import STORIES
from sandbox.world.usage_plan import UsagePlan, mix
from sandbox.world.usage_rows import UsageRows
from sandbox.world.variant import CrmVariant
from sandbox.world.vocabulary import FIRST_NAMES, FIXED_OWNERS, LAST_NAMES
from sandbox.world.volumes import Volumes


class _Generator(Accounts, Commerce, People, Workspaces):
    """Deals the stories, draws every canonical record from one random stream, and projects them."""

    def __init__(self, volumes: Volumes, seed: int, anchor: datetime, variant: CrmVariant) -> None:
        self.v = volumes
        self.seed = seed
        self.anchor = anchor
        self.rng = random.Random(seed)
        self.clock = Clock(anchor)
        self.width = max(5, len(str(volumes.accounts)))
        self.variant = variant
        self.sf = SalesforceProjection(self.clock, variant) if "salesforce" in volumes.systems else None
        self.hs = HubSpotProjection(self.clock, variant) if "hubspot" in volumes.systems else None
        self.usage = UsagePlan(self.clock, volumes.usage_days, mix(seed * 0x2545F4914F6CDD1D + 1))
        self.stories: dict[str, list[int]] = {name: [] for name in STORIES}
        self.keys: list[AccountKey] = []
        self.subscriptions: list[Subscription | None] = []

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
            if bundle.contract_end is not None and 0 <= bundle.contract_end - self.clock.today <= 90:
                self.stories["renewal_due"].append(a.n)
            if self._co_purchase_target(bundle):
                self.stories["co_purchase_target"].append(a.n)
            sf_account = self.sf.account_ids[a.n] if self.sf is not None else sf_id("001", a.n + 1)
            hs_company = str(HS_BASE["companies"] + a.n + 1)
            self.keys.append(AccountKey(sf_account, hs_company, a.workspace))
            self.subscriptions.append(bundle.subscription)
            if self.sf is not None:
                self.sf.account(a, bundle)
            if self.hs is not None:
                self.hs.account(a, bundle)
        sf_store = self.sf.finish() if self.sf is not None else SalesforceStore()
        hs_store = self.hs.finish() if self.hs is not None else HubSpotStore(next_id=HS_RUNTIME_IDS)
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
            subscriptions=self.subscriptions,
            crm_variant=self.variant,
        )

    def _owners(self, active: int) -> list[tuple[str, str, bool]]:
        """(first, last, active) of every owner: the fixed cast, then more reps for big worlds, then the leaver."""
        cast: list[tuple[str, str, bool]] = []
        for name, is_active in FIXED_OWNERS[:-1]:
            first, last = name.split(" ", 1)
            cast.append((first, last, is_active))
        k = 0
        while len(cast) < active:
            cast.append(
                (FIRST_NAMES[k % len(FIRST_NAMES)], f"{LAST_NAMES[(k // len(FIRST_NAMES)) % len(LAST_NAMES)]}", True)
            )
            k += 1
        first, last = FIXED_OWNERS[-1][0].split(" ", 1)
        cast.append((first, last, False))
        return cast

    @staticmethod
    def _co_purchase_target(bundle: Bundle) -> bool:
        owned = {asset.product for asset in bundle.assets if asset.status != "Obsolete"}
        return ANALYTICS in owned and DASHBOARDS not in owned

    def _bundle(self, a: Account) -> Bundle:
        clock = self.clock
        contracts, current_end = self._contracts(a)
        if contracts:
            first_start = contracts[0].start
            a.created = clock.past((first_start - 10 - int(self.rng.random() * 80)) * DAY + 540)
        elif "new_child_account" in a.overlays:
            a.created = clock.at(3 + int(self.rng.random() * 26), 600)
        else:
            a.created = clock.at(100 + int(self.rng.random() * 1400), 600)
        days_ago = 1 + int(self.rng.random() * 50)
        a.modified = max(a.created, clock.at(days_ago, int(self.rng.random() * DAY)))
        deals, lines, assets, subscription = self._deals(a, contracts, current_end)
        contacts = self._contacts(a)
        activities = self._activities(a, contacts, deals)
        tickets = self._tickets(a, contacts)
        self._workspace(a, assets, contacts)
        return Bundle(contracts, deals, lines, assets, contacts, activities, tickets, current_end, subscription)


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
    variant: CrmVariant | None = None,
) -> World:
    """Build the seeded sample world as of ``anchor`` (tz-aware; "today" for every story).

    Volumes come from ``volumes`` (default :class:`Volumes`: 300 accounts, the demo world) with
    any keyword given here overriding its field, so ``build_world(anchor=a, accounts=50)`` and
    ``build_world(anchor=a, volumes=Volumes.benchmark("hubspot"))`` both read naturally.
    ``systems`` picks the CRM stores to fill (the other stays empty); usage is always built.

    About a quarter of the customers use 80% or more of their purchased seats on the last day
    of usage, so rule S5 has something to find, and every 17th account belongs to the inactive
    owner; the other stories are listed in :data:`STORIES` and found via ``world.stories``.

    ``variant`` sets the CRMs up as another org would (:class:`CrmVariant`: its custom field
    names, picklist values, engagement id space); the default is the sandbox's own. It changes
    names and ids only: the customers and their stories are the seed's whatever the variant.
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
    return _Generator(resolved, seed, anchor, variant or CrmVariant()).run()
