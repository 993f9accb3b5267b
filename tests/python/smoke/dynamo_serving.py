"""Runs the real Dynamo frontend and mocker engine inside an image and talks to them."""

from __future__ import annotations

import contextlib
import socket
import uuid
from dataclasses import dataclass

from gpu_smoke_checks import tiny_model
from smoke.docker_helpers import BuiltImage, docker, http_get, wait_until

MODEL = "tiny"
# No etcd and no NATS: file-based discovery, TCP request plane, ZMQ event plane.
DISCOVERY_FLAGS = "--discovery-backend file --request-plane tcp --event-plane zmq"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Serving:
    base_url: str
    container: str


@contextlib.contextmanager
def dynamo_serving(image: BuiltImage, startup_timeout: float = 240):
    """Starts frontend + mocker in one container; yields its name and the frontend's URL."""
    port = free_port()
    name = f"dynamo-smoke-{uuid.uuid4().hex[:8]}"
    # The model dir's path relative to the working dir doubles as the served model name.
    script = f"""
set -e
export DYN_FILE_KV=/tmp/dynamo-kv HF_HUB_OFFLINE=1
mkdir -p /tmp/work && cd /tmp/work
python - {MODEL} < /tmp/tiny_model.py
python -m dynamo.mocker --model-path {MODEL} --model-name {MODEL} {DISCOVERY_FLAGS} \\
    > /tmp/mocker.log 2>&1 &
exec python -m dynamo.frontend --http-port {port} {DISCOVERY_FLAGS}
"""
    # Host networking keeps the test independent of the engine's bridge/iptables setup;
    # the port is picked free on loopback.
    # The image's own HEALTHCHECK runs, pointed at this frontend and probing every 2 s.
    health = ["-e", f"DYNAMO_HEALTH_URL=http://127.0.0.1:{port}/health", "--health-interval=2s"]
    docker(
        "create", "--name", name, "--network", "host", *health, image.image_id,
        "bash", "-c", script,
    )  # fmt: skip
    try:
        docker("cp", tiny_model.__file__, f"{name}:/tmp/tiny_model.py")
        docker("start", name)
        base = f"http://127.0.0.1:{port}"

        def model_listed():
            state = docker("inspect", "-f", "{{.State.Running}}", name, check=False).stdout
            if state.strip() != b"true":
                raise AssertionError("the Dynamo container exited:\n" + logs(name))
            try:
                status, body = http_get(base + "/v1/models", timeout=5)
            except OSError:
                return False
            return status == 200 and f'"{MODEL}"' in body

        try:
            wait_until(model_listed, startup_timeout, what=f"/v1/models to list {MODEL!r}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- container logs ---\n{logs(name)}") from None
        yield Serving(base, name)
    finally:
        docker("rm", "-f", name, check=False)


def logs(name: str) -> str:
    out = docker("logs", "--tail", "60", name, check=False)
    mocker = docker("exec", name, "tail", "-n", "40", "/tmp/mocker.log", check=False)
    text = out.stdout + out.stderr + b"\n--- mocker ---\n" + mocker.stdout
    return text.decode(errors="replace")
