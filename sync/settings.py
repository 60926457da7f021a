"""config.toml → typed, validated settings; every problem reported at once with its key path.

Unknown keys are rejected (with the closest valid key when it looks like a typo), wrong types
name the key and the expected type, cross-references (a rule's playbook) are checked, and every
secret is read from an environment variable that the config names (``token_env``): the file
itself never holds a secret, so it can be committed and reviewed.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator

from core.config import ENV_NAME, Section, check_env_name, check_url
from core.errors import ConfigError, ConfigProblem, did_you_mean
from core.records import FIELD_NAMES
from rules.copurchase import MiningParams
from rules.engine import EngineParams, RuleSet, RuleSetError, RuleSource, compile_ruleset
from rules.features import FeatureParams
from rules.guards import (
    GUARD_IDS,
    DeclineCooldown,
    DoNotContact,
    FrequencyCap,
    Guard,
    LoyaltyFirst,
    NotTooEarly,
    OpenEscalation,
    Relevance,
    SayWhy,
)
from rules.health import HealthParams
from rules.nba import NbaParams, Routing
from rules.plan import WritePolicy
from rules.playbooks import Playbook

__all__ = [
    "GuardSettings",
    "HubSpotSettings",
    "OAuthSettings",
    "PlaybookSettings",
    "RetrySettings",
    "SalesforceSettings",
    "ScheduleSettings",
    "Settings",
    "UpsyncSettings",
    "UsageFields",
    "UsageSettings",
    "WritebackSettings",
    "load_settings",
    "parse_settings",
]


class UpsyncSettings(Section):
    crm: Literal["salesforce", "hubspot"] = Field(description="the CRM this config reads and writes")
    dry_run: bool = Field(False, description="plan and print, never write to the CRM")
    state: str = Field("state.db", description="state.db path or a SQLAlchemy URL (postgresql+psycopg://…)")


class ScheduleSettings(Section):
    every_minutes: int = Field(15, ge=1, le=24 * 60)
    misfire_grace_seconds: int = Field(300, ge=1)
    jitter_seconds: int = Field(30, ge=0)


class RetrySettings(Section):
    """Retries of retryable errors (429, 5xx, timeouts): tenacity, honouring Retry-After."""

    attempts: int = Field(6, ge=1, le=20)
    initial_seconds: float = Field(1.0, ge=0)
    max_seconds: float = Field(60.0, ge=0)
    give_up_after_seconds: float = Field(300.0, ge=0)


class _Connector(Section):
    token_env: str = Field(description="name of the environment variable that holds the token")
    ca_file: Path | None = Field(None, description="extra CA bundle to trust (a stand-in, a proxy)")
    connect_timeout_seconds: float = Field(5.0, gt=0)
    read_timeout_seconds: float = Field(120.0, gt=0)
    lookback_seconds: int = Field(300, ge=0)

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return check_env_name(value)


class OAuthSettings(Section):
    """Where and how to get a new access token (on a 401, or when none is set)."""

    token_url: str | None = Field(None, description="default: the system's own token endpoint")
    grant: Literal["refresh_token", "client_credentials"] = "refresh_token"
    client_id_env: str
    client_secret_env: str | None = None
    refresh_token_env: str | None = None

    @field_validator("token_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("client_id_env", "client_secret_env", "refresh_token_env")
    @classmethod
    def _env_names(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.fullmatch(value):
            raise ValueError("must be the NAME of an environment variable")
        return value

    def form(self, env: Mapping[str, str], default_url: str) -> dict[str, str]:
        """The token request's form (secrets read from the environment) plus ``token_url``."""
        form = {
            "grant_type": self.grant,
            "client_id": env.get(self.client_id_env, ""),
            "token_url": self.token_url or default_url,
        }
        if self.client_secret_env:
            form["client_secret"] = env.get(self.client_secret_env, "")
        if self.grant == "refresh_token" and self.refresh_token_env:
            form["refresh_token"] = env.get(self.refresh_token_env, "")
        return form


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


SALESFORCE_ACCOUNT_FIELDS: Mapping[str, str] = {
    "health_score": "Upsync_Health_Score__c",
    "health_band": "Upsync_Health_Band__c",
    "expansion_score": "Upsync_Expansion_Score__c",
    "next_best_action": "Upsync_Next_Best_Action__c",
    "last_signal": "Upsync_Last_Signal__c",
    "playbook_url": "Upsync_Playbook_Url__c",
    "as_of": "Upsync_As_Of__c",
}
HUBSPOT_COMPANY_PROPERTIES: Mapping[str, str] = {name: f"upsync_{name}" for name in FIELD_NAMES}


def _check_owned(value: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(value) - set(FIELD_NAMES))
    if unknown:
        raise ValueError(f"unknown field name(s) {', '.join(unknown)}; upsync writes {', '.join(FIELD_NAMES)}")
    names = list(value.values())
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{', '.join(dupes)} mapped twice; each owned field needs its own CRM field")
    return value


_POLICY = WritePolicy()


class WritebackSettings(Section):
    """``[writeback]``: what upsync writes to the CRM and how much (A1–A2, G2, floods); the
    defaults are the write policy's own."""

    tasks: bool = Field(_POLICY.tasks, description="create native CRM tasks for next best actions")
    fields: bool = Field(_POLICY.fields, description="keep upsync's own account fields current")
    owner_weekly_budget: int = Field(
        _POLICY.owner_weekly_budget, ge=1, description="tasks per owner per ISO week, across all rules"
    )
    on_clear: Literal["close", "leave"] = Field(
        _POLICY.on_clear, description="when a signal clears: close upsync's own untouched task, or leave it"
    )
    update_open_tasks: bool = Field(
        _POLICY.update_open_tasks, description="reassign / re-prioritise upsync's own untouched open tasks"
    )
    first_run_tasks: bool = Field(
        _POLICY.first_run_tasks,
        description="create tasks on the first write-back run (default: fields only; the next run creates them)",
    )
    outcome_days: int = Field(90, ge=1, description="an opportunity this many days after a task counts for its rule")

    def policy(self, owned_fields: tuple[str, ...]) -> WritePolicy:
        """The write policy these settings make, for a CRM whose config owns ``owned_fields``."""
        return WritePolicy(
            tasks=self.tasks,
            fields=self.fields,
            owned_fields=owned_fields,
            owner_weekly_budget=self.owner_weekly_budget,
            on_clear=self.on_clear,
            update_open_tasks=self.update_open_tasks,
            first_run_tasks=self.first_run_tasks,
        )


class SalesforceSettings(_Connector):
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

    @field_validator("account_fields")
    @classmethod
    def _owned_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_owned(value)

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


class HubSpotSettings(_Connector):
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
    sync_key_property: str = "upsync_sync_key"
    fallback_owner_id: str | None = None
    company_properties: dict[str, str] = Field(
        default_factory=lambda: dict(HUBSPOT_COMPANY_PROPERTIES),
        description="the company properties upsync owns and writes (A2): canonical name → property name",
    )
    property_group: str = Field("upsync", description="the property group `upsync crm setup` creates")
    task_closed_status: Literal["COMPLETED"] = "COMPLETED"

    @field_validator("company_properties")
    @classmethod
    def _owned_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_owned(value)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)


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


class UsageSettings(_Connector):
    base_url: str
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

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)


PlaybookSettings = Playbook
"""``[[playbooks]]``: the playbook type itself, validated where it is defined (rules/playbooks.py)."""


class GuardSettings(Section):
    """``[guards.G1]`` … ``[guards.G8]``: each guard's defaults; a rule's ``guard_params`` overrides them."""

    G1: LoyaltyFirst = Field(default_factory=LoyaltyFirst)
    G2: FrequencyCap = Field(default_factory=FrequencyCap)
    G3: DeclineCooldown = Field(default_factory=DeclineCooldown)
    G4: NotTooEarly = Field(default_factory=NotTooEarly)
    G5: OpenEscalation = Field(default_factory=OpenEscalation)
    G6: DoNotContact = Field(default_factory=DoNotContact)
    G7: Relevance = Field(default_factory=Relevance)
    G8: SayWhy = Field(default_factory=SayWhy)

    def by_id(self) -> dict[str, Guard]:
        return {gid: getattr(self, gid) for gid in GUARD_IDS}


class Settings(Section):
    upsync: UpsyncSettings
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    salesforce: SalesforceSettings | None = None
    hubspot: HubSpotSettings | None = None
    usage: UsageSettings | None = None
    features: FeatureParams = Field(default_factory=FeatureParams)
    health: HealthParams = Field(default_factory=HealthParams)
    copurchase: MiningParams = Field(default_factory=MiningParams)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    nba: NbaParams = Field(default_factory=NbaParams)
    routing: Routing = Field(default_factory=Routing)
    playbooks: tuple[Playbook, ...] = ()
    rules: tuple[RuleSource, ...] = ()
    writeback: WritebackSettings = Field(default_factory=WritebackSettings)

    def playbook(self, playbook_id: str) -> PlaybookSettings:
        return next(p for p in self.playbooks if p.id == playbook_id)

    def engine_params(self) -> EngineParams:
        """Everything the rules engine takes but the rules; the CRM's fallback owner is the
        routing fallback unless ``[routing] fallback_owner`` names one."""
        routing = self.routing
        crm = getattr(self, self.upsync.crm, None)
        if routing.fallback_owner is None and crm is not None and crm.fallback_owner_id:
            routing = dataclasses.replace(routing, fallback_owner=crm.fallback_owner_id)
        return EngineParams(
            features=self.features,
            health=self.health,
            mining=self.copurchase,
            guards=self.guards.by_id(),
            nba=self.nba,
            routing=routing,
        )

    def ruleset(self) -> RuleSet:
        """The rules, compiled (they were checked when the settings loaded)."""
        return compile_ruleset(self.rules, self.engine_params(), playbooks=[p.id for p in self.playbooks])


def load_settings(path: Path, env: Mapping[str, str]) -> Settings:
    """Read and validate ``path``; raise one ConfigError that lists every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(str(path), "file not found", "pass --config PATH or copy the bundled config.toml")]
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), f"not valid TOML: {exc}")]) from None
    return parse_settings(raw, env, base_dir=path.parent)


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str], *, base_dir: Path | None = None) -> Settings:
    """Validate already-parsed TOML; relative ``ca_file`` paths are resolved against ``base_dir``."""
    problems: list[ConfigProblem] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_translate(exc, raw))
    problems.extend(_missing_secrets(raw, env))
    if settings is not None:
        problems.extend(_cross_check(settings))
    if problems:
        raise ConfigError(problems, hint="fix the keys named above; `upsync validate` re-checks them all")
    assert settings is not None
    return _resolve_paths(settings, base_dir) if base_dir is not None else settings


def _cross_check(settings: Settings) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    crm = settings.upsync.crm
    if getattr(settings, crm) is None:
        problems.append(ConfigProblem(crm, f"section [{crm}] is required because upsync.crm = {crm!r}"))
    if settings.usage is None:
        problems.append(ConfigProblem("usage", "section [usage] is required: rules read product usage"))
    playbook_ids = [p.id for p in settings.playbooks]
    for i, playbook in enumerate(settings.playbooks):
        if playbook_ids.index(playbook.id) != i:
            problems.append(ConfigProblem(f"playbooks[{i}].id", f"duplicate playbook id {playbook.id!r}"))
    try:
        settings.ruleset()
    except RuleSetError as exc:
        problems.extend(ConfigProblem(p.path, p.message, p.hint) for p in exc.problems)
    return problems


def _missing_secrets(raw: Mapping[str, Any], env: Mapping[str, str]) -> list[ConfigProblem]:
    """Env vars named by the connectors in use that are not set; checked on the raw TOML so that
    they are reported together with type errors elsewhere in the file. With an ``oauth`` section
    the token may come from the token endpoint instead, so its client id is what must be set."""
    upsync = raw.get("upsync")
    crm = upsync.get("crm") if isinstance(upsync, dict) else None
    models: dict[str, type[_Connector]] = {
        "salesforce": SalesforceSettings,
        "hubspot": HubSpotSettings,
        "usage": UsageSettings,
    }
    problems = []
    for name in (crm, "usage"):
        section = raw.get(name) if isinstance(name, str) and name in models else None
        if not isinstance(section, dict):
            continue
        oauth = section.get("oauth")
        if (name == "usage" and section.get("auth") == "oauth2") or (name != "usage" and isinstance(oauth, dict)):
            names = (
                [
                    (f"{name}.oauth.{k}", oauth.get(k))
                    for k in ("client_id_env", "client_secret_env", "refresh_token_env")
                ]
                if isinstance(oauth, dict)
                else []
            )
        else:
            names = [
                (f"{name}.token_env", section.get("token_env", models[str(name)].model_fields["token_env"].default))
            ]
        for path, var in names:
            if isinstance(var, str) and ENV_NAME.fullmatch(var) and not env.get(var):
                problems.append(
                    ConfigProblem(
                        path, f"environment variable {var} is not set", f"export {var}=<value> before running upsync"
                    )
                )
    return problems


def _resolve_paths(settings: Settings, base_dir: Path) -> Settings:
    updates: dict[str, Any] = {}
    for name in ("salesforce", "hubspot", "usage"):
        connector = getattr(settings, name)
        if connector is not None and connector.ca_file is not None and not connector.ca_file.is_absolute():
            updates[name] = connector.model_copy(update={"ca_file": (base_dir / connector.ca_file).resolve()})
    return settings.model_copy(update=updates) if updates else settings


def _translate(exc: ValidationError, raw: Mapping[str, Any]) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = _key_path(loc, raw)
        kind = error["type"]
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            valid = _fields_at(loc[:-1])
            problems.append(
                ConfigProblem(
                    path,
                    "unknown key",
                    did_you_mean(str(loc[-1]), valid) or (f"valid keys: {', '.join(valid)}" if valid else None),
                )
            )
        elif kind == "missing":
            problems.append(ConfigProblem(path, "required key is missing"))
        elif kind == "literal_error":
            expected = error.get("ctx", {}).get("expected", "")
            problems.append(
                ConfigProblem(
                    path, f"invalid value {error.get('input')!r}", f"expected {expected}" if expected else None
                )
            )
        elif kind == "value_error":
            problems.append(ConfigProblem(path, str(error["msg"]).removeprefix("Value error, ")))
        else:
            got = error.get("input")
            shown = f" (got {type(got).__name__} {got!r})" if not isinstance(got, dict | list) else ""
            problems.append(ConfigProblem(path, f"{error['msg'].lower()}{shown}"))
    return problems


def _key_path(loc: Sequence[int | str], raw: Mapping[str, Any]) -> str:
    """``('rules', 0, 'threshold')`` → ``rules[0] (seats-near-limit).threshold`` (the id helps find it)."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict) and "id" in node[item]:
                label += f" ({node[item]['id']})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def _fields_at(loc: Sequence[int | str]) -> list[str]:
    """The valid keys of the section at ``loc`` (for did-you-mean suggestions)."""
    model: Any = Settings
    for item in loc:
        if isinstance(item, int):
            continue
        annotation = _field_annotations(model).get(str(item))
        if annotation is None:
            return []
        model = _model_of(annotation)
    return list(_field_annotations(model))


def _field_annotations(model: Any) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return {name: f.annotation for name, f in model.model_fields.items()}
    if isinstance(model, type) and dataclasses.is_dataclass(model):
        hints = typing.get_type_hints(model)
        return {f.name: hints.get(f.name) for f in dataclasses.fields(model)}
    return {}


def _model_of(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and (issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)):
        return annotation
    return None
