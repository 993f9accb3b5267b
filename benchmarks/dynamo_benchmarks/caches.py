"""Benchmark of the team caches: how much a shared cache saves a fresh machine.

    ./pants run benchmarks:cache-bench -- [--targets ...] [--keep]

Starts its own team caches (BuildGrid + Redis, src/python/dynamo_team_caches/team-caches.sh)
on free loopback ports, copies the repo (git ls-files) into throwaway workspaces, and times,
for the first-party wheels and their tests:

  cold          a fresh workspace: empty local store and named caches, remote cache not read
                (it is written, as CI does)
  warm-local    the same workspace again: Pants' local cache only
  remote        a second fresh workspace (empty store, empty named caches) reading the
                remote cache: a new machine or a CI runner

It prints the times, each run's hit counts and the ratios, and writes them to
dist/cache-benchmark.json. A benchmark, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dynamo_workspaces.team_caches import BGD_DIST, SCRIPT, TeamCaches, free_port, remote_env
from dynamo_workspaces.workspace import PantsRun, Workspace, tail

DEFAULT_TARGETS = ("package", "test", "src::", "tests/python/native_wheels::")


def run_or_die(workspace: Workspace, label: str, *args: str, env: dict[str, str]) -> PantsRun:
    print(f"== {label}: ./pants {' '.join(args)}", flush=True)
    run = workspace.pants(*args, env=env, timeout=3600)
    if run.returncode != 0:
        sys.exit(f"{label} failed:\n{tail(run.log)}")
    print(f"   {run.seconds:.1f}s", flush=True)
    return run


def figures(run: PantsRun) -> dict:
    pants, sccache = run.summary["pants"], run.summary["sccache"]
    return {
        "seconds": round(run.seconds, 1),
        "remote_hits": pants["remote_hits"],
        "remote_lookups": pants["remote_lookups"],
        "remote_hit_rate": pants["remote_hit_rate"],
        "local_hits": pants["local_hits"],
        "local_lookups": pants["local_lookups"],
        "processes_run": pants["processes_run_locally"],
        "sccache_hit_rate": sccache["hit_rate"],
        "native_builds_compiled": sccache["builds_compiled"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", nargs="+", default=list(DEFAULT_TARGETS))
    parser.add_argument("--keep", action="store_true", help="keep the workspaces and caches")
    parser.add_argument("--json", type=Path, default=Path("dist/cache-benchmark.json"))
    args = parser.parse_args()

    repo = Path(subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip())
    files = tuple(
        subprocess.check_output(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, text=True
        ).splitlines()
    )
    files = tuple(f for f in files if (repo / f).is_file())
    scratch = Path(tempfile.mkdtemp(prefix="dynamo-cache-benchmark-"))
    bgd = repo / BGD_DIST
    # The repo's script: this module runs from a PEX, with no repo beside it.
    caches = TeamCaches(
        scratch / "caches",
        free_port(),
        free_port(),
        bgd=bgd if bgd.exists() else None,
        script_file=repo / SCRIPT,
    )
    started = caches.start()
    if started.returncode != 0:
        sys.exit(f"the team caches did not start:\n{started.stderr}")
    try:
        first = Workspace.copy_of(repo, scratch / "first", entries=files)
        second = Workspace.copy_of(repo, scratch / "second", entries=files)
        env = remote_env(caches, write=True)
        cold = run_or_die(first, "cold", "--no-remote-cache-read", *args.targets, env=env)
        warm = run_or_die(
            first,
            "warm-local",
            "--no-remote-cache-read",
            "--no-remote-cache-write",
            *args.targets,
            env=env,
        )
        remote = run_or_die(second, "remote", *args.targets, env=remote_env(caches, write=False))
    finally:
        caches.script("stop")
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    results = {
        "targets": args.targets,
        "cold": figures(cold),
        "warm_local": figures(warm),
        "remote": figures(remote),
        "cold_over_warm_local": round(cold.seconds / warm.seconds, 2),
        "cold_over_remote": round(cold.seconds / remote.seconds, 2),
    }
    print(f"\ntargets: {' '.join(args.targets)}")
    print(f"{'run':<12}{'time':>9}{'remote hits':>16}{'local hits':>14}{'ran':>6}{'sccache':>10}")
    for name in ("cold", "warm_local", "remote"):
        f = results[name]
        sccache = "n/a" if f["sccache_hit_rate"] is None else f"{f['sccache_hit_rate']:.0f}%"
        print(
            f"{name:<12}{f['seconds']:>8.1f}s"
            f"{f['remote_hits']:>10}/{f['remote_lookups']:<5}"
            f"{f['local_hits']:>8}/{f['local_lookups']:<5}{f['processes_run']:>6}{sccache:>10}"
        )
    print(
        f"cold/warm-local: {results['cold_over_warm_local']}x   "
        f"cold/remote: {results['cold_over_remote']}x"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
