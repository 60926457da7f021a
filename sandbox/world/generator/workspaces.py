"""Each account's workspace usage story as curve parameters (the usage stories)."""

from __future__ import annotations

from sandbox.world.catalogue import (
    API_LIMIT,
    CORE_FEATURES,
    FEATURE_RATES,
    FREE_API_CALLS,
    FREE_SEATS,
    FREE_STORAGE_GB,
    PRODUCTS,
    STORAGE_LIMIT_GB,
)
from sandbox.world.clock import DAY
from sandbox.world.generator.draw import Draw
from sandbox.world.records import Account, Asset, Contact
from sandbox.world.usage_plan import Workspace
from sandbox.world.vocabulary import DEPARTMENTS


class Workspaces(Draw):
    """The usage story of one account's workspace."""

    def _workspace(self, a: Account, assets: list[Asset], contacts: list[Contact]) -> None:
        """The usage story's curve parameters (see :class:`UsagePlan`).

        Every account has a workspace in the usage API: a customer's is linked in the CRM; a
        group company without a contract runs a free one that nobody linked (usage with no
        account is everyday data, and upsync must cope with it).
        """
        rng = self.rng
        r = rng.random
        days = self.v.usage_days
        story = a.story
        seats = a.seats if a.paying else FREE_SEATS  # a former customer is back on the free tier
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
        storage_limit = STORAGE_LIMIT_GB[a.tier] if a.paying else FREE_STORAGE_GB
        s1 = 0.82 + 0.13 * r() if story == "storage_near_limit" else 0.2 + 0.5 * r()
        api_limit = API_LIMIT[a.tier] if a.paying else FREE_API_CALLS
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
        departments = tuple(dict.fromkeys(c.department for c in contacts if c.created < self.clock.top - 30 * DAY))
        if not departments:
            departments = tuple(rng.sample(DEPARTMENTS, 2))
        raw = [0.5 + r() for _ in departments]
        weights = [x / sum(raw) for x in raw]
        new_department = None
        new_day = days
        if "stakeholder_growth" in a.overlays:
            new_department = next(
                (c.department for c in reversed(contacts) if c.department not in departments),
                next(d for d in DEPARTMENTS if d not in departments),
            )
            new_day = max(0, days - 3 - int(r() * min(20, days)))
        owned = {asset.product for asset in assets if asset.status != "Obsolete"}
        features = (*CORE_FEATURES, *(p.feature for i, p in enumerate(PRODUCTS) if i in owned and p.feature))
        scale = 0.1 if story == "onboarding_stalled" else 1.0
        self.usage.workspaces.append(
            Workspace(
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
                rates=tuple(FEATURE_RATES[name] * scale for name in features),
            )
        )
