"""The daemon's Prometheus metrics: what each cycle pulled, wrote and how it ended, and every API call.

One dedicated :class:`~prometheus_client.CollectorRegistry` per :class:`Metrics` (never the
library's global one), so two daemons in one test process, or a test and the code it drives,
never share or collide on a series. Cycle metrics are fed from the ``RunReport`` each cycle
returns; API call metrics are read, at scrape time, off the connectors' call meter
(:data:`connectors.http.METER`), which counts every attempt, retries included.

Names (all prefixed ``upsync_``; counters end in ``_total``):

- ``records_pulled_total{stream}``, ``stream_errors_total{stream}``: per stream and cycle
- ``api_calls_total{system,stream}``, ``api_retries_total``, ``api_errors_total``,
  ``api_rate_limited_total``, ``api_call_seconds_total``, ``api_retry_wait_seconds_total``
- ``cycles_total{status}`` (ok, errors, held, skipped, failed), ``cycle_duration_seconds``
  (histogram), ``cycle_running``, ``last_cycle_timestamp_seconds``,
  ``last_success_timestamp_seconds``
- ``tasks_total{outcome}`` (created, reconciled, updated, closed, held, failed, unknown),
  ``field_writes_total``
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric

from connectors.http import METER, CallMeter
from core.clock import Clock, system_clock

if TYPE_CHECKING:
    from sync.runner import RunReport

__all__ = ["CYCLE_STATUSES", "TASK_OUTCOMES", "Metrics"]

CYCLE_STATUSES = ("ok", "errors", "held", "skipped", "failed")
"""A cycle's status as ``runs`` keeps it, plus ``failed``: stopped by an error before it could report."""
TASK_OUTCOMES = ("created", "reconciled", "updated", "closed", "held", "failed", "unknown")
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
"""Seconds: a small org's cycle takes seconds, a first pull of a large one most of an hour."""


class _CallCollector:
    """The call meter's running totals as counters, read when Prometheus scrapes."""

    def __init__(self, meter: CallMeter) -> None:
        self.meter = meter

    def describe(self) -> Iterable[Metric]:
        return []  # label sets are only known at scrape time

    def collect(self) -> Iterable[Metric]:
        labels = ["system", "stream"]
        families = {
            "attempts": CounterMetricFamily("upsync_api_calls", "API requests sent, retries included", labels=labels),
            "retried": CounterMetricFamily(
                "upsync_api_retries", "API requests that retried a failed one", labels=labels
            ),
            "errors": CounterMetricFamily(
                "upsync_api_errors", "API requests that failed (429s included)", labels=labels
            ),
            "rate_limited": CounterMetricFamily(
                "upsync_api_rate_limited", "API requests answered 429 (rate limited)", labels=labels
            ),
            "seconds": CounterMetricFamily("upsync_api_call_seconds", "Time spent in API requests", labels=labels),
            "waited": CounterMetricFamily(
                "upsync_api_retry_wait_seconds", "Time spent backing off before a retry", labels=labels
            ),
        }
        for (system, stream), count in sorted(self.meter.snapshot().items()):
            for attr, family in families.items():
                family.add_metric([system or "-", stream or "-"], getattr(count, attr))
        return list(families.values())


class Metrics:
    """Every series the daemon exposes, in a registry of its own."""

    def __init__(self, *, meter: CallMeter = METER, clock: Clock = system_clock) -> None:
        self.registry = CollectorRegistry()
        self.clock = clock
        r = self.registry
        self.records = Counter("upsync_records_pulled", "Records pulled and stored", ["stream"], registry=r)
        self.stream_errors = Counter(
            "upsync_stream_errors", "Streams a cycle stopped early with an error", ["stream"], registry=r
        )
        self.cycles = Counter("upsync_cycles", "Cycles by how they ended", ["status"], registry=r)
        self.duration = Histogram(
            "upsync_cycle_duration_seconds", "How long a cycle took", buckets=DURATION_BUCKETS, registry=r
        )
        self.running = Gauge("upsync_cycle_running", "1 while a cycle runs", registry=r)
        self.last_cycle = Gauge("upsync_last_cycle_timestamp_seconds", "When the last cycle ended (unix)", registry=r)
        self.last_success = Gauge(
            "upsync_last_success_timestamp_seconds", "When the last cycle with status ok ended (unix)", registry=r
        )
        self.tasks = Counter("upsync_tasks", "CRM task writes by outcome", ["outcome"], registry=r)
        self.field_writes = Counter("upsync_field_writes", "Accounts whose upsync fields were written", registry=r)
        for status in CYCLE_STATUSES:  # every status is a series from the start: rate() sees its first one
            self.cycles.labels(status)
        for outcome in TASK_OUTCOMES:
            self.tasks.labels(outcome)
        r.register(_CallCollector(meter))

    def cycle_ended(self, status: str, *, seconds: float, report: RunReport | None = None) -> None:
        """Count one cycle: its status and duration, and what its report says it pulled and wrote."""
        now = self.clock().timestamp()
        self.cycles.labels(status).inc()
        self.duration.observe(seconds)
        self.last_cycle.set(now)
        if status == "ok":
            self.last_success.set(now)
        if report is None:
            return
        for pull in report.pulls:
            self.records.labels(pull.stream).inc(pull.records)
            if pull.error:
                self.stream_errors.labels(pull.stream).inc()
        applied = report.applied
        if applied is not None:
            for outcome in TASK_OUTCOMES:
                self.tasks.labels(outcome).inc(getattr(applied, outcome))
            self.field_writes.inc(applied.fields)
