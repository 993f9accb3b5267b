"""A second engine leaves this machine's engine and its network alone."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from dynamo_workspaces.engines import SecondEngine


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_a_second_engine_keeps_the_hosts_docker0_and_removes_its_own_bridge() -> None:
    if not link_exists("docker0"):
        pytest.fail("this machine's engine has no docker0 bridge: restart dockerd first")
    # A short root: containerd's socket path under it must fit a unix socket's 108 bytes.
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="engine-", dir="/tmp")))
    try:
        engine.start()
        # A dockerd with --bridge=none would have deleted docker0 by now.
        assert link_exists("docker0")
        assert link_exists(engine.bridge)
        info = engine.docker("network", "inspect", "bridge", "--format",
                             "{{(index .IPAM.Config 0).Subnet}}").stdout.strip()  # fmt: skip
        assert info.startswith("198.18."), info
    finally:
        engine.stop()
    assert link_exists("docker0") and not link_exists(engine.bridge)
