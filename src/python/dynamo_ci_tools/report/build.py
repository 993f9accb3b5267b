"""`./pants run src/python/dynamo_ci_tools/report:report -- RESULT.json... --out DIR`

Reads the JSON results of `python -m dynamo_ci_tools soak [--stream] --json` from several
backends or images and writes DIR/report.md with PNG plots next to it: TTFT, ITL (p50/p90/p99),
throughput (requests/s, output tokens/s) and, per run, how far the frontend's own /metrics
were from what the soak client measured.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

PERCENTILES = ("p50", "p90", "p99")
PLOTS = {
    "ttft": "ttft.png",
    "itl": "itl.png",
    "throughput": "throughput.png",
    "reported": "reported_vs_measured.png",
}


class ReportError(Exception):
    """A file that is not a soak result."""


def load(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict) or not {"requests", "latency_ms", "url"} <= set(data):
        raise ReportError(
            f"{path} is not a soak result (python -m dynamo_ci_tools soak --json PATH)"
        )
    return data


def labelled(results: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """(label, result) with unique labels: the result's label, else the file's name."""
    seen: dict[str, int] = {}
    out = []
    for path, data in results:
        label = str(data.get("label") or Path(path).stem)
        seen[label] = seen.get(label, 0) + 1
        out.append((label if seen[label] == 1 else f"{label} ({seen[label]})", data))
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _summary(data: dict[str, Any], key: str, q: str) -> float | None:
    summary = data.get(key)
    return summary.get(q) if isinstance(summary, dict) else None


def tokens_per_s(data: dict[str, Any]) -> tuple[float | None, float | None]:
    """Output tokens/s counted from the stream's content chunks and from usage."""
    rates = data.get("output_tokens_per_s") or {}
    return rates.get("content_chunks"), rates.get("usage", data.get("completion_tokens_per_s"))


def comparison(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    section = data.get("frontend_metrics") or {}
    return {row["figure"]: row for row in section.get("vs_measured") or ()}


def markdown(runs: list[tuple[str, dict[str, Any]]], plots: dict[str, str]) -> str:
    lines = ["# Soak comparison", ""]
    rows = []
    for label, d in runs:
        r = d["requests"]
        kinds = ", ".join(f"{k} {n}" for k, n in (d.get("errors_by_kind") or {}).items() if n)
        rows.append(
            [
                label,
                d["url"],
                str(d.get("model")),
                "stream" if d.get("stream") else "non-stream",
                str(d.get("concurrency")),
                str(d.get("max_tokens")),
                f"{r['ok']}/{r['total']}",
                kinds or ("none" if "errors_by_kind" in d else "-"),
                fmt(d.get("duration_s"), 2),
            ]
        )
    header = ["run", "target", "model", "mode", "concurrency", "max tokens", "ok/total",
              "failed by kind", "duration s"]  # fmt: skip
    lines += ["## Runs", "", *_table(header, rows), ""]

    lines += ["## Latency (ms, successful requests)", ""]
    header = ["run"]
    for name in ("TTFT", "ITL", "end-to-end"):
        header += [f"{name} {q}" for q in PERCENTILES]
    rows = []
    for label, d in runs:
        row = [label]
        for key in ("ttft_ms", "itl_ms", "latency_ms"):
            row += [fmt(_summary(d, key, q)) for q in PERCENTILES]
        rows.append(row)
    lines += _table(header, rows) + [""]
    for key in ("ttft", "itl"):
        lines += _figure(plots, key)

    lines += ["## Throughput", ""]
    rows = []
    for label, d in runs:
        chunks, usage = tokens_per_s(d)
        rows.append([label, fmt(d.get("requests_per_s"), 2), fmt(chunks), fmt(usage)])
    header = ["run", "requests/s", "output tokens/s (stream chunks)", "output tokens/s (usage)"]
    lines += _table(header, rows) + [""]
    lines += _figure(plots, "throughput")

    lines += [
        "## Frontend /metrics vs measured",
        "",
        "What the frontend's Prometheus counters reported over each soak (after - before), "
        "against what the soak client measured; difference = (reported - measured) / measured.",
        "",
    ]
    figures: dict[str, None] = {}
    for _, d in runs:
        figures.update(dict.fromkeys(comparison(d)))
    if figures:
        rows = []
        for figure in figures:
            row = [figure]
            for _, d in runs:
                cell = comparison(d).get(figure)
                row.append(
                    "-"
                    if cell is None
                    else f"{cell['reported']:.6g} / {cell['measured']:.6g} "
                    f"({pct(cell['difference_pct'])})"
                )
            rows.append(row)
        lines += _table(["reported / measured", *(label for label, _ in runs)], rows) + [""]
    for label, d in runs:
        error = (d.get("frontend_metrics") or {}).get("error")
        if error or "frontend_metrics" not in d:
            lines.append(f"- {label}: no frontend metrics ({error or 'not read'})")
    lines += [""] + _figure(plots, "reported")
    return "\n".join(lines).rstrip() + "\n"


def _figure(plots: dict[str, str], key: str) -> list[str]:
    if key not in plots:
        return [f"_(no {key} plot: no run has these figures)_", ""]
    return [f"![{key}]({plots[key]})", ""]


def _bars(ax, groups: list[str], series: dict[str, list[float | None]]) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [0.0 if v is None else v for v in values]
        bars = ax.bar(xs, heights, width, label=name)
        for bar, value in zip(bars, values):
            text = "n/a" if value is None else f"{value:.3g}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)  # fmt: skip
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.legend(fontsize=8)


def plot(runs: list[tuple[str, dict[str, Any]]], folder: Path) -> dict[str, str]:
    """Writes the PNGs that have data; returns their file names by key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _ in runs]
    written: dict[str, str] = {}

    def save(fig, key: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / PLOTS[key], dpi=110)
        plt.close(fig)
        written[key] = PLOTS[key]

    for key, title in (("ttft", "Time to first token"), ("itl", "Inter-token latency")):
        series = {q: [_summary(d, f"{key}_ms", q) for _, d in runs] for q in PERCENTILES}
        if all(v is None for values in series.values() for v in values):
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        _bars(ax, labels, series)
        ax.set_title(f"{title} (ms)")
        ax.set_ylabel("ms")
        save(fig, key)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    _bars(left, labels, {"requests/s": [d.get("requests_per_s") for _, d in runs]})
    left.set_title("Requests/s (successful)")
    rates = [tokens_per_s(d) for _, d in runs]
    _bars(
        right,
        labels,
        {"stream chunks": [c for c, _ in rates], "usage": [u for _, u in rates]},
    )
    right.set_title("Output tokens/s")
    save(fig, "throughput")

    figures: dict[str, None] = {}
    for _, d in runs:
        figures.update(dict.fromkeys(comparison(d)))
    if figures:
        fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(figures)), 4.5))
        series = {
            label: [
                (comparison(d).get(f) or {}).get("difference_pct") for f in figures
            ]
            for label, d in runs
        }
        _bars(ax, list(figures), series)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title("Frontend /metrics vs measured: (reported - measured) / measured")
        ax.set_ylabel("%")
        for tick in ax.get_xticklabels():
            tick.set_rotation(20)
            tick.set_ha("right")
        save(fig, "reported")
    return written


def write(paths: list[str], folder: Path) -> Path:
    runs = labelled([(path, load(path)) for path in paths])
    folder.mkdir(parents=True, exist_ok=True)
    plots = plot(runs, folder)
    report = folder / "report.md"
    report.write_text(markdown(runs, plots))
    return report


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(
        prog="./pants run src/python/dynamo_ci_tools/report:report --",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("results", nargs="+", metavar="RESULT.json", help="soak --json results")
    cli.add_argument("--out", required=True, metavar="DIR", help="where report.md and PNGs go")
    args = cli.parse_args(argv)
    try:
        report = write(args.results, Path(args.out))
    except ReportError as e:
        print(f"report: {e}", file=sys.stderr)
        return 1
    print(f"{report}: {len(args.results)} runs, plots: " + ", ".join(
        sorted(p.name for p in report.parent.glob("*.png"))))  # fmt: skip
    return 0
