"""The team caches (src/python/dynamo_team_caches/team-caches.sh: BuildGrid, Redis and the
registry), started
on free ports for one test module or benchmark run, and the settings that point Pants at them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# The team caches in the repo (src/python/dynamo_team_caches/BUILD), relative to its root.
SCRIPT = "src/python/dynamo_team_caches/team-caches.sh"
BGD_TARGET = "src/python/dynamo_team_caches:bgd"
BGD_DIST = "dist/team-caches/bgd.pex"  # where `./pants package BGD_TARGET` writes it
# src/python/dynamo_workspaces/team_caches.py -> the repo (or the test sandbox) root.
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TeamCaches:
    data_dir: Path
    reapi_port: int
    redis_port: int
    registry_port: int = field(default_factory=free_port)
    bgd: Path | None = None  # a built bgd PEX; None: team-caches.sh builds one with Pants
    # The repo's team-caches.sh; give it when this module runs from a PEX (no repo beside it).
    script_file: Path = REPO / SCRIPT

    @property
    def env(self) -> dict[str, str]:
        env = {
            "TEAM_CACHES_DATA_DIR": str(self.data_dir),
            "TEAM_CACHES_REAPI_PORT": str(self.reapi_port),
            "TEAM_CACHES_REDIS_PORT": str(self.redis_port),
            "TEAM_CACHES_REGISTRY_PORT": str(self.registry_port),
        }
        if self.bgd:
            env["TEAM_CACHES_BGD"] = str(self.bgd.resolve())
        return env

    @property
    def reapi_address(self) -> str:
        return f"grpc://127.0.0.1:{self.reapi_port}"

    @property
    def redis_endpoint(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    def script(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(self.script_file), command],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=180,
        )

    def adopt_bgd(self, pex: Path) -> None:
        """Puts a built bgd PEX in the data dir as if `start` had built it (with its key), so
        that `start` reuses it: no Pants run inside a test."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(pex, self.data_dir / "bgd.pex")
        key = self.script("bgd-key")
        assert key.returncode == 0, key.stderr
        (self.data_dir / "bgd.pex.key").write_text(key.stdout)

    def start(self) -> subprocess.CompletedProcess:
        """Starts the servers, and stops them when this process ends, however it ends (a test
        runner killed on a timeout runs no teardown)."""
        started = self.script("start")
        # The watchdog stops them with a copy of the script in the data dir: the script itself
        # may be in a test's sandbox, which Pants deletes when it cancels the test (a file
        # changed during the run) before the watchdog wakes.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        keeper = self.data_dir / "team-caches.sh"
        shutil.copy(self.script_file, keeper)
        watchdog = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 2; done; "
            f"bash {shlex.quote(str(keeper))} stop >/dev/null 2>&1"
        )
        subprocess.Popen(
            ["bash", "-c", watchdog],
            env={**os.environ, **self.env},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return started

    def pid(self, name: str) -> int:
        return int((self.data_dir / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        """Kills a server the way a crash would (no clean shutdown)."""
        os.kill(self.pid(name), signal.SIGKILL)
        (self.data_dir / f"{name}.pid").unlink()

    def cas_blobs(self) -> list[Path]:
        return [p for p in (self.data_dir / "cas").rglob("*") if p.is_file()]

    def redis(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.redis_port), *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def remote_env(caches: TeamCaches, *, write: bool) -> dict[str, str]:
    """The settings that `team-caches.sh settings` prints: the remote cache (./pants reads it),
    sccache's store and the team registry."""
    env = {
        "DYNAMO_REMOTE_CACHE": caches.reapi_address,
        "SCCACHE_REDIS_ENDPOINT": caches.redis_endpoint,
        "DYNAMO_IMAGE_CACHE": caches.registry,
    }
    if write:
        env["DYNAMO_REMOTE_CACHE_WRITE"] = "true"
    return env
