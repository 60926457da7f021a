"""``[revenue]``: the reporting currency, how line items become MRR, and acquisition cost."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from core.config import Section
from rules.mrr import MrrParams

__all__ = ["RevenueSettings"]

_ISO = re.compile(r"^[A-Z]{3}$")


class RevenueSettings(Section):
    """``[revenue]``: MRR per account and month from won deals' line items (``rules/mrr.py``)."""

    currency: str = Field(
        "USD", description="the reporting currency (ISO 4217), and the org's own where deals carry none"
    )
    rates: dict[str, float] = Field(
        default_factory=dict, description="currency → the value of one unit of it in `currency` (e.g. EUR = 1.08)"
    )
    # product families are each company's own picklist values: none is assumed
    plan_families: tuple[str, ...] = Field(
        (), description="product families whose products replace each other: one plan at a time"
    )
    one_off_families: tuple[str, ...] = Field(
        (), description="product families sold once (services, set-up): never MRR"
    )
    default_term_months: int = Field(12, ge=1, le=120, description="a recurring line's term when nothing says its end")
    price_months: int = Field(12, ge=1, le=120, description="how many months a line's price covers (12: annual prices)")
    cac: float | None = Field(None, ge=0, description="acquisition cost per new customer (CAC payback, LTV/CAC)")
    segment_by: str = Field("account_type", description="the account column the measures are broken down by")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _ISO.fullmatch(value):
            raise ValueError('must be a three-letter ISO 4217 code in capitals, e.g. "USD"')
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if not _ISO.fullmatch(code):
                raise ValueError(f'{code!r} is not a three-letter ISO 4217 code in capitals, e.g. "EUR"')
            if not rate > 0:
                raise ValueError(f"{code}: a rate is the value of one {code} in the reporting currency, above 0")
        return value

    @field_validator("segment_by")
    @classmethod
    def _segment(cls, value: str) -> str:
        allowed = ("account_type", "industry", "lifecycle_stage", "owner_id")
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _apart(self) -> RevenueSettings:
        both = set(self.plan_families) & set(self.one_off_families)
        if both:
            raise ValueError(f"{', '.join(sorted(both))} cannot be both a plan family and a one-off family")
        return self

    def params(self, activated_statuses: tuple[str, ...] = ("Activated",)) -> MrrParams:
        return MrrParams(
            currency=self.currency,
            plan_families=self.plan_families,
            one_off_families=self.one_off_families,
            default_term_months=self.default_term_months,
            price_months=self.price_months,
            activated_statuses=activated_statuses,
        )
