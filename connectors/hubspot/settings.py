"""``[hubspot]``: the portal, the objects read, the rate-limit shares and the properties upsync owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import Field, field_validator

from connectors.settings import ConnectionSettings, OAuthSettings, check_extra, check_owned, optional_field
from core.config import check_url
from core.records import FIELD_NAMES

__all__ = ["HUBSPOT_COMPANY_PROPERTIES", "HubSpotObject", "HubSpotSettings"]

HubSpotObject = Literal[
    "owners",
    "companies",
    "contacts",
    "deals",
    "products",
    "line_items",
    "tickets",
    "tasks",
    "calls",
    "meetings",
    "emails",
    "notes",
]
"""The objects ``[hubspot] objects`` may name, in read order."""

HUBSPOT_COMPANY_PROPERTIES: Mapping[str, str] = {name: f"upsync_{name}" for name in FIELD_NAMES}
"""The company properties upsync owns by default: canonical name → property name."""


_OPTIONAL = (
    "seats_property",
    "contract_end_property",
    "health_property",
    "do_not_contact_property",
    "nps_property",
    "csat_property",
)
"""The company properties a portal may not have: each can be switched off with ``= false``."""


class HubSpotSettings(ConnectionSettings):
    base_url: str = "https://api.hubapi.com"
    token_env: str = "HUBSPOT_TOKEN"
    oauth: OAuthSettings | None = None
    objects: tuple[HubSpotObject, ...] = get_args(HubSpotObject)
    requests_per_10s: int = Field(100, ge=1, description="your tier's burst limit (100, 110 or 190 per 10 s)")
    throttle_share: float = Field(0.8, gt=0, le=1, description="upsync uses this share of the burst limit")
    search_per_second: float = Field(4, gt=0, le=5, description="CRM search allows 5 per second per account")
    full_refresh_days: float = Field(7, gt=0)
    deletes_every_hours: float = Field(1, gt=0, description="list archived records this often")
    workspace_property: str = "workspace_id"
    seats_property: str | None = "upsync_seats_purchased"
    contract_end_property: str | None = "contract_end_date"
    health_property: str | None = "health_rollup"
    do_not_contact_property: str | None = Field(None, description="company bool: do not contact / legal hold (G6)")
    nps_property: str | None = Field(None, description="company number: NPS roll-up, 0-10 (G1)")
    csat_property: str | None = Field(None, description="company number: CSAT roll-up, 0-100")
    deal_kind_property: str | None = Field(
        None, description="deal property saying upsell / cross-sell / renewal (G3: decides over dealtype)"
    )
    sync_key_property: str = "upsync_sync_key"
    fallback_owner_id: str | None = None
    company_properties: dict[str, str] = Field(
        default_factory=lambda: dict(HUBSPOT_COMPANY_PROPERTIES),
        description="the company properties upsync owns and writes (A2): canonical name → property name",
    )
    property_group: str = Field("upsync", description="the property group `upsync crm setup` creates")
    task_closed_status: Literal["COMPLETED"] = "COMPLETED"
    extra_properties: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="the admin's own properties read as features crm.<name>: object (companies) → names",
    )

    @field_validator("extra_properties")
    @classmethod
    def _extra(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return check_extra(value, supported="companies")

    def extra_names(self) -> tuple[str, ...]:
        """The extra company properties (internal names): the features ``crm.<name>``."""
        return self.extra_properties.get("companies", ())

    @field_validator(*_OPTIONAL, "deal_kind_property", mode="before")
    @classmethod
    def _optional(cls, value: object) -> object:
        return optional_field(value)

    @field_validator("company_properties")
    @classmethod
    def _owned_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return check_owned(value)

    def read_properties(self) -> dict[str, str]:
        """The company properties the pull reads because this section names them: key → property
        (none when companies are not read; a property switched off is not read)."""
        if "companies" not in self.objects:
            return {}
        keys = ("workspace_property", *_OPTIONAL)
        return {f"hubspot.{k}": v for k in keys if (v := getattr(self, k))}

    def deal_properties(self) -> dict[str, str]:
        """The deal properties the pull reads because this section names them: key → property."""
        if "deals" not in self.objects or not self.deal_kind_property:
            return {}
        return {"hubspot.deal_kind_property": self.deal_kind_property}

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)
