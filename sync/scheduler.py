"""The daemon's schedule: APScheduler 3.x, one cycle at a time, clean stop on SIGTERM/SIGINT.

The only importer of apscheduler. The scheduler knows nothing of the job's domain: it runs a
callable on an interval, coalesces missed runs into one, never runs two at once, and on a
signal sets ``stop`` (which the cycle checks between pages and batches, and which ends any retry
backoff at once) and gives the running job a bounded time to finish its current step.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["run_daemon"]

log = logging.getLogger("upsync.scheduler")


def _log_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_ERROR:
        log.error("cycle failed: %r", event.exception)
    elif event.code == EVENT_JOB_MISSED:
        log.warning("cycle missed its time (%s): coalesced into the next one", event.scheduled_run_time)
    # a cycle logs its own outcome (ok, or the errors it met): "finished" says no more than that


STOP_GRACE_SECONDS = 10.0
"""How long a signal waits for the running cycle to stop, within what systemd (90 s) and Kubernetes
(30 s) allow before a hard kill: retries give up at once, so only a call in flight can hold it."""


def run_daemon(
    job: Callable[[], object],
    *,
    every_minutes: int,
    jitter_seconds: int,
    misfire_grace_seconds: int,
    first_run_at: datetime,
    stop: threading.Event,
    grace_seconds: float = STOP_GRACE_SECONDS,
) -> None:
    """Run ``job`` now and then every ``every_minutes`` until SIGTERM/SIGINT (or ``stop`` is set).

    On a signal the running cycle gets ``grace_seconds`` to finish its step; past that the process
    exits anyway. Nothing is lost: every page and every ledger row is committed as it goes, and a
    write in flight is looked up by key on the next start.
    """
    # APScheduler's "executed successfully" means the job returned, not that the cycle went well
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    idle = threading.Event()
    idle.set()

    def tracked() -> object:
        idle.clear()
        try:
            return job()
        finally:
            idle.set()

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(
        tracked,
        IntervalTrigger(minutes=every_minutes, jitter=jitter_seconds or None),
        id="sync-cycle",
        name="upsync cycle",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=misfire_grace_seconds,
        next_run_time=first_run_at,
    )
    scheduler.add_listener(_log_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_EXECUTED)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the current step, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        while not stop.wait(timeout=1.0):
            pass
    finally:
        scheduler.shutdown(wait=False)
        finished = idle.wait(timeout=grace_seconds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not finished:
            log.warning("the cycle did not stop within %.0f s: exiting now; the next start resumes it", grace_seconds)
            logging.shutdown()
            os._exit(0)
        log.info("stopped")
