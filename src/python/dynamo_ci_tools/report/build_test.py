"""The comparison report over soak results of two real images (testdata/, see its README)."""

import json
import re
import struct
from pathlib import Path

import pytest

from dynamo_ci_tools.report import build

TESTDATA = Path(__file__).parent / "testdata"
RESULTS = [str(TESTDATA / "dynamo.json"), str(TESTDATA / "vllm.json")]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_report_compares_the_two_images(tmp_path, capsys):
    assert build.main([*RESULTS, "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    results = [json.loads(Path(p).read_text()) for p in RESULTS]
    # Every plot is written, is a real PNG, and is linked from the markdown.
    for name in build.PLOTS.values():
        width, height = png_size(out / name)
        assert width > 300 and height > 200
        assert f"]({name})" in report
    # One row per image, with its figures as the results have them.
    for data in results:
        label = data["label"]
        row = next(line for line in report.splitlines() if line.startswith(f"| {label} | "))
        assert f"{data['requests']['ok']}/{data['requests']['total']}" in row
        latency_row = [
            line for line in report.splitlines() if line.startswith(f"| {label} | ")
        ][1]
        cells = [c.strip() for c in latency_row.strip("|").split("|")]
        expected = [
            f"{data[key][q]:.1f}"
            for key in ("ttft_ms", "itl_ms", "latency_ms")
            for q in ("p50", "p90", "p99")
        ]
        assert cells == [label, *expected]
    # Reported-vs-measured: the requests row shows both images' counts and differences.
    row = next(line for line in report.splitlines() if line.startswith("| requests |"))
    for data in results:
        r = next(x for x in data["frontend_metrics"]["vs_measured"] if x["figure"] == "requests")
        assert f"{r['reported']:.6g} / {r['measured']:.6g} ({r['difference_pct']:+.1f}%)" in row
    assert re.search(r"report\.md: 2 runs, plots: .*ttft\.png", capsys.readouterr().out)


def test_the_testdata_are_streaming_results_of_the_two_images():
    labels = []
    for path in RESULTS:
        data = build.load(path)
        labels.append(data["label"])
        assert data["stream"] is True and data["requests"]["failed"] == 0
        assert data["ttft_ms"]["p50"] > 0 and data["itl_ms"]["p50"] > 0
        assert "error" not in data["frontend_metrics"]
    assert labels == ["dynamo", "vllm"]


def test_non_streaming_results_and_missing_metrics_are_shown_as_missing(tmp_path):
    data = json.loads(Path(RESULTS[0]).read_text())
    plain = {k: v for k, v in data.items() if k not in ("ttft_ms", "itl_ms", "output_tokens",
                                                         "output_tokens_per_s")}  # fmt: skip
    plain.update(stream=False, label="plain", frontend_metrics={"url": "u", "error": "boom"})
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    report = build.write([str(tmp_path / "plain.json")], tmp_path / "out").read_text()
    assert "_(no ttft plot: no run has these figures)_" in report
    assert "- plain: no frontend metrics (boom)" in report
    assert not (tmp_path / "out" / "ttft.png").exists()
    assert (tmp_path / "out" / "throughput.png").exists()


def test_the_same_label_twice_is_told_apart_and_a_bad_file_is_named(tmp_path, capsys):
    runs = build.labelled([(p, build.load(p)) for p in (RESULTS[0], RESULTS[0])])
    assert [label for label, _ in runs] == ["dynamo", "dynamo (2)"]
    (tmp_path / "x.json").write_text("{}")
    assert build.main([str(tmp_path / "x.json"), "--out", str(tmp_path / "o")]) == 1
    assert "x.json is not a soak result" in capsys.readouterr().err
    with pytest.raises(build.ReportError, match="cannot read"):
        build.load(str(tmp_path / "missing.json"))
