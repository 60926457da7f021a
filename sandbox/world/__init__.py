"""The sandbox's sample world: one deterministic set of customers served by every stand-in.

The same customers exist in the Salesforce stand-in (Accounts and everything hanging off them),
in the HubSpot stand-in (companies, contacts, deals, engagements…) and in the usage API (as
workspaces), so a demo, an e2e test or a benchmark against either CRM sees the same story. Each
customer is generated once, as canonical records (``Bundle``), and *projected* into each store
that was asked for; the random stream is consumed only by the canonical generation, so a world
built with ``systems=("hubspot",)`` holds exactly the HubSpot half of the two-system world. Facts
added later (NPS, CSAT, the do_not_contact and detractor overlays) come from a hash of the seed and
the account number instead, so they left every value the stream gives a seed's world unchanged.

Everything is derived from ``seed``, the volumes and ``anchor`` (the sandbox's "today"), so two
worlds built with the same arguments are identical, and a world built for ``--as-of 2026-06-01``
has renewals, modstamps and usage relative to that day. Every modstamp lies before ``anchor``.

Why the customers look the way they do: upsync exists to find accounts that are ripe for an
upsell, a cross-sell or a save: signals (S1–S18) say an account is ripe, guards (G1–G8) that
it must be left alone all the same.
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

from sandbox.world.formats import hs_time, sf_date, sf_id, sf_time
from sandbox.world.generator.build import build_world
from sandbox.world.state import SANDBOX_TOKENS, World
from sandbox.world.stores import (
    AccountKey,
    AuthState,
    HubSpotStore,
    ItemFault,
    SalesforceStore,
    UsageStore,
    take_item_fault,
)
from sandbox.world.stories import STORIES
from sandbox.world.usage_rows import USAGE_FIELDS, UsageRows
from sandbox.world.variant import CrmVariant, upsync_config
from sandbox.world.volumes import SYSTEMS, Volumes

__all__ = [
    "SANDBOX_TOKENS",
    "STORIES",
    "SYSTEMS",
    "USAGE_FIELDS",
    "AccountKey",
    "AuthState",
    "CrmVariant",
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
    "upsync_config",
]
