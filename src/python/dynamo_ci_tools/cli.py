"""`python -m dynamo_ci_tools {soak,metrics}`: CI tools for Dynamo frontends.

soak              send N requests (or run for a duration) at a concurrency to an
                  OpenAI-compatible frontend; latency percentiles, throughput, errors;
                  --stream: TTFT and ITL too; and what the frontend's /metrics reported
metrics snapshot  save a Prometheus /metrics page as JSON (label, URL, time, samples)
metrics compare   compare snapshots: which metric families each has, values and deltas

Exit codes: 0 passed, 1 requests failed (soak, beyond --max-error-rate) or a page/file could
not be read (metrics), 2 bad arguments, 3 the frontend is unreachable (soak).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

from dynamo_ci_tools import __version__, metrics, reported, soak

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return int(value)


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number > 0")
    return number


def fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a fraction between 0 and 1")
    return number


def regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"{value!r} is not a regular expression: {e}") from None
    return value


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r}: {e}") from None
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m dynamo_ci_tools",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"dynamo_ci_tools {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "soak",
        help="drive an OpenAI-compatible frontend and report latency, throughput, errors",
        description="Sends requests (non-streaming, or with --stream server-sent events) from "
        "--concurrency threads, each with one keep-alive connection, and snapshots the "
        "frontend's /metrics before and after to compare what it reported with what was "
        "measured. Fails (exit 1) when more than --max-error-rate of the requests fail, and "
        "(exit 3) when nothing listens at --url.",
    )
    run.add_argument(
        "--url",
        type=http_url,
        default="http://127.0.0.1:8000",
        help="the frontend's base URL (default: %(default)s)",
    )
    run.add_argument("--model", required=True, help="the served model name (see /v1/models)")
    run.add_argument(
        "--endpoint",
        choices=sorted(soak.ENDPOINTS),
        default="chat",
        help="chat: /v1/chat/completions, completions: /v1/completions (default: %(default)s)",
    )
    amount = run.add_mutually_exclusive_group()
    amount.add_argument(
        "--requests", type=positive_int, default=100, help="how many requests (default: 100)"
    )
    amount.add_argument(
        "--duration",
        type=positive_float,
        metavar="SECONDS",
        help="send requests for this long instead of a fixed number",
    )
    run.add_argument("--concurrency", type=positive_int, default=8, help="default: %(default)s")
    run.add_argument("--max-tokens", type=positive_int, default=32, help="default: %(default)s")
    run.add_argument("--prompt", default=soak.Settings.prompt, help="default: %(default)r")
    run.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="per request, and for the first connection (default: %(default)s)",
    )
    run.add_argument(
        "--max-error-rate",
        type=fraction,
        default=0.0,
        help="the fraction of failed requests still allowed, 0 to 1 (default: 0)",
    )
    run.add_argument(
        "--stream",
        action="store_true",
        help="stream the answers (SSE): time to first token, inter-token latency, tokens "
        "counted from the stream",
    )
    run.add_argument(
        "--no-usage",
        dest="include_usage",
        action="store_false",
        help="with --stream: do not ask for the final usage chunk (stream_options)",
    )
    run.add_argument(
        "--metrics-url",
        type=http_url,
        help="the frontend's Prometheus page, snapshot before and after (default: URL/metrics)",
    )
    run.add_argument(
        "--no-metrics", action="store_true", help="do not read the frontend's /metrics"
    )
    run.add_argument(
        "--label", help="a name for this run in reports, e.g. the backend or image"
    )
    run.add_argument(
        "--json",
        metavar="PATH",
        help="also write the results as JSON here, and the two /metrics snapshots next to it "
        "(PATH without .json + .metrics-before.json / .metrics-after.json)",
    )

    group = commands.add_parser("metrics", help="snapshot and compare Prometheus /metrics pages")
    metric_commands = group.add_subparsers(dest="metrics_command", required=True, metavar="ACTION")
    snap = metric_commands.add_parser(
        "snapshot", help="fetch a /metrics page and save it as JSON"
    )
    snap.add_argument(
        "--url", type=http_url, required=True, help="e.g. http://127.0.0.1:8000/metrics"
    )
    snap.add_argument("--label", help="a name for this snapshot (default: the URL's host:port)")
    snap.add_argument("--out", required=True, metavar="FILE.json")
    snap.add_argument("--timeout", type=positive_float, default=10.0, metavar="SECONDS")

    cmp = metric_commands.add_parser(
        "compare", help="compare snapshots: families in each, values side by side, deltas"
    )
    cmp.add_argument("snapshots", nargs="+", metavar="SNAPSHOT.json", help="two or more")
    cmp.add_argument(
        "--ignore-label",
        action="append",
        default=[],
        metavar="NAME",
        help="drop this label before matching series (values that then coincide are summed), "
        "e.g. model when the frontends serve different models; repeatable",
    )
    cmp.add_argument(
        "--buckets", action="store_true", help="also compare histogram _bucket series"
    )
    cmp.add_argument(
        "--match", type=regex, metavar="REGEX", help="only families whose name matches"
    )
    cmp.add_argument("--json", metavar="PATH", help="also write the comparison as JSON here")
    return root


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.command == "metrics" and args.metrics_command == "compare" and len(args.snapshots) < 2:
        cli.error("metrics compare needs two or more snapshots")
    if args.command == "soak":
        return run_soak(args)
    if args.metrics_command == "snapshot":
        return run_snapshot(args)
    return run_compare(args)


def run_soak(args: argparse.Namespace) -> int:
    settings = soak.Settings(
        url=args.url,
        model=args.model,
        endpoint=args.endpoint,
        requests=args.requests,
        concurrency=args.concurrency,
        duration_s=args.duration,
        max_tokens=args.max_tokens,
        prompt=args.prompt,
        timeout_s=args.timeout,
        stream=args.stream,
        include_usage=args.include_usage,
    )
    try:
        soak.check_reachable(args.url, args.timeout)
    except soak.Unreachable as e:
        print(f"soak: {e}; is the frontend running? (--url)", file=sys.stderr)
        return EXIT_UNREACHABLE
    metrics_url = None if args.no_metrics else args.metrics_url or args.url.rstrip("/") + "/metrics"
    before = _metrics_snapshot(metrics_url, "before", args.timeout)
    stop = threading.Event()
    previous = _on_interrupt(stop)
    try:
        report = soak.run(settings, stop)
    finally:
        _restore_interrupt(previous)
    after = _metrics_snapshot(metrics_url, "after", args.timeout)
    data = report.to_json()
    data["label"] = args.label or urlsplit(args.url).netloc
    if metrics_url is not None:
        data["frontend_metrics"] = _frontend_metrics(metrics_url, before, after, args.model, data)
    print(soak.render(report))
    if "frontend_metrics" in data:
        print(reported.render(data["frontend_metrics"]))
    if args.json:
        metrics.write_json(data, args.json)
        stem = args.json[:-5] if args.json.endswith(".json") else args.json
        for when, snap in (("before", before), ("after", after)):
            if isinstance(snap, dict):
                metrics.write_json(snap, f"{stem}.metrics-{when}.json")
    if not report.outcomes:
        print("soak: no request was sent", file=sys.stderr)
        return EXIT_FAILED
    if report.error_rate > args.max_error_rate:
        print(
            f"soak: {report.failed} of {len(report.outcomes)} requests failed "
            f"({report.error_rate:.2%} > --max-error-rate {args.max_error_rate:.2%})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _metrics_snapshot(url: str | None, when: str, timeout_s: float) -> dict[str, Any] | str | None:
    """A /metrics snapshot, or the reason there is none (a soak does not fail for it)."""
    if url is None:
        return None
    try:
        return metrics.snapshot(url, when, metrics.fetch(url, timeout_s))
    except metrics.MetricsError as e:
        return f"{when} the soak: {e}"


def _frontend_metrics(
    url: str, before: Any, after: Any, model: str, measured: dict[str, Any]
) -> dict[str, Any]:
    for snap in (before, after):
        if isinstance(snap, str):
            return {"url": url, "error": snap}
    window = reported.window(before, after, model)
    return {
        "url": url,
        "before": before["time"],
        "after": after["time"],
        "window_s": after["unix_time"] - before["unix_time"],
        "reported": window,
        "vs_measured": reported.versus_measured(window, measured),
    }


def _on_interrupt(stop: threading.Event) -> Any:
    # Ctrl-C stops sending; in-flight requests finish and the partial report is printed.
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda signum, frame: stop.set())


def _restore_interrupt(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def run_snapshot(args: argparse.Namespace) -> int:
    label = args.label or urlsplit(args.url).netloc
    try:
        data = metrics.snapshot(args.url, label, metrics.fetch(args.url, args.timeout))
        metrics.write_json(data, args.out)
    except metrics.MetricsError as e:
        print(f"metrics snapshot: {e}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:
        print(f"metrics snapshot: cannot write {args.out}: {e}", file=sys.stderr)
        return EXIT_FAILED
    samples = sum(len(f["samples"]) for f in data["families"].values())
    print(
        f"{args.out}: {len(data['families'])} metric families, {samples} samples "
        f"from {args.url} ({label}, {data['time']})"
    )
    return EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    try:
        snapshots = [metrics.load(path) for path in args.snapshots]
    except metrics.MetricsError as e:
        print(f"metrics compare: {e}", file=sys.stderr)
        return EXIT_FAILED
    result = metrics.compare(snapshots, args.ignore_label, args.buckets, args.match)
    print(metrics.render_comparison(result))
    if args.json:
        metrics.write_json(metrics.comparison_to_json(result), args.json)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
