"""What the caches did in one Pants run: Pants' local and remote cache, and sccache.

    python3 src/python/dynamo_team_caches/cache_summary.py [--json FILE] [--dist DIR] \
        -- ./pants package src::
    python3 src/python/dynamo_team_caches/cache_summary.py [--json FILE] --pants-log LOG \
        [--since EPOCH]

Runs the command (adding `--stats-log` after `./pants`) with its output shown as usual, less
the one warning that flag makes Pants print (about `hdrhistogram`), then prints a short summary
and writes it as JSON (default dist/cache-summary.json). Pants' figures come from the counters
`--stats-log` prints; sccache's from the statistics each native wheel build adds to
dist/sccache-stats/ (`[native-wheels].sccache`). A wheel build replayed from a cache compiled
nothing in this run: it is counted as replayed, not as hits.

Standalone (stdlib only, Python 3.9+), so that it runs with whatever python3 a host has.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

COUNTER_LINE = re.compile(r"^\s+([a-z_]+): (\d+)\s*$")
# sccache's "adv" keys ("c [gcc]", "c++ [clang]", "rust") by language.
LANGUAGES = {"c": "C", "c++": "C++", "rust": "Rust", "cuda": "CUDA"}


def pants_counters(log: str) -> dict[str, int]:
    """The `Counters:` block that `--stats-log` prints at the end of a run."""
    counters: dict[str, int] = {}
    in_block = False
    for line in log.splitlines():
        if line.rstrip().endswith("Counters:"):
            in_block, counters = True, {}
            continue
        if in_block:
            match = COUNTER_LINE.match(line)
            if match:
                counters[match.group(1)] = int(match.group(2))
            elif line.strip():
                in_block = False
    return counters


def rate(hits: int, total: int) -> float | None:
    return round(100.0 * hits / total, 1) if total else None


def processes_ran(counters: dict[str, int]) -> int | None:
    """The processes that ran here to the end: what neither cache served.

    `local_execution_requests` counts every local run that started, also those Pants 2.17
    cancelled: it races each remote-cache lookup against a local run of the same process and
    drops the loser, and it restarts a running process that declared spare concurrency when
    its share of the cores changes. Every process passes the local cache first (its lookups
    count them all); what it did not serve ran, unless a remote hit won the race. Without the
    local cache (`--no-local-cache`) while remote hits won, the counters cannot tell: None."""
    started = counters.get("local_execution_requests", 0)
    remote_won = counters.get("remote_cache_speculation_remote_completed_first", 0)
    if counters.get("local_cache_requests", 0):
        not_served_locally = counters.get("local_cache_requests_uncached", 0) + counters.get(
            "local_cache_read_errors", 0
        )
        return not_served_locally - remote_won
    return started if not remote_won else None


def pants_summary(counters: dict[str, int]) -> dict:
    remote = counters.get("remote_cache_requests", 0)
    remote_hits = counters.get("remote_cache_requests_cached", 0)
    local = counters.get("local_cache_requests", 0)
    local_hits = counters.get("local_cache_requests_cached", 0)
    ran = processes_ran(counters)
    started = counters.get("local_execution_requests", 0)
    return {
        "remote_lookups": remote,
        "remote_hits": remote_hits,
        "remote_misses": counters.get("remote_cache_requests_uncached", 0),
        # Share of the processes Pants may cache remotely that the remote cache served.
        "remote_hit_rate": rate(remote_hits, remote),
        "remote_read_errors": counters.get("remote_cache_read_errors", 0),
        "remote_timeouts": counters.get("remote_cache_request_timeouts", 0),
        "remote_writes": counters.get("remote_cache_write_successes", 0),
        "remote_write_errors": counters.get("remote_cache_write_errors", 0),
        "local_lookups": local,
        "local_hits": local_hits,
        "local_hit_rate": rate(local_hits, local),
        # Local runs that finished (their result was used), and those started and cancelled
        # (a remote hit came back first, or Pants restarted them; None: unknown, see
        # processes_ran).
        "processes_run_locally": ran,
        "local_runs_started": started,
        "local_runs_cancelled": None if ran is None else started - ran,
        "counters": counters,
    }


def language_of(adv_key: str) -> str:
    return LANGUAGES.get(adv_key.split(" ")[0], adv_key)


@dataclass
class SccacheTotals:
    builds_compiled: int = 0
    compiled: list[str] = field(default_factory=list)  # which: their stats files' names
    builds_replayed: int = 0
    builds_without_sccache: int = 0  # its store was unreachable: compiled locally
    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)
    compilations: int = 0
    not_cacheable: int = 0
    errors: int = 0
    locations: set[str] = field(default_factory=set)

    def add(self, document: dict) -> None:
        stats = document.get("sccache", {}).get("stats", {})
        self.builds_compiled += 1
        if document.get("error"):
            self.builds_without_sccache += 1
        for key, count in stats.get("cache_hits", {}).get("adv_counts", {}).items():
            self.hits[language_of(key)] = self.hits.get(language_of(key), 0) + count
        for key, count in stats.get("cache_misses", {}).get("adv_counts", {}).items():
            self.misses[language_of(key)] = self.misses.get(language_of(key), 0) + count
        self.compilations += stats.get("compilations", 0)
        self.not_cacheable += stats.get("non_cacheable_compilations", 0) + stats.get(
            "requests_not_cacheable", 0
        )
        self.errors += stats.get("cache_read_errors", 0) + stats.get("cache_write_errors", 0)
        location = document.get("sccache", {}).get("cache_location")
        if location:
            self.locations.add(location)

    def as_dict(self) -> dict:
        hits, misses = sum(self.hits.values()), sum(self.misses.values())
        languages = sorted(set(self.hits) | set(self.misses))
        return {
            "builds_compiled": self.builds_compiled,
            "compiled": self.compiled,
            "builds_replayed": self.builds_replayed,
            "builds_without_sccache": self.builds_without_sccache,
            "hits": hits,
            "misses": misses,
            "hit_rate": rate(hits, hits + misses),
            # Compiler runs: misses plus what sccache could not cache (links).
            "compilations": self.compilations,
            "not_cacheable_requests": self.not_cacheable,
            "cache_errors": self.errors,
            "by_language": {
                lang: {"hits": self.hits.get(lang, 0), "misses": self.misses.get(lang, 0)}
                for lang in languages
            },
            "locations": sorted(self.locations),
        }


def sccache_summary(stats_dir: Path, since: float) -> dict:
    """sccache's figures for the wheel builds of the run that started at `since`.

    Pants writes each package's files to dist/ in every run that asks for it: a stats file
    older than the run belongs to another run; one written now but made by an earlier build
    was replayed from a cache."""
    totals = SccacheTotals()
    for path in sorted(stats_dir.glob("*.json")) if stats_dir.is_dir() else ():
        if path.stat().st_mtime < since:
            continue
        document = json.loads(path.read_text())
        if document.get("built_at", 0) >= since:
            totals.add(document)
            totals.compiled.append(path.stem)
        else:
            totals.builds_replayed += 1
    return totals.as_dict()


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def processes(pants: dict) -> str:
    ran, cancelled = pants["processes_run_locally"], pants["local_runs_cancelled"]
    if ran is None:
        return (
            f"{pants['local_runs_started']} local runs started, some cancelled by remote hits "
            "(with the local cache off, Pants' counters do not say how many)"
        )
    return f"{ran} processes ran" + (
        f" ({cancelled} more local runs started and were cancelled)" if cancelled else ""
    )


def render(summary: dict) -> str:
    pants, sccache = summary["pants"], summary["sccache"]
    lines = [
        "cache summary",
        f"  Pants remote cache: {pants['remote_hits']}/{pants['remote_lookups']} hits "
        f"({percent(pants['remote_hit_rate'])}), {pants['remote_misses']} misses, "
        f"{pants['remote_read_errors']} read errors, {pants['remote_writes']} writes",
        f"  Pants local cache:  {pants['local_hits']}/{pants['local_lookups']} hits "
        f"({percent(pants['local_hit_rate'])}); {processes(pants)}",
    ]
    by_language = ", ".join(
        f"{lang} {c['hits']}/{c['hits'] + c['misses']}"
        for lang, c in sccache["by_language"].items()
    )
    lines.append(
        f"  sccache: {sccache['builds_compiled']} wheel builds compiled, "
        f"{sccache['builds_replayed']} replayed from Pants' cache, "
        f"{sccache['builds_without_sccache']} without sccache (store unreachable); "
        f"{sccache['hits']}/{sccache['hits'] + sccache['misses']} hits "
        f"({percent(sccache['hit_rate'])}){': ' + by_language if by_language else ''}; "
        f"{sccache['compilations']} compiler runs"
    )
    return "\n".join(lines)


def summarize(log: str, stats_dir: Path, since: float) -> dict:
    return {
        "pants": pants_summary(pants_counters(log)),
        "sccache": sccache_summary(stats_dir, since),
    }


def with_stats_log(command: list[str]) -> list[str]:
    if command and Path(command[0]).name == "pants" and "--stats-log" not in command:
        return [command[0], "--stats-log", *command[1:]]
    return command


# What `--stats-log` makes Pants 2.17 print when `hdrhistogram` is not among its plugins (it
# wants it for histograms this summary does not use): not a problem of the run, so not shown.
STATS_LOG_WARNING = "[WARN] Please run with `--plugins=hdrhistogram`"


def run_and_capture(command: list[str]) -> tuple[int, str]:
    """Runs the command with its output shown (less STATS_LOG_WARNING if this script added
    `--stats-log`), and returns its exit code and stderr."""
    hide_stats_warning = with_stats_log(command) != command
    command = with_stats_log(command)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    captured = []
    for line in process.stderr:
        captured.append(line)
        if not (hide_stats_warning and STATS_LOG_WARNING in line):
            sys.stderr.write(line)
    return process.wait(), "".join(captured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=Path("dist/cache-summary.json"))
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="Pants' distdir")
    parser.add_argument("--pants-log", type=Path, help="a saved run's stderr, instead of a run")
    parser.add_argument("--since", type=float, default=0.0, help="with --pants-log: run start")
    parser.add_argument("command", nargs="*", help="the Pants command to run, after --")
    args = parser.parse_args(argv)
    if bool(args.pants_log) == bool(args.command):
        parser.error("give either a command to run (after --) or --pants-log FILE")
    exit_code = 0
    if args.command:
        since = time.time()
        exit_code, log = run_and_capture(args.command)
    else:
        since, log = args.since, args.pants_log.read_text()
    summary = summarize(log, args.dist / "sccache-stats", since)
    if not summary["pants"]["counters"]:
        print("cache summary: no Pants counters in the log (was --stats-log given?)")
    print(render(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
