"""What the CLI does around each cycle: times it, counts it, tells readiness, alerts, logs one line.

The cycle itself is untouched: :meth:`Observer.run` calls it and reads the ``RunReport`` it
returns (or the error that stopped it), so the daemon, ``sync --once`` and ``apply`` are observed
the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from connectors.http import METER, CallMeter
from core import logfields
from sync.observe.alerts import AlertSender, alerts_for, failure_alert
from sync.observe.logs import REDACTOR
from sync.observe.metrics import Metrics
from sync.observe.server import ObserveServer, Readiness
from sync.settings import Settings

if TYPE_CHECKING:
    from sync.runner import RunReport

__all__ = ["Observer"]

log = logging.getLogger("upsync.observe")


class Observer:
    """Metrics, readiness and alerts of one command's cycles."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        *,
        command: str,
        sleep: Callable[[float], None] = time.sleep,
        meter: CallMeter = METER,
    ) -> None:
        self.command = command
        self.system = settings.upsync.crm
        self.observe = settings.observe
        self.metrics = Metrics(meter=meter)
        self.readiness = Readiness(
            every_seconds=settings.schedule.every_minutes * 60.0, grace_seconds=settings.observe.ready_grace_seconds
        )
        self.alerts = AlertSender.from_settings(settings.alerts, env, redact=REDACTOR.redact_all, sleep=sleep)

    def serve(self) -> ObserveServer | None:
        """Start the HTTP endpoint ``[observe] listen`` names (None when it names none)."""
        if self.observe.listen is None:
            return None
        host, port = self.observe.address()
        return ObserveServer(host, port, registry=self.metrics.registry, readiness=self.readiness).start()

    def run(self, cycle: Callable[[], RunReport]) -> RunReport:
        """Run ``cycle`` with this command's log fields, and observe how it ended; errors propagate."""
        with logfields.scoped(command=self.command):
            began = time.monotonic()
            self.metrics.running.set(1)
            try:
                report = cycle()
            except Exception as exc:
                self._stopped(exc, time.monotonic() - began)
                raise
            finally:
                self.metrics.running.set(0)
            self._ended(report, time.monotonic() - began)
            return report

    def _ended(self, report: RunReport, seconds: float) -> None:
        status = report.status
        self.metrics.cycle_ended(status, seconds=seconds, report=report)
        errors = report.errors()
        if status == "errors":
            reason = f"the last cycle ended with errors: {'; '.join(errors[:3])}" if errors else ""
        else:
            reason = report.held or report.skipped
        self.readiness.finished(status, reason)
        log.log(
            logging.INFO if status in ("ok", "skipped") else logging.WARNING,
            "cycle %s in %.1f s: %s",
            status,
            seconds,
            _counts_text(report),
            extra={"status": status, "seconds": round(seconds, 3), "run_id": report.run_id, **_counts(report)},
        )
        if self.alerts is not None:
            self.alerts.send(alerts_for(report, command=self.command, system=self.system))

    def _stopped(self, exc: Exception, seconds: float) -> None:
        self.metrics.cycle_ended("failed", seconds=seconds)
        self.readiness.finished("failed", f"the last cycle stopped: {exc}")
        if self.alerts is not None:
            self.alerts.send([failure_alert(exc, command=self.command, system=self.system)])


def _counts(report: RunReport) -> dict[str, Any]:
    """The structured log line's counts: records per stream, writes and the calls they took."""
    applied = report.applied
    counts: dict[str, Any] = {
        "records": {p.stream: p.records for p in report.pulls},
        "stream_errors": [p.stream for p in report.pulls if p.error],
    }
    if applied is not None:
        counts.update(  # prefixed: LogRecord has a "created" of its own
            tasks_created=applied.created,
            tasks_updated=applied.updated,
            tasks_closed=applied.closed,
            fields_set=applied.fields,
            writes_refused=applied.failed,
            crm_calls=applied.calls,
            crm_retried=applied.retried,
        )
    return counts


def _counts_text(report: RunReport) -> str:
    records = sum(p.records for p in report.pulls)
    text = f"{records:,} records pulled"
    if report.applied is not None:
        a = report.applied
        text += f", {a.created} tasks created, {a.updated} updated, {a.closed} closed"
        text += f", {a.fields} accounts' fields set, {a.failed} refused"
    return text
