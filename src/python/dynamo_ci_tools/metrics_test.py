import json
import re

import pytest

from dynamo_ci_tools import cli, metrics


def snapshot_main(url: str, out, *args: str) -> int:
    return cli.main(["metrics", "snapshot", "--url", url, "--out", str(out), *args])


def page_snapshot(label: str, page: str) -> dict:
    return metrics.snapshot(f"http://{label}:8000/metrics", label, page, taken_at=0.0)


def test_snapshot_of_a_frontend(frontend, tmp_path, capsys):
    out = tmp_path / "snaps" / "vllm.json"
    assert snapshot_main(frontend.url + "/metrics", out, "--label", "vllm") == cli.EXIT_OK
    data = json.loads(out.read_text())
    assert data["format"] == metrics.SNAPSHOT_FORMAT
    assert data["label"] == "vllm" and data["url"] == frontend.url + "/metrics"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["time"])
    families = data["families"]
    assert list(families) == [
        "dynamo_frontend_requests_total",
        "dynamo_frontend_request_duration_seconds",
        "dynamo_frontend_inflight_requests",
    ]
    assert families["dynamo_frontend_requests_total"]["help"] == (
        "Total LLM requests processed"
    )
    histogram = families["dynamo_frontend_request_duration_seconds"]
    assert histogram["type"] == "histogram" and len(histogram["samples"]) == 4
    assert histogram["samples"][1]["labels"] == {"model": "qwen", "le": "+Inf"}
    assert families["dynamo_frontend_inflight_requests"]["samples"][0]["value"] == "NaN"
    assert f"3 metric families, 7 samples from {frontend.url}/metrics (vllm, " in (
        capsys.readouterr().out
    )


def test_the_label_defaults_to_host_and_port(frontend, tmp_path):
    out = tmp_path / "s.json"
    assert snapshot_main(frontend.url + "/metrics", out) == cli.EXIT_OK
    assert json.loads(out.read_text())["label"] == frontend.url.split("//")[1]


def test_an_unreachable_page_is_named(unreachable_url, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert snapshot_main(unreachable_url + "/metrics", out) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"cannot fetch {unreachable_url}/metrics: " in err and "Connection refused" in err
    assert not out.exists()


def test_an_http_error_is_named(frontend, tmp_path, capsys):
    assert snapshot_main(frontend.url + "/metricz", tmp_path / "s.json") == cli.EXIT_FAILED
    assert f"cannot fetch {frontend.url}/metricz: HTTP 404 Not Found" in capsys.readouterr().err


def test_a_broken_page_names_the_url_and_the_line(frontend, tmp_path, capsys):
    frontend.metrics_page = "# TYPE ok gauge\nok 1\nbroken{a=1} 2\n"
    assert snapshot_main(frontend.url + "/metrics", tmp_path / "s.json") == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"{frontend.url}/metrics is not a valid Prometheus text page: line 3: " in err


VLLM = """\
# TYPE requests_total counter
requests_total{model="a",status="ok"} 10
requests_total{model="a",status="error"} 2
# TYPE duration_seconds histogram
duration_seconds_bucket{model="a",le="1"} 8
duration_seconds_bucket{model="a",le="+Inf"} 12
duration_seconds_sum{model="a"} 6
duration_seconds_count{model="a"} 12
# TYPE vllm_only gauge
vllm_only 1
"""
SGLANG = """\
# TYPE requests_total counter
requests_total{model="b",status="ok"} 15
requests_total{model="b",status="error"} 0
# TYPE duration_seconds histogram
duration_seconds_bucket{model="b",le="1"} 14
duration_seconds_bucket{model="b",le="+Inf"} 15
duration_seconds_sum{model="b"} 3
duration_seconds_count{model="b"} 15
# TYPE sglang_only gauge
sglang_only NaN
"""


def test_compare_families_present_in_each():
    result = metrics.compare([page_snapshot("vllm", VLLM), page_snapshot("sglang", SGLANG)])
    assert [(f["family"], f["in"]) for f in result["families"]] == [
        ("requests_total", ["vllm", "sglang"]),
        ("duration_seconds", ["vllm", "sglang"]),
        ("vllm_only", ["vllm"]),
        ("sglang_only", ["sglang"]),
    ]
    # Different models: no common series until the model label is ignored.
    assert result["series"] == []
    assert len(result["partial_series"]) == 8


def test_compare_ignoring_a_label_gives_values_and_deltas_without_buckets():
    snaps = [page_snapshot("vllm", VLLM), page_snapshot("sglang", SGLANG)]
    result = metrics.compare(snaps, ignore_labels=["model"])
    rows = {(r["sample"], r["labels"]): (r["values"], r["deltas"]) for r in result["series"]}
    assert rows == {
        ("requests_total", 'status="ok"'): ([10, 15], [5]),
        ("requests_total", 'status="error"'): ([2, 0], [-2]),
        ("duration_seconds_sum", ""): ([6, 3], [-3]),
        ("duration_seconds_count", ""): ([12, 15], [3]),
    }
    assert [r["relative"] for r in result["series"]] == [[0.5], [-1.0], [-0.5], [0.25]]
    assert result["partial_series"] == []
    with_buckets = metrics.compare(snaps, ignore_labels=["model"], buckets=True)
    assert ("duration_seconds_bucket", 'le="+Inf"') in {
        (r["sample"], r["labels"]) for r in with_buckets["series"]
    }


def test_ignored_labels_that_collapse_series_are_summed():
    a = page_snapshot("a", 'x{model="p",gpu="0"} 1\nx{model="p",gpu="1"} 2\n')
    b = page_snapshot("b", 'x{model="q",gpu="0"} 4\n')
    result = metrics.compare([a, b], ignore_labels=["model", "gpu"])
    assert [(r["values"], r["deltas"]) for r in result["series"]] == [([3, 4], [1])]


def test_compare_three_snapshots_against_the_first_and_a_zero_base():
    snaps = [page_snapshot(n, f"x {v}\n") for n, v in (("a", 0), ("b", 2), ("c", "NaN"))]
    (row,) = metrics.compare(snaps)["series"]
    assert row["deltas"][0] == 2 and row["relative"] == [None, None]
    table = metrics.render_comparison(metrics.compare(snaps))
    assert re.search(r"^x +0 +2 +NaN +2 +- +NaN +-$", table, re.MULTILINE), table
    assert "delta b  % b  delta c  % c" in table


def test_compare_match_keeps_only_matching_families():
    snaps = [page_snapshot("vllm", VLLM), page_snapshot("sglang", SGLANG)]
    result = metrics.compare(snaps, match="^dur")
    assert [f["family"] for f in result["families"]] == ["duration_seconds"]


def test_same_labels_are_told_apart():
    result = metrics.compare([page_snapshot("x", "m 1\n"), page_snapshot("x", "m 1\n")])
    assert [s["label"] for s in result["snapshots"]] == ["x", "x (2)"]


def test_compare_command_prints_a_table_and_writes_json(tmp_path, capsys):
    paths = []
    for label, page in (("vllm", VLLM), ("sglang", SGLANG)):
        path = tmp_path / f"{label}.json"
        metrics.write_json(page_snapshot(label, page), str(path))
        paths.append(str(path))
    out = tmp_path / "cmp.json"
    argv = ["metrics", "compare", *paths, "--ignore-label", "model", "--json", str(out)]
    assert cli.main(argv) == cli.EXIT_OK
    table = capsys.readouterr().out
    assert "metric families: 2 in all 2 snapshots, 2 only in some" in table
    assert re.search(r"^vllm_only +yes +-$", table, re.MULTILINE), table
    assert re.search(r"^sglang_only +- +yes$", table, re.MULTILINE), table
    assert "values (deltas against vllm)" in table
    assert re.search(r'^requests_total\{status="ok"\} +10 +15 +5 +\+50\.0%$', table, re.M), table
    data = json.loads(out.read_text())
    assert [s["label"] for s in data["snapshots"]] == ["vllm", "sglang"]
    assert data["series"][0]["values"] == [10, 15]


def test_comparison_json_is_strict():
    snaps = [page_snapshot("a", "x NaN\ny +Inf\n"), page_snapshot("b", "x 1\ny +Inf\n")]
    data = metrics.comparison_to_json(metrics.compare(snaps))
    json.dumps(data, allow_nan=False)
    assert [r["values"] for r in data["series"]] == [["NaN", 1.0], ["+Inf", "+Inf"]]
    assert data["series"][1]["deltas"] == ["NaN"]


def test_compare_refuses_files_that_are_not_snapshots(tmp_path, capsys):
    good = tmp_path / "good.json"
    metrics.write_json(page_snapshot("a", "x 1\n"), str(good))
    other = tmp_path / "soak.json"
    other.write_text('{"requests": {}}')
    assert cli.main(["metrics", "compare", str(good), str(other)]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"{other} is not a metrics snapshot" in err and "metrics snapshot --url" in err
    missing = tmp_path / "missing.json"
    assert cli.main(["metrics", "compare", str(good), str(missing)]) == cli.EXIT_FAILED
    assert f"cannot read snapshot {missing}" in capsys.readouterr().err


def test_compare_needs_two_snapshots(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["metrics", "compare", str(tmp_path / "one.json")])
    assert exit.value.code == 2
    assert "needs two or more snapshots" in capsys.readouterr().err


def test_a_bad_match_pattern_is_refused(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["metrics", "compare", "a.json", "b.json", "--match", "("])
    assert exit.value.code == 2 and "is not a regular expression" in capsys.readouterr().err
