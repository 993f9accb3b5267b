"""The serve check: Dynamo's frontend plus the framework's real engine answer one request.

The model is built here (a tiny Llama with random weights, no download); discovery is file
based with a TCP request plane and a ZMQ event plane, so no etcd or NATS is needed (the same
setup the CPU smoke tests use with the mocker, tests/python/smoke/dynamo_serving.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from gpu_smoke_checks.context import CheckFailed, Context, import_or_fail
from gpu_smoke_checks.tiny_model import write_tiny_model

MODEL = "tiny"
DISCOVERY_FLAGS = ("--discovery-backend", "file", "--request-plane", "tcp", "--event-plane", "zmq")
# The real engine per framework, small enough to share a GPU with other work.
ENGINE_ARGS = {
    "vllm": (
        "-m", "dynamo.vllm", "--model", MODEL, "--served-model-name", MODEL,
        "--enforce-eager", "--gpu-memory-utilization", "0.3", "--max-model-len", "512",
    ),
}  # fmt: skip


def engine_argv(framework: str, python: str = sys.executable) -> list[str]:
    if framework not in ENGINE_ARGS:
        raise CheckFailed(
            f"no engine command for framework {framework!r} yet (known: {', '.join(ENGINE_ARGS)})"
        )
    return [python, *ENGINE_ARGS[framework], *DISCOVERY_FLAGS]


def frontend_argv(port: int, python: str = sys.executable) -> list[str]:
    return [python, "-m", "dynamo.frontend", "--http-port", str(port), *DISCOVERY_FLAGS]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, timeout: float = 60) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def model_listed(status: int, body: str) -> bool:
    if status != 200:
        return False
    return any(m.get("id") == MODEL for m in json.loads(body).get("data", []))


def completion_details(status: int, body: str) -> dict[str, Any]:
    """What one chat completion produced; fails unless it generated at least one token."""
    if status != 200:
        raise CheckFailed(f"/v1/chat/completions answered HTTP {status}: {body[:500]}")
    answer = json.loads(body)
    choices = answer.get("choices") or []
    tokens = (answer.get("usage") or {}).get("completion_tokens", 0)
    if not choices or tokens < 1:
        raise CheckFailed(f"the completion generated nothing: {body[:500]}")
    text = (choices[0].get("message") or {}).get("content") or ""
    if not text:
        raise CheckFailed(
            f"the completion's {tokens} tokens decode to no text (is every token ID the engine "
            f"can emit in the model's vocabulary?): {body[:500]}"
        )
    return {
        "completion_tokens": tokens,
        "finish_reason": choices[0].get("finish_reason"),
        "text": text,
    }


def wait_for_model(
    base_url: str,
    alive: Callable[[], str | None],
    timeout_s: float,
    get: Callable[[str], tuple[int, str]] = lambda url: http("GET", url, timeout=5),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Polls /v1/models until it lists the model; `alive` names a process that exited."""
    started = clock()
    while clock() - started < timeout_s:
        exited = alive()
        if exited:
            raise CheckFailed(f"{exited} exited before {MODEL!r} was served")
        try:
            if model_listed(*get(base_url + "/v1/models")):
                return clock() - started
        except OSError:
            pass  # the frontend is not listening yet
        sleep(1)
    raise CheckFailed(f"/v1/models did not list {MODEL!r} within {timeout_s:.0f}s")


def stop(process: subprocess.Popen) -> None:
    """Ends the process and what it started (engines fork workers) with SIGTERM, then KILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tail(path: str, lines: int = 40) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def serve_one_request(ctx: Context) -> dict[str, Any]:
    framework = ctx.resolved_framework()
    return {"framework": framework, **serve_with(ctx, engine_argv(framework), weights=True)}


def serve_with(ctx: Context, engine_command: list[str], weights: bool) -> dict[str, Any]:
    """Frontend + `engine_command` on the tiny model; the CPU smoke test passes the mocker."""
    import_or_fail("dynamo.frontend")
    os.makedirs(ctx.workdir, exist_ok=True)
    write_tiny_model(os.path.join(ctx.workdir, MODEL), weights=weights)
    port = free_port()
    env = {
        **ctx.environ,
        "DYN_FILE_KV": os.path.join(ctx.workdir, "kv"),
        "HF_HUB_OFFLINE": "1",
    }
    logs = {"engine": os.path.join(ctx.workdir, "engine.log")}
    logs["frontend"] = os.path.join(ctx.workdir, "frontend.log")
    processes: dict[str, subprocess.Popen] = {}
    try:
        for role, argv in (("engine", engine_command), ("frontend", frontend_argv(port))):
            with open(logs[role], "wb") as log:
                processes[role] = subprocess.Popen(
                    argv, cwd=ctx.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() ends its children
                )  # fmt: skip

        def exited() -> str | None:
            for role, process in processes.items():
                if process.poll() is not None:
                    return f"the {role} (exit code {process.returncode})"
            return None

        base_url = f"http://127.0.0.1:{port}"
        startup_s = wait_for_model(base_url, exited, ctx.serve_timeout_s)
        started = time.perf_counter()
        request = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 8,
        }
        details = completion_details(*http("POST", base_url + "/v1/chat/completions", request))
        return {
            "engine": " ".join(engine_command[1:]),
            "startup_s": startup_s,
            "request_s": time.perf_counter() - started,
            **details,
        }
    except CheckFailed as e:
        e.details.update(
            {f"{role}_log": tail(path) for role, path in logs.items() if os.path.exists(path)}
        )
        raise
    finally:
        for process in processes.values():
            stop(process)
