"""Log lines an operator can ship and trust: one JSON object per line off a terminal, secrets redacted.

On a terminal the lines stay rich text; anywhere else (systemd, a container, a file) each line
is a JSON object with ``time``, ``level``, ``logger``, ``message`` and the context fields bound
in :mod:`core.logfields` (``run_id``, ``command``) or passed as ``extra`` (``stream``,
``system``, counts). ``UPSYNC_LOG_FORMAT=json|text`` forces either.

Redaction is a filter on the handler, so it sees every line whatever logger wrote it: every
secret upsync reads from the environment (each ``*_env`` the settings name), the password of a
database URL and a plain webhook URL are replaced by ``***``, and any ``scheme://user:password@``
is masked even when upsync never saw that password.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TextIO
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from core import logfields
from core.config import secret

__all__ = [
    "FORMAT_ENV",
    "REDACTOR",
    "JsonFormatter",
    "Redactor",
    "log_format",
    "secrets_of",
    "url_password",
]

FORMAT_ENV = "UPSYNC_LOG_FORMAT"
MASK = "***"
URL_CREDENTIALS = re.compile(r"(://[^/?#@\s:]*):[^@\s]+@")
"""``scheme://user:password@``: the password is masked (greedy up to the last ``@``: more masked, never less)."""

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
"""A LogRecord's own attributes: anything else on a record came from ``extra``."""


class Redactor(logging.Filter):
    """Replaces every known secret, and URL passwords, in each record before any handler formats it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def protect(self, values: Iterable[str]) -> None:
        """Never let these values reach a log line (empty and blank ones are ignored)."""
        with self._lock:
            known = set(self._secrets) | {v for v in values if v.strip()}
            # longest first: a secret that contains another is masked whole
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, MASK)
        return URL_CREDENTIALS.sub(rf"\1:{MASK}@", text)

    def redact_all(self, value: Any) -> Any:
        """``value`` with every string inside it (dicts, lists, tuples) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_all(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_all(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call is logged as written, never raised into its caller
            message = f"{record.msg} {record.args}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, self.redact_all(value))
        return True


REDACTOR = Redactor()
"""The process's redactor: the CLI feeds it the secrets of the settings it loads."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the bound fields and extras."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(logfields.current())
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(self.redactor.redact_all(entry), default=str, ensure_ascii=False)


def log_format(env: Mapping[str, str], stream: TextIO) -> Literal["json", "text"]:
    """``UPSYNC_LOG_FORMAT`` when it says json or text; else text on a terminal, JSON anywhere else."""
    forced = env.get(FORMAT_ENV, "").strip().lower()
    if forced in ("json", "text"):
        return "json" if forced == "json" else "text"
    return "text" if stream.isatty() else "json"


def url_password(url: str) -> list[str]:
    """The password of a URL such as ``postgresql+psycopg://user:pw@host/db``, as written and decoded."""
    if "://" not in url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def secrets_of(settings: BaseModel, env: Mapping[str, str]) -> list[str]:
    """Every secret these settings read: the value of each ``*_env`` variable they name (as set
    and as upsync reads it), a plain ``webhook_url``, and the password of a state database URL."""
    found: list[str] = []

    def walk(model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name.endswith("_env") and isinstance(value, str):
                found.extend((env.get(value, ""), secret(env, value)))
                if name == "url_env":  # a warehouse's URL: its password alone may be echoed too
                    found.extend(url_password(secret(env, value)))
            elif name == "webhook_url" and isinstance(value, str):
                found.append(value)
            elif name == "state" and isinstance(value, str):
                found.extend(url_password(value))
            elif isinstance(value, BaseModel):
                walk(value)
            elif isinstance(value, list | tuple):
                for item in value:
                    if isinstance(item, BaseModel):
                        walk(item)

    walk(settings)
    return [value for value in found if value.strip()]
