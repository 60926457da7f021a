"""The daemon's HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

One small threaded WSGI server (the standard library's ``wsgiref``) on a daemon thread, serving
prometheus_client's own WSGI app for ``/metrics``; nothing else listens, and nothing it serves
changes what a cycle does.

Readiness (``/readyz``): ready while the last finished cycle ended ``ok`` or ``skipped`` (another
replica held the writer lease) no longer ago than ``2 × every_minutes + ready_grace_seconds``;
before any cycle has finished, ready for that long after the start (the first cycle is running).
Otherwise 503, with a JSON body saying why: the last cycle's status and errors, or how long ago
it finished. Twice the interval, because one missed or slow run is not yet an outage.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from core.errors import ConfigError

__all__ = ["READY_STATUSES", "ObserveServer", "Readiness"]

log = logging.getLogger("upsync.observe")

READY_STATUSES = ("ok", "skipped")


@dataclass
class Readiness:
    """The readiness rule, over the monotonic clock: the daemon's start and its last finished cycle."""

    every_seconds: float
    grace_seconds: float
    clock: Callable[[], float] = time.monotonic
    started_at: float = field(init=False)
    status: str | None = field(default=None, init=False)
    reason: str = field(default="", init=False)
    finished_at: float | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    @property
    def window(self) -> float:
        return 2 * self.every_seconds + self.grace_seconds

    def finished(self, status: str, reason: str = "") -> None:
        """A cycle ended with ``status``; ``reason`` says what went wrong when it was not ok."""
        with self._lock:
            self.status, self.reason, self.finished_at = status, reason, self.clock()

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready?, the body /readyz answers with)."""
        with self._lock:
            status, reason, finished_at = self.status, self.reason, self.finished_at
        now = self.clock()
        if finished_at is None:
            age = now - self.started_at
            if age <= self.window:
                return True, {"ready": True, "reason": "the first cycle is running"}
            return False, {"ready": False, "reason": f"no cycle has finished in the {age:.0f} s since the start"}
        age = now - finished_at
        body: dict[str, Any] = {"status": status, "last_cycle_age_seconds": round(age, 1)}
        if status not in READY_STATUSES:
            return False, {"ready": False, **body, "reason": reason or f"the last cycle ended {status}"}
        if age > self.window:
            why = f"the last cycle finished {age:.0f} s ago, more than 2 × every_minutes + ready_grace_seconds"
            return False, {"ready": False, **body, "reason": why}
        return True, {"ready": True, **body}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in flight never holds up the daemon's exit


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would drown the log: requests are not logged."""


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class ObserveServer:
    """Serves the registry and the readiness rule on ``host:port`` until :meth:`stop`."""

    def __init__(self, host: str, port: int, *, registry: CollectorRegistry, readiness: Readiness) -> None:
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                return _json(start_response, "200 OK", {"alive": True})
            if path == "/readyz":
                ready, body = readiness.check()
                return _json(start_response, "200 OK" if ready else "503 Service Unavailable", body)
            if path == "/metrics":
                exposition: Iterable[bytes] = metrics(environ, start_response)
                return exposition
            return _json(start_response, "404 Not Found", {"error": "try /metrics, /healthz or /readyz"})

        try:
            server_class = _Server6 if ":" in host else _Server
            self._server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(
                f"observe.listen: cannot listen on {host}:{port} ({exc.strerror or exc})",
                hint="pick a free port, or leave [observe] listen unset to serve nothing",
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="upsync-observe", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> ObserveServer:
        self._thread.start()
        host, port = self.address
        log.info("serving /metrics, /healthz and /readyz on http://%s:%d", host, port)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever: only ask a server that runs
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
