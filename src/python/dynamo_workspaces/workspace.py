"""Pants workspaces: copies of the repo that share the team caches (dynamo_workspaces.team_caches)
and nothing else, for the remote-cache tests (tests/python/remote_cache), the changed-targets
test (tests/python/build) and the benchmarks (benchmarks/dynamo_benchmarks).

A workspace is a copy of the repo (or of its `//:workspace` files, in a test's sandbox) with its
own local store, named caches, workdir and dist: another machine, as far as Pants can tell.
The Pants install (~/.cache/dynamo-pants) is shared: it holds no build results.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dynamo_team_caches import cache_summary

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
# What the workspaces build and test: both native wheels (Rust, C++) and a small test target.
WHEELS = ("src/rust/imagekit:wheel", "src/cpp/hostxfer:wheel")
# A small, pure test target (no engine, no warnings): src/python/dynamo_team_caches/BUILD keeps
# it so.
TEST_TARGET = "src/python/dynamo_team_caches:tests"


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


def tail(log: str, lines: int = 60) -> str:
    return "\n".join(log.splitlines()[-lines:])
