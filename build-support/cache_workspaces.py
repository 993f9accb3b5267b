"""Real team caches (build-support/team-caches.sh: BuildGrid + Redis) and Pants workspaces that
share them: for the remote-cache tests (tests/python/remote_cache) and the benchmark
(cache_benchmark.py).

A workspace is a copy of the repo (or of its `//:workspace` files, in a test's sandbox) with its
own local store, named caches, workdir and dist: another machine, as far as Pants can tell.
The Pants install (~/.cache/dynamo-pants) is shared: it holds no build results.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cache_summary

# The top-level entries of `//:workspace` (the root BUILD).
WORKSPACE_ENTRIES = (
    "pants",
    "pants.toml",
    "pants.remote-cache.toml",
    "BUILD",
    "3rdparty",
    "containers",
    "plugins",
    "src",
    "build-support",
    # The deployment specs: src/ and plugins/ tests depend on them (deploy:specs).
    "deploy",
)
TEAM_CACHES = Path(__file__).resolve().parent / "team-caches.sh"
# What the workspaces build and test: both native wheels (Rust, C++) and a small test target.
WHEELS = ("src/rust/imagekit:wheel", "src/cpp/hostxfer:wheel")
# A small, pure test target (no engine, no warnings): build-support/BUILD keeps it so.
TEST_TARGET = "build-support:tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TeamCaches:
    data_dir: Path
    reapi_port: int
    redis_port: int
    bgd: Path | None = None  # a built bgd PEX; None: team-caches.sh builds one with Pants
    script_file: Path = TEAM_CACHES  # the repo's team-caches.sh (this module may run from a PEX)

    @property
    def env(self) -> dict[str, str]:
        env = {
            "TEAM_CACHES_DATA_DIR": str(self.data_dir),
            "TEAM_CACHES_REAPI_PORT": str(self.reapi_port),
            "TEAM_CACHES_REDIS_PORT": str(self.redis_port),
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

    def script(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(self.script_file), command],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self) -> subprocess.CompletedProcess:
        """Starts the servers, and stops them when this process ends, however it ends (a test
        runner killed on a timeout runs no teardown)."""
        started = self.script("start")
        watchdog = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 2; done; "
            f"bash {self.script_file} stop >/dev/null 2>&1"
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


@dataclass
class PantsRun:
    returncode: int
    log: str
    summary: dict
    seconds: float


@dataclass
class Workspace:
    root: Path  # the repo copy
    store: Path
    named_caches: Path

    @classmethod
    def copy_of(
        cls,
        source: Path,
        parent: Path,
        named_caches: Path | None = None,
        entries: tuple[str, ...] = WORKSPACE_ENTRIES,
    ) -> Workspace:
        root = parent / "repo"
        root.mkdir(parents=True)
        for entry in entries:
            src = source / entry
            (root / entry).parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, root / entry, ignore=shutil.ignore_patterns("*.pex"))
            else:
                shutil.copy2(src, root / entry)
        return cls(root, parent / "store", named_caches or parent / "named_caches")

    def pants_args(self, *args: str, pantsd: bool = False) -> list[str]:
        """Pants' arguments for a run in this workspace, on its own store and caches."""
        return [
            "--pantsd" if pantsd else "--no-pantsd",
            f"--local-store-dir={self.store}",
            f"--named-caches-dir={self.named_caches}",
            *args,
        ]

    def pants(
        self,
        *args: str,
        env: dict[str, str],
        on_line: tuple[str, Callable[[], None]] | None = None,
        timeout: float = 900,
        pantsd: bool = False,
    ) -> PantsRun:
        """Runs ./pants here; `on_line=(text, action)` runs `action` once, when a line of
        Pants' output first contains `text`. Without pantsd by default: each run starts
        cold, like a new machine's first."""
        start = time.time()
        process = subprocess.Popen(
            ["./pants", "--stats-log", *self.pants_args(*args, pantsd=pantsd)],
            cwd=self.root,
            env={**os.environ, "DYNAMO_SKIP_PROVISION": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if on_line and on_line[0] in line:
                on_line[1]()
                on_line = None
            if time.time() - start > timeout:
                process.kill()
                raise AssertionError(f"./pants {' '.join(args)} ran over {timeout}s")
        returncode = process.wait()
        log = "".join(lines)
        summary = cache_summary.summarize(log, self.root / "dist" / "sccache-stats", start)
        return PantsRun(returncode, log, summary, time.time() - start)

    def wheel_digests(self) -> dict[str, str]:
        wheels = sorted((self.root / "dist" / "wheels").glob("*.whl"))
        return {
            w.name: subprocess.check_output(["sha256sum", str(w)], text=True)[:64] for w in wheels
        }


def remote_env(caches: TeamCaches, *, write: bool) -> dict[str, str]:
    """The one setting that turns remote caching on (./pants reads it), and sccache's store."""
    env = {
        "DYNAMO_REMOTE_CACHE": caches.reapi_address,
        "SCCACHE_REDIS_ENDPOINT": caches.redis_endpoint,
    }
    if write:
        env["DYNAMO_REMOTE_CACHE_WRITE"] = "true"
    return env


def tail(log: str, lines: int = 60) -> str:
    return "\n".join(log.splitlines()[-lines:])
