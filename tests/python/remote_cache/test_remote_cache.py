"""Two (and more) Pants workspaces sharing one real BuildGrid and one real Redis.

Each workspace is a fresh copy of the repo with its own local store and named caches: what a
second machine would see. The tests run in order on the same caches: the first workspace
fills them, the second must be served from them, then entries are corrupted and the servers
killed, and builds must still succeed with correct results. Assertions are on counts (Pants'
`--stats-log` counters, sccache's statistics), never on time.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from cache_workspaces import (
    TEST_TARGET,
    WHEELS,
    TeamCaches,
    Workspace,
    free_port,
    remote_env,
    tail,
)

BGD_PEX = Path("build-support/bgd.pex")  # runtime_package_dependencies
BUILD = ("package", "test", *WHEELS, TEST_TARGET)


def remote_cache_warnings(log: str) -> list[str]:
    """Warnings about the remote cache: the launcher's (cache down when the build starts) and
    Pants' (`remote_cache_warnings = "first_only"`: the first failed read, the first failed
    write)."""
    return [
        line
        for line in log.splitlines()
        if ("[WARN]" in line or "warning:" in line) and "remote cache" in line.lower()
    ]


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> TeamCaches:
    caches = TeamCaches(
        tmp_path_factory.mktemp("team-caches"), free_port(), free_port(), bgd=BGD_PEX
    )
    started = caches.start()
    assert started.returncode == 0, started.stderr
    assert caches.script("status").returncode == 0
    yield caches
    caches.script("stop")


@pytest.fixture(scope="module")
def shared_named_caches(tmp_path_factory) -> Path:
    # Named caches hold downloads (pip's), not build results: later workspaces share one so
    # that each run does not download the wheel-building tools again.
    return tmp_path_factory.mktemp("named-caches")


@pytest.fixture(scope="module")
def first(caches: TeamCaches, tmp_path_factory) -> tuple[Workspace, dict]:
    """The CI machine: builds everything and writes it to the team caches."""
    workspace = Workspace.copy_of(Path.cwd(), tmp_path_factory.mktemp("first"))
    run = workspace.pants(*BUILD, env=remote_env(caches, write=True))
    assert run.returncode == 0, tail(run.log)
    print(f"first workspace (cold, writes): {run.seconds:.0f}s {run.summary}")
    return workspace, run.summary


@pytest.fixture(scope="module")
def second(caches: TeamCaches, first, tmp_path_factory) -> Workspace:
    return Workspace.copy_of(Path.cwd(), tmp_path_factory.mktemp("second"))


def test_first_workspace_fills_both_caches(caches: TeamCaches, first) -> None:
    _, summary = first
    pants, sccache = summary["pants"], summary["sccache"]
    assert pants["remote_lookups"] > 0
    assert pants["remote_writes"] == pants["remote_misses"] > 0
    assert pants["remote_write_errors"] == 0
    # Both wheels compiled through sccache (C++ and Rust), and stored their objects in Redis.
    assert sccache["builds_compiled"] == len(WHEELS)
    assert set(sccache["by_language"]) == {"C++", "Rust"}
    assert int(caches.redis("DBSIZE")) >= 2
    assert caches.cas_blobs()


def test_second_workspace_is_served_remotely(caches: TeamCaches, first, second) -> None:
    first_workspace, _ = first
    run = second.pants(*BUILD, env=remote_env(caches, write=False))
    assert run.returncode == 0, tail(run.log)
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    print(f"second workspace (remote cache): {run.seconds:.0f}s {run.summary}")
    # Every process Pants may cache was served by the remote cache.
    assert pants["remote_lookups"] > 0
    assert pants["remote_hits"] == pants["remote_lookups"], pants
    assert pants["remote_hit_rate"] == 100.0
    # No native compile at all: the wheel builds were replayed, not run.
    assert sccache["builds_compiled"] == 0
    assert sccache["builds_replayed"] == len(WHEELS)
    assert second.wheel_digests() == first_workspace.wheel_digests()
    assert "cached remotely" in run.log


def test_sccache_serves_the_compiles_when_pants_rebuilds(caches: TeamCaches, second) -> None:
    # Pants' caches off: the wheel builds run again, in another workspace than the first;
    # every compile sccache can cache must come from Redis.
    run = second.pants(
        "--no-remote-cache-read",
        "--no-local-cache",
        "package",
        *WHEELS,
        env=remote_env(caches, write=False),
    )
    assert run.returncode == 0, tail(run.log)
    sccache = run.summary["sccache"]
    print(f"second workspace, Pants' caches off: {run.seconds:.0f}s {sccache}")
    assert sccache["builds_compiled"] == len(WHEELS)
    assert sccache["misses"] == 0, sccache
    assert sccache["hit_rate"] >= 95.0
    assert set(sccache["by_language"]) == {"C++", "Rust"}


def corrupt(path: Path) -> None:
    data = path.read_bytes()
    # Half the blob, its bytes flipped: neither a prefix nor the original length.
    path.write_bytes(bytes(b ^ 0xFF for b in data[: max(1, len(data) // 2)]))


def test_corrupted_entries_are_rebuilt_never_used(
    caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    blobs = caches.cas_blobs()
    for blob in blobs:
        corrupt(blob)
    keys = caches.redis("--scan").split()
    assert keys
    for key in keys:
        caches.redis("SET", key, "corrupted-sccache-entry")
    workspace = Workspace.copy_of(
        Path.cwd(), tmp_path_factory.mktemp("corrupt"), shared_named_caches
    )

    run = workspace.pants(*BUILD, env=remote_env(caches, write=False))

    assert run.returncode == 0, tail(run.log)
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    print(f"corrupted caches: {run.seconds:.0f}s {run.summary}")
    # Nothing corrupt was used: the wheels were compiled again, and equal the first ones.
    assert sccache["builds_compiled"] == len(WHEELS)
    assert sccache["hits"] == 0, sccache
    assert workspace.wheel_digests() == first_workspace.wheel_digests()
    assert pants["remote_hits"] < pants["remote_lookups"]


def test_caches_down_slow_the_build_with_one_warning(
    caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    caches.kill("bgd")
    caches.kill("redis")
    workspace = Workspace.copy_of(Path.cwd(), tmp_path_factory.mktemp("down"), shared_named_caches)

    run = workspace.pants(*BUILD, env=remote_env(caches, write=True))

    assert run.returncode == 0, tail(run.log)
    print(f"caches down: {run.seconds:.0f}s {run.summary}")
    warnings = remote_cache_warnings(run.log)
    assert len(warnings) == 1, warnings
    assert "does not answer; building with local caches only" in warnings[0]
    # sccache's server cannot start without its store: the builds compiled without it.
    sccache = run.summary["sccache"]
    assert sccache["builds_compiled"] == sccache["builds_without_sccache"] == len(WHEELS)
    assert sccache["hits"] == 0
    assert workspace.wheel_digests() == first_workspace.wheel_digests()


def test_cache_killed_mid_build_is_one_warning(
    caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    restarted = caches.script("start")
    assert restarted.returncode == 0, restarted.stderr
    workspace = Workspace.copy_of(
        Path.cwd(), tmp_path_factory.mktemp("killed"), shared_named_caches
    )
    bgd = caches.pid("bgd")

    # Killed as soon as the first wheel build starts: before its result could be read back.
    # A developer's read-only build (CI's also fails its writes: a second warning, for them).
    run = workspace.pants(
        *BUILD,
        env=remote_env(caches, write=False),
        on_line=("Starting: Build src/", lambda: os.kill(bgd, signal.SIGKILL)),
    )

    assert run.returncode == 0, tail(run.log)
    print(f"cache killed mid-build: {run.seconds:.0f}s {run.summary}")
    warnings = remote_cache_warnings(run.log)
    assert len(warnings) == 1, warnings
    assert "Failed to read from remote cache" in warnings[0]
    assert run.summary["pants"]["remote_read_errors"] > 0
    assert workspace.wheel_digests() == first_workspace.wheel_digests()
