from __future__ import annotations

import socket
import threading

from dynamo_workspaces.proxy import CountingProxy


def test_the_proxy_forwards_and_counts_both_ways() -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def echo_twice() -> None:
        conn, _ = server.accept()
        with conn:
            data = conn.recv(1024)
            conn.sendall(data * 2)

    threading.Thread(target=echo_twice, daemon=True).start()
    proxy = CountingProxy(("127.0.0.1", server.getsockname()[1])).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(b"hello")
            received = b""
            while len(received) < 10:
                received += client.recv(1024)
        assert received == b"hellohello"
        assert (proxy.sent, proxy.received) == (5, 10)
        proxy.reset()
        assert (proxy.sent, proxy.received) == (0, 0)
    finally:
        proxy.stop()
        server.close()
