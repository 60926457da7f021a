"""The settings every connector shares: its connection, OAuth, the retry policy and owned-field maps.

Each connector declares its own ``[section]`` on :class:`ConnectionSettings` (in its package's
``settings`` module); ``sync.settings`` composes them into the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from core.config import Section, check_env_name, check_url, secret
from core.records import FIELD_NAMES

__all__ = ["ConnectionSettings", "OAuthSettings", "RetrySettings", "check_extra", "check_owned", "optional_field"]


class RetrySettings(Section):
    """Retries of retryable errors (429, 5xx, timeouts): tenacity, honouring Retry-After."""

    attempts: int = Field(6, ge=1, le=20)
    initial_seconds: float = Field(1.0, ge=0)
    max_seconds: float = Field(60.0, ge=0)
    give_up_after_seconds: float = Field(300.0, ge=0)


class ConnectionSettings(Section):
    """What every connector's section holds: where its token is, what TLS trusts, timeouts, lookback."""

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
        return None if value is None else check_env_name(value)

    def form(self, env: Mapping[str, str], default_url: str) -> dict[str, str]:
        """The token request's form (secrets read from the environment) plus ``token_url``."""
        form = {
            "grant_type": self.grant,
            "client_id": secret(env, self.client_id_env),
            "token_url": self.token_url or default_url,
        }
        if self.client_secret_env:
            form["client_secret"] = secret(env, self.client_secret_env)
        if self.grant == "refresh_token" and self.refresh_token_env:
            form["refresh_token"] = secret(env, self.refresh_token_env)
        return form


def check_owned(value: dict[str, str]) -> dict[str, str]:
    """A validator of the fields upsync owns in a CRM (canonical name → CRM name): only
    :data:`core.records.FIELD_NAMES`, and no CRM field mapped twice."""
    unknown = sorted(set(value) - set(FIELD_NAMES))
    if unknown:
        raise ValueError(f"unknown field name(s) {', '.join(unknown)}; upsync writes {', '.join(FIELD_NAMES)}")
    names = list(value.values())
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{', '.join(dupes)} mapped twice; each owned field needs its own CRM field")
    return value


def optional_field(value: object) -> object:
    """A before-validator of an optional CRM field or usage path: ``false`` switches it off (the
    pull does not read it), as does ``""`` (the older spelling); ``true`` names no field."""
    if value is False or (isinstance(value, str) and not value.strip()):
        return None
    if value is True:
        raise ValueError("true names no field: write the field's name, or false to switch it off")
    return value


API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_extra(value: Mapping[str, Sequence[str]], *, supported: str) -> dict[str, tuple[str, ...]]:
    """A validator of the admin's extra CRM fields (object → API names): only ``supported`` (the
    account object: the fields become account features), names as the CRM spells API names, each
    once (case-insensitively: Salesforce API names are, and the feature name is lower-cased)."""
    other = sorted(set(value) - {supported})
    if other:
        raise ValueError(f"{other[0]}: only {supported} is supported (its fields become account features, crm.<name>)")
    out: dict[str, tuple[str, ...]] = {}
    for obj, names in value.items():
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if not API_NAME.fullmatch(name):
                raise ValueError(f"{obj}[{i}] {name!r} is not an API name (letters, digits and _, a letter first)")
            if name.lower() in seen:
                raise ValueError(f"{obj}[{i}] {name!r} repeats {obj}[{seen[name.lower()]}]")
            seen[name.lower()] = i
        out[obj] = tuple(names)
    return out
