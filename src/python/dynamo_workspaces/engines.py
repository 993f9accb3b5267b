"""A second Docker engine on this machine: what another machine's engine would hold.

The second engine is a separate `dockerd` with its own data root, exec root, socket and pid
file, a bridge of its own and no iptables rules, so it neither shares an image with this
machine's engine nor touches its network. Both are stopped by their PIDs.

Not `--bridge=none`: a dockerd started with it deletes the host's `docker0` link (moby's
`removeDefaultBridgeInterface`, for that option), which cuts this machine's engine off its
default network until it restarts ("could not find bridge docker0"). The second engine's
bridge has an address in 198.18.0.0/15, reserved for network benchmarks (RFC 2544), so never a
network of the machine's; it has no route out (no masquerading).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def wait_until(what: str, ready, timeout: float, log: Path) -> None:
    deadline = time.time() + timeout
    while not ready():
        if time.time() > deadline:
            raise AssertionError(f"{what} did not start in {timeout}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _stop(pid_file: Path, timeout: float = 30) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


@dataclass
class SecondEngine:
    root: Path
    # More dockerd options (`--max-download-attempts=1`: a cut-off pull fails at once).
    options: tuple[str, ...] = ()

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid_file(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def bridge(self) -> str:
        """Its bridge's name, one per root (at most 15 characters, Linux's limit)."""
        return "dyn2-" + hashlib.sha256(str(self.root).encode()).hexdigest()[:8]

    def _make_bridge(self) -> None:
        subnet = int(self.bridge[5:], 16) % 256  # 198.18.<n>.0/24: engines of other roots differ
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)  # a stale one
        for command in (["link", "add", "name", self.bridge, "type", "bridge"],
                        ["addr", "add", f"198.18.{subnet}.1/24", "dev", self.bridge],
                        ["link", "set", self.bridge, "up"]):  # fmt: skip
            subprocess.run(["ip", *command], capture_output=True, text=True, check=True)

    def start(self, timeout: float = 60) -> SecondEngine:
        self.root.mkdir(parents=True, exist_ok=True)
        self._make_bridge()
        log = self.root / "dockerd.log"
        with log.open("w") as out:
            subprocess.Popen(
                ["dockerd", f"--data-root={self.root / 'data'}",
                 f"--exec-root={self.root / 'exec'}", f"--host={self.host}",
                 f"--pidfile={self.pid_file}", f"--bridge={self.bridge}", "--iptables=false",
                 "--ip-masq=false", *self.options],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(
            "the second dockerd",
            lambda: self.docker("version", check=False).returncode == 0,
            timeout,
            log,
        )
        return self

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True,
                              text=True, check=check, timeout=300)

    def image_ids(self) -> set[str]:
        out = self.docker("image", "ls", "--all", "--no-trunc", "--format", "{{.ID}}").stdout
        return set(out.split())

    def wipe(self) -> None:
        """Removes every image and container: an engine that never saw these images."""
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", *ids)
        images = self.image_ids()
        if images:
            self.docker("image", "rm", "-f", *images, check=False)
        self.docker("builder", "prune", "-af", check=False)

    def stop(self) -> None:
        _stop(self.pid_file)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def logging_docker(directory: Path) -> Path:
    """A `docker` in `directory` that logs each command (`<subcommand> <args>`, one line each)
    to `directory`/docker.log before running the real one: the proof of what a build ran.
    Returns the log's path; point Pants at the folder with
    PANTS_DOCKER_EXECUTABLE_SEARCH_PATHS."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "docker.log"
    wrapper = directory / "docker"
    wrapper.write_text(f'#!/bin/bash\necho "$*" >> {log}\nexec /usr/bin/docker "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return log

