"""What every config section shares: unknown keys rejected, values frozen, env-var names and URLs checked.

Each layer declares its own sections on :class:`Section` (connectors their connection settings,
``sync.settings`` the ones it composes); the file itself never holds a secret, only the name of the
environment variable that does.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

__all__ = ["ENV_NAME", "Section", "check_env_name", "check_url"]

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Section(BaseModel):
    """A ``[section]`` of config.toml: unknown keys are errors, values are frozen, text is stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def check_env_name(value: str) -> str:
    """A validator: ``value`` must be the NAME of an environment variable, never the secret."""
    if not ENV_NAME.fullmatch(value):
        raise ValueError("must be the NAME of an environment variable (the secret itself never goes in the file)")
    return value


def check_url(value: str) -> str:
    """A validator: an absolute http(s) URL, without its trailing slash."""
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an absolute URL with scheme, host and port if any, e.g. https://127.0.0.1:8443")
    return value.rstrip("/")
