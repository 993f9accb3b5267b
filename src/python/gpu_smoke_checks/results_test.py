import json
import xml.etree.ElementTree as ET

from gpu_smoke_checks.contract import EXIT_FAILED, EXIT_NO_GPU, EXIT_PASSED
from gpu_smoke_checks.results import (
    FAILED,
    PASSED,
    SKIPPED,
    CheckResult,
    Presence,
    exit_code,
    render_text,
    skipped_all,
    to_json,
    to_junit_xml,
)

MIXED = [
    CheckResult("nvidia-smi", PASSED, duration_s=0.25, details={"gpus": [{"index": 0}]}),
    CheckResult("cuda-matmul", FAILED, "matmul differs <by> & more", 1.5),
    CheckResult("framework", SKIPPED, "no GPU (none)"),
]


def test_exit_code_prefers_failure_then_pass_and_never_reports_nothing_as_passed():
    assert exit_code(MIXED) == EXIT_FAILED
    assert exit_code([MIXED[0], MIXED[2]]) == EXIT_PASSED
    assert exit_code([MIXED[2]]) == EXIT_NO_GPU
    assert exit_code([]) == EXIT_NO_GPU


def test_skipped_all_carries_the_presence_reason():
    absent = Presence(False, "no GPU", "no /dev/nvidia0")
    results = skipped_all(["nvidia-smi", "serve"], absent)
    assert [(r.name, r.status, r.reason) for r in results] == [
        ("nvidia-smi", SKIPPED, "no GPU (no /dev/nvidia0)"),
        ("serve", SKIPPED, "no GPU (no /dev/nvidia0)"),
    ]


def test_junit_xml_has_one_testcase_per_check_with_its_outcome():
    root = ET.fromstring(to_junit_xml("tests/gpu_smoke:vllm", MIXED))
    suite = root.find("testsuite")
    assert suite.attrib["name"] == "tests/gpu_smoke:vllm"
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["skipped"]) == (
        "3",
        "1",
        "1",
    )
    assert suite.attrib["time"] == "1.750"
    cases = {c.attrib["name"]: c for c in suite.findall("testcase")}
    assert list(cases) == ["nvidia-smi", "cuda-matmul", "framework"]
    assert cases["nvidia-smi"].find("failure") is None
    assert json.loads(cases["nvidia-smi"].find("system-out").text) == {"gpus": [{"index": 0}]}
    # Reasons are escaped, not markup.
    assert cases["cuda-matmul"].find("failure").attrib["message"] == "matmul differs <by> & more"
    assert cases["framework"].find("skipped").attrib["message"] == "no GPU (none)"


def test_json_report_has_the_summary_and_every_check():
    report = json.loads(to_json("s", Presence(True, detail="device nodes /dev/nvidia0"), MIXED))
    assert report["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
    assert report["exit_code"] == EXIT_FAILED
    assert report["gpu"]["available"] is True
    assert [c["status"] for c in report["checks"]] == [PASSED, FAILED, SKIPPED]
    assert report["checks"][1]["duration_s"] == 1.5


def test_text_summary_names_status_check_and_reason():
    lines = render_text(MIXED).splitlines()
    assert lines[1].split()[:2] == ["FAILED", "cuda-matmul"]
    assert lines[1].endswith("matmul differs <by> & more")
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"
