"""Each account's contracts, deals, line items and assets (renewal, upgrade, cross-sell and churn stories).

They say what a real CRM would, so that MRR derived from them is the story's own
(``sandbox/world/revenue.py``): a new-business deal and a renewal at every later term start, their
lines dated from the term's first day (OpportunityLineItem ServiceDate); an upgrade's or
cross-sell's line dated from its close, running to the covering term's end; each renewal
re-quoting every recurring product live at its term's start (the plan at its edition then, every
add-on bought by then); the plan being what the deals sold. A former customer's chain of terms
ended months ago: its last renewal lost, nothing left open, every asset Obsolete.
"""

from __future__ import annotations

from sandbox.world.catalogue import (
    ANALYTICS,
    CROSS_SELL,
    DASHBOARDS,
    DEAL_CROSS,
    DEAL_NEW,
    DEAL_RENEWAL,
    DEAL_UPGRADE,
    OPEN_STAGES,
    PRODUCTS,
    recurring,
)
from sandbox.world.clock import DAY, add_months
from sandbox.world.generator.draw import Draw
from sandbox.world.records import Account, Asset, Contract, Deal, Line, Subscription
from sandbox.world.stories import NEW_CUSTOMER


def _off_term_start(close: int, term_starts: set[int]) -> int:
    """An expansion never closes on a term's first day: that day's renewal lists what it brought."""
    return close - 1 if close in term_starts else close


class Commerce(Draw):
    """Contracts, deals, line items and assets of one account."""

    def _contracts(self, a: Account) -> tuple[list[Contract], int | None]:
        if not a.customer or a.contracts == 0:
            return [], None
        r = self.rng.random
        clock = self.clock
        today = clock.today
        out: list[Contract] = []
        if a.story in NEW_CUSTOMER:
            start = today - (30 + int(r() * (16 if a.story == "onboarded" else 31)))
            end = add_months(start, 12) - 1
            signed = (start - 3) * DAY + 600
            out.append(Contract(start, end, 12, "Activated", clock.past(signed), clock.past(signed + 3 * DAY)))
            return out, end
        end = today + 1 + int(r() * 359)
        if a.churn_day is not None:  # a former customer: its last term ended without renewal
            end = a.churn_day
        roll = r()
        term = 12 if roll < 0.7 else 24 if roll < 0.9 else 36
        start = add_months(end + 1, -term)
        draft = a.churn_day is None and a.contracts >= 2 and end - today <= 120 and r() < 0.6
        history = a.contracts - 1 - (1 if draft else 0)
        chain: list[tuple[int, int, int]] = [(start, end, term)]
        for _ in range(history):
            prev_start = add_months(chain[-1][0], -12)
            chain.append((prev_start, chain[-1][0] - 1, 12))
        for s, e, t in reversed(chain):
            signed = (s - 1 - int(r() * 20)) * DAY + 540 + int(r() * 480)
            out.append(Contract(s, e, t, "Activated", clock.past(signed), clock.past(signed + int(r() * 10) * DAY)))
        if draft:
            signed = clock.at(1 + int(r() * 30), 600)
            status = "Draft" if r() < 0.5 else "In Approval Process"
            out.append(Contract(end + 1, add_months(end + 1, 12) - 1, 12, status, signed, signed))
        return out, end

    def _deals(
        self, a: Account, contracts: list[Contract], current_end: int | None
    ) -> tuple[list[Deal], list[Line], list[Asset], Subscription | None]:
        r = self.rng.random
        clock = self.clock
        today = clock.today
        price = PRODUCTS[a.tier].price
        deals: list[Deal] = []
        lines: list[Line] = []
        plans: list[tuple[int, int]] = []  # (edition, since day): one plan at a time
        addons: dict[int, tuple[int, int]] = {}  # recurring add-on → (quantity, since day)
        owned: dict[int, tuple[int, int]] = {}  # cross-sell product → (won day, quantity)
        wanted = a.deals
        activated = [c for c in contracts if c.status == "Activated"]
        churned = a.churn_day is not None and current_end is not None
        # expansions close while the customer pays: before a former customer's last day
        last_day = min(today, current_end) if churned and current_end is not None else today

        def closed(kind: int, name: str, close: int, amount: int, won: bool) -> int:
            close = min(close, today - 1)
            created = clock.past((close - 20 - int(r() * 70)) * DAY + 600)
            modified = clock.past(close * DAY + 600 + int(r() * 3) * DAY)
            stage = "Closed Won" if won else "Closed Lost"
            deals.append(Deal(kind, name, stage, close, amount, created, max(created, modified)))
            return len(deals) - 1

        def opened(kind: int, name: str, close: int, amount: int, stage: str) -> None:
            if churned:  # a former customer has nothing in the pipeline: the offer was turned down
                closed(kind, name, last_day - 1 - int(r() * 60), amount, False)
                return
            created = clock.at(5 + int(r() * 55), 600)
            modified = max(created, clock.at(1 + int(r() * 4), int(r() * DAY)))
            deals.append(Deal(kind, name, stage, close, amount, created, modified))

        if a.customer and activated and wanted:
            first = activated[0]
            plan_edition = a.tier if r() < 0.7 or a.tier == 0 else a.tier - 1
            # 1. the new-business deal that made it a customer; its lines run from the first term's start
            index = closed(DEAL_NEW, f"{a.name} - New Business", first.start - int(r() * 7), 0, True)
            items = [(plan_edition, a.seats)]
            if r() < 0.3:
                items.append((9, 1))  # onboarding package
            if r() < 0.2:
                items.append((ANALYTICS, a.seats))  # analytics from day one: dashboards tend to follow (S15)
            self._won(deals, lines, index, items, owned, since=first.start)
            plans.append((plan_edition, first.start))
            for product, quantity in items[1:]:
                if recurring(product):
                    addons.setdefault(product, (quantity, first.start))
            # 2. a renewal won at every later term start (its lines once the expansions are known)
            renewals: list[tuple[int, int]] = []
            for c in activated[1:]:
                if len(deals) >= wanted:  # fewer deals than terms: only where the volumes cannot give each one
                    break
                year = clock.day(c.start)[:4]
                renewals.append((closed(DEAL_RENEWAL, f"{a.name} - Renewal {year}", c.start - 5, 0, True), c.start))
            # 3. the open renewal of the current contract; a former customer's last one was lost
            if current_end is not None and current_end - today <= 120 and len(deals) < wanted:
                stage = OPEN_STAGES[4 + int(r() * 2)]
                name = f"{a.name} - Renewal {clock.day(current_end + 1)[:4]}"
                if churned:
                    closed(DEAL_RENEWAL, name, current_end - int(r() * 30), price * a.seats, False)
                else:
                    opened(DEAL_RENEWAL, name, current_end, price * a.seats, stage)
            # 4. expansions: upgrades and cross-sells, won, lost or open
            since = first.start
            term_starts = {c.start for c in activated}
            while len(deals) < wanted:
                upgrade = plan_edition < a.tier and r() < 0.5
                roll = r()
                span = max(1, last_day - since - 1)
                when = r()
                close = since + 1 + int(when * span)
                if upgrade:
                    close = _off_term_start(close, term_starts)
                    amount = PRODUCTS[a.tier].price * a.seats
                    name = f"{a.name} - Upgrade to {PRODUCTS[a.tier].name}"
                    if roll < 0.6:
                        index = closed(DEAL_UPGRADE, name, close, 0, True)
                        self._won(deals, lines, index, [(a.tier, a.seats)], owned)
                        plans.append((a.tier, deals[index].close))
                        plan_edition = a.tier
                    elif roll < 0.85:
                        closed(DEAL_UPGRADE, name, close, amount, False)
                    else:
                        opened(DEAL_UPGRADE, name, today + 5 + int(r() * 90), amount, OPEN_STAGES[int(r() * 6)])
                    continue
                product = self._cross_sell_product(owned)
                if product == DASHBOARDS and ANALYTICS in owned:  # S15: dashboards follow analytics within months
                    close = min(last_day - 1, owned[ANALYTICS][0] + 30 + int(when * 140))
                close = _off_term_start(close, term_starts)
                item = PRODUCTS[product]
                quantity = a.seats if item.per_seat else 1
                name = f"{a.name} - {item.name}"
                if roll < 0.55:
                    index = closed(DEAL_CROSS, name, close, 0, True)
                    self._won(deals, lines, index, [(product, quantity)], owned)
                    if recurring(product):
                        addons.setdefault(product, (quantity, deals[index].close))
                elif roll < 0.8:
                    closed(DEAL_CROSS, name, close, item.price * quantity, False)
                else:
                    opened(
                        DEAL_CROSS, name, today + 5 + int(r() * 90), item.price * quantity, OPEN_STAGES[int(r() * 6)]
                    )
            # 5. each renewal re-quotes every recurring product live at its term's start: the plan at
            # its edition then, each add-on bought by then; nothing lapses unless the story says so
            for index, start in renewals:
                edition = [e for e, since in plans if since <= start][-1]
                listed = [(p, q) for p, (q, since) in sorted(addons.items()) if since <= start]
                self._won(deals, lines, index, [(edition, a.seats), *listed], None, since=start)
            a.tier = plan_edition  # the plan is what the deals sold: an upgrade not won was not made
        elif a.customer and activated:
            plans.append((a.tier, activated[0].start))  # an org that records no deals: the contracts say it
        elif not a.customer:
            # a group company being worked: new business, open or lost
            for _ in range(wanted):
                seats = 10 + 5 * int(r() * 10)
                amount = PRODUCTS[1].price * seats
                name = f"{a.name} - New Business"
                if r() < 0.7:
                    opened(DEAL_NEW, name, today + 10 + int(r() * 120), amount, OPEN_STAGES[int(r() * 6)])
                else:
                    closed(DEAL_NEW, name, today - 30 - int(r() * 300), amount, False)
        subscription = None
        if plans:
            listed_addons = tuple((p, q, since) for p, (q, since) in sorted(addons.items()))
            subscription = Subscription(activated[0].start, activated[-1].end, a.seats, tuple(plans), listed_addons)
        assets = self._assets(a, plans, owned, current_end)
        return deals, lines, assets, subscription

    def _cross_sell_product(self, owned: dict[int, tuple[int, int]]) -> int:
        """What an expansion deal sells: owners of Analytics Pro mostly add Custom Dashboards (S15)."""
        r = self.rng.random
        if ANALYTICS in owned and DASHBOARDS not in owned and r() < 0.85:
            return DASHBOARDS
        choices = [p for p in CROSS_SELL if p not in owned] or list(CROSS_SELL)
        weights = [3.0 if p == ANALYTICS else 1.0 for p in choices]
        pick = r() * sum(weights)
        for product, weight in zip(choices, weights, strict=True):
            pick -= weight
            if pick < 0:
                return product
        return choices[-1]

    def _won(
        self,
        deals: list[Deal],
        lines: list[Line],
        index: int,
        items: list[tuple[int, int]],
        owned: dict[int, tuple[int, int]] | None,
        *,
        since: int | None = None,
    ) -> None:
        """Line items for a won deal, dated ``since`` (a term's start) or else its close; the deal's
        amount is their total; its products become owned (``owned`` None: a renewal, owned already)."""
        deal = deals[index]
        total = 0
        for product, quantity in items:
            unit = PRODUCTS[product].price
            total += unit * quantity
            start = since if since is not None else deal.close
            lines.append(Line(index, product, quantity, unit, start, deal.modified, deal.modified))
            if owned is not None and product >= 4:
                owned[product] = (deal.close, quantity)
        deals[index] = deal._replace(amount=total)

    def _assets(
        self,
        a: Account,
        plans: list[tuple[int, int]],
        owned: dict[int, tuple[int, int]],
        current_end: int | None,
    ) -> list[Asset]:
        """The plan's editions (each replaced one Obsolete) and every product bought; a former
        customer's are all Obsolete from its last day."""
        clock = self.clock
        today = clock.today
        ended = a.churn_day is not None and current_end is not None
        out: list[Asset] = []
        history = sorted({edition: day for edition, day in plans}.items(), key=lambda item: item[1])
        for k, (edition, since) in enumerate(history):
            replaced = history[k + 1][1] if k + 1 < len(history) else current_end if ended else None
            stamp = clock.past(since * DAY + 720)
            if replaced is not None:
                out.append(
                    Asset(
                        edition,
                        a.seats,
                        "Obsolete",
                        since,
                        since + 7,
                        replaced,
                        stamp,
                        clock.past(replaced * DAY + 720),
                    )
                )
            else:
                out.append(Asset(edition, a.seats, "Installed", since, since + 7, current_end, stamp, stamp))
        for product, (won, quantity) in sorted(owned.items()):
            stamp = clock.past(won * DAY + 720)
            if ended and current_end is not None:
                ended_stamp = clock.past(current_end * DAY + 720)
                out.append(Asset(product, quantity, "Obsolete", won, won + 7, current_end, stamp, ended_stamp))
            elif today - won <= 14:
                out.append(Asset(product, quantity, "Purchased", won, None, current_end, stamp, stamp))
            else:
                out.append(Asset(product, quantity, "Installed", won, won + 7, current_end, stamp, stamp))
        return out
