"""What the frontend's own Prometheus metrics reported over a soak, against what was measured.

A snapshot of /metrics before the soak and one after it: the difference of Dynamo's frontend
counters (requests, output tokens) and histograms (TTFT, ITL, request duration: sum / count
is the mean over the window) is what the frontend says happened; the soak client's figures
are what it saw. Series are kept when their `model` label is the soak's model (or they have
none), so other models served by the same frontend do not count.
"""

from __future__ import annotations

from typing import Any

from dynamo_ci_tools import prom

# Dynamo's frontend metrics (names as of Dynamo 1.4): counters and histograms.
REQUESTS = "dynamo_frontend_requests_total"
OUTPUT_TOKENS = "dynamo_frontend_output_tokens_total"
HISTOGRAMS = {
    "ttft": "dynamo_frontend_time_to_first_token_seconds",
    "itl": "dynamo_frontend_inter_token_latency_seconds",
    "latency": "dynamo_frontend_request_duration_seconds",
}


def _samples(snapshot: dict[str, Any], name: str, model: str) -> list[prom.Sample]:
    families = prom.families_from_json(snapshot["families"])
    return [
        sample
        for family in families.values()
        for sample in family.samples
        if sample.name == name and sample.labels.get("model", model) == model
    ]


def _delta(before: dict, after: dict, name: str, model: str, **labels: str) -> float | None:
    """after - before of the matching series' sum; None when the page has no such series."""

    def total(snapshot: dict) -> float | None:
        samples = [
            s
            for s in _samples(snapshot, name, model)
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(s.value for s in samples) if samples else None

    end = total(after)
    if end is None:
        return None
    return end - (total(before) or 0.0)


def window(before: dict[str, Any], after: dict[str, Any], model: str) -> dict[str, Any]:
    """The frontend's figures over the window between two snapshots (metrics.snapshot)."""
    requests = _delta(before, after, REQUESTS, model)
    statuses = sorted(
        {s.labels["status"] for s in _samples(after, REQUESTS, model) if "status" in s.labels}
    )
    result: dict[str, Any] = {
        "requests": requests,
        "requests_by_status": {
            status: _delta(before, after, REQUESTS, model, status=status) for status in statuses
        },
        "output_tokens": _delta(before, after, OUTPUT_TOKENS, model),
    }
    for key, name in HISTOGRAMS.items():
        total = _delta(before, after, name + "_sum", model)
        count = _delta(before, after, name + "_count", model)
        result[f"{key}_count"] = count
        result[f"{key}_mean_ms"] = total / count * 1000 if total is not None and count else None
    return result


def _pct(reported: float | None, measured: float | None) -> float | None:
    if reported is None or measured is None or measured == 0:
        return None
    return (reported - measured) / measured * 100


def versus_measured(reported: dict[str, Any], measured: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (figure, reported, measured, difference %), from window() and Report.to_json()."""

    def mean(key: str) -> float | None:
        summary = measured.get(key)
        return summary["mean"] if summary else None

    tokens = measured.get("output_tokens") or {}
    usage = tokens.get("usage", measured.get("completion_tokens"))
    rows = [
        ("requests", reported["requests"], measured["requests"]["total"]),
        (
            "successful requests",
            reported["requests_by_status"].get("success"),
            measured["requests"]["ok"],
        ),
        ("output tokens (usage)", reported["output_tokens"], usage),
        ("output tokens (content chunks)", reported["output_tokens"], tokens.get("content_chunks")),
        ("mean TTFT ms", reported["ttft_mean_ms"], mean("ttft_ms")),
        ("mean ITL ms", reported["itl_mean_ms"], mean("itl_ms")),
        ("mean latency ms", reported["latency_mean_ms"], mean("latency_ms")),
    ]
    return [
        {"figure": f, "reported": r, "measured": m, "difference_pct": _pct(r, m)}
        for f, r, m in rows
        if r is not None and m is not None
    ]


def render(section: dict[str, Any]) -> str:
    if "error" in section:
        return f"frontend metrics: n/a ({section['error']})"
    lines = [f"frontend metrics ({section['url']}), reported vs measured:"]
    rows = [["figure", "reported", "measured", "difference"]]
    for row in section["vs_measured"]:
        pct = row["difference_pct"]
        rows.append(
            [
                row["figure"],
                f"{row['reported']:.6g}",
                f"{row['measured']:.6g}",
                "-" if pct is None else f"{pct:+.1f}%",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
