"""How big a world is: accounts, records per account, usage days and the CRMs it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SYSTEMS: Final = ("salesforce", "hubspot")
"""The CRMs a world can hold; the usage API's rows are always built."""


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
