from __future__ import annotations

import json
import os
from pathlib import Path

from dynamo_team_caches import cache_summary

# The end of a real `./pants --stats-log` run (Pants 2.17), abridged.
PANTS_LOG = """\
00:01:23.74 [INFO] Wrote dist/wheels/dynamo_imagekit-0.1.0-py3-none-manylinux_2_34_x86_64.whl
00:01:23.76 [INFO] Counters:
  local_cache_read_errors: 0
  local_cache_requests: 22
  local_cache_requests_cached: 2
  local_cache_requests_uncached: 20
  local_execution_requests: 20
  remote_cache_read_errors: 1
  remote_cache_requests: 5
  remote_cache_requests_cached: 4
  remote_cache_requests_uncached: 1
  remote_cache_speculation_local_completed_first: 0
  remote_cache_speculation_remote_completed_first: 4
  remote_cache_write_successes: 1
00:01:23.77 [INFO] Observation histogram summaries:
"""


def stats_document(built_at: float, hits: dict, misses: dict, compilations: int) -> dict:
    return {
        "built_at": built_at,
        "sccache": {
            "stats": {
                "cache_hits": {"counts": {}, "adv_counts": hits},
                "cache_misses": {"counts": {}, "adv_counts": misses},
                "compilations": compilations,
                "requests_not_cacheable": 3,
                "non_cacheable_compilations": 0,
                "cache_read_errors": 0,
                "cache_write_errors": 0,
            },
            "cache_location": "redis, name: redis://127.0.0.1:6379",
        },
    }


def write_stats(directory: Path, name: str, document: dict, mtime: float) -> None:
    path = directory / name
    path.write_text(json.dumps(document))
    os.utime(path, (mtime, mtime))


def test_counters_are_read_from_the_stats_log() -> None:
    counters = cache_summary.pants_counters(PANTS_LOG)
    assert counters["remote_cache_requests"] == 5
    assert "Observation" not in " ".join(counters)
    pants = cache_summary.pants_summary(counters)
    assert (pants["remote_hits"], pants["remote_lookups"], pants["remote_misses"]) == (4, 5, 1)
    assert pants["remote_hit_rate"] == 80.0
    assert pants["remote_read_errors"] == 1
    assert pants["local_hit_rate"] == 9.1
    assert (pants["processes_run_locally"], pants["local_runs_cancelled"]) == (16, 4)


def test_processes_ran_leaves_out_local_runs_a_remote_hit_cancelled() -> None:
    # The counters of a real run (`test` of these tests, fresh workspace, 5/5 remote hits):
    # Pants started 9 local runs, 5 of them beside the remote lookups that then won.
    counters = {
        "local_cache_requests": 9,
        "local_cache_requests_cached": 0,
        "local_cache_requests_uncached": 9,
        "local_cache_read_errors": 0,
        "local_execution_requests": 9,
        "remote_cache_requests": 5,
        "remote_cache_requests_cached": 5,
        "remote_cache_speculation_remote_completed_first": 5,
    }
    pants = cache_summary.pants_summary(counters)
    # The same workspace again (all from the local cache) ran 4: the host probes.
    assert pants["processes_run_locally"] == 4
    assert (pants["local_runs_started"], pants["local_runs_cancelled"]) == (9, 5)
    assert cache_summary.processes(pants) == (
        "4 processes ran (5 more local runs started and were cancelled)"
    )

    # A real run with no remote cache at all (both caches down): 22 local runs started for 21
    # processes; Pants restarted one (a resolve that declared spare concurrency) when its
    # share of the cores changed.
    restarted = {
        "local_cache_requests": 21,
        "local_cache_requests_uncached": 21,
        "local_execution_requests": 22,
        "remote_cache_requests": 0,
    }
    assert cache_summary.processes_ran(restarted) == 21
    # Neither cache: every local run that started is one that ran.
    assert cache_summary.processes_ran({"local_execution_requests": 7}) == 7
    # Local cache off while remote hits won: the counters cannot tell how many runs finished.
    no_local = {"local_execution_requests": 9, "remote_cache_speculation_remote_completed_first": 5}
    pants = cache_summary.pants_summary(no_local)
    assert pants["processes_run_locally"] is None
    assert "9 local runs started, some cancelled" in cache_summary.processes(pants)


def test_no_lookups_is_not_a_rate() -> None:
    assert cache_summary.pants_summary({})["remote_hit_rate"] is None


def test_sccache_counts_fresh_builds_and_tells_replayed_ones_apart(tmp_path: Path) -> None:
    run_start = 1000.0
    # Built in this run: counted, by language.
    write_stats(
        tmp_path,
        "a.json",
        stats_document(1001, {"rust": 1}, {"c++ [gcc]": 1}, compilations=1),
        mtime=1002,
    )
    write_stats(
        tmp_path, "b.json", stats_document(1001, {"c [gcc]": 2}, {}, compilations=0), mtime=1002
    )
    # Written by this run, made by an earlier build (a cache replayed it): no compiles now.
    write_stats(tmp_path, "c.json", stats_document(10, {}, {"rust": 5}, 5), mtime=1002)
    # Compiled without sccache: its store was down.
    write_stats(
        tmp_path, "e.json", {"built_at": 1001, "sccache": {}, "error": "timed out"}, mtime=1002
    )
    # Left in dist/ by another run: ignored.
    write_stats(tmp_path, "d.json", stats_document(10, {}, {"rust": 7}, 7), mtime=500)

    sccache = cache_summary.sccache_summary(tmp_path, run_start)

    assert sccache["builds_compiled"] == 3
    assert sccache["compiled"] == ["a", "b", "e"]
    assert cache_summary.sccache_summary(tmp_path / "missing", run_start)["compiled"] == []
    assert sccache["builds_without_sccache"] == 1
    assert sccache["builds_replayed"] == 1
    assert (sccache["hits"], sccache["misses"], sccache["compilations"]) == (3, 1, 1)
    assert sccache["hit_rate"] == 75.0
    assert sccache["by_language"] == {
        "C": {"hits": 2, "misses": 0},
        "C++": {"hits": 0, "misses": 1},
        "Rust": {"hits": 1, "misses": 0},
    }
    assert sccache["locations"] == ["redis, name: redis://127.0.0.1:6379"]


def test_summary_file_and_text_from_a_saved_log(tmp_path: Path, capsys) -> None:
    log = tmp_path / "pants.log"
    log.write_text(PANTS_LOG)
    out = tmp_path / "summary.json"

    assert cache_summary.main(["--pants-log", str(log), "--json", str(out), "--dist", "x"]) == 0

    summary = json.loads(out.read_text())
    assert summary["pants"]["remote_hits"] == 4
    assert summary["sccache"]["builds_compiled"] == 0
    printed = capsys.readouterr().out
    assert "Pants remote cache: 4/5 hits (80.0%), 1 misses, 1 read errors" in printed


def test_stats_log_is_added_to_a_pants_command() -> None:
    assert cache_summary.with_stats_log(["./pants", "package", "src::"]) == [
        "./pants",
        "--stats-log",
        "package",
        "src::",
    ]
    assert cache_summary.with_stats_log(["make"]) == ["make"]


def test_the_warning_stats_log_causes_is_not_shown(tmp_path: Path, capfd) -> None:
    # A stand-in for ./pants that prints, on stderr, what Pants 2.17 prints with --stats-log and
    # no hdrhistogram plugin, plus a warning of the build itself.
    pants = tmp_path / "pants"
    pants.write_text(
        "#!/bin/sh\n"
        'echo "args: $*" >&2\n'
        "echo '12:00:00.01 [WARN] Please run with `--plugins=hdrhistogram` if you would like"
        " histogram summaries to be shown at the end of the run' >&2\n"
        "echo 'pants launcher: warning: the remote cache grpc://x:1 does not answer' >&2\n"
        "echo '12:00:00.02 [INFO] Counters:' >&2\n"
        "echo '  local_execution_requests: 3' >&2\n"
    )
    pants.chmod(0o755)

    code, log = cache_summary.run_and_capture([str(pants), "package", "src::"])

    shown = capfd.readouterr().err
    assert code == 0
    assert "args: --stats-log package src::" in shown
    assert "hdrhistogram" not in shown
    assert [line for line in shown.splitlines() if "warning" in line.lower()] == [
        "pants launcher: warning: the remote cache grpc://x:1 does not answer"
    ]
    # Still read: the log keeps every line.
    assert "hdrhistogram" in log
    assert cache_summary.pants_counters(log) == {"local_execution_requests": 3}

    # A command that asked for --stats-log itself sees all of its output.
    cache_summary.run_and_capture([str(pants), "--stats-log", "package"])
    assert "hdrhistogram" in capfd.readouterr().err
