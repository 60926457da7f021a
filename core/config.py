"""What every config section shares: unknown keys rejected, values frozen, env-var names and URLs checked.

Each layer declares its own sections on :class:`Section` (connectors their connection settings,
``sync.settings`` the ones it composes); the file itself never holds a secret, only the name of the
environment variable that does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

__all__ = ["ENV_NAME", "Section", "check_env_name", "check_url", "secret", "secret_problem"]

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


def secret(env: Mapping[str, str], name: str | None) -> str:
    """The secret held by the environment variable ``name`` ("" when unset), without the
    whitespace around it: a token read from a file or pasted from a terminal often ends in a
    newline, which no API accepts and which would otherwise be echoed in an error."""
    return env.get(name, "").strip() if name else ""


def secret_problem(env: Mapping[str, str], name: str) -> str | None:
    """What is wrong with the secret in ``name``, if anything (never the secret itself)."""
    value = env.get(name)
    if not value or not value.strip():
        return f"environment variable {name} is not set"
    if any(ch.isspace() or not ch.isprintable() for ch in value.strip()):
        return f"environment variable {name} holds whitespace or control characters inside the secret"
    return None
