"""The one exception hierarchy of upsync: every error raised on purpose, with a hint.

```
UpsyncError                  root; .hint (what to do), retryable=False, exit_code=1
├── ConfigError              config.toml / env invalid or missing          exit 2, never retried
├── StateError               state.db version or corruption                exit 3
├── RuleError                invalid rule (raised at load, not mid-run)    exit 2
└── ConnectorError           .system, .stream: crossed a connector boundary
    ├── AuthError            401/403, session expired, refresh failed      not retried; alert
    ├── RateLimitError       429 / REQUEST_LIMIT_EXCEEDED; .retry_after    retryable
    ├── QuotaExhaustedError  daily allowance spent: stop until next run    not retried
    ├── UpstreamError        5xx, timeouts, connection resets              retryable
    │   └── QueryTimeoutError  the server gave up on a query: read a smaller window
    ├── UnreachableError     no answer at all: DNS, TLS trust, the proxy    not retried; the system waits
    │   └── RefusedError       the host (or the proxy) refused the connection: retried first
    ├── ResponseShapeError   missing field, unparseable body (bug or API change)
    └── WriteRejectedError   the CRM refused a write; recorded per op, run goes on
```

Messages say what happened to which thing; ``hint`` says what the operator should do. Neither
ever carries a token or a raw response body: vendor exceptions are chained with ``from`` and
only a redacted excerpt is kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "AuthError",
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "QueryTimeoutError",
    "QuotaExhaustedError",
    "RateLimitError",
    "RefusedError",
    "ResponseShapeError",
    "RuleError",
    "ShutdownError",
    "StateError",
    "UnreachableError",
    "UpstreamError",
    "UpsyncError",
    "WriteRejectedError",
    "did_you_mean",
]


class UpsyncError(Exception):
    """Root of every error upsync raises on purpose."""

    retryable: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigProblem:
    """One problem in the settings: where (a TOML key path), what, and how to fix it."""

    __slots__ = ("hint", "message", "path")

    def __init__(self, path: str, message: str, hint: str | None = None) -> None:
        self.path = path
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} ({self.hint})" if self.hint else text

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r}, {self.hint!r})"


class ConfigError(UpsyncError):
    """The configuration or its environment is invalid; ``problems`` lists every one found."""

    exit_code = 2

    def __init__(self, problems: list[ConfigProblem] | str, *, hint: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("", problems, hint)]
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the configuration"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in problems), hint=hint)


class StateError(UpsyncError):
    exit_code = 3


class RuleError(UpsyncError):
    exit_code = 2


class ConnectorError(UpsyncError):
    """Something went wrong talking to an outside system."""

    def __init__(self, message: str, *, system: str, stream: str | None = None, hint: str | None = None) -> None:
        where = stream if stream and stream.startswith(f"{system}.") else f"{system} {stream}" if stream else system
        super().__init__(f"{where}: {message}", hint=hint)
        self.system = system
        self.stream = stream


class AuthError(ConnectorError):
    pass


class RateLimitError(ConnectorError):
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        system: str,
        stream: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message, system=system, stream=stream, hint=hint or "lower the schedule frequency or the batch sizes"
        )
        self.retry_after = retry_after


class QuotaExhaustedError(ConnectorError):
    """The daily API allowance (or upsync's configured share of it) is spent: stop until the next run."""


class UpstreamError(ConnectorError):
    retryable = True


class QueryTimeoutError(UpstreamError):
    """Salesforce QUERY_TIMEOUT: retrying the same query fails the same way; halve the window."""

    retryable = False


class UnreachableError(ConnectorError):
    """The system gave no answer at all: its name does not resolve, its certificate is not trusted,
    or the proxy in between would not carry the call. Every other call to it would fail the same
    way, so the system's remaining streams wait for the next run instead of each retrying."""


class RefusedError(UnreachableError):
    """The host (or the proxy) refused the connection: a server restarting does that for a few
    seconds, so the call is retried first."""

    retryable = True


class ResponseShapeError(ConnectorError):
    pass


class WriteRejectedError(ConnectorError):
    pass


class ShutdownError(ConnectorError):
    """upsync is stopping (SIGTERM, Ctrl-C): a call waiting to be retried is given up at once, so a
    stop never waits out a backoff. Like any other failed call: a write in flight is looked up
    by key on the next start."""


def did_you_mean(name: str, valid: Iterable[str]) -> str | None:
    """The hint for a name that is not one of ``valid``: the closest valid one, if any is close."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
