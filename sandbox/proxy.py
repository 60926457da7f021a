"""An HTTP CONNECT proxy (RFC 9110 §9.3.6) on 127.0.0.1, counting the tunnels it opens.

Egress proxies speak CONNECT for HTTPS: the client asks ``CONNECT host:port``, the proxy opens a
TCP connection there and answers ``200``, then relays bytes both ways while the client does its
TLS handshake with the host itself, through the tunnel. Tests point ``HTTPS_PROXY`` here to see
that every client goes through the proxy (and that ``NO_PROXY`` keeps them away); ``refuse``
answers every CONNECT ``403 Forbidden``, as a proxy whose policy denies the host does.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections import Counter
from types import TracebackType

__all__ = ["ConnectProxy"]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        head = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192).strip():  # the request's headers end at an empty line
            pass
        if len(head) != 3 or head[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        target = head[1]
        if self.server.proxy.refuse:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.proxy.opened(target)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        with upstream:
            upstream.settimeout(None)
            back = threading.Thread(target=_relay, args=(upstream, self.connection), daemon=True)
            back.start()
            _relay(self.connection, upstream)
            back.join(timeout=5)


def _relay(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes until either side closes, then close both directions (the other relay ends too)."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (sink, source):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: ConnectProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy


class ConnectProxy:
    """``with ConnectProxy() as proxy:`` serves on ``proxy.url``; ``proxy.tunnels`` counts the tunnels
    opened per ``host:port``."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.tunnels: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-proxy", daemon=True)

    def opened(self, target: str) -> None:
        with self._lock:
            self.tunnels[target] += 1

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
