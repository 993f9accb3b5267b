"""The benchmark's results as a table (stdout), a markdown report and PNG plots.

`results` is the JSON document `main` writes (results.json): scenarios with the seconds of
every repetition for ours and the baseline, and image sizes attributed to their origin.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from dynamo_benchmarks.layers import CATEGORIES

# Scenario name -> what it measures (the report's wording).
SCENARIOS = {
    "cold": "cold build, empty caches (runtime + dev)",
    "cold-ci": "cold build writing the team caches (runtime + dev)",
    "noop": "no-op rebuild (runtime + dev)",
    "python-change": "one-line first-party Python change -> runtime",
    "cpp-change": "one-line first-party C++ change -> dev",
    "fresh-remote": "new machine, team caches warm (runtime + dev)",
    "family-noop": "no-op `package` of the whole family",
}
FAMILY_NOOP_TARGET_S = 3.0
PYTHON_CHANGE_TARGET = 0.10  # of the cold build
# fresh-remote: ours against a plain `docker pull` of the same images, and against the baseline
# built --cache-from its inline cache.
FRESH_REMOTE_PULL_TARGET = 1.2
FRESH_REMOTE_BASELINE_TARGET = 1.0


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(ours: float | None, baseline: float | None) -> float | None:
    return ours / baseline if ours is not None and baseline else None


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return (
        f"{value:.2f} s"
        if value < 10
        else f"{value:.0f} s"
        if value < 600
        else (f"{value / 60:.1f} min")
    )


def gigabytes(value: int) -> str:
    if value >= 1e9:
        return f"{value / 1e9:.2f} GB"
    return f"{value / 1e6:.0f} MB" if value >= 1e7 or not value else f"{value / 1e6:.1f} MB"


def scenario_rows(results: dict) -> list[dict]:
    rows = []
    for name, scenario in results["scenarios"].items():
        ours, baseline = median(scenario["ours"]), median(scenario.get("baseline", []))
        pull = median(scenario.get("pull", []))
        rows.append(
            {
                "name": name,
                "what": SCENARIOS.get(name, name),
                "runs": len(scenario["ours"]),
                "ours": ours,
                "baseline": baseline,
                "ratio": ratio(ours, baseline),
                "pull": pull,
                "pull_ratio": ratio(ours, pull),
                "note": scenario.get("note", ""),
            }
        )
    return rows


def verdicts(results: dict) -> list[str]:
    """The issue's targets, each with its figure and whether it was met."""
    scenarios, lines = results["scenarios"], []
    family = median(scenarios.get("family-noop", {}).get("ours", []))
    if family is not None:
        met = "met" if family <= FAMILY_NOOP_TARGET_S else "NOT met"
        lines.append(
            f"No-op `package` of the whole family: {seconds(family)} "
            f"(target at most {FAMILY_NOOP_TARGET_S:.0f} s: {met})."
        )
    python = median(scenarios.get("python-change", {}).get("ours", []))
    cold = median(scenarios.get("cold", {}).get("ours", []))
    if python is not None and cold:
        share = python / cold
        met = "met" if share <= PYTHON_CHANGE_TARGET else "NOT met"
        lines.append(
            f"One-line Python change: {seconds(python)}, {share:.1%} of the cold build "
            f"(target at most {PYTHON_CHANGE_TARGET:.0%}: {met})."
        )
    cpp = scenarios.get("cpp-change", {})
    if cpp.get("compiled"):
        lines.append(
            "One-line C++ change: wheels compiled per run: "
            + "; ".join(", ".join(run) or "none" for run in cpp["compiled"])
            + f"; sccache per run: {'; '.join(cpp['sccache'])}."
        )
    fresh = scenarios.get("fresh-remote")
    if fresh:
        lines += fresh_remote_verdicts(fresh)
    for row in scenario_rows(results):
        if row["ratio"] is None or row["name"] == "fresh-remote":
            continue
        verdict = "faster" if row["ratio"] < 1 else "NOT faster"
        lines.append(
            f"{row['what']}: ours {seconds(row['ours'])}, baseline {seconds(row['baseline'])}: "
            f"{verdict} ({1 / row['ratio']:.1f}x the baseline's speed)."
        )
    return lines


def fresh_remote_verdicts(fresh: dict) -> list[str]:
    ours, baseline, pull = (median(fresh[who]) for who in ("ours", "baseline", "pull"))
    to_pull, to_baseline = ratio(ours, pull), ratio(ours, baseline)
    got = fresh["bytes"]
    family = fresh["family"]
    builds = fresh["docker_builds"]
    steps = builds["baseline_steps"].values()
    return [
        f"New machine, team caches warm: ours {seconds(ours)}, {to_pull:.2f}x a plain `docker "
        f"pull` ({seconds(pull)}; target at most {FRESH_REMOTE_PULL_TARGET}x: "
        f"{'met' if to_pull <= FRESH_REMOTE_PULL_TARGET else 'NOT met'}) and {to_baseline:.2f}x "
        f"the baseline built --cache-from its inline cache ({seconds(baseline)}; target at most "
        f"{FRESH_REMOTE_BASELINE_TARGET}x: "
        f"{'met' if to_baseline <= FRESH_REMOTE_BASELINE_TARGET else 'NOT met'}).",
        f"`docker build`s run by ours on the new machine: {len(builds['ours'])} (target 0); the "
        f"baseline's steps: {sum(s['cached'] for s in steps)} from its cache, "
        f"{sum(s['ran'] for s in steps)} run.",
        f"Downloaded: ours {gigabytes(got['ours']['registry'])} from the registry and "
        f"{gigabytes(got['ours']['remote_store'])} from the remote cache; the baseline "
        f"{gigabytes(got['baseline']['registry'])}; the plain pull "
        f"{gigabytes(got['pull']['registry'])}.",
        f"The family's layers (compressed): {gigabytes(family['sum_of_images'])} if each image "
        f"were pulled alone, {gigabytes(family['unique'])} unique; ours pulled "
        f"{gigabytes(family['pulled_by_ours'])}.",
    ]


def table(results: dict) -> str:
    lines = [
        f"{'scenario':<52}{'runs':>5}{'ours':>11}{'baseline':>11}{'ours/base':>11}",
    ]
    for row in scenario_rows(results):
        r = "n/a" if row["ratio"] is None else f"{row['ratio']:.3f}"
        lines.append(
            f"{row['what']:<52}{row['runs']:>5}{seconds(row['ours']):>11}"
            f"{seconds(row['baseline']):>11}{r:>11}"
        )
    return "\n".join(lines)


def markdown(results: dict) -> str:
    env = results["environment"]
    out = [
        "# Build performance: Pants vs a plain Docker baseline",
        "",
        f"Run of {env['date']} on {env['machine']}, commit `{env['commit']}`, backend "
        f"`{results['backend']}`; medians of {results['repeat']} runs (cold: one run; "
        "fresh-remote: as many rounds of its three ways). Command: "
        f"`{results['command']}`.",
        "",
        "## Targets",
        "",
        *(f"- {line}" for line in verdicts(results)),
        "",
        "## Scenarios",
        "",
        "| scenario | runs | ours | baseline | ours / baseline | note |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in scenario_rows(results):
        r = "n/a" if row["ratio"] is None else f"{row['ratio']:.3f}"
        out.append(
            f"| {row['what']} | {row['runs']} | {seconds(row['ours'])} | "
            f"{seconds(row['baseline'])} | {r} | {row['note']} |"
        )
    out += [*(f"\nNot measured: {e}" for e in results.get("not_measured", []))]
    out += ["", "![scenario times](scenarios.png)", ""]
    if results.get("sizes"):
        out += [
            "## Image sizes and where they come from",
            "",
            "| image | size | " + " | ".join(CATEGORIES) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in CATEGORIES) + " |",
        ]
        for image in results["sizes"]:
            cells = " | ".join(gigabytes(image["categories"][c]) for c in CATEGORIES)
            out.append(f"| {image['label']} | {gigabytes(image['size'])} | {cells} |")
        out += ["", "![image sizes by origin](sizes.png)", ""]
    return "\n".join(out) + "\n"


def plot_scenarios(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scenario_rows(results)
    # At least 2.4 inches: a report of one scenario (fresh-remote alone) still has room for
    # its three bars, the title and the legend.
    fig, ax = plt.subplots(figsize=(9, max(2.4, 0.9 + 0.75 * len(rows))))
    for i, row in enumerate(rows):
        scenario = results["scenarios"][row["name"]]
        bars = (
            (-0.24, "ours", "#2b7bba"), (0.0, "baseline", "#d95f02"), (0.24, "pull", "#7f7f7f")
        )
        for offset, who, color in bars:
            value = row[who]
            if value is None:
                continue
            ax.barh(
                i + offset,
                value,
                height=0.22,
                color=color,
                label=who if i == 0 or who not in ax.get_legend_handles_labels()[1] else None,
            )
            ax.scatter(
                scenario[who], [i + offset] * len(scenario[who]), color="black", s=6, zorder=3
            )
            ax.text(max(scenario[who]) * 1.12, i + offset, seconds(value), va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [row["what"] for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log scale; bars: medians, dots: runs)")
    ax.set_title(
        f"{results['backend']}: ours (Pants) vs plain Docker baseline (pull: plain `docker pull`)"
    )
    ax.set_xlim(right=ax.get_xlim()[1] * 3)  # room for the labels
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sizes(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = results["sizes"]
    colors = plt.get_cmap("tab10").colors
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.4 * len(images)))
    for i, image in enumerate(images):
        left = 0.0
        for c, category in enumerate(CATEGORIES):
            width = image["categories"][category] / 1e9
            ax.barh(i, width, left=left, color=colors[c], label=category if i == 0 else None)
            left += width
    ax.set_yticks(range(len(images)), [image["label"] for image in images], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("GB (uncompressed)")
    ax.set_title("Image sizes by origin")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(results: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plot_scenarios(results, folder / "scenarios.png")
    if results.get("sizes"):
        plot_sizes(results, folder / "sizes.png")
    report = folder / "report.md"
    report.write_text(markdown(results))
    return report
