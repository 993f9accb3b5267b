"""build-support/provision-host.sh, as ./pants runs it before goals that need the engine."""

from __future__ import annotations

import os
import subprocess
import time

SCRIPT = "build-support/provision-host.sh"


def test_an_unreachable_docker_host_is_named_at_once() -> None:
    started = time.monotonic()
    result = subprocess.run(
        ["bash", SCRIPT],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert (
        "provision-host: error: the Docker engine at DOCKER_HOST=unix:///nonexistent/docker.sock "
        "does not answer:" in lines
    ), result.stderr
    assert any("Cannot connect to the Docker daemon" in line for line in lines), result.stderr
    assert any("unset DOCKER_HOST to use this machine's own" in line for line in lines)
    # Neither this machine's engine started, nor a wait for one, nor another engine's log.
    assert "starting dockerd" not in result.stderr and "waiting" not in result.stderr
    assert "last lines" not in result.stderr
    # Provisioning packages (first run only) may take a while; the engine check itself is quick.
    if "installing" not in result.stderr:
        assert time.monotonic() - started < 10
