"""Two (and more) Pants workspaces sharing one real BuildGrid and one real Redis.

Each workspace is a fresh copy of the repo with its own local store and named caches: what a
second machine would see. The first workspace (CI) fills the shared caches; the others must be
served from them, after a restart of both servers too; corrupted entries must never be used
(the server finds them; `team-caches.sh verify` finds bit rot) and one writer build must heal
them. Tests that kill servers get caches of their own, and every test leaves the shared caches
as good as it found them, so the tests pass alone and in any order. Assertions are on counts
(Pants' `--stats-log` counters, sccache's statistics) and on the bytes built, never on time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dynamo_workspaces.team_caches import TeamCaches, free_port, remote_env
from dynamo_workspaces.workspace import TEST_TARGET, WHEELS, Workspace, tail

BGD_PEX = Path("team-caches/bgd.pex")  # runtime_package_dependencies
CACHE_SUMMARY = Path("src/python/dynamo_team_caches/cache_summary.py")
BUILD = ("package", "test", *WHEELS, TEST_TARGET)


def remote_cache_warnings(log: str) -> list[str]:
    """Warnings about the remote cache: the launcher's (cache down when the build starts) and
    Pants' (`remote_cache_warnings = "first_only"`: the first failed read, the first failed
    write)."""
    return [line for line in warnings(log) if "remote cache" in line.lower()]


def warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if "[WARN]" in line or "warning:" in line]


def team_caches(data_dir: Path) -> TeamCaches:
    """Caches on free ports whose data dir already holds the bgd PEX this test run built, with
    its key: `start` must reuse it (no Pants run)."""
    caches = TeamCaches(data_dir, free_port(), free_port())
    caches.adopt_bgd(BGD_PEX)
    return caches


def start(caches: TeamCaches) -> str:
    started = caches.start()
    assert started.returncode == 0, started.stderr
    assert "reusing" in started.stderr and "building" not in started.stderr, started.stderr
    return started.stderr


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> TeamCaches:
    caches = team_caches(tmp_path_factory.mktemp("team-caches"))
    start(caches)
    yield caches
    caches.script("stop")


@pytest.fixture
def own_caches(tmp_path: Path) -> TeamCaches:
    """Empty caches for one test that kills them."""
    caches = team_caches(tmp_path / "own-caches")
    start(caches)
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


def fresh(shared_named_caches: Path, tmp_path_factory, name: str) -> Workspace:
    return Workspace.copy_of(Path.cwd(), tmp_path_factory.mktemp(name), shared_named_caches)


def status(caches: TeamCaches) -> dict[str, int]:
    """The figures `team-caches.sh status` prints."""
    shown = caches.script("status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    patterns = {
        "cas_blobs": r"CAS: (\d+) blobs",
        "action_cache_entries": r"action cache: (\d+) entries",
        "sccache_entries": r"sccache: (\d+) entries",
    }
    figures = {}
    for name, pattern in patterns.items():
        match = re.search(pattern, shown.stdout)
        assert match, f"{pattern!r} not in:\n{shown.stdout}"
        figures[name] = int(match.group(1))
    assert "BuildGrid: up" in shown.stdout and "redis: up" in shown.stdout, shown.stdout
    assert "limit" in shown.stdout and "on disk" in shown.stdout, shown.stdout
    return figures


def test_first_workspace_fills_both_caches(caches: TeamCaches, first) -> None:
    _, summary = first
    pants, sccache = summary["pants"], summary["sccache"]
    assert pants["remote_lookups"] > 0
    assert pants["remote_writes"] == pants["remote_misses"] > 0
    assert pants["remote_write_errors"] == 0
    # Nothing hit: every process ran (Pants may have started some twice: it restarts a
    # process that declared spare concurrency when its share of the cores changes).
    assert pants["processes_run_locally"] == pants["local_lookups"] > 0
    assert pants["local_runs_started"] >= pants["processes_run_locally"]
    # Both wheels compiled through sccache (C++ and Rust), and stored their objects in Redis.
    assert sccache["builds_compiled"] == len(WHEELS)
    assert set(sccache["by_language"]) == {"C++", "Rust"}
    # What status reports is what the servers hold.
    figures = status(caches)
    blobs = [p for p in (caches.data_dir / "cas/cas/objects").rglob("*") if p.is_file()]
    assert figures["cas_blobs"] == len(blobs) > 0
    assert figures["action_cache_entries"] == int(caches.redis("-n", "1", "DBSIZE")) > 0
    assert figures["sccache_entries"] == int(caches.redis("-n", "0", "DBSIZE")) >= 2


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

    # "processes ran" are the processes no cache could serve (the host probes): as many as
    # when the same workspace builds again from its local cache, with no remote lookup to
    # race against. Pants' own counter also counts the local runs it started beside the
    # remote lookups and cancelled when the hits came back.
    again = second.pants(*BUILD, env=remote_env(caches, write=False))
    assert again.returncode == 0, tail(again.log)
    warm = again.summary["pants"]
    print(f"second workspace again (local cache): {again.seconds:.0f}s {warm}")
    assert warm["remote_lookups"] == 0, warm
    assert pants["processes_run_locally"] == warm["processes_run_locally"], (pants, warm)


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


def test_action_cache_survives_a_restart(
    caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    before = status(caches)
    stopped = caches.script("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped BuildGrid" in stopped.stderr and "stopped redis" in stopped.stderr
    start(caches)  # reuses the bgd PEX
    assert status(caches) == before

    workspace = fresh(shared_named_caches, tmp_path_factory, "after-restart")
    run = workspace.pants(*BUILD, env=remote_env(caches, write=False))

    assert run.returncode == 0, tail(run.log)
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    print(f"after a restart of both servers: {run.seconds:.0f}s {run.summary}")
    assert pants["remote_lookups"] == first[1]["pants"]["remote_lookups"] > 0
    assert pants["remote_hits"] == pants["remote_lookups"], pants
    assert sccache["builds_compiled"] == 0
    assert workspace.wheel_digests() == first_workspace.wheel_digests()


def flip_bytes(data: bytes) -> bytes:
    """The same length, other bytes: what a bad disk or a stray write leaves."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def redis_get(caches: TeamCaches, key: str) -> bytes:
    raw = subprocess.run(
        ["redis-cli", "-p", str(caches.redis_port), "--raw", "GET", key],
        capture_output=True,
        check=True,
    ).stdout
    return raw[:-1]  # --raw adds a newline


def redis_set(caches: TeamCaches, key: str, value: bytes) -> None:
    # -x: the value from stdin, byte for byte.
    subprocess.run(
        ["redis-cli", "-p", str(caches.redis_port), "-x", "SET", key],
        input=value,
        capture_output=True,
        check=True,
    )


def test_corrupted_entries_are_never_used_and_heal(
    caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    wheels = first_workspace.wheel_digests()
    # The wheels' blobs (a CAS blob is named by its content's sha256) and every sccache
    # object: same size, other bytes.
    blobs = [caches.data_dir / "cas/cas/objects" / d[:2] / d[2:] for d in wheels.values()]
    assert all(blob.is_file() for blob in blobs), blobs
    for blob in blobs:
        blob.write_bytes(flip_bytes(blob.read_bytes()))
    corrupted = {}
    for key in caches.redis("--scan").split():
        value = redis_get(caches, key)
        corrupted[key] = flip_bytes(value)
        redis_set(caches, key, corrupted[key])
        assert redis_get(caches, key) == corrupted[key] != value
    assert corrupted

    # A laptop (read-only): nothing corrupt is used; the wheels are rebuilt and equal CI's.
    # BuildGrid's CAS (verified_storage.py) checks a blob's bytes before it says the blob is
    # there: the corrupted ones read as missing (and are removed), so their action-cache
    # entries miss and no bad byte reaches the client, which Pants 2.17 could not recover from
    # under cache_content_behavior = "validate".
    laptop = fresh(shared_named_caches, tmp_path_factory, "corrupt-laptop")
    run = laptop.pants(*BUILD, env=remote_env(caches, write=False))
    assert run.returncode == 0, tail(run.log)
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    print(f"corrupted caches, laptop: {run.seconds:.0f}s {run.summary}")
    assert pants["remote_read_errors"] == 0, pants
    assert pants["remote_hits"] < pants["remote_lookups"]
    assert sccache["builds_compiled"] == len(WHEELS)
    assert sccache["hits"] == 0, sccache
    assert laptop.wheel_digests() == wheels
    # sccache took each bad object for a miss and stored a good one in its place.
    for key, bad in corrupted.items():
        assert redis_get(caches, key) != bad, key
    bgd_log = (caches.data_dir / "bgd.log").read_text()
    for blob in blobs:
        assert f"removed blob {blob.parent.name}{blob.name}" in bgd_log
        assert not blob.exists()

    # Bit rot changes bytes but no file metadata: the server, which checked the blob once,
    # cannot see it. verify hashes every blob, and finds and removes exactly that one.
    rotten = next(blob for blob in sorted(caches.cas_blobs()) if blob.stat().st_size > 1024)
    before = rotten.stat()
    rotten.write_bytes(flip_bytes(rotten.read_bytes()))
    os.utime(rotten, ns=(before.st_atime_ns, before.st_mtime_ns))
    verified = caches.script("verify")
    assert verified.returncode == 0, verified.stderr
    print(verified.stderr)
    assert f"removed blob {rotten.parent.name}{rotten.name}" in verified.stderr
    assert not rotten.exists()
    assert ", 1 removed" in verified.stderr
    assert ", 0 removed" in caches.script("verify").stderr

    # One CI build stores them again: the wheel builds whose blobs are gone run (their
    # compiles now all sccache hits: the objects sccache replaced), and are written.
    ci = fresh(shared_named_caches, tmp_path_factory, "corrupt-ci")
    run = ci.pants(*BUILD, env=remote_env(caches, write=True))
    assert run.returncode == 0, tail(run.log)
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    print(f"after verify, one CI build: {run.seconds:.0f}s {run.summary}")
    assert pants["remote_read_errors"] == 0, pants
    assert pants["remote_writes"] >= len(WHEELS), pants
    assert sccache["builds_compiled"] == len(WHEELS)
    assert sccache["misses"] == 0 and sccache["hits"] > 0, sccache
    assert all(blob.is_file() for blob in blobs)

    # And a laptop is back to every remote hit, with the same bytes.
    laptop = fresh(shared_named_caches, tmp_path_factory, "healed-laptop")
    run = laptop.pants(*BUILD, env=remote_env(caches, write=False))
    assert run.returncode == 0, tail(run.log)
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    print(f"healed caches, laptop: {run.seconds:.0f}s {run.summary}")
    assert pants["remote_hits"] == pants["remote_lookups"] > 0, pants
    assert sccache["builds_compiled"] == 0
    assert laptop.wheel_digests() == wheels


def summarized_run(workspace: Workspace, env: dict[str, str]) -> tuple[int, str, dict]:
    """BUILD through src/python/dynamo_team_caches/cache_summary.py, as docs/caching.md tells a
    user to run it: its exit code, what it showed on stderr, and the summary it wrote."""
    summary_file = workspace.root / "dist" / "cache-summary.json"
    command = [
        sys.executable,
        str(CACHE_SUMMARY.resolve()),
        "--json",
        str(summary_file),
        "--",
        "./pants",
        *workspace.pants_args(*BUILD),
    ]
    run = subprocess.run(
        command,
        cwd=workspace.root,
        env={**os.environ, "DYNAMO_SKIP_PROVISION": "1", **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return run.returncode, run.stderr + run.stdout, summary


def test_caches_down_slow_the_build_with_one_warning(
    own_caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    own_caches.kill("bgd")
    own_caches.kill("redis")
    workspace = fresh(shared_named_caches, tmp_path_factory, "down")

    started = time.monotonic()
    returncode, shown, summary = summarized_run(workspace, remote_env(own_caches, write=True))

    assert returncode == 0, tail(shown)
    print(f"caches down: {time.monotonic() - started:.0f}s {summary}")
    # What the user sees: one warning, the launcher's; no other warning of any kind.
    assert warnings(shown) == [
        line for line in shown.splitlines() if "does not answer; building with local" in line
    ]
    assert len(warnings(shown)) == 1, warnings(shown)
    # sccache's server cannot start without its store: the builds compiled without it.
    sccache = summary["sccache"]
    assert sccache["builds_compiled"] == sccache["builds_without_sccache"] == len(WHEELS)
    assert sccache["hits"] == 0
    assert summary["pants"]["remote_lookups"] == 0
    assert workspace.wheel_digests() == first_workspace.wheel_digests()


def test_cache_killed_mid_build_is_one_warning(
    own_caches: TeamCaches, first, shared_named_caches: Path, tmp_path_factory
) -> None:
    first_workspace, _ = first
    workspace = fresh(shared_named_caches, tmp_path_factory, "killed")
    bgd = own_caches.pid("bgd")

    # Its caches are empty, so the wheel builds run; BuildGrid is killed as the first starts,
    # and the lookups after it fail. A developer's read-only build (CI's also fails its
    # writes: a second warning, for them).
    run = workspace.pants(
        *BUILD,
        env=remote_env(own_caches, write=False),
        on_line=("Starting: Build src/", lambda: os.kill(bgd, signal.SIGKILL)),
    )

    assert run.returncode == 0, tail(run.log)
    print(f"cache killed mid-build: {run.seconds:.0f}s {run.summary}")
    found = remote_cache_warnings(run.log)
    assert len(found) == 1, found
    assert "Failed to read from remote cache" in found[0]
    assert run.summary["pants"]["remote_read_errors"] > 0
    assert workspace.wheel_digests() == first_workspace.wheel_digests()

    # Its pid file outlived it: the next start checks the CAS before serving it again.
    restarted = own_caches.script("start")
    assert restarted.returncode == 0, restarted.stderr
    assert "did not stop cleanly" in restarted.stderr
    assert re.search(r"verified the CAS: \d+ blobs checked, 0 removed", restarted.stderr)
