"""The world's own MRR (``sandbox.world.revenue``): what a customer pays, from its story alone."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl

from rules.revenue import MRR_SCHEMA
from sandbox.world import build_world
from sandbox.world.records import Subscription
from sandbox.world.revenue import monthly_amounts, world_mrr

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
EPOCH = date(1970, 1, 1).toordinal()


def day(d: date) -> int:
    return d.toordinal() - EPOCH


# 10 seats of Starter ($96 a seat-year: $80 a month) from 1 Mar 2025, Team ($180: $150) from
# 15 Jan 2026, Analytics Pro for the 10 seats ($60: $50) from 10 Jun 2025; the last term ends 28 Feb 2026
STORY = Subscription(
    start=day(date(2025, 3, 1)),
    end=day(date(2026, 2, 28)),
    seats=10,
    plans=((0, day(date(2025, 3, 1))), (1, day(date(2026, 1, 15)))),
    addons=((4, 10, day(date(2025, 6, 10))),),
)


def test_a_subscription_pays_its_plan_and_each_add_on_from_the_day_it_was_bought() -> None:
    assert monthly_amounts(STORY, day(date(2025, 2, 28))) == {}  # not a customer yet
    assert monthly_amounts(STORY, day(date(2025, 3, 1))) == {"Platform": 80.0}
    assert monthly_amounts(STORY, day(date(2025, 6, 10))) == {"Platform": 80.0, "Analytics Pro": 50.0}
    assert monthly_amounts(STORY, day(date(2026, 1, 15))) == {"Platform": 150.0, "Analytics Pro": 50.0}
    assert monthly_amounts(STORY, day(date(2026, 2, 28))) == {"Platform": 150.0, "Analytics Pro": 50.0}
    assert monthly_amounts(STORY, day(date(2026, 3, 1))) == {}  # the last term ended: churned


def test_the_worlds_mrr_is_a_month_end_snapshot_keyed_by_each_crms_ids() -> None:
    world = build_world(seed=11, accounts=40, anchor=ANCHOR)
    sf = world_mrr(world, "salesforce", first=date(2026, 1, 1), last=date(2026, 6, 1))
    hs = world_mrr(world, "hubspot", first=date(2026, 1, 1), last=date(2026, 6, 1))
    assert sf.schema == pl.Schema(MRR_SCHEMA)
    assert set(sf["month"].unique()) == {date(2026, m, 1) for m in range(1, 7)}
    ids = {k.salesforce_id: k.hubspot_id for k in world.account_keys}
    assert sf.with_columns(pl.col("account").replace_strict(ids)).equals(hs)
    # June is measured on the anchor's day: 1 June, not its month end
    n, subscription = next((n, s) for n, s in enumerate(world.subscriptions) if s is not None)
    june = sf.filter((pl.col("account") == world.account_keys[n].salesforce_id) & (pl.col("month") == date(2026, 6, 1)))
    assert dict(zip(june["product"], june["mrr"], strict=True)) == monthly_amounts(subscription, day(date(2026, 6, 1)))


def test_a_former_customer_pays_until_its_last_term_ends_and_nothing_after() -> None:
    world = build_world(seed=11, accounts=120, anchor=ANCHOR)
    for n in world.stories["churned"]:
        subscription = world.subscriptions[n]
        assert subscription is not None and subscription.end < day(ANCHOR.date())
        mrr = world_mrr(world, "salesforce", first=date(2025, 1, 1), last=date(2026, 6, 1))
        paid = mrr.filter(pl.col("account") == world.account_keys[n].salesforce_id)
        assert paid.height and date(2026, 6, 1) not in set(paid["month"])  # paid before, nothing in June
