"""Run the stand-ins as real HTTPS servers on 127.0.0.1, with injectable faults.

Each service (Salesforce, HubSpot, usage API) gets its own uvicorn server in a thread, behind
a TLS certificate issued by a throw-away trustme CA whose PEM is written to ``ca_path``: the
real client libraries verify it like any other CA, so no test ever disables verification.

Faults are injected per service through ``Faults``: a matching request can be answered with a
given status/body/headers (429, 5xx, 401…), delayed (read timeouts), or handled normally and
then followed by a callback before the response leaves (to kill a client "between CRM write
and ledger commit"). Every request is also logged, so tests and benchmarks count API calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trustme
import uvicorn

from sandbox.asgi import ASGIApp, Message, Receive, Scope, Send
from sandbox.world import World

if TYPE_CHECKING:
    from sandbox.usage import UsageStyle

__all__ = ["Fault", "Faults", "RequestLog", "Sandbox", "Service", "start_sandbox"]


@dataclass
class Fault:
    """One injected misbehaviour, matched on method and a regex searched in the path."""

    path: str
    method: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0
    before: Callable[[], None] | None = None  # runs first; the request is then dropped unprocessed
    after: Callable[[], None] | None = None  # runs once the app has answered, before the answer is sent

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and re.search(self.path, path) is not None


@dataclass
class RequestLog:
    method: str
    path: str
    query: str
    at: float


class Faults:
    """Thread-safe list of pending faults; each fault fires ``times`` times then disappears."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults, log: list[RequestLog]) -> None:
        self.app = app
        self.faults = faults
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.log.append(RequestLog(method, path, scope.get("query_string", b"").decode("latin-1"), time.monotonic()))
        fault = self.faults.take(method, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.before is not None:
            await asyncio.to_thread(fault.before)
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if fault.status is not None:
            body = b"" if fault.body is None else json.dumps(fault.body).encode()
            headers = [(b"content-type", b"application/json;charset=UTF-8")]
            headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if fault.after is None:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await asyncio.to_thread(fault.after)
        for message in held:
            await send(message)


class _QuietShutdown(logging.Filter):
    """Drop uvicorn's shutdown chatter about idle keep-alive connections the clients still hold."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Cancel ") or "graceful shutdown" in message)


logging.getLogger("uvicorn.error").addFilter(_QuietShutdown())


class Service:
    """One running stand-in: its URL, faults and request log."""

    def __init__(self, name: str, app: ASGIApp, *, host: str, port: int, cert: trustme.LeafCert, tmp: Path) -> None:
        self.name = name
        self.app = app  # the stand-in itself: tests reach its settings through app.state
        self.faults = Faults()
        self.requests: list[RequestLog] = []
        cert_path = tmp / f"{name}-cert.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: without, Nagle + delayed ACK add ~40 ms to each request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        self.url = f"https://{host}:{self.port}"
        self._sock = sock
        config = uvicorn.Config(
            _FaultMiddleware(app, self.faults, self.requests),
            ssl_certfile=str(cert_path),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,  # clients keep TLS connections open; do not wait on them
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"sandbox-{name}", daemon=True)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        finally:
            # Connections a client never closed (a killed process, a kept-alive pool) outlive the
            # graceful-shutdown timeout: close them here, before the loop goes.
            for connection in list(self._server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()  # no TLS close_notify dance with a peer that is gone
            loop.run_until_complete(asyncio.sleep(0.05))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._sock.close()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox {self.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def calls(self, method: str | None = None, path: str = "") -> int:
        """How many requests matched (``path`` is a regex searched in the path)."""
        return sum(1 for r in self.requests if (method is None or r.method == method) and re.search(path, r.path))


class Sandbox:
    """The three stand-ins over one world; a context manager that stops them on exit."""

    def __init__(self, world: World, services: dict[str, Service], ca_path: Path) -> None:
        self.world = world
        self.services = services
        self.ca_path = ca_path

    @property
    def salesforce(self) -> Service:
        return self.services["salesforce"]

    @property
    def hubspot(self) -> Service:
        return self.services["hubspot"]

    @property
    def usage(self) -> Service:
        return self.services["usage"]

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    world: World,
    *,
    ca_path: Path,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    usage_style: UsageStyle | None = None,
) -> Sandbox:
    """Start every stand-in over ``world``; port 0 (the default) picks a free port.

    The CA certificate is written to ``ca_path`` for clients to trust; ``usage_style`` picks
    the usage API's auth, pagination and shape (default: bearer, cursor, flat).
    """
    from sandbox.hubspot import create_hubspot_app
    from sandbox.salesforce import create_salesforce_app
    from sandbox.usage import UsageStyle, create_usage_app

    ports = ports or {}
    ca = trustme.CA()
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_path))
    cert = ca.issue_cert(host, "localhost", "127.0.0.1")
    apps: dict[str, ASGIApp] = {
        "salesforce": create_salesforce_app(world),
        "hubspot": create_hubspot_app(world),
        "usage": create_usage_app(world, style=usage_style or UsageStyle()),
    }
    services = {
        name: Service(name, app, host=host, port=ports.get(name, 0), cert=cert, tmp=ca_path.parent)
        for name, app in apps.items()
    }
    for service in services.values():
        service.start()
    return Sandbox(world, services, ca_path)
