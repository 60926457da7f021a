"""``[usage]``: the product usage API's address, auth, pagination style and item shape (or its
``[usage.resources.<name>]``, declared in ``connectors/usage/rest/settings.py``); or, with
``source = "sql"``, the warehouse query of ``[usage.sql]`` (``connectors.usage.sql_settings``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.settings import ConnectionSettings, OAuthSettings, optional_field
from connectors.usage.rest.settings import Resource, check_resources
from connectors.usage.sql_settings import UsageSqlSettings
from core.config import Section, check_url

__all__ = ["UsageFields", "UsageSettings"]


class UsageFields(Section):
    """Where each canonical metric is in one item of the API's JSON: a dotted path."""

    workspace_id: str = "workspace_id"
    day: str = "date"
    updated_at: str = "updated_at"
    active_users: str | None = "active_users"
    weekly_active_users: str | None = "weekly_active_users"
    seats_used: str | None = "seats_used"
    seats_limit: str | None = "seats_limit"
    storage_used_gb: str | None = "storage_used_gb"
    storage_limit_gb: str | None = "storage_limit_gb"
    api_calls_used: str | None = "api_calls_used"
    api_calls_limit: str | None = "api_calls_limit"
    integrations: str | None = "integrations"
    premium_feature_views: str | None = "premium_feature_views"
    trials_started: str | None = "trials_started"
    pricing_page_views: str | None = "pricing_page_views"
    feature_events: str | None = "feature_events"
    users_by_department: str | None = "users_by_department"

    @field_validator("*", mode="before")  # any path may be switched off, except the three it cannot do without
    @classmethod
    def _optional(cls, value: object) -> object:
        return optional_field(value)


class UsageSettings(ConnectionSettings):
    source: Literal["api", "sql"] = Field("api", description="the usage API, or a SQL warehouse ([usage.sql])")
    base_url: str = ""  # required for the API (checked below); a warehouse has no base URL
    sql: UsageSqlSettings | None = None
    token_env: str = "USAGE_TOKEN"
    auth: Literal["bearer", "api_key", "oauth2"] = "bearer"
    api_key_header: str = "X-API-Key"
    oauth: OAuthSettings | None = None
    path: str = "/v1/usage/daily"
    pagination: Literal["cursor", "next_link", "page", "offset", "link_header"] = "cursor"
    page_size: int = Field(500, ge=1, le=10_000)
    items_field: str = "data"
    since_param: str = "updated_since"
    until_param: str | None = "updated_before"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    next_cursor_field: str = "next_cursor"
    next_link_field: str = "links.next"
    page_param: str = "page"
    total_pages_field: str = "total_pages"
    offset_param: str = "offset"
    total_field: str = "total"
    fields: UsageFields = Field(default_factory=UsageFields)
    workspaces_path: str | None = Field(None, description="workspaces with their domain: the identity fallback")
    workspaces_items_field: str = "data"
    resources: dict[str, Resource] = Field(
        default_factory=dict,
        description="[usage.resources.<name>]: endpoints declared in dlt rest_api's words; "
        "'daily' and 'workspaces' replace path/pagination/fields and workspaces_path",
    )

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, value: dict[str, Resource]) -> dict[str, Resource]:
        check_resources(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)

    @model_validator(mode="after")
    def _source_section(self) -> UsageSettings:
        if self.source == "api" and not self.base_url:
            raise ValueError('base_url is required (the usage API\'s address), or source = "sql" with [usage.sql]')
        if self.source == "sql" and self.sql is None:
            raise ValueError('source = "sql" needs a [usage.sql] section (url_env, query)')
        return self
