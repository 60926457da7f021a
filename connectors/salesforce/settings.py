"""``[salesforce]``: the org, the objects read, the API quota shares and the fields upsync owns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import Field, field_validator

from connectors.settings import ConnectionSettings, OAuthSettings, check_extra, check_owned, optional_field
from core.config import check_url

__all__ = ["SALESFORCE_ACCOUNT_FIELDS", "SalesforceObject", "SalesforceSettings"]

SalesforceObject = Literal[
    "users",
    "accounts",
    "contracts",
    "opportunities",
    "products",
    "line_items",
    "assets",
    "contacts",
    "tasks",
    "events",
    "cases",
]
"""The objects ``[salesforce] objects`` may name, in read order."""

SALESFORCE_ACCOUNT_FIELDS: Mapping[str, str] = {
    "health_score": "Upsync_Health_Score__c",
    "health_band": "Upsync_Health_Band__c",
    "expansion_score": "Upsync_Expansion_Score__c",
    "next_best_action": "Upsync_Next_Best_Action__c",
    "last_signal": "Upsync_Last_Signal__c",
    "playbook_url": "Upsync_Playbook_Url__c",
    "as_of": "Upsync_As_Of__c",
}
"""The Account fields upsync owns by default: canonical name → API name."""


class SalesforceSettings(ConnectionSettings):
    instance_url: str
    api_version: str = "60.0"
    token_env: str = "SALESFORCE_TOKEN"
    oauth: OAuthSettings | None = None
    objects: tuple[SalesforceObject, ...] = get_args(SalesforceObject)
    lookback_seconds: int = Field(600, ge=0)
    page_size: int = Field(2000, ge=200, le=2000)
    bulk_threshold: int = Field(50_000, ge=1, description="a window with more rows is read through Bulk API 2.0")
    bulk_chunk: int = Field(50_000, ge=1, description="maxRecords per Bulk result download")
    bulk_poll_seconds: float = Field(2.0, ge=0)
    bulk_poll_max_seconds: float = Field(20.0, ge=0)
    bulk_read_timeout_seconds: float = Field(300.0, gt=0)
    run_quota_share: float = Field(0.25, gt=0, le=1, description="stop a run after this share of the daily allocation")
    org_quota_share: float = Field(0.80, gt=0, le=1, description="stop when the org has used this share of it")
    write_reserve_share: float = Field(0.10, ge=0, lt=1, description="part of the run's share kept for task writes")
    full_refresh_days: float = Field(7, gt=0, description="re-read every object whole this often (formula fields)")
    deletes_every_hours: float = Field(24, gt=0, description="ask /sobjects/{o}/deleted this often (hard deletes)")
    workspace_field: str = "Workspace_Id__c"
    seats_field: str | None = "Seats_Purchased__c"
    health_field: str | None = "Health_Rollup__c"
    do_not_contact_field: str | None = Field(None, description="Account checkbox: do not contact / legal hold (G6)")
    nps_field: str | None = Field(None, description="Account number: NPS roll-up, 0-10 (G1)")
    csat_field: str | None = Field(None, description="Account number or percent: CSAT roll-up, 0-100")
    deal_kind_field: str | None = Field(
        None, description="Opportunity field saying upsell / cross-sell / renewal (G3: decides over Type)"
    )
    sync_key_field: str = "Upsync_Sync_Key__c"
    fallback_owner_id: str | None = Field(None, description="owner of tasks whose account owner is inactive")
    account_fields: dict[str, str] = Field(
        default_factory=lambda: dict(SALESFORCE_ACCOUNT_FIELDS),
        description="the Account fields upsync owns and writes (A2): canonical name → API name",
    )
    integration_user_id: str | None = Field(
        None, description="the API user's Id; default: read from the session's identity, else from upsync's own tasks"
    )
    task_closed_status: str = Field("Completed", description="Task Status upsync sets when it closes its own task")
    extra_fields: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="the admin's own fields read as features crm.<name>: object (Account) → API names",
    )

    @field_validator("extra_fields")
    @classmethod
    def _extra(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return check_extra(value, supported="Account")

    def extra_names(self) -> tuple[str, ...]:
        """The extra Account fields (API names as written): the features ``crm.<name>``."""
        return self.extra_fields.get("Account", ())

    @field_validator(
        "seats_field",
        "health_field",
        "do_not_contact_field",
        "nps_field",
        "csat_field",
        "deal_kind_field",
        mode="before",
    )
    @classmethod
    def _optional(cls, value: object) -> object:
        return optional_field(value)

    @field_validator("account_fields")
    @classmethod
    def _owned_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return check_owned(value)

    def read_fields(self) -> dict[str, str]:
        """The Account fields the pull reads because this section names them: key → API name
        (none when accounts are not read; a field switched off is not read)."""
        if "accounts" not in self.objects:
            return {}
        keys = ("workspace_field", "seats_field", "health_field", "do_not_contact_field", "nps_field", "csat_field")
        return {f"salesforce.{k}": v for k in keys if (v := getattr(self, k))}

    def opportunity_fields(self) -> dict[str, str]:
        """The Opportunity fields the pull reads because this section names them: key → API name."""
        if "opportunities" not in self.objects or not self.deal_kind_field:
            return {}
        return {"salesforce.deal_kind_field": self.deal_kind_field}

    @field_validator("instance_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}\.\d", value):
            raise ValueError("must look like 60.0")
        return value
