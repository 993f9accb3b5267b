"""--stream: TTFT/ITL maths, tokens from the stream, errors by kind, the /metrics window."""

import json

import pytest

from dynamo_ci_tools import cli, metrics, reported, soak
from dynamo_ci_tools.conftest import STREAM_ITL_S, STREAM_TTFT_S
from dynamo_ci_tools.soak import Outcome, Report, Settings


def stream_settings(url: str, model: str, **kw) -> Settings:
    return Settings(url, model, stream=True, **{"requests": 2, "concurrency": 1, **kw})


def test_ttft_itl_and_tokens_are_computed_from_the_outcomes():
    outcomes = [
        Outcome(0.5, ttft_s=0.1, itl_s=(0.01, 0.03), content_chunks=3, completion_tokens=3),
        Outcome(0.7, ttft_s=0.3, itl_s=(0.02,), content_chunks=2, completion_tokens=4),
        Outcome(9.0, error="stream ended without [DONE] after 1 content chunks", kind="cut_stream"),
        Outcome(1.0, error="timed out", kind="timeout"),
        Outcome(1.0, error="timed out", kind="timeout"),
    ]
    data = Report(Settings("http://h:1", "m", stream=True), 2.0, outcomes).to_json()
    assert data["ttft_ms"]["p50"] == pytest.approx(200.0)
    assert data["ttft_ms"]["min"] == pytest.approx(100.0)
    # ITL pools every gap of every successful request: 10, 20, 30 ms.
    assert data["itl_ms"]["p50"] == pytest.approx(20.0)
    assert data["itl_ms"]["p90"] == pytest.approx(28.0)
    assert data["itl_ms"]["max"] == pytest.approx(30.0)
    assert data["latency_ms"]["max"] == pytest.approx(700.0)  # failures are not in it
    assert data["output_tokens"] == {"content_chunks": 5, "usage": 7}
    assert data["output_tokens_per_s"] == {"content_chunks": 2.5, "usage": 3.5}
    assert data["errors_by_kind"] == {
        "connection": 0,
        "http": 0,
        "bad_response": 0,
        "cut_stream": 1,
        "timeout": 2,
    }


def test_a_stream_is_timed_and_its_tokens_counted(frontend):
    settings = stream_settings(frontend.url, "ok", requests=4, concurrency=2, max_tokens=5)
    report = soak.run(settings)
    data = report.to_json()
    assert data["requests"] == {"total": 4, "ok": 4, "failed": 0}, data["errors"]
    # The fake sends the first chunk after 200 ms, then one every 50 ms.
    assert STREAM_TTFT_S * 1000 <= data["ttft_ms"]["p50"] < STREAM_TTFT_S * 1000 + 100
    assert STREAM_ITL_S * 1000 <= data["itl_ms"]["p50"] < STREAM_ITL_S * 1000 + 40
    assert len([gap for o in report.ok for gap in o.itl_s]) == 4 * 4
    expected_latency = (STREAM_TTFT_S + 4 * STREAM_ITL_S) * 1000
    assert expected_latency <= data["latency_ms"]["p50"] < expected_latency + 150
    assert data["output_tokens"] == {"content_chunks": 20, "usage": 20}
    # Keep-alive survives streams: one connection per worker.
    assert len(frontend.client_ports) <= 2
    path, body = frontend.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_without_the_usage_chunk_tokens_come_from_the_stream_only(frontend):
    report = soak.run(stream_settings(frontend.url, "ok", max_tokens=3, include_usage=False))
    assert "stream_options" not in frontend.requests[0][1]
    assert report.to_json()["output_tokens"] == {"content_chunks": 6, "usage": None}


@pytest.mark.parametrize(
    ("model", "kind", "message"),
    [
        ("no-done", "cut_stream", "stream ended without [DONE] after 4 content chunks"),
        ("cut", "cut_stream", "stream dropped after 2 content chunks: "),
        ("stall", "timeout", "timed out"),
        ("bad-event", "bad_response", "stream event is not JSON: b'{not json'"),
        ("error-event", "bad_response", 'error event in the stream: {"error": '),
        ("no-stream", "bad_response", "not an event stream: Content-Type application/json"),
        ("flaky", "http", "HTTP 500 Internal Server Error: engine exploded"),
        ("missing", "http", "HTTP 404 Not Found: "),
    ],
)
def test_broken_streams_are_counted_by_kind(frontend, model, kind, message):
    settings = stream_settings(frontend.url, model, max_tokens=4, timeout_s=0.5)
    report = soak.run(settings)
    data = report.to_json()
    expected_failed = 1 if model == "flaky" else 2
    assert data["requests"]["failed"] == expected_failed, data
    assert data["errors_by_kind"][kind] == expected_failed
    assert sum(data["errors_by_kind"].values()) == expected_failed
    assert all(e["message"].startswith(message) for e in data["errors"]), data["errors"]


def test_a_cut_stream_fails_the_run_and_is_reported(frontend, tmp_path, capsys):
    out = tmp_path / "soak.json"
    args = ["--model", "cut", "--stream", "--requests", "3", "--max-tokens", "4"]
    assert cli.main(["soak", "--url", frontend.url, *args, "--json", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["errors_by_kind"]["cut_stream"] == 3 and data["ttft_ms"] is None
    assert "failed by kind  cut_stream 3" in capsys.readouterr().out


def snapshot(text: str) -> dict:
    return metrics.snapshot("http://h/metrics", "x", text, taken_at=0)


def test_the_metrics_window_is_the_difference_for_the_model():
    before = snapshot(
        'dynamo_frontend_requests_total{model="m",status="success"} 5\n'
        'dynamo_frontend_requests_total{model="n",status="success"} 50\n'
        'dynamo_frontend_output_tokens_total{model="m"} 40\n'
        'dynamo_frontend_time_to_first_token_seconds_sum{model="m"} 1.0\n'
        'dynamo_frontend_time_to_first_token_seconds_count{model="m"} 5\n'
    )
    after = snapshot(
        'dynamo_frontend_requests_total{model="m",status="success"} 13\n'
        'dynamo_frontend_requests_total{model="m",status="error"} 2\n'
        'dynamo_frontend_requests_total{model="n",status="success"} 70\n'
        'dynamo_frontend_output_tokens_total{model="m"} 120\n'
        'dynamo_frontend_time_to_first_token_seconds_sum{model="m"} 3.0\n'
        'dynamo_frontend_time_to_first_token_seconds_count{model="m"} 13\n'
    )
    w = reported.window(before, after, "m")
    assert w["requests"] == 10 and w["requests_by_status"] == {"error": 2, "success": 8}
    assert w["output_tokens"] == 80
    assert w["ttft_count"] == 8 and w["ttft_mean_ms"] == pytest.approx(250.0)
    assert w["itl_mean_ms"] is None and w["latency_mean_ms"] is None  # not on the page
    measured = {
        "requests": {"total": 10, "ok": 8},
        "output_tokens": {"content_chunks": 64, "usage": 80},
        "ttft_ms": {"mean": 200.0},
        "itl_ms": None,
        "latency_ms": {"mean": 300.0},
    }
    rows = {r["figure"]: r for r in reported.versus_measured(w, measured)}
    assert rows["requests"]["difference_pct"] == 0.0
    assert rows["output tokens (usage)"]["difference_pct"] == 0.0
    assert rows["output tokens (content chunks)"]["difference_pct"] == pytest.approx(25.0)
    assert rows["mean TTFT ms"]["difference_pct"] == pytest.approx(25.0)
    assert set(rows) == {
        "requests",
        "successful requests",
        "output tokens (usage)",
        "output tokens (content chunks)",
        "mean TTFT ms",
    }


def run_with_metrics(frontend, tmp_path, *extra: str) -> dict:
    out = tmp_path / "soak.json"
    frontend.live_metrics = True
    frontend.count("requests_success", 7)  # before the soak: not in its window
    frontend.count("tokens", 70)
    args = ["--model", "ok", "--stream", "--requests", "6", "--concurrency", "3"]
    code = cli.main(["soak", "--url", frontend.url, *args, "--max-tokens", "4", *extra])
    assert code == 0
    return json.loads(out.read_text())


def test_the_frontend_metrics_over_the_soak_are_written_next_to_the_results(
    frontend, tmp_path, capsys
):
    out = tmp_path / "soak.json"
    data = run_with_metrics(frontend, tmp_path, "--json", str(out), "--label", "fake")
    assert data["label"] == "fake"
    section = data["frontend_metrics"]
    assert section["reported"]["requests"] == 6
    assert section["reported"]["output_tokens"] == 24
    assert section["reported"]["itl_count"] == 6 * 3
    rows = {r["figure"]: r for r in section["vs_measured"]}
    assert rows["requests"] == {
        "figure": "requests",
        "reported": 6,
        "measured": 6,
        "difference_pct": 0.0,
    }
    assert rows["output tokens (content chunks)"]["difference_pct"] == 0.0
    # The fake times its own chunks: the same gaps as the client's, give or take scheduling.
    assert abs(rows["mean ITL ms"]["difference_pct"]) < 30
    assert rows["mean TTFT ms"]["reported"] >= STREAM_TTFT_S * 1000
    # Both snapshots, as `metrics compare` reads them.
    before = json.loads((tmp_path / "soak.metrics-before.json").read_text())
    after = json.loads((tmp_path / "soak.metrics-after.json").read_text())
    assert before["label"] == "before" and after["label"] == "after"
    assert "reported vs measured" in capsys.readouterr().out


def test_a_miscounting_frontend_shows_as_a_difference(frontend, tmp_path):
    frontend.metrics_scale = 1.5
    out = tmp_path / "soak.json"
    data = run_with_metrics(frontend, tmp_path, "--json", str(out))
    rows = {r["figure"]: r for r in data["frontend_metrics"]["vs_measured"]}
    assert rows["requests"]["reported"] == 9 and rows["requests"]["measured"] == 6
    assert rows["requests"]["difference_pct"] == pytest.approx(50.0)
    assert rows["output tokens (usage)"]["difference_pct"] == pytest.approx(50.0)


def test_a_missing_metrics_page_is_reported_not_fatal(frontend, tmp_path):
    out = tmp_path / "soak.json"
    url = frontend.url + "/nothing"
    code = cli.main(
        ["soak", "--url", frontend.url, "--model", "ok", "--requests", "1",
         "--metrics-url", url, "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    section = json.loads(out.read_text())["frontend_metrics"]
    error = f"before the soak: cannot fetch {url}: HTTP 404 Not Found"
    assert section == {"url": url, "error": error}
    assert not (tmp_path / "soak.metrics-before.json").exists()


def test_no_metrics_reads_no_page_and_writes_no_snapshots(frontend, tmp_path):
    frontend.metrics_page = "not a prometheus page {"  # would be an error if it were read
    out = tmp_path / "soak.json"
    args = ["--model", "ok", "--requests", "2", "--no-metrics", "--json", str(out)]
    assert cli.main(["soak", "--url", frontend.url, *args]) == 0
    data = json.loads(out.read_text())
    assert "frontend_metrics" not in data and data["stream"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soak.json"]
