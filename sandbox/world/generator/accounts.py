"""Who the accounts are: stories dealt per block, sizes, owners, survey facts and record counts."""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.world.catalogue import EMPLOYEES, PLANS
from sandbox.world.generator.draw import Draw
from sandbox.world.records import Account
from sandbox.world.stories import BLOCK, DECK, NEEDS_ROOM, NEW_CUSTOMER, NO_CONTRACT, NPS, USAGE_STORIES
from sandbox.world.vocabulary import INDUSTRIES, REGIONS, SUFFIXES, WORDS


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


class Accounts(Draw):
    """Pass 1: deals the stories and sizes every account."""

    def plan(self) -> list[Account]:
        rng = self.rng
        r = rng.random
        accounts = [Account(n) for n in range(self.v.accounts)]
        active_owners = max(7, self.v.accounts // 400)
        for start in range(0, len(accounts), BLOCK):
            block = accounts[start : start + BLOCK]
            deck = list(DECK)
            rng.shuffle(deck)
            if self.v.groups:
                cards = [*deck, rng.choice(("steady", "wau_rising")), "steady", NO_CONTRACT]
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
            reviewed = [a for a in customers if a.story not in NEW_CUSTOMER]
            for a in rng.sample(reviewed, min(2, len(reviewed))):
                a.overlays.add("qbr_due")
            ripe = [a for a in block if a.story == "seats_near_limit"]
            if ripe:
                rng.choice(ripe).overlays.add("open_escalation")
        for a in accounts:
            n = a.n
            parent = accounts[a.parent] if a.parent is not None else None
            if parent is not None:
                a.name = f"{parent.name.rsplit(' ', 1)[0]} {rng.choice(REGIONS)} {rng.choice(SUFFIXES)}"
            else:
                a.name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES)}"
            a.domain = f"{a.name.lower().replace(' ', '-')}-{n}.example.com"
            a.industry = int(r() * len(INDUSTRIES))
            a.employees = EMPLOYEES[int(r() * len(EMPLOYEES))]
            a.owner = active_owners if n % 17 == 0 else n % active_owners  # index active_owners: inactive
            if n % 17 == 0:
                a.overlays.add("inactive_owner")
            edition, seats = PLANS[int(r() * len(PLANS))]
            if a.n % BLOCK == 17 and self.v.groups:  # a group's parent is a big customer
                edition, seats = (3, 250) if r() < 0.5 else (2, 100)
                a.employees = max(a.employees, 800)
            if seats < 25 and (a.story in NEEDS_ROOM or "stakeholder_growth" in a.overlays):
                edition, seats = PLANS[1 + int(r() * 4)]
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
        self._churn(accounts)
        return accounts

    def _churn(self, accounts: list[Account]) -> None:
        """One former customer per block of 20 where one fits (M7): a standalone steady customer with a
        term behind it, neither a group's parent nor its child, whose last term ended 25–144 days ago
        without renewal.

        Drawn from :meth:`_hash`, never from ``self.rng``: the churn leaves every other account's draws alone."""
        today = self.clock.today
        for start in range(0, len(accounts), BLOCK):
            block = accounts[start : start + BLOCK]
            parents = {a.parent for a in block if a.parent is not None}
            eligible = [
                a
                for a in block
                if a.story == "steady"
                and a.contracts >= 2
                and a.n not in parents
                and a.parent is None  # a group's former company would read as a group-expansion (S16) target
                and not a.overlays - {"inactive_owner", "qbr_due"}
            ]
            if not eligible:
                continue
            h = self._hash(-4 * (start + 1) - 3)  # salt 3: apart from the survey overlays' 1 and 2
            chosen = eligible[h % len(eligible)]
            chosen.churn_day = today - 25 - (h >> 20) % 120
            chosen.overlays.add("churned")

    def _surveys(self, accounts: list[Account]) -> None:
        """The CRM's survey and compliance facts: NPS, CSAT and the do_not_contact / detractor overlays.

        Drawn from :meth:`_hash`, never from ``self.rng``, so a seed's world is otherwise unchanged.
        """

        def unit(h: int, shift: int) -> float:
            return ((h >> shift) & 0xFFFF) / 65535.0

        for start in range(0, len(accounts), BLOCK):
            block = accounts[start : start + BLOCK]
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
                nps = NPS.get(a.story, (6.0, 10.0))
            if nps is not None:
                a.nps = round(nps[0] + (nps[1] - nps[0]) * unit(h, 16), 1)
            if a.tickets:
                low, high = (40.0, 65.0) if a.story == "churn_risk" else (75.0, 98.0)
                a.csat = round(low + (high - low) * unit(h, 32), 1)

    def _allocate(self, accounts: list[Account]) -> None:
        """Shares each requested total out over the accounts (see :class:`Volumes`)."""
        r = self.rng.random
        v = self.v
        size = [0.6 + 0.25 * EMPLOYEES.index(a.employees) / 2 for a in accounts]
        noise = [0.6 + 0.8 * r() for _ in accounts]

        def share(
            total: int, weight: dict[str, float], minimum: dict[str, int], floor: Sequence[int] = ()
        ) -> list[int]:
            weights = [weight.get(a.story, 1.0) * size[i] * noise[i] for i, a in enumerate(accounts)]
            minimums = [max((minimum.get(s, 0) for s in (a.story, *a.overlays)), default=0) for a in accounts]
            if floor:
                minimums = [max(m, f) for m, f in zip(minimums, floor, strict=True)]
            return _apportion(total, weights, minimums)

        # A new customer has exactly its first contract; a group company without one has none.
        no_history = {NO_CONTRACT: 0.0, **dict.fromkeys(NEW_CUSTOMER, 0.0)}
        contracts = share(v.total(v.contracts_per_account), no_history, dict.fromkeys(USAGE_STORIES, 1))
        # a customer's deals record every term it paid for: the new business and each renewal
        deals = share(
            v.total(v.deals_per_account),
            {NO_CONTRACT: 0.3, "seats_near_limit": 1.3, "wau_rising": 1.3, "onboarding_stalled": 0.5},
            {},
            contracts,
        )
        activities = share(
            v.total(v.activities_per_account),
            {NO_CONTRACT: 0.2, "dormant": 0.5, "wau_rising": 1.5, "onboarded": 1.5, "seats_near_limit": 1.2},
            {"qbr_due": 2, "stakeholder_growth": 1},
        )
        contacts = share(v.total(v.contacts_per_account), {NO_CONTRACT: 0.5}, {"stakeholder_growth": 3})
        tickets = share(
            v.total(v.tickets_per_account),
            {NO_CONTRACT: 0.0, "churn_risk": 4.0, "dormant": 0.5},
            {"churn_risk": 4, "open_escalation": 1},
        )
        for i, a in enumerate(accounts):
            a.contracts, a.deals, a.activities = contracts[i], deals[i], activities[i]
            a.contacts, a.tickets = contacts[i], tickets[i]
