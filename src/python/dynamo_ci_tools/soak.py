"""Drives an OpenAI-compatible frontend with concurrent requests and summarises the results.

Each worker thread keeps one HTTP/1.1 connection (http.client) and sends requests until the
request count or the duration is used up.

Non-streaming: a request succeeds when the frontend answers 200 with JSON that has `choices`.
Streaming (`stream=True`, server-sent events): it succeeds when the stream ends with
`data: [DONE]` after at least one content chunk. Time to first token (TTFT) is the time from
sending the request to the first chunk with content; inter-token latency (ITL) the gaps
between consecutive content chunks (pooled over all requests, as the frontend's own
histogram does); output tokens are counted from the stream (content chunks) and, separately,
from the final `usage` chunk (`stream_options.include_usage`).

Anything else is an error with a message and a kind (ERROR_KINDS), never dropped.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
ERRORS_SHOWN = 5  # distinct error messages kept in the report
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
# What went wrong, for the counts by kind: no usable connection; a non-200 answer; a 200 whose
# body (or a stream event) is not what the API promises; a stream that ended or dropped before
# `data: [DONE]`; no data within the timeout.
ERROR_KINDS = ("connection", "http", "bad_response", "cut_stream", "timeout")


class Unreachable(Exception):
    """Nothing listens at the frontend's address (or the name does not resolve)."""


@dataclass(frozen=True)
class Settings:
    url: str
    model: str
    endpoint: str = "chat"
    requests: int = 100
    concurrency: int = 8
    duration_s: float | None = None
    max_tokens: int = 32
    prompt: str = "Count from 1 to 20."
    timeout_s: float = 60.0
    stream: bool = False
    include_usage: bool = True  # streaming: ask for the final usage chunk

    @property
    def path(self) -> str:
        return urlsplit(self.url).path.rstrip("/") + ENDPOINTS[self.endpoint]

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{self.path}"

    def body(self) -> bytes:
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
        }
        if self.stream and self.include_usage:
            request["stream_options"] = {"include_usage": True}
        if self.endpoint == "chat":
            request["messages"] = [{"role": "user", "content": self.prompt}]
        else:
            request["prompt"] = self.prompt
        return json.dumps(request).encode()


@dataclass(frozen=True)
class Outcome:
    latency_s: float  # end to end: request sent -> full answer (stream: [DONE])
    error: str | None = None
    completion_tokens: int | None = None  # from `usage`, when the answer had it
    kind: str | None = None  # one of ERROR_KINDS when error is set
    ttft_s: float | None = None  # streaming only
    itl_s: tuple[float, ...] = ()  # streaming only: gaps between content chunks
    content_chunks: int | None = None  # streaming only: chunks that carried output text


def summary_ms(values_s: list[float]) -> dict[str, float] | None:
    """min/mean/p50/p90/p99/max in milliseconds, or None for no values."""
    values = sorted(v * 1000 for v in values_s)
    if not values:
        return None
    return {
        "min": values[0],
        "mean": sum(values) / len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": values[-1],
    }


@dataclass
class Report:
    settings: Settings
    duration_s: float
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is None]

    @property
    def failed(self) -> int:
        return len(self.outcomes) - len(self.ok)

    @property
    def error_rate(self) -> float:
        return self.failed / len(self.outcomes) if self.outcomes else 0.0

    def errors(self) -> list[tuple[str, int]]:
        """The first few distinct error messages, in the order they first happened, and counts."""
        counts = Counter(o.error for o in self.outcomes if o.error is not None)
        return list(counts.items())[:ERRORS_SHOWN]

    def errors_by_kind(self) -> dict[str, int]:
        """Failed requests by kind; every kind is listed, 0 when it did not happen."""
        counts = Counter(o.kind or "other" for o in self.outcomes if o.error is not None)
        kinds = {kind: counts.pop(kind, 0) for kind in ERROR_KINDS}
        return {**kinds, **counts}

    def latency_ms(self) -> dict[str, float] | None:
        return summary_ms([o.latency_s for o in self.ok])

    def ttft_ms(self) -> dict[str, float] | None:
        return summary_ms([o.ttft_s for o in self.ok if o.ttft_s is not None])

    def itl_ms(self) -> dict[str, float] | None:
        return summary_ms([gap for o in self.ok for gap in o.itl_s])

    def content_chunks(self) -> int | None:
        counted = [o.content_chunks for o in self.ok if o.content_chunks is not None]
        return sum(counted) if counted else None

    def completion_tokens(self) -> int | None:
        """Completion tokens of the successful requests, or None when no response had usage."""
        counted = [o.completion_tokens for o in self.ok if o.completion_tokens is not None]
        return sum(counted) if counted else None

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        tokens = self.completion_tokens()
        per_s = (lambda n: n / self.duration_s) if self.duration_s > 0 else (lambda n: 0.0)
        data: dict[str, Any] = {
            "url": s.target,
            "model": s.model,
            "endpoint": s.endpoint,
            "stream": s.stream,
            "concurrency": s.concurrency,
            "max_tokens": s.max_tokens,
            "duration_s": self.duration_s,
            "requests": {"total": len(self.outcomes), "ok": len(self.ok), "failed": self.failed},
            "error_rate": self.error_rate,
            "requests_per_s": per_s(len(self.ok)),
            "completion_tokens": tokens,
            "completion_tokens_per_s": None if tokens is None else per_s(tokens),
            "responses_with_usage": sum(1 for o in self.ok if o.completion_tokens is not None),
            "latency_ms": self.latency_ms(),
            "errors": [{"message": m, "count": n} for m, n in self.errors()],
            "errors_by_kind": self.errors_by_kind(),
        }
        if s.stream:
            chunks = self.content_chunks()
            data.update(
                {
                    "ttft_ms": self.ttft_ms(),
                    "itl_ms": self.itl_ms(),
                    # Output tokens of the successful requests, counted two ways.
                    "output_tokens": {"content_chunks": chunks, "usage": tokens},
                    "output_tokens_per_s": {
                        "content_chunks": None if chunks is None else per_s(chunks),
                        "usage": None if tokens is None else per_s(tokens),
                    },
                }
            )
        return data


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile of sorted values, interpolating between ranks (numpy's default)."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def check_reachable(url: str, timeout_s: float) -> None:
    """Raises Unreachable, naming the URL, unless something accepts a TCP connection there."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        raise Unreachable(f"cannot reach the frontend at {url}: {e}") from None


class _Client:
    """One keep-alive connection; reconnects after any error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.parts = urlsplit(settings.url)
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        https = self.parts.scheme == "https"
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        return cls(self.parts.hostname, self.parts.port, timeout=self.settings.timeout_s)

    def send(self, body: bytes) -> Outcome:
        start = time.perf_counter()
        reused = self.conn is not None
        try:
            response = self._post(body)
        except STALE_CONNECTION as e:
            # The server closed an idle keep-alive connection: that is no failed request.
            self.close()
            if not reused:
                return self._failed(start, e)
            start = time.perf_counter()
            try:
                response = self._post(body)
            except (OSError, http.client.HTTPException) as e:
                return self._failed(start, e)
        except (OSError, http.client.HTTPException) as e:
            return self._failed(start, e)
        if response.status != 200 or not self.settings.stream:
            try:
                payload = response.read()
            except (OSError, http.client.HTTPException) as e:
                return self._failed(start, e, "cut_stream" if response.status == 200 else None)
            return _answer(time.perf_counter() - start, response, payload)
        content_type = response.getheader("Content-Type") or ""
        if not content_type.startswith("text/event-stream"):
            # A 200 that is no event stream (the server ignored "stream": true).
            self.close()
            return Outcome(
                time.perf_counter() - start,
                error=f"not an event stream: Content-Type {content_type or 'missing'}",
                kind="bad_response",
            )
        return self._read_stream(start, response)

    def _failed(self, start: float, error: BaseException, kind: str | None = None) -> Outcome:
        self.close()
        if kind is None:
            kind = "timeout" if isinstance(error, socket.timeout) else "connection"
        elif isinstance(error, socket.timeout):
            kind = "timeout"
        return Outcome(time.perf_counter() - start, error=_describe(error), kind=kind)

    def _read_stream(self, start: float, response: http.client.HTTPResponse) -> Outcome:
        first: float | None = None
        last = 0.0
        gaps: list[float] = []
        chunks = 0
        usage_tokens: int | None = None
        done = False

        def bad(message: str) -> Outcome:
            self.close()  # the rest of the stream is unread: the connection is unusable
            return Outcome(time.perf_counter() - start, error=message, kind="bad_response")

        try:
            for line in _lines(response):
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments (": ping"), event:/id: fields
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                now = time.perf_counter()
                try:
                    event = json.loads(data)
                except ValueError:
                    return bad(f"stream event is not JSON: {data[:80]!r}")
                if not isinstance(event, dict):
                    return bad(f"stream event is not an object: {data[:80]!r}")
                if "error" in event:
                    return bad(f"error event in the stream: {data[:160].decode(errors='replace')}")
                usage = event.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    usage_tokens = usage["completion_tokens"]
                if _has_content(event):
                    chunks += 1
                    if first is None:
                        first = now
                    else:
                        gaps.append(now - last)
                    last = now
            if done:
                response.read()  # the body's end, so the connection can be reused
        except (OSError, http.client.HTTPException) as e:
            outcome = self._failed(start, e, "cut_stream")
            if outcome.kind == "cut_stream":
                message = f"stream dropped after {chunks} content chunks: {outcome.error}"
                return Outcome(outcome.latency_s, error=message, kind="cut_stream")
            return outcome
        end = time.perf_counter()
        if not done:
            self.close()
            return Outcome(
                end - start,
                error=f"stream ended without [DONE] after {chunks} content chunks",
                kind="cut_stream",
            )
        if first is None:
            return Outcome(end - start, error="stream had no content chunk", kind="bad_response")
        return Outcome(
            end - start,
            completion_tokens=usage_tokens,
            ttft_s=first - start,
            itl_s=tuple(gaps),
            content_chunks=chunks,
        )

    def _post(self, body: bytes) -> http.client.HTTPResponse:
        if self.conn is None:
            self.conn = self._connect()
        headers = {"Content-Type": "application/json"}
        if self.settings.stream:
            headers["Accept"] = "text/event-stream"
        self.conn.request("POST", self.settings.path, body, headers)
        return self.conn.getresponse()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _answer(latency: float, response: http.client.HTTPResponse, payload: bytes) -> Outcome:
    """The outcome of a non-streaming answer (or of a streaming request that got no stream)."""
    if response.status != 200:
        snippet = payload[:200].decode(errors="replace").strip()
        return Outcome(
            latency, error=f"HTTP {response.status} {response.reason}: {snippet}", kind="http"
        )
    try:
        answer = json.loads(payload)
    except ValueError:
        return Outcome(
            latency, error=f"response is not JSON: {payload[:80]!r}", kind="bad_response"
        )
    if not isinstance(answer, dict) or not answer.get("choices"):
        return Outcome(
            latency, error=f"response has no choices: {payload[:120]!r}", kind="bad_response"
        )
    usage = answer.get("usage") or {}
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return Outcome(latency, completion_tokens=tokens if isinstance(tokens, int) else None)


def _lines(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The body's lines as they arrive. (HTTPResponse.readline takes a chunked body that was
    cut short for a clean end; read1 raises IncompleteRead.)"""
    buffer = b""
    while True:
        data = response.read1(65536)
        if not data:
            if buffer:
                yield buffer
            return
        *lines, buffer = (buffer + data).split(b"\n")
        yield from lines


def _has_content(event: dict[str, Any]) -> bool:
    """Whether a stream chunk carries output text (chat: delta.content; completions: text)."""
    for choice in event.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and delta.get("content"):
            return True
        if choice.get("text"):
            return True
    return False


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.timeout):
        return "timed out"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def run(settings: Settings, stop: threading.Event | None = None) -> Report:
    """Sends the requests (or runs for settings.duration_s) and returns what happened.

    Setting `stop` (e.g. on Ctrl-C) lets in-flight requests finish and sends no more.
    """
    stop = stop or threading.Event()
    body = settings.body()
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    issued = 0
    start = time.perf_counter()
    deadline = None if settings.duration_s is None else start + settings.duration_s

    def take() -> bool:
        nonlocal issued
        with lock:
            if stop.is_set():
                return False
            if deadline is not None:
                return time.perf_counter() < deadline
            if issued >= settings.requests:
                return False
            issued += 1
            return True

    def worker() -> None:
        client = _Client(settings)
        try:
            while take():
                outcome = client.send(body)
                with lock:
                    outcomes.append(outcome)
        finally:
            client.close()

    workers = [
        threading.Thread(target=worker, name=f"soak-{i}", daemon=True)
        for i in range(settings.concurrency)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return Report(settings, time.perf_counter() - start, outcomes)


def render(report: Report) -> str:
    """A small table for people; the JSON report has the same numbers."""
    data = report.to_json()
    s = report.settings
    rows = [
        ("target", f"{data['url']} (model {s.model})"),
        ("concurrency", str(s.concurrency)),
        ("requests", f"{data['requests']['total']} ({len(report.ok)} ok, {report.failed} failed)"),
        ("error rate", f"{report.error_rate:.2%}"),
        ("duration", f"{report.duration_s:.2f} s"),
        ("throughput", f"{data['requests_per_s']:.2f} ok req/s"),
    ]
    if data["completion_tokens_per_s"] is None:
        rows.append(("tokens", "n/a (no usage in the responses)"))
    else:
        rows.append(
            (
                "tokens",
                f"{data['completion_tokens_per_s']:.1f} completion tokens/s "
                f"({data['completion_tokens']} in total)",
            )
        )
    if s.stream:
        chunks = data["output_tokens"]["content_chunks"]
        rate = data["output_tokens_per_s"]["content_chunks"]
        if chunks is not None:
            rows.append(("stream tokens", f"{rate:.1f} content chunks/s ({chunks} in total)"))
    if report.failed:
        kinds = ", ".join(f"{k} {n}" for k, n in data["errors_by_kind"].items() if n)
        rows.append(("failed by kind", kinds))
    summaries = [("latency", data["latency_ms"])]
    if s.stream:
        summaries += [("TTFT", data["ttft_ms"]), ("ITL", data["itl_ms"])]
    for name, summary in summaries:
        if summary is None:
            why = "no request had two content chunks" if name == "ITL" else "no request succeeded"
            rows.append((name, f"n/a ({why})"))
            continue
        for key in ("min", "mean", "p50", "p90", "p99", "max"):
            rows.append((f"{name} {key}", f"{summary[key]:.1f} ms"))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    for message, count in report.errors():
        lines.append(f"error x{count}: {message}")
    if report.failed and len(Counter(o.error for o in report.outcomes if o.error)) > ERRORS_SHOWN:
        lines.append(f"(first {ERRORS_SHOWN} distinct errors shown)")
    return "\n".join(lines)
