from __future__ import annotations

import socket
import threading

from dynamo_workspaces.proxy import CountingProxy

from dynamo_benchmarks.builds import buildkit_steps
from dynamo_benchmarks.fresh_remote import family_layers


def test_a_family_counts_each_shared_layer_once() -> None:
    family = family_layers(
        {
            "dynamo:runtime": {"base": 100, "stack": 1000, "wheels": 10},
            "dynamo:dev": {"base": 100, "stack": 1000, "wheels": 10, "tools": 50},
        }
    )
    assert family["images"] == {"dynamo:runtime": 1110, "dynamo:dev": 1160}
    assert family["sum_of_images"] == 2270
    assert family["unique"] == 1160


def test_buildkit_steps_tells_cached_from_ran() -> None:
    log = "\n".join(
        [
            "#1 [internal] load build definition from Dockerfile",
            "#1 DONE 0.0s",
            "#5 [runtime 2/4] COPY constraints.txt stack.txt /tmp/",
            "#5 CACHED",
            "#6 [runtime 3/4] RUN python3 -m venv ...",
            "#6 DONE 12.0s",
        ]
    )
    assert buildkit_steps(log) == {"cached": 1, "ran": 1}


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
