"""The World: every store, the tokens the stand-ins accept, and the answer key."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.world.records import Subscription
from sandbox.world.stores import AccountKey, AuthState, HubSpotStore, SalesforceStore, UsageStore
from sandbox.world.variant import CrmVariant
from sandbox.world.volumes import Volumes

SANDBOX_TOKENS = {
    "salesforce": "sandbox-salesforce-token",
    "hubspot": "sandbox-hubspot-token",
    "usage": "sandbox-usage-token",
}
"""Not secrets: the fixed tokens of the local stand-ins, printed by `upsync sandbox`."""


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
    subscriptions: list[Subscription | None] = field(default_factory=list)
    """Account number → what it pays for as its story tells it (None: no contract, or no deal recorded it):
    the world's own MRR (:func:`sandbox.world.revenue.world_mrr`), independent of the CRM records."""
    crm_variant: CrmVariant = field(default_factory=CrmVariant)
    """How the CRMs are set up: their custom field names, picklist values and engagement ids."""

    def now(self) -> datetime:
        """The stand-ins' server clock: ``anchor`` plus the real time elapsed since the build.

        Writes are stamped with it, so records written during a run sort after the seeded ones.
        """
        return self.anchor + timedelta(seconds=time.monotonic() - self.started)
