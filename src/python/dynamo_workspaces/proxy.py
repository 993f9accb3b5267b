"""A TCP proxy that counts the bytes it forwards: what a client fetched from a server.

Put in front of the team's REAPI server or registry, it measures what a new machine downloads
(gRPC and HTTP alike: it forwards bytes, it does not parse them).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class TcpProxy:
    """Listens on 127.0.0.1:<port> (a free one) and serves each connection to it in a thread
    of its own; what a connection is served with is a subclass's `_serve`."""

    upstream: tuple[str, int]
    port: int = 0
    _server: socket.socket = field(init=False, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError


@dataclass
class CountingProxy(TcpProxy):
    """Forwards to `upstream`; `received` counts the bytes from the server to its clients,
    `sent` those the other way."""

    received: int = 0
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.received = self.sent = 0

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(client, upstream, "sent"), daemon=True).start()
        self._pipe(upstream, client, "received")

    def _pipe(self, source: socket.socket, sink: socket.socket, counter: str) -> None:
        try:
            while data := source.recv(1 << 20):
                with self._lock:  # counted first: a client that has the bytes sees them counted
                    setattr(self, counter, getattr(self, counter) + len(data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
