"""Per-check results, the run's exit code, and the JSON and JUnit XML reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

from gpu_smoke_checks.contract import EXIT_FAILED, EXIT_NO_GPU, EXIT_PASSED

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"



@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    reason: str = ""
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Presence:
    """Whether the checks have a GPU to run on; `summary` heads the skip reason ("no GPU")."""

    available: bool
    summary: str = ""
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.summary} ({self.detail})" if self.detail else self.summary


def skipped_all(names: list[str], presence: Presence) -> list[CheckResult]:
    return [CheckResult(name, SKIPPED, presence.reason) for name in names]


def exit_code(results: list[CheckResult]) -> int:
    statuses = {r.status for r in results}
    if FAILED in statuses:
        return EXIT_FAILED
    if PASSED in statuses:
        return EXIT_PASSED
    # Nothing ran at all: the caller reports "skipped", never "passed".
    return EXIT_NO_GPU


def counts(results: list[CheckResult]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in (PASSED, FAILED, SKIPPED)}


def to_json(suite: str, presence: Presence, results: list[CheckResult]) -> str:
    return json.dumps(
        {
            "suite": suite,
            "gpu": asdict(presence) | {"reason": presence.reason},
            "summary": counts(results),
            "exit_code": exit_code(results),
            "checks": [asdict(r) for r in results],
        },
        indent=2,
        sort_keys=True,
        default=str,
    )


def to_junit_xml(suite: str, results: list[CheckResult]) -> str:
    """One <testsuite> with a <testcase> per check, as CI systems and Pants reports read it."""
    n = counts(results)
    suites = ET.Element("testsuites")
    testsuite = ET.SubElement(
        suites,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(n[FAILED]),
        errors="0",
        skipped=str(n[SKIPPED]),
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            testsuite, "testcase", classname=suite, name=r.name, time=f"{r.duration_s:.3f}"
        )
        if r.status == FAILED:
            ET.SubElement(case, "failure", message=r.reason).text = r.reason
        elif r.status == SKIPPED:
            ET.SubElement(case, "skipped", message=r.reason)
        if r.details:
            system_out = ET.SubElement(case, "system-out")
            system_out.text = json.dumps(r.details, indent=2, sort_keys=True, default=str)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode")


def render_text(results: list[CheckResult]) -> str:
    """The human summary printed on stdout (the Pants plugin shows it as the test output)."""
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        line = f"{r.status.upper():7} {r.name:{width}} {r.duration_s:7.2f}s"
        lines.append(f"{line}  {r.reason}" if r.reason else line)
    n = counts(results)
    lines.append(f"{n[PASSED]} passed, {n[FAILED]} failed, {n[SKIPPED]} skipped")
    return "\n".join(lines)
