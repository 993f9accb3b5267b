"""build-support/provision-host.sh, as ./pants runs it before goals that need the engine."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

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


# The aarch64 cross toolchain (docs/wheels.md), with dpkg, dpkg-query, apt-get and id replaced by
# stubs that log their calls: what the script would do to a host, without doing it.
CROSS_PACKAGES = (
    "gcc-aarch64-linux-gnu g++-aarch64-linux-gnu rustc cargo libstd-rust-dev:arm64 python3.11 "
    "libpython3.11-dev:arm64"
)
STUBS = {
    # Every package asked about is installed when STUB_INSTALLED=1, none otherwise.
    "dpkg-query": """
[[ "${STUB_INSTALLED:-}" == 1 ]] || exit 1
for pkg in "${@:3}"; do [[ "$pkg" == *:* ]] || pkg="$pkg:amd64"; printf '%s=ii  ' "$pkg"; done
""",
    "dpkg": """
case "$1" in
  --print-foreign-architectures) cat "$STUB_DIR/arches" 2>/dev/null || true ;;
  --add-architecture) echo "$2" >>"$STUB_DIR/arches" ;;
  --remove-architecture) : >"$STUB_DIR/arches" ;;
esac
""",
    # `update` fails once arm64 is added when STUB_NO_ARM64=1 (a mirror without arm64).
    "apt-get": """
if [[ " $* " == *" update "* && "${STUB_NO_ARM64:-}" == 1 ]] \
    && grep -qx arm64 "$STUB_DIR/arches" 2>/dev/null; then
  echo "E: Failed to fetch .../binary-arm64/Packages  404  Not Found" >&2; exit 100
fi
""",
    "id": 'echo "${STUB_UID:-0}"',
}


def run_with_stubs(tmp_path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for name, body in STUBS.items():
        stub = stubs / name
        stub.write_text(f'#!/bin/bash\necho "{name} $*" >>"$STUB_DIR/calls"\n{body}')
        stub.chmod(0o755)
    result = subprocess.run(
        ["bash", SCRIPT],
        capture_output=True, text=True, timeout=60,
        env={
            **os.environ,
            "PATH": f"{stubs}:{os.environ['PATH']}",
            "STUB_DIR": str(tmp_path),
            "DYNAMO_PROVISION_STATE_DIR": str(tmp_path),
            **env,
        },
    )  # fmt: skip
    calls = tmp_path / "calls"
    return result, calls.read_text().splitlines() if calls.exists() else []


def apt_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith(("apt-get", "dpkg --add", "dpkg --remove"))]


def host_is_provisioned() -> bool:
    """The rest of what the script checks is there (./pants provisions it before tests)."""
    return subprocess.run(["bash", SCRIPT], capture_output=True).returncode == 0


def test_the_cross_toolchain_present_costs_no_apt_call(tmp_path) -> None:
    if not host_is_provisioned():
        pytest.skip("this host lacks what provision-host.sh checks besides the cross toolchain")
    result, calls = run_with_stubs(tmp_path, STUB_INSTALLED="1")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    query_format = "${Package}:${Architecture}=${db:Status-Abbrev} "
    assert calls == [f"dpkg-query -W -f={query_format} {CROSS_PACKAGES}"]


def test_a_missing_cross_toolchain_is_installed_after_adding_arm64(tmp_path) -> None:
    # A DOCKER_HOST that does not answer: the script provisions packages, then stops at the
    # engine check (exit 1) instead of starting one.
    result, calls = run_with_stubs(tmp_path, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert apt_calls(calls) == [
        "dpkg --add-architecture arm64",
        "apt-get update -qq",
        f"apt-get install -y -qq --no-install-recommends {CROSS_PACKAGES}",
    ], result.stderr
    assert "installing the aarch64 cross toolchain" in result.stderr
    assert not (tmp_path / "dynamo-cross-toolchain.failed").exists()


def test_a_mirror_without_arm64_warns_once_and_leaves_the_rest_provisioned(tmp_path) -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "STUB_NO_ARM64": "1"}
    result, calls = run_with_stubs(tmp_path, **env)
    assert apt_calls(calls) == [
        "dpkg --add-architecture arm64",
        "apt-get update -qq",
        "dpkg --remove-architecture arm64",
        "apt-get update -qq",
    ], result.stderr
    assert "warning: could not install the aarch64 cross toolchain" in result.stderr
    assert "404  Not Found" in result.stderr  # the log's tail
    assert (tmp_path / "dynamo-cross-toolchain.failed").exists()
    # The next run does not try again: it says so, and how to retry.
    (tmp_path / "calls").unlink()
    result, calls = run_with_stubs(tmp_path, **env)
    assert apt_calls(calls) == [], result.stderr
    assert "its install failed before" in result.stderr
    assert "to let ./pants try again" in result.stderr


def test_as_non_root_it_prints_the_commands(tmp_path) -> None:
    result, calls = run_with_stubs(
        tmp_path, STUB_UID="1000", DOCKER_HOST="unix:///nonexistent/docker.sock"
    )
    assert apt_calls(calls) == []
    assert (
        "sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install -y "
        f"--no-install-recommends {CROSS_PACKAGES}"
    ) in result.stderr, result.stderr
