"""config.toml → typed, validated settings; every problem reported at once with its key path.

Unknown keys are rejected (with the closest valid key when it looks like a typo), wrong types
name the key and the expected type, cross-references (a rule's playbook) are checked, and every
secret is read from an environment variable that the config names (``token_env``): the file
itself never holds a secret, so it can be committed and reviewed. Each connector declares its own
section (``connectors.<system>.settings``); this module composes them with the rest.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import typing
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from connectors.hubspot.settings import HubSpotSettings
from connectors.salesforce.settings import SalesforceSettings
from connectors.settings import ConnectionSettings, RetrySettings
from connectors.usage.settings import UsageSettings
from connectors.usage.sql_settings import UsageSqlSettings
from core.config import ENV_NAME, Section, check_env_name, check_url, secret_problem
from core.errors import ConfigError, ConfigProblem, did_you_mean
from rules.breaker import BreakerParams
from rules.copurchase import MiningParams
from rules.engine import RuleSource
from rules.features import FeatureParams
from rules.guards import (
    GUARD_IDS,
    Churned,
    DeclineCooldown,
    DoNotContact,
    FrequencyCap,
    Guard,
    LoyaltyFirst,
    NotTooEarly,
    OpenEscalation,
    Relevance,
    SayWhy,
    StaleUsage,
)
from rules.health import HealthParams
from rules.nba import NbaParams, Routing
from rules.plan import WritePolicy
from rules.playbooks import Playbook
from sync.revenue_settings import RevenueSettings

__all__ = [
    "ALERT_EVENTS",
    "AlertSettings",
    "BreakerSettings",
    "GuardSettings",
    "ObserveSettings",
    "PlaybookSettings",
    "ScheduleSettings",
    "Settings",
    "UpsyncSettings",
    "WritebackSettings",
    "check_settings",
    "load_settings",
    "missing_files",
    "parse_settings",
    "read_toml",
    "salvage",
]


class UpsyncSettings(Section):
    crm: Literal["salesforce", "hubspot"] = Field(description="the CRM this config reads and writes")
    dry_run: bool = Field(False, description="plan and print, never write to the CRM")
    state: str = Field("state.db", description="state.db path or a SQLAlchemy URL (postgresql+psycopg://…)")


class ScheduleSettings(Section):
    every_minutes: int = Field(15, ge=1, le=24 * 60)
    misfire_grace_seconds: int = Field(300, ge=1)
    jitter_seconds: int = Field(30, ge=0)
    lease_wait_seconds: int = Field(
        600, ge=0, description="how long a one-off command waits for another replica's cycle to finish"
    )


class ObserveSettings(Section):
    """``[observe]``: the daemon's HTTP endpoint for ``/metrics``, ``/healthz`` and ``/readyz``.

    Off unless ``listen`` is set: a port opened by default would collide between replicas on one
    host and expose numbers nobody asked to expose."""

    listen: str | None = Field(
        None, description='host:port to serve /metrics, /healthz and /readyz on, e.g. "127.0.0.1:9464"; unset: none'
    )
    ready_grace_seconds: int = Field(
        300, ge=0, description="/readyz fails once the last cycle finished over 2 × every_minutes plus this ago"
    )

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError('must be host:port, e.g. "127.0.0.1:9464" (or "0.0.0.0:9464" for every interface)')
        return value

    def address(self) -> tuple[str, int]:
        """(host, port) of ``listen``; brackets around an IPv6 host are dropped."""
        assert self.listen is not None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


ALERT_EVENTS = ("failed", "held", "deviation")
"""What an alert can say: a cycle ended with errors (or stopped), its writes were held, or its
changes deviated from recent runs. Open: new events may be added without a config change."""


class AlertSettings(Section):
    """``[alerts]``: a webhook told, in a small JSON POST, when a cycle fails or is held."""

    webhook_url_env: str | None = Field(
        None, description="name of the environment variable holding the webhook URL (it often carries a token)"
    )
    webhook_url: str | None = Field(None, description="the webhook URL itself, when it holds no secret")
    events: tuple[str, ...] = Field(ALERT_EVENTS, description="which events to send: failed, held, deviation")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="per attempt: an alert never holds up a cycle long")
    attempts: int = Field(3, ge=1, le=10, description="attempts on a 429, a 5xx or a timeout of the receiver")

    @field_validator("webhook_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e not in ALERT_EVENTS]
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}: expected some of {', '.join(ALERT_EVENTS)}")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> AlertSettings:
        if self.webhook_url and self.webhook_url_env:
            raise ValueError("set webhook_url_env or webhook_url, not both")
        return self


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
    tasks_per: Literal["window", "account"] = Field(
        _POLICY.tasks_per,
        description=(
            "window: every ripe rule gets its own task in its own window (still ranked, capped and budgeted); "
            "account: one next best action per account at a time"
        ),
    )
    outcome_days: int = Field(90, ge=1, description="an opportunity this many days after a task counts for its rule")
    control_share: float = Field(
        0.10,
        ge=0,
        lt=1,
        description=(
            "share of ripe accounts per rule and window kept without a task, to measure the rule's effect "
            "(a rule's own control_share overrides it; 0: no control groups)"
        ),
    )

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
            tasks_per=self.tasks_per,
        )


_BREAKER = BreakerParams()


class BreakerSettings(Section):
    """``[breaker]``: when a cycle must not write what it planned (``rules/breaker.py``)."""

    enabled: bool = Field(_BREAKER.enabled, description="hold a cycle whose volume strays far from the last runs'")
    share: float = Field(
        _BREAKER.share,
        gt=0,
        le=1,
        description="hold when deletes, closes or field changes exceed the last runs' median by this share of accounts",
    )
    field_share: float = Field(
        _BREAKER.field_share, gt=0, le=1, description="the same allowance for account field changes"
    )
    min_count: int = Field(_BREAKER.min_count, ge=1, description="never hold for fewer changes than this")
    runs: int = Field(_BREAKER.runs, ge=1, le=100, description="how many earlier runs make the baseline")
    stale_after_hours: float = Field(
        48,
        ge=0,
        description="a source not pulled successfully for this long holds the rules that read it (0: never)",
    )

    def params(self) -> BreakerParams:
        return BreakerParams(
            enabled=self.enabled,
            share=self.share,
            field_share=self.field_share,
            min_count=self.min_count,
            runs=self.runs,
            stale_after=timedelta(hours=self.stale_after_hours) if self.stale_after_hours else None,
        )


PlaybookSettings = Playbook
"""``[[playbooks]]``: the playbook type itself, validated where it is defined (rules/playbooks.py)."""


class GuardSettings(Section):
    """``[guards.G1]`` … ``[guards.G10]``: each guard's defaults; a rule's ``guard_params`` overrides them."""

    G1: LoyaltyFirst = Field(default_factory=LoyaltyFirst)
    G2: FrequencyCap = Field(default_factory=FrequencyCap)
    G3: DeclineCooldown = Field(default_factory=DeclineCooldown)
    G4: NotTooEarly = Field(default_factory=NotTooEarly)
    G5: OpenEscalation = Field(default_factory=OpenEscalation)
    G6: DoNotContact = Field(default_factory=DoNotContact)
    G7: Relevance = Field(default_factory=Relevance)
    G8: SayWhy = Field(default_factory=SayWhy)
    G9: Churned = Field(default_factory=Churned)
    G10: StaleUsage = Field(default_factory=StaleUsage)

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
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    observe: ObserveSettings = Field(default_factory=ObserveSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    revenue: RevenueSettings = Field(default_factory=RevenueSettings)

    def playbook(self, playbook_id: str) -> PlaybookSettings:
        return next(p for p in self.playbooks if p.id == playbook_id)


def load_settings(path: Path, env: Mapping[str, str]) -> Settings:
    """Read and validate ``path``; raise one ConfigError that lists every problem found."""
    return parse_settings(read_toml(path), env, base_dir=path.parent)


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str], *, base_dir: Path | None = None) -> Settings:
    """Validate already-parsed TOML; relative ``ca_file`` paths are resolved against ``base_dir``."""
    settings, problems = check_settings(raw, env, base_dir=base_dir)
    if problems or settings is None:
        raise ConfigError(problems, hint=CONFIG_HINT)
    return settings


CONFIG_HINT = "fix the keys named above; `upsync validate` re-checks them all"


def check_settings(
    raw: Mapping[str, Any], env: Mapping[str, str], *, base_dir: Path | None = None
) -> tuple[Settings | None, list[ConfigProblem]]:
    """The settings (None when the file does not validate) and every problem found in them."""
    problems: list[ConfigProblem] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_translate(exc, raw))
    problems.extend(_missing_secrets(raw, env))
    if settings is None:
        return None, problems
    url_env = settings.alerts.webhook_url_env
    if url_env and (wrong := secret_problem(env, url_env)):
        problems.append(ConfigProblem("alerts.webhook_url_env", wrong, f"export {url_env}=<the webhook URL>"))
    problems.extend(_cross_check(settings))
    return (_resolve_paths(settings, base_dir) if base_dir is not None else settings), problems


def salvage(raw: Mapping[str, Any], *, base_dir: Path | None = None) -> Settings | None:
    """The settings of a file that does not validate, without the keys that failed: what the
    checks that need settings (the rules, the playbooks, the files) can still look at, so that
    one ``upsync validate`` reports every problem instead of one kind per run. Never run with:
    a key left out here is a problem already reported. None when nothing can be salvaged."""
    data: Any = copy.deepcopy(dict(raw))
    for _ in range(8):  # each round drops what failed; a dropped key can only uncover a missing one
        try:
            settings = Settings.model_validate(data)
        except ValidationError as exc:
            if not any(_drop(data, tuple(e["loc"]), e["type"] == "missing") for e in exc.errors()):
                return None
            data = _without_dropped(data)
            continue
        return _resolve_paths(settings, base_dir) if base_dir is not None else settings
    return None


_DROPPED = object()


def _drop(data: Any, loc: tuple[int | str, ...], missing: bool) -> bool:
    """Drop the deepest key of ``loc`` that ``data`` holds (a list item is marked, and removed
    once every error of the round is handled, so the other errors' indexes still hold)."""
    if missing and loc[:1] == ("upsync",):
        # the one required section: a stand-in CRM lets the rest be checked (its own problem is reported)
        data["upsync"] = {**(data.get("upsync") if isinstance(data.get("upsync"), dict) else {}), "crm": "salesforce"}
        return True
    if missing:
        loc = loc[:-1]
    node, parent, step = data, None, None
    for item in loc:
        found = (isinstance(node, dict) and item in node) or (
            isinstance(node, list) and isinstance(item, int) and item < len(node)
        )
        if not found:
            break
        parent, step, node = node, item, node[item]
    if parent is None or step is None:
        return False
    if isinstance(parent, list):
        changed = parent[int(step)] is not _DROPPED
        parent[int(step)] = _DROPPED
        return changed
    del parent[step]
    return True


def _without_dropped(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_dropped(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_dropped(v) for v in node if v is not _DROPPED]
    return node


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML of ``path``, or a ConfigError naming the file and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(str(path), "file not found", "pass --config PATH or copy the bundled config.toml")]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), f"not valid TOML: {exc}")]) from None


def _cross_check(settings: Settings) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    crm = settings.upsync.crm
    if getattr(settings, crm) is None:
        problems.append(ConfigProblem(crm, f"section [{crm}] is required because upsync.crm = {crm!r}"))
    playbook_ids = [p.id for p in settings.playbooks]
    for i, playbook in enumerate(settings.playbooks):
        if playbook_ids.index(playbook.id) != i:
            problems.append(ConfigProblem(f"playbooks[{i}].id", f"duplicate playbook id {playbook.id!r}"))
    return problems


def _missing_secrets(raw: Mapping[str, Any], env: Mapping[str, str]) -> list[ConfigProblem]:
    """Env vars named by the connectors in use that are not set; checked on the raw TOML so that
    they are reported together with type errors elsewhere in the file. With an ``oauth`` section
    the token may come from the token endpoint instead, so its client id is what must be set."""
    upsync = raw.get("upsync")
    crm = upsync.get("crm") if isinstance(upsync, dict) else None
    models: dict[str, type[ConnectionSettings]] = {
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
        if name == "usage" and section.get("source") == "sql":  # a warehouse: its URL (credentials inside)
            sql = section.get("sql")
            default = UsageSqlSettings.model_fields["url_env"].default
            names = [("usage.sql.url_env", sql.get("url_env", default) if isinstance(sql, dict) else default)]
        elif (name == "usage" and section.get("auth") == "oauth2") or (name != "usage" and isinstance(oauth, dict)):
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
            wrong = secret_problem(env, var) if isinstance(var, str) and ENV_NAME.fullmatch(var) else None
            if wrong:
                problems.append(ConfigProblem(path, wrong, f"export {var}=<value> before running upsync"))
    return problems


def missing_files(settings: Settings) -> list[ConfigProblem]:
    """``ca_file`` paths that name no file (``validate`` says so, rather than a TLS failure mid-run)."""
    problems = []
    for name in ("salesforce", "hubspot", "usage"):
        connector = getattr(settings, name)
        ca_file = connector.ca_file if connector is not None else None
        if ca_file is not None and not ca_file.is_file():
            problems.append(
                ConfigProblem(
                    f"{name}.ca_file",
                    f"no such file: {ca_file}",
                    "a relative path is relative to the config file; leave ca_file out to trust the system's CAs",
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
