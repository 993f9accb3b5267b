"""A fake OpenAI-compatible frontend (stdlib http.server in a thread) and an unreachable URL."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

STREAM_TTFT_S = 0.2
STREAM_ITL_S = 0.05
STALL_S = 2.0

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

    Requests with "stream": true get server-sent events (chunked, keep-alive): max_tokens
    content chunks, the usage chunk when stream_options.include_usage, then data: [DONE].
    The model picks the behaviour:

    ok (or anything else)  first chunk after STREAM_TTFT_S, then one every STREAM_ITL_S
    no-done                the chunks and a clean end of the body, but no data: [DONE]
    cut                    two chunks, then the connection is closed mid-body
    stall                  one chunk, then silence for STALL_S
    bad-event              one chunk, then an event that is not JSON
    error-event            one chunk, then {"error": ...}, as a failing engine sends
    no-stream              a plain JSON answer, as from a server that ignores "stream"
    flaky, missing         as above (HTTP 500 / 404 instead of a stream)

    /metrics serves METRICS_PAGE, or, with live_metrics set, Dynamo-named counters of what it
    answered (requests by status, output tokens, TTFT/ITL/duration sums), each multiplied by
    metrics_scale to play a frontend that miscounts.
    """

    def __init__(self) -> None:
        self.metrics_page = METRICS_PAGE
        self.live_metrics = False
        self.metrics_scale = 1.0
        self.counters: dict[str, float] = {}
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

    def count(self, name: str, value: float = 1.0) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0.0) + value

    def live_page(self) -> str:
        with self.lock:
            c = {k: v * self.metrics_scale for k, v in self.counters.items()}
        lines = ["# TYPE dynamo_frontend_requests_total counter"]
        for status in ("success", "error"):
            value = c.get(f"requests_{status}", 0.0)
            lines.append(
                f'dynamo_frontend_requests_total{{model="ok",status="{status}"}} {value}'
            )
        # Another model's series: not counted for a soak of "ok".
        lines.append('dynamo_frontend_requests_total{model="other",status="success"} 99')
        lines += [
            "# TYPE dynamo_frontend_output_tokens_total counter",
            f'dynamo_frontend_output_tokens_total{{model="ok"}} {c.get("tokens", 0.0)}',
        ]
        for key, name in (
            ("ttft", "time_to_first_token_seconds"),
            ("itl", "inter_token_latency_seconds"),
            ("duration", "request_duration_seconds"),
        ):
            lines += [
                f"# TYPE dynamo_frontend_{name} histogram",
                f'dynamo_frontend_{name}_bucket{{model="ok",le="+Inf"}} {c.get(key + "_n", 0.0)}',
                f'dynamo_frontend_{name}_sum{{model="ok"}} {c.get(key + "_sum", 0.0)}',
                f'dynamo_frontend_{name}_count{{model="ok"}} {c.get(key + "_n", 0.0)}',
            ]
        return "\n".join(lines) + "\n"

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
                    text = fake.live_page() if fake.live_metrics else fake.metrics_page
                    page = text.encode()
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
                    fake.count("requests_error")
                    return self._send(500, b"engine exploded", "text/plain")
                if body.get("stream") and model != "no-stream":
                    return self._stream(model, body)
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

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _event(self, payload: object) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self._chunk(b"data: " + data + b"\n\n")

            def _stream(self, model: str, body: dict) -> None:
                start = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                tokens = body.get("max_tokens", 16)
                sent = 0
                last = start
                for i in range(tokens):
                    time.sleep(STREAM_TTFT_S if i == 0 else STREAM_ITL_S)
                    if model == "cut" and i == 2:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if model == "stall" and i == 1:
                        time.sleep(STALL_S)
                        self.close_connection = True
                        return
                    if model == "bad-event" and i == 1:
                        self._event(b"{not json")
                        break
                    if model == "error-event" and i == 1:
                        self._event({"error": {"message": "engine died", "code": 500}})
                        break
                    delta = {"content": f" {i}", "role": "assistant"}
                    self._event({"choices": [{"index": 0, "delta": delta}], "usage": None})
                    now = time.perf_counter()
                    fake.count("ttft_sum" if i == 0 else "itl_sum", now - last)
                    fake.count("ttft_n" if i == 0 else "itl_n")
                    last = now
                    sent += 1
                else:
                    finish = {"index": 0, "delta": {}, "finish_reason": "length"}
                    self._event({"choices": [finish]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        usage = {"prompt_tokens": 5, "completion_tokens": sent}
                        self._event({"choices": [], "usage": usage})
                    if model != "no-done":
                        self._event(b"[DONE]")
                fake.count("tokens", sent)
                fake.count("duration_sum", time.perf_counter() - start)
                fake.count("duration_n")
                ok = model not in ("bad-event", "error-event")
                fake.count("requests_success" if ok else "requests_error")
                self._chunk(b"")

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
