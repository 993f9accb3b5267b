"""Snapshots of a Prometheus /metrics page as JSON, and side-by-side comparisons of them."""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from dynamo_ci_tools import prom

SNAPSHOT_FORMAT = "dynamo_ci_tools.metrics/1"
# Prometheus' classic text format; servers that negotiate send it rather than OpenMetrics.
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


class MetricsError(Exception):
    """A page that cannot be fetched or parsed, or a file that is not a snapshot."""


def fetch(url: str, timeout_s: float = 10.0) -> str:
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        raise MetricsError(f"cannot fetch {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise MetricsError(f"cannot fetch {url}: {e.reason}") from None
    except (OSError, ValueError) as e:  # timeouts, resets, malformed URLs
        raise MetricsError(f"cannot fetch {url}: {e or type(e).__name__}") from None


def snapshot(url: str, label: str, text: str, taken_at: float | None = None) -> dict[str, Any]:
    """The JSON snapshot of a page's text (fetched from url)."""
    try:
        families = prom.parse(text)
    except prom.ParseError as e:
        raise MetricsError(f"{url} is not a valid Prometheus text page: {e}") from None
    taken_at = time.time() if taken_at is None else taken_at
    return {
        "format": SNAPSHOT_FORMAT,
        "label": label,
        "url": url,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(taken_at)),
        "unix_time": taken_at,
        "families": prom.families_to_json(families),
    }


def write_json(data: Any, path: str) -> None:
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, allow_nan=False)  # strict JSON: NaN is written "NaN"
        f.write("\n")


def load(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise MetricsError(f"cannot read snapshot {path}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        raise MetricsError(
            f"{path} is not a metrics snapshot (format {SNAPSHOT_FORMAT}); make one with "
            "`python -m dynamo_ci_tools metrics snapshot --url URL --out FILE`"
        )
    return data


def _series_key(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def _series(
    family: prom.Family, ignore_labels: Iterable[str], buckets: bool
) -> dict[tuple[str, str], float]:
    """The family's values by (sample name, labels); samples that collapse together are summed."""
    ignored = set(ignore_labels)
    series: dict[tuple[str, str], float] = {}
    for sample in family.samples:
        if not buckets and family.type == "histogram" and sample.name.endswith("_bucket"):
            continue
        labels = {k: v for k, v in sample.labels.items() if k not in ignored}
        key = (sample.name, _series_key(labels))
        series[key] = series.get(key, 0.0) + sample.value
    return series


def _unique_labels(snapshots: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, int] = {}
    labels = []
    for snap in snapshots:
        label = str(snap.get("label") or snap.get("url"))
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return labels


def compare(
    snapshots: list[dict[str, Any]],
    ignore_labels: Iterable[str] = (),
    buckets: bool = False,
    match: str | None = None,
) -> dict[str, Any]:
    """Which families each snapshot has; for families all have, values against the first's."""
    labels = _unique_labels(snapshots)
    parsed = [prom.families_from_json(s["families"]) for s in snapshots]
    pattern = re.compile(match) if match else None
    names: dict[str, None] = {}  # ordered union
    for families in parsed:
        names.update((n, None) for n in families if pattern is None or pattern.search(n))
    families_out = []
    series_out: list[dict[str, Any]] = []
    partial_out: list[dict[str, Any]] = []
    for name in names:
        present = [i for i, families in enumerate(parsed) if name in families]
        families_out.append(
            {
                "family": name,
                "types": {labels[i]: parsed[i][name].type for i in present},
                "in": [labels[i] for i in present],
            }
        )
        if len(present) < len(parsed):
            continue
        per_snapshot = [_series(families[name], ignore_labels, buckets) for families in parsed]
        keys: dict[tuple[str, str], None] = {}
        for series in per_snapshot:
            keys.update(dict.fromkeys(series))
        for sample, key in keys:
            entry = {"family": name, "sample": sample, "labels": key}
            holders = [i for i, series in enumerate(per_snapshot) if (sample, key) in series]
            if len(holders) < len(parsed):
                partial_out.append({**entry, "in": [labels[i] for i in holders]})
                continue
            values = [series[(sample, key)] for series in per_snapshot]
            base = values[0]
            series_out.append(
                {
                    **entry,
                    "values": values,
                    "deltas": [v - base for v in values[1:]],
                    "relative": [(v - base) / base if base else None for v in values[1:]],
                }
            )
    return {
        "snapshots": [
            {"label": label, "url": s.get("url"), "time": s.get("time")}
            for label, s in zip(labels, snapshots)
        ],
        "families": families_out,
        "series": series_out,
        "partial_series": partial_out,
    }


def comparison_to_json(result: dict[str, Any]) -> dict[str, Any]:
    """The comparison with NaN and infinities spelled as strings (strict JSON)."""

    def clean(v: Any) -> Any:
        return prom.to_json_value(v) if isinstance(v, float) else v

    series = [
        {
            **row,
            "values": [clean(v) for v in row["values"]],
            "deltas": [clean(v) for v in row["deltas"]],
            "relative": [clean(v) for v in row["relative"]],
        }
        for row in result["series"]
    ]
    return {**result, "series": series}


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return str(prom.to_json_value(value))
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.1%}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def render_comparison(result: dict[str, Any]) -> str:
    labels = [s["label"] for s in result["snapshots"]]
    families = result["families"]
    some = [f for f in families if len(f["in"]) < len(labels)]
    lines = [
        f"metric families: {len(families) - len(some)} in all {len(labels)} snapshots, "
        f"{len(some)} only in some"
    ]
    if some:
        rows = [
            [f["family"], *("yes" if label in f["in"] else "-" for label in labels)]
            for f in some
        ]
        lines += ["", *_table(["family", *labels], rows)]
    if result["series"]:
        base, others = labels[0], labels[1:]
        header = ["series", *labels]
        for label in others:
            header += [f"delta {label}", f"% {label}"]
        rows = []
        for row in result["series"]:
            name = row["sample"] + (f"{{{row['labels']}}}" if row["labels"] else "")
            cells = [name, *(number(v) for v in row["values"])]
            for delta, relative in zip(row["deltas"], row["relative"]):
                cells += [number(delta), percent(relative)]
            rows.append(cells)
        lines += ["", f"values (deltas against {base})", *_table(header, rows)]
    if result["partial_series"]:
        lines += [
            "",
            f"{len(result['partial_series'])} series of common families are not in every "
            "snapshot (different labels? try --ignore-label; all listed in --json)",
        ]
    return "\n".join(lines)
