"""A second Docker engine on this machine: what another machine's engine would hold.

The second engine is a separate `dockerd` with its own data root, exec root, socket and pid
file, no bridge network and no iptables rules, so it neither shares an image with this
machine's engine nor touches its network. Both are stopped by their PIDs.
"""

from __future__ import annotations

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

    def start(self, timeout: float = 60) -> SecondEngine:
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / "dockerd.log"
        with log.open("w") as out:
            subprocess.Popen(
                ["dockerd", f"--data-root={self.root / 'data'}",
                 f"--exec-root={self.root / 'exec'}", f"--host={self.host}",
                 f"--pidfile={self.pid_file}", "--bridge=none", "--iptables=false",
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

