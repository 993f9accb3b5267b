from __future__ import annotations

from pathlib import Path

from dynamo_benchmarks import report
from dynamo_benchmarks.layers import CATEGORIES


def results(family: list[float], python: list[float], cold_ours: float) -> dict:
    categories = dict.fromkeys(CATEGORIES, 0)
    categories.update({"base": 120_000_000, "torch + CUDA": 4_000_000_000})
    return {
        "backend": "dynamo",
        "repeat": 3,
        "command": "./pants run benchmarks:bench -- --cold",
        "environment": {"date": "2026-11-26 06:00", "machine": "2 CPUs", "commit": "abc"},
        "scenarios": {
            "cold": {"ours": [cold_ours], "baseline": [600.0]},
            "noop": {"ours": [1.0, 1.2, 5.0], "baseline": [4.0, 4.0, 4.0]},
            "python-change": {"ours": python, "baseline": [90.0, 95.0, 100.0]},
            "cpp-change": {
                "ours": [20.0, 21.0, 22.0],
                "baseline": [40.0, 41.0, 42.0],
                "compiled": [["src.cpp.hostxfer.wheel"]] * 3,
                "sccache": ["0 hits, 1 misses (C++ 1)"] * 3,
            },
            "family-noop": {"ours": family},
            "fresh-remote": {
                "ours": [100.0],
                "baseline": [400.0],
                "pull": [90.0],
                "bytes": {
                    "ours": {"registry": 5_000_000_000, "remote_store": 3_000_000},
                    "baseline": {"registry": 5_200_000_000},
                    "pull": {"registry": 5_000_000_000},
                },
                "docker_builds": {
                    "ours": [],
                    "baseline_steps": {"dynamo": {"cached": 9, "ran": 2}},
                },
                "family": {
                    "images": {},
                    "sum_of_images": 9_000_000_000,
                    "unique": 5_000_000_000,
                    "pulled_by_ours": 5_000_000_000,
                },
                "note": "",
            },
        },
        "sizes": [
            {
                "label": "ours dynamo:runtime",
                "image": "x",
                "size": 4_200_000_000,
                "categories": categories,
            },
        ],
    }


def test_medians_and_ratios_ours_over_baseline() -> None:
    rows = {row["name"]: row for row in report.scenario_rows(results([2.0], [10.0], 300.0))}
    assert rows["noop"]["ours"] == 1.2  # the median, not the mean
    assert rows["noop"]["ratio"] == 1.2 / 4.0
    assert rows["cold"]["ratio"] == 0.5
    assert rows["family-noop"]["baseline"] is None and rows["family-noop"]["ratio"] is None


def test_targets_met_and_missed_are_both_reported() -> None:
    met = "\n".join(report.verdicts(results([1.5, 1.7, 1.6], [20.0, 25.0, 30.0], 300.0)))
    assert "whole family: 1.60 s (target at most 3 s: met)" in met
    assert "8.3% of the cold build (target at most 10%: met)" in met
    assert "src.cpp.hostxfer.wheel" in met
    missed = "\n".join(report.verdicts(results([3.5], [60.0], 300.0)))
    assert "NOT met" in missed
    assert "20.0% of the cold build" in missed
    slower = "\n".join(report.verdicts(results([1.0], [200.0], 300.0)))
    assert "NOT faster" in slower  # python-change: 200 s against the baseline's 95 s


def test_fresh_remote_reports_both_goals_bytes_and_builds() -> None:
    text = "\n".join(report.verdicts(results([1.6], [20.0], 300.0)))
    assert "1.11x a plain `docker pull` (90.00 s" not in text  # seconds() rounds: 90 s
    assert "ours 100 s, 1.11x a plain `docker pull` (90 s; target at most 1.2x: met)" in text
    assert "0.25x the baseline built --cache-from its inline cache (400 s; target" in text
    assert "`docker build`s run by ours on the new machine: 0 (target 0)" in text
    assert "9 from its cache, 2 run" in text
    assert "ours 5.00 GB from the registry and 3.0 MB from the remote cache" in text
    assert "9.00 GB if each image were pulled alone, 5.00 GB unique" in text


def test_the_report_has_its_tables_and_plots(tmp_path: Path) -> None:
    path = report.write(results([1.6], [20.0], 300.0), tmp_path)
    text = path.read_text()
    assert "| no-op rebuild (runtime + dev) | 3 | 1.20 s | 4.00 s | 0.300 |" in text
    assert "| ours dynamo:runtime | 4.20 GB | 120 MB |" in text
    for png in ("scenarios.png", "sizes.png"):
        assert f"]({png})" in text
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
