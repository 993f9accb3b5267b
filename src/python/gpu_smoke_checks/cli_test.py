import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from gpu_smoke_checks import cli
from gpu_smoke_checks.contract import CHECK_NAMES, EXIT_FAILED, EXIT_NO_GPU, EXIT_PASSED, PACKAGE
from gpu_smoke_checks.presence import detect_gpu
from gpu_smoke_checks.results import FAILED, PASSED, CheckResult, Presence

ABSENT = Presence(False, "no GPU", "no /dev/nvidia[0-9]* device node and no nvidia-smi on PATH")
PRESENT = Presence(True, detail="device nodes /dev/nvidia0")


def never_run(name, ctx):
    raise AssertionError(f"{name} ran without a GPU")


def reports(tmp_path):
    return ["--json", str(tmp_path / "r.json"), "--junit-xml", str(tmp_path / "out/r.xml")]


@pytest.mark.parametrize("command", ["run", "preflight"])
def test_without_a_gpu_every_check_is_skipped_with_the_reason(tmp_path, command, capsys):
    argv = [command, "--checks", "nvidia-smi,serve", "--suite", "tests/gpu_smoke:x"]
    argv += reports(tmp_path)
    assert cli.main(argv, detect=lambda toolkit: ABSENT, run=never_run) == EXIT_NO_GPU
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(c["name"], c["status"], c["reason"]) for c in report["checks"]] == [
        ("nvidia-smi", "skipped", ABSENT.reason),
        ("serve", "skipped", ABSENT.reason),
    ]
    suite = ET.parse(tmp_path / "out/r.xml").getroot().find("testsuite")
    assert suite.attrib["name"] == "tests/gpu_smoke:x" and suite.attrib["skipped"] == "2"
    assert "SKIPPED nvidia-smi" in capsys.readouterr().out


def test_preflight_with_a_gpu_runs_nothing_and_writes_nothing(tmp_path):
    seen = []
    code = cli.main(
        ["preflight", "--container-toolkit", *reports(tmp_path)],
        detect=lambda toolkit: seen.append(toolkit) or PRESENT,
        run=never_run,
    )
    assert code == EXIT_PASSED and seen == [True]
    assert not (tmp_path / "r.json").exists()


def test_run_with_a_gpu_runs_the_named_checks_in_order(tmp_path):
    ran = []

    def run(name, ctx):
        ran.append((name, ctx.expect_gpus, ctx.framework))
        return CheckResult(name, FAILED if name == "framework" else PASSED, "why")

    argv = ["run", "--checks", "cuda-matmul,framework", "--expect-gpus", "2",
            "--framework", "vllm", *reports(tmp_path)]  # fmt: skip
    assert cli.main(argv, detect=lambda toolkit: PRESENT, run=run) == EXIT_FAILED
    assert ran == [("cuda-matmul", 2, "vllm"), ("framework", 2, "vllm")]
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["failed"] == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--checks", "nvidia-smi,gpu-burn"], "unknown check(s) gpu-burn; choose from"),
        (["run", "--expect-gpus", "0"], "'0' is not a whole number >= 1"),
    ],
)
def test_bad_arguments_name_the_input_and_the_choices(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv, detect=lambda toolkit: ABSENT)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_this_hosts_real_detection_end_to_end(tmp_path):
    """`python -m gpu_smoke_checks run` as a process, with the machine's real detection."""
    presence = detect_gpu()
    if presence.available:
        pytest.skip(f"this host has a GPU ({presence.detail}); the checks would run for real")
    done = subprocess.run(
        [sys.executable, "-m", PACKAGE, "run", *reports(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == EXIT_NO_GPU, done.stderr
    checks = json.loads((tmp_path / "r.json").read_text())["checks"]
    assert [c["name"] for c in checks] == list(CHECK_NAMES)
    assert {c["reason"] for c in checks} == {presence.reason}
    assert done.stdout.splitlines()[-1] == "0 passed, 0 failed, 5 skipped"


def test_require_gpu_turns_absence_into_failures(tmp_path):
    argv = ["preflight", "--checks", "nvidia-smi", "--require-gpu", *reports(tmp_path)]
    assert cli.main(argv, detect=lambda toolkit: ABSENT, run=never_run) == EXIT_FAILED
    check = json.loads((tmp_path / "r.json").read_text())["checks"][0]
    assert (check["status"], check["reason"]) == (FAILED, f"GPU required: {ABSENT.reason}")
