"""Drives an OpenAI-compatible frontend with concurrent requests and summarises the results.

Each worker thread keeps one HTTP/1.1 connection (http.client) and sends non-streaming
requests until the request count or the duration is used up. A request succeeds when the
frontend answers 200 with JSON that has `choices`; anything else is an error with a message.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
ERRORS_SHOWN = 5  # distinct error messages kept in the report
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


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
            "stream": False,
        }
        if self.endpoint == "chat":
            request["messages"] = [{"role": "user", "content": self.prompt}]
        else:
            request["prompt"] = self.prompt
        return json.dumps(request).encode()


@dataclass(frozen=True)
class Outcome:
    latency_s: float
    error: str | None = None
    completion_tokens: int | None = None


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

    def latency_ms(self) -> dict[str, float] | None:
        latencies = sorted(o.latency_s * 1000 for o in self.ok)
        if not latencies:
            return None
        return {
            "min": latencies[0],
            "mean": sum(latencies) / len(latencies),
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99),
            "max": latencies[-1],
        }

    def completion_tokens(self) -> int | None:
        """Completion tokens of the successful requests, or None when no response had usage."""
        counted = [o.completion_tokens for o in self.ok if o.completion_tokens is not None]
        return sum(counted) if counted else None

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        tokens = self.completion_tokens()
        per_s = (lambda n: n / self.duration_s) if self.duration_s > 0 else (lambda n: 0.0)
        return {
            "url": s.target,
            "model": s.model,
            "endpoint": s.endpoint,
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
        }


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
            status, reason, payload = self._post(body)
        except STALE_CONNECTION as e:
            # The server closed an idle keep-alive connection: that is no failed request.
            self.close()
            if not reused:
                return Outcome(time.perf_counter() - start, error=_describe(e))
            start = time.perf_counter()
            try:
                status, reason, payload = self._post(body)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return Outcome(time.perf_counter() - start, error=_describe(e))
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return Outcome(time.perf_counter() - start, error=_describe(e))
        latency = time.perf_counter() - start
        if status != 200:
            snippet = payload[:200].decode(errors="replace").strip()
            return Outcome(latency, error=f"HTTP {status} {reason}: {snippet}")
        try:
            answer = json.loads(payload)
        except ValueError:
            return Outcome(latency, error=f"response is not JSON: {payload[:80]!r}")
        if not isinstance(answer, dict) or not answer.get("choices"):
            return Outcome(latency, error=f"response has no choices: {payload[:120]!r}")
        usage = answer.get("usage") or {}
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return Outcome(latency, completion_tokens=tokens if isinstance(tokens, int) else None)

    def _post(self, body: bytes) -> tuple[int, str, bytes]:
        if self.conn is None:
            self.conn = self._connect()
        headers = {"Content-Type": "application/json"}
        self.conn.request("POST", self.settings.path, body, headers)
        response = self.conn.getresponse()
        return response.status, response.reason, response.read()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


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
    latency = data["latency_ms"]
    if latency is None:
        rows.append(("latency", "n/a (no request succeeded)"))
    else:
        for key in ("min", "mean", "p50", "p90", "p99", "max"):
            rows.append((f"latency {key}", f"{latency[key]:.1f} ms"))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    for message, count in report.errors():
        lines.append(f"error x{count}: {message}")
    if report.failed and len(Counter(o.error for o in report.outcomes if o.error)) > ERRORS_SHOWN:
        lines.append(f"(first {ERRORS_SHOWN} distinct errors shown)")
    return "\n".join(lines)
