"""A fake OpenAI-compatible frontend (stdlib http.server in a thread) and an unreachable URL."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

METRICS_PAGE = """\
# HELP dynamo_frontend_requests_total Total LLM requests processed
# TYPE dynamo_frontend_requests_total counter
dynamo_frontend_requests_total{model="qwen",status="success"} 12
dynamo_frontend_requests_total{model="qwen",status="error"} 1
# HELP dynamo_frontend_request_duration_seconds LLM request duration
# TYPE dynamo_frontend_request_duration_seconds histogram
dynamo_frontend_request_duration_seconds_bucket{model="qwen",le="0.5"} 10
dynamo_frontend_request_duration_seconds_bucket{model="qwen",le="+Inf"} 13
dynamo_frontend_request_duration_seconds_sum{model="qwen"} 4.5
dynamo_frontend_request_duration_seconds_count{model="qwen"} 13
# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{model="qwen"} NaN
"""


class FakeFrontend:
    """Answers like Dynamo's frontend; the request's model picks the behaviour:

    ok (or anything else)  200 with choices and usage (completion_tokens = max_tokens)
    no-usage               200 without usage
    flaky                  every second request fails with HTTP 500
    slow                   answers after 0.5 s
    garbage                200 with a body that is not JSON
    hang-up                closes the connection after every answer, without saying so
    missing                404, as for a model the frontend does not serve
    """

    def __init__(self) -> None:
        self.metrics_page = METRICS_PAGE
        self.requests: list[tuple[str, dict]] = []
        self.client_ports: set[int] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        # A client that gave up (the timeout test) makes the answer's write fail: expected.
        self.server.handle_error = lambda request, client_address: None
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real frontends do

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    page = fake.metrics_page.encode()
                    self._send(200, page, "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append((self.path, body))
                    fake.client_ports.add(self.client_address[1])
                    count = len(fake.requests)
                model = body.get("model")
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    return self._send(404, b"no such route", "text/plain")
                if model == "missing":
                    error = {"error": {"message": "model missing not found"}}
                    return self._send(404, json.dumps(error).encode(), "application/json")
                if model == "flaky" and count % 2 == 0:
                    return self._send(500, b"engine exploded", "text/plain")
                if model == "garbage":
                    return self._send(200, b"<html>oops</html>", "text/html")
                if model == "slow":
                    time.sleep(0.5)
                answer = {"id": f"r{count}", "object": "chat.completion", "model": model}
                answer["choices"] = [{"index": 0, "message": {"content": "1 2 3"}}]
                if model != "no-usage":
                    tokens = body.get("max_tokens", 16)
                    answer["usage"] = {"prompt_tokens": 5, "completion_tokens": tokens}
                self._send(200, json.dumps(answer).encode(), "application/json")
                if model == "hang-up":
                    self.close_connection = True

        return Handler


@pytest.fixture
def frontend() -> Iterator[FakeFrontend]:
    fake = FakeFrontend()
    yield fake
    fake.close()


@pytest.fixture
def unreachable_url() -> str:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
