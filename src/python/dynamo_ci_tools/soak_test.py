import json
import re
import time

import pytest

from dynamo_ci_tools import cli, soak
from dynamo_ci_tools.soak import Outcome, Report, Settings, percentile


def soak_main(url: str, *args: str) -> int:
    return cli.main(["soak", "--url", url, *args])


@pytest.mark.parametrize(
    ("q", "expected"), [(0, 1.0), (50, 5.5), (90, 9.1), (99, 9.91), (100, 10.0)]
)
def test_percentile_interpolates_between_ranks(q, expected):
    assert percentile([float(v) for v in range(1, 11)], q) == pytest.approx(expected)


def test_percentile_of_one_value_and_of_none():
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_report_numbers():
    outcomes = [Outcome(0.1 * i, completion_tokens=10) for i in range(1, 5)]
    outcomes += [Outcome(9.0, error="HTTP 500"), Outcome(0.2, error="timed out")]
    outcomes += [Outcome(0.3, error="HTTP 500")]
    report = Report(Settings("http://h:1", "m"), duration_s=2.0, outcomes=outcomes)
    data = report.to_json()
    assert data["requests"] == {"total": 7, "ok": 4, "failed": 3}
    assert data["error_rate"] == pytest.approx(3 / 7)
    assert data["requests_per_s"] == 2.0
    assert data["completion_tokens"] == 40 and data["completion_tokens_per_s"] == 20.0
    # Latency is over the successful requests only: the 9 s failure is not in it.
    assert data["latency_ms"]["max"] == pytest.approx(400.0)
    assert data["latency_ms"]["mean"] == pytest.approx(250.0)
    assert data["latency_ms"]["p50"] == pytest.approx(250.0)
    assert data["errors"] == [
        {"message": "HTTP 500", "count": 2},
        {"message": "timed out", "count": 1},
    ]


def test_only_the_first_few_distinct_errors_are_kept():
    outcomes = [Outcome(0.1, error=f"error {i}") for i in range(8)]
    report = Report(Settings("http://h:1", "m"), 1.0, outcomes)
    assert [m for m, _ in report.errors()] == [f"error {i}" for i in range(soak.ERRORS_SHOWN)]
    assert "(first 5 distinct errors shown)" in soak.render(report)


def test_request_bodies_and_paths(frontend):
    settings = Settings(frontend.url + "/", "ok", "chat", requests=1, max_tokens=7, prompt="hi")
    assert soak.run(settings).failed == 0
    completions = Settings(frontend.url, "ok", "completions", requests=1, prompt="hi")
    assert soak.run(completions).failed == 0
    assert frontend.requests == [
        (
            "/v1/chat/completions",
            {
                "model": "ok",
                "max_tokens": 7,
                "stream": False,
                "messages": [{"role": "user", "content": "hi"}],
            },
        ),
        ("/v1/completions", {"model": "ok", "max_tokens": 32, "stream": False, "prompt": "hi"}),
    ]


def test_soak_reports_latency_throughput_and_tokens(frontend, tmp_path, capsys):
    out = tmp_path / "results" / "soak.json"
    code = soak_main(
        frontend.url,
        *("--model", "ok", "--requests", "40", "--concurrency", "4", "--max-tokens", "5"),
        *("--json", str(out)),
    )
    assert code == cli.EXIT_OK
    assert len(frontend.requests) == 40
    # Each worker keeps one keep-alive connection.
    assert len(frontend.client_ports) <= 4
    data = json.loads(out.read_text())
    assert data["requests"] == {"total": 40, "ok": 40, "failed": 0}
    assert data["url"] == frontend.url + "/v1/chat/completions"
    assert data["completion_tokens"] == 200 and data["responses_with_usage"] == 40
    assert data["completion_tokens_per_s"] > 0 and data["requests_per_s"] > 0
    latency = data["latency_ms"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"]
    assert latency["p99"] <= latency["max"]
    table = capsys.readouterr().out
    for row in (
        r"requests +40 \(40 ok, 0 failed\)$",
        r"tokens +[0-9.]+ completion tokens/s \(200 in total\)$",
        r"latency p99 +[0-9.]+ ms$",
        r"throughput +[0-9.]+ ok req/s$",
    ):
        assert re.search(f"^{row}", table, re.MULTILINE), table


def test_without_usage_there_is_no_token_rate(frontend, tmp_path, capsys):
    out = tmp_path / "soak.json"
    code = soak_main(frontend.url, "--model", "no-usage", "--requests", "3", "--json", str(out))
    assert code == cli.EXIT_OK
    data = json.loads(out.read_text())
    assert data["completion_tokens_per_s"] is None and data["responses_with_usage"] == 0
    assert "n/a (no usage in the responses)" in capsys.readouterr().out


def test_failed_requests_fail_the_run_unless_allowed(frontend, tmp_path, capsys):
    out = tmp_path / "soak.json"
    args = ("--model", "flaky", "--requests", "10", "--concurrency", "2", "--json", str(out))
    assert soak_main(frontend.url, *args) == cli.EXIT_FAILED
    captured = capsys.readouterr()
    assert "error x5: HTTP 500 Internal Server Error: engine exploded" in captured.out
    assert "5 of 10 requests failed (50.00% > --max-error-rate 0.00%)" in captured.err
    data = json.loads(out.read_text())
    assert data["requests"]["failed"] == 5
    assert data["errors"] == [
        {"message": "HTTP 500 Internal Server Error: engine exploded", "count": 5}
    ]
    assert soak_main(frontend.url, *args, "--max-error-rate", "0.5") == cli.EXIT_OK
    assert soak_main(frontend.url, *args, "--max-error-rate", "0.4") == cli.EXIT_FAILED


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("missing", 'HTTP 404 Not Found: {"error": {"message": "model missing not found"}}'),
        ("garbage", "response is not JSON: b'<html>oops</html>'"),
    ],
)
def test_bad_answers_are_errors_with_the_reason(frontend, model, error):
    report = soak.run(Settings(frontend.url, model, requests=2, concurrency=1))
    assert report.failed == 2 and report.errors() == [(error, 2)]
    assert report.latency_ms() is None
    assert "n/a (no request succeeded)" in soak.render(report)


def test_a_request_over_the_timeout_fails_as_timed_out(frontend):
    report = soak.run(Settings(frontend.url, "slow", requests=2, concurrency=2, timeout_s=0.1))
    assert report.errors() == [("timed out", 2)]


def test_a_closed_keep_alive_connection_is_reopened_not_counted_as_a_failure(frontend):
    report = soak.run(Settings(frontend.url, "hang-up", requests=6, concurrency=1))
    assert report.errors() == [] and len(report.ok) == 6
    assert len(frontend.client_ports) == 6  # a new connection for every request


def test_duration_sends_until_the_time_is_up(frontend):
    start = time.monotonic()
    report = soak.run(Settings(frontend.url, "ok", duration_s=0.3, concurrency=2))
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 5
    assert len(report.ok) >= 2 and report.failed == 0
    assert len(frontend.requests) == len(report.outcomes)


def test_duration_and_requests_exclude_each_other(frontend, capsys):
    with pytest.raises(SystemExit) as exit:
        soak_main(frontend.url, "--model", "ok", "--requests", "3", "--duration", "1")
    assert exit.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_unreachable_frontend_is_named(unreachable_url, tmp_path, capsys):
    out = tmp_path / "soak.json"
    code = soak_main(unreachable_url, "--model", "ok", "--timeout", "2", "--json", str(out))
    assert code == cli.EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert f"cannot reach the frontend at {unreachable_url}: " in err
    assert "Connection refused" in err and "(--url)" in err
    assert not out.exists()


def test_stop_sends_no_more_requests(frontend):
    stop = soak.threading.Event()
    stop.set()
    report = soak.run(Settings(frontend.url, "ok", requests=50), stop)
    assert report.outcomes == [] and frontend.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "127.0.0.1:8000"], "is not an http:// or https:// URL"),
        (["--url", "http://h:99999"], "Port out of range"),
        (["--requests", "0"], "'0' is not a whole number >= 1"),
        (["--concurrency", "-2"], "'-2' is not a whole number >= 1"),
        (["--duration", "nan"], "'nan' is not a number > 0"),
        (["--max-error-rate", "5"], "'5' is not a fraction between 0 and 1"),
    ],
)
def test_bad_arguments(args, message, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["soak", "--model", "m", *args])
    assert exit.value.code == 2 and message in capsys.readouterr().err
