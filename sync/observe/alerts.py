"""Alerts: a webhook told, in a small JSON POST, when a cycle fails, is held, or deviates.

Events are ``failed`` (a cycle ended with errors, or an error stopped it), ``held`` (its writes
were held back: ``RunReport.held`` says why) and ``deviation`` (``RunReport.deviations``, when a
report carries them); the set is open, and the receiver should ignore events it does not know.
The payload carries a ``text`` line too, which Slack, Mattermost and most chat webhooks post as is.

An alert never breaks the cycle it reports on: a receiver that is down is retried briefly (a
short timeout, a few attempts) and then logged, and the daemon goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectors.settings import RetrySettings
from connectors.webhook import post_json
from core.config import secret
from core.errors import UpsyncError
from sync.settings import AlertSettings

if TYPE_CHECKING:
    from sync.runner import RunReport

__all__ = ["Alert", "AlertSender", "alerts_for", "failure_alert"]

log = logging.getLogger("upsync.alerts")

MAX_ERRORS = 20
"""Errors listed in one payload: enough to act on, small enough for any receiver."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One event about one run, as the webhook receives it (:meth:`payload`)."""

    event: str
    command: str
    system: str
    status: str
    summary: str
    run_id: int | None = None
    as_of: str | None = None
    errors: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "text": f"upsync {self.event}: {self.summary}",
            "summary": self.summary,
            "run_id": self.run_id,
            "command": self.command,
            "system": self.system,
            "status": self.status,
            "as_of": self.as_of,
            "errors": list(self.errors[:MAX_ERRORS]),
        }


def alerts_for(report: RunReport, *, command: str, system: str) -> list[Alert]:
    """The alerts a finished run calls for: none when it went well (or was skipped for a replica)."""
    status = report.status
    common: dict[str, Any] = {
        "command": command,
        "system": system,
        "status": status,
        "run_id": report.run_id,
        "as_of": report.as_of.isoformat(),
    }
    alerts = []
    if status == "errors":
        errors = report.errors()
        first = f": {errors[0]}" if errors else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        summary = f"{system} cycle ended with errors{first}{more}"
        alerts.append(Alert(event="failed", summary=summary, errors=tuple(errors), **common))
    elif status == "held":
        summary = f"{system} cycle's writes were held: {report.held}"
        alerts.append(Alert(event="held", summary=summary, errors=(report.held,), **common))
    # a later RunReport may say how a cycle deviated from recent runs; until then there is none
    deviations = [str(d) for d in getattr(report, "deviations", None) or ()]
    if deviations:
        summary = f"{system} cycle deviated from recent runs: {deviations[0]}"
        alerts.append(Alert(event="deviation", summary=summary, errors=tuple(deviations), **common))
    return alerts


def failure_alert(exc: BaseException, *, command: str, system: str) -> Alert:
    """The alert for a cycle an error stopped before it could report (the state, the config, a bug)."""
    message = exc.message if isinstance(exc, UpsyncError) else f"{type(exc).__name__}: {exc}"
    hint = exc.hint if isinstance(exc, UpsyncError) else None
    return Alert(
        event="failed",
        command=command,
        system=system,
        status="failed",
        summary=f"{system} cycle stopped: {message}",
        errors=(message,) + ((f"hint: {hint}",) if hint else ()),
    )


class AlertSender:
    """Posts alerts of the configured events to one webhook; logs, never raises, when it cannot."""

    def __init__(
        self,
        url: str,
        *,
        events: Iterable[str],
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        redact: Callable[[Any], Any] = lambda value: value,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.events = frozenset(events)
        self.timeout_seconds = timeout_seconds
        self.policy = RetrySettings(
            attempts=attempts,
            initial_seconds=0.5,
            max_seconds=2.0,
            give_up_after_seconds=attempts * (timeout_seconds + 2.0),
        )
        self.redact = redact
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: AlertSettings,
        env: Mapping[str, str],
        *,
        redact: Callable[[Any], Any] = lambda value: value,
        sleep: Callable[[float], None] = time.sleep,
    ) -> AlertSender | None:
        """The sender ``[alerts]`` configures, or None when it names no webhook."""
        url = secret(env, settings.webhook_url_env) if settings.webhook_url_env else settings.webhook_url
        if not url:
            return None
        return cls(
            url,
            events=settings.events,
            timeout_seconds=settings.timeout_seconds,
            attempts=settings.attempts,
            redact=redact,
            sleep=sleep,
        )

    @property
    def receiver(self) -> str:
        """The receiver's host, which is safe to log (the URL's path often holds its token)."""
        return urlsplit(self.url).hostname or "the webhook"

    def send(self, alerts: Iterable[Alert]) -> int:
        """Post each alert whose event is configured; how many the receiver accepted."""
        sent = 0
        for alert in alerts:
            if alert.event not in self.events:
                continue
            try:
                post_json(
                    self.url,
                    self.redact(alert.payload()),
                    timeout_seconds=self.timeout_seconds,
                    policy=self.policy,
                    sleep=self.sleep,
                )
            except Exception as exc:  # an alert must never break the cycle it reports on
                log.warning(
                    "alert %s not delivered to %s: %s", alert.event, self.receiver, exc, extra={"event": alert.event}
                )
            else:
                sent += 1
                log.info("alert %s sent to %s", alert.event, self.receiver, extra={"event": alert.event})
        return sent
