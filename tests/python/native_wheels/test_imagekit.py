"""dynamo-imagekit (Rust through maturin): the HEALTHCHECK probe, host facts and the report."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from native_wheels.helpers import WheelVenv


class HealthServer:
    """A local HTTP server whose /health answers what the test sets."""

    def __init__(self) -> None:
        self.status, self.body, self.delay = 200, b'{"status": "healthy"}', 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if server.delay:
                    threading.Event().wait(server.delay)
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/health"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server():
    health = HealthServer()
    yield health
    health.httpd.shutdown()


@pytest.fixture
def probe(wheel_venv: WheelVenv, server: HealthServer):
    def run(*args: str):
        return wheel_venv.run(wheel_venv.script("dynamo-imagekit"), "probe", *args)

    return run


def test_probe_healthy(probe, server) -> None:
    server.status, server.body, server.delay = 200, b'{"status": "healthy", "uptime": 3}', 0
    result = probe(server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"healthy: HTTP 200 from {server.url}")


@pytest.mark.parametrize(
    "status, body, reason",
    [
        (503, b'{"status": "unhealthy"}', "HTTP 503"),
        (500, b"boom", "HTTP 500"),
        (200, b'{"status": "notready"}', 'status "notready"'),
    ],
)
def test_probe_unhealthy(probe, server, status: int, body: bytes, reason: str) -> None:
    server.status, server.body, server.delay = status, body, 0
    result = probe(server.url)
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: ") and reason in result.stdout


def test_probe_connection_refused(probe) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the probe runs
    result = probe(f"http://127.0.0.1:{port}/health")
    assert result.returncode == 1 and "cannot connect" in result.stdout


def test_probe_times_out(probe, server) -> None:
    server.status, server.body, server.delay = 200, b'{"status": "healthy"}', 3.0
    result = probe(server.url, "--timeout", "0.5")
    assert result.returncode == 1 and "unhealthy" in result.stdout


def test_probe_url_from_environment(wheel_venv: WheelVenv, server) -> None:
    server.status, server.body, server.delay = 200, b'{"status": "ready"}', 0
    result = wheel_venv.run(
        wheel_venv.script("dynamo-imagekit"), "probe", env={"DYNAMO_HEALTH_URL": server.url}
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["https://example.com/health"], "not an http:// URL"),
        (["--timeout", "-1"], "--timeout needs a positive number"),
        (["--verbose"], "unknown option --verbose"),
    ],
)
def test_probe_bad_input_names_it(probe, args: list[str], message: str) -> None:
    result = probe(*args)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr


def test_python_probe_wraps_the_binary(wheel_venv: WheelVenv, server) -> None:
    server.status, server.body, server.delay = 200, b'{"status": "ok"}', 0
    code = f"from dynamo_imagekit import probe; r = probe({server.url!r}); print(r.healthy)"
    assert wheel_venv.run(wheel_venv.python, "-c", code).stdout.strip() == "True"


def fake_gpu_host(root: Path) -> Path:
    (root / "dev").mkdir()
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):
        (root / "dev" / name).touch()
    (root / "proc/driver/nvidia").mkdir(parents=True)
    (root / "proc/driver/nvidia/version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Tue Sep 23 2025\n"
    )
    (root / "usr/local/cuda").mkdir(parents=True)
    (root / "usr/local/cuda/version.json").write_text(
        '{"cuda": {"name": "CUDA SDK", "version": "13.0.2"}, "cuda_cudart": {"version": "13.0.96"}}'
    )
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/libcuda.so.1").touch()
    return root


def facts(wheel_venv: WheelVenv, root: Path) -> dict:
    out = wheel_venv.run(wheel_venv.script("dynamo-imagekit"), "facts", "--root", str(root))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_facts_on_a_gpu_host(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    assert facts(wheel_venv, fake_gpu_host(tmp_path)) == {
        "arch": "x86_64",
        "gpu": {"devices": 2, "driver": "580.95.05"},
        "cuda": {"version": "13.0.2", "libcuda": "/usr/lib/x86_64-linux-gnu/libcuda.so.1"},
    }


def test_facts_without_a_gpu(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    assert facts(wheel_venv, tmp_path) == {
        "arch": "x86_64",
        "gpu": {"devices": 0, "driver": None},
        "cuda": {"version": None, "libcuda": None},
    }


def test_report_json_and_table(wheel_venv: WheelVenv) -> None:
    env = {"DYNAMO_BACKEND": "vllm", "DYNAMO_VERSION": "9.9.9"}
    out = wheel_venv.run(wheel_venv.python, "-m", "dynamo_imagekit", "report", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["python"].startswith("3.11.")
    assert data["image"]["dynamo_backend"] == "vllm" and data["image"]["dynamo_version"] == "9.9.9"
    # Not installed in this venv: reported as absent, not as an error.
    assert data["packages"]["ai-dynamo"] is None and data["packages"]["vllm"] is None
    assert set(data) >= {"arch", "gpu", "cuda"}

    table = wheel_venv.run(wheel_venv.python, "-m", "dynamo_imagekit", "report", env=env).stdout
    rows = dict(line.split(None, 1) for line in table.splitlines())
    assert rows["image.dynamo_backend"] == "vllm" and rows["image.dynamo_stage"] == "-"
    assert "package.ai-dynamo" in table and "gpu.devices" in table


def test_binary_version(wheel_venv: WheelVenv) -> None:
    out = wheel_venv.run(wheel_venv.script("dynamo-imagekit"), "--version")
    assert out.returncode == 0 and out.stdout.startswith("dynamo-imagekit 0.1.0")
