"""A TCP proxy in front of the registry that can cut image downloads off midway."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from dynamo_workspaces.proxy import TcpProxy


@dataclass
class CuttingProxy(TcpProxy):
    """Forwards to the registry, one request per connection. While `cut` is set, a blob
    download stops after `keep` bytes of its body and the connection is closed: a registry
    that dies in the middle of a pull."""

    keep: int = 256
    cut: bool = False
    cuts: int = 0

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as upstream:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            request, _, rest = head.partition(b"\r\n\r\n")
            lines = [h for h in request.split(b"\r\n") if not h.lower().startswith(b"connection:")]
            blob = b"/blobs/" in lines[0] and lines[0].startswith(b"GET ")
            upstream.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest)
            sent_body, in_body, buffered = 0, False, b""
            while True:
                data = upstream.recv(65536)
                if not data:
                    return
                if self.cut and blob:
                    if not in_body:
                        buffered += data
                        if b"\r\n\r\n" not in buffered:
                            continue
                        headers, _, data = buffered.partition(b"\r\n\r\n")
                        client.sendall(headers + b"\r\n\r\n")
                        in_body = True
                    room = self.keep - sent_body
                    client.sendall(data[:room])
                    sent_body += min(room, len(data))
                    if sent_body >= self.keep:
                        self.cuts += 1
                        return
                else:
                    client.sendall(data)
