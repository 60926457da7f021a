"""The world's own MRR: what each customer pays, per month and product, from its story alone.

Read from each account's :class:`~sandbox.world.records.Subscription` (its chain of terms, seats,
plan history and add-ons, churn included), never from the CRM records the stand-ins serve nor
through ``rules/mrr.py``, so an e2e test can hold upsync's figures against it. The story's terms:

- a customer pays from its first term's first day to its last activated term's last day (a
  former customer's lies months back);
- for its plan, the edition of the latest plan change on or before the day: the edition's price
  per seat and year × seats / 12;
- for each recurring add-on (support included, services never), from the day it was bought:
  price × quantity / 12;
- a month's MRR is a snapshot on its last day (on ``as_of`` in the month holding it), the
  convention upsync's report states;
- the product is the plan family ("Platform": one plan at a time) or the add-on's name.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from rules.revenue import MRR_SCHEMA
from sandbox.world.catalogue import PRODUCTS
from sandbox.world.records import Subscription
from sandbox.world.state import World

__all__ = ["CURRENCY", "monthly_amounts", "world_mrr"]

CURRENCY = "USD"
"""Every price of the catalogue is in US dollars (the portal's and the org's one currency)."""
_EPOCH = date(1970, 1, 1).toordinal()


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH


def _snapshots(first: date, last: date, as_of: date) -> list[tuple[date, int]]:
    """(month's first day, snapshot day as a world day) from ``first``'s month to ``last``'s, none past ``as_of``."""
    out: list[tuple[date, int]] = []
    month = first.replace(day=1)
    while month <= min(last, as_of):
        following = (month + timedelta(days=32)).replace(day=1)
        out.append((month, _day(min(following - timedelta(days=1), as_of))))
        month = following
    return out


def monthly_amounts(s: Subscription, day: int) -> dict[str, float]:
    """Product → what the subscription pays a month on ``day`` (empty outside its terms)."""
    if not s.start <= day <= s.end:
        return {}
    editions = [edition for edition, since in s.plans if since <= day]
    out: dict[str, float] = {}
    if editions:
        plan = PRODUCTS[editions[-1]]
        out[plan.family] = plan.price * s.seats / 12
    for product, quantity, since in s.addons:
        if since <= day:
            item = PRODUCTS[product]
            out[item.name] = out.get(item.name, 0.0) + item.price * quantity / 12
    return out


def world_mrr(world: World, system: str, *, first: date, last: date, as_of: date | None = None) -> pl.DataFrame:
    """:data:`rules.revenue.MRR_SCHEMA` rows of every paying account from ``first``'s month to
    ``last``'s (none past ``as_of``, default the world's anchor day), keyed by ``system``'s account
    id (``"salesforce"``: the Account Id, ``"hubspot"``: the company id)."""
    if system not in ("salesforce", "hubspot"):
        raise ValueError(f"system must be salesforce or hubspot, not {system!r}")
    snapshots = _snapshots(first, last, as_of or world.anchor.date())
    rows: list[tuple[str, date, str, float, str]] = []
    for key, subscription in zip(world.account_keys, world.subscriptions, strict=True):
        if subscription is None:
            continue
        account = key.salesforce_id if system == "salesforce" else key.hubspot_id
        for month, day in snapshots:
            for product, mrr in monthly_amounts(subscription, day).items():
                rows.append((account, month, product, mrr, CURRENCY))
    return pl.DataFrame(rows, schema=MRR_SCHEMA, orient="row").sort("account", "month", "product")
