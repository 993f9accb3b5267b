from __future__ import annotations

import glob
import json
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from pants.backend.docker.package_types import BuiltDockerImage
from pants.backend.docker.target_types import DockerImageSourceField
from pants.backend.docker.util_rules import docker_binary
from pants.backend.python import target_types_rules
from pants.backend.python.goals import package_pex_binary
from pants.backend.python.target_types import PexBinary, PythonSourcesGeneratorTarget
from pants.backend.python.util_rules import pex_from_targets
from pants.core.goals import package
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.core.goals.test import TestResult
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule, collect_rules, rule
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    DependenciesRequest,
    StringField,
    Target,
)
from pants.engine.unions import UnionRule
from pants.testutil.rule_runner import RuleRunner

from dynamo_images.testutil import offline_pex_cli_options
from gpu_smoke import register
from gpu_smoke.contract import CONTAINER_CHECKS
from gpu_smoke.rules import (
    GpuSmokeError,
    GpuSmokeTestFieldSet,
    GpuSmokeTestRequest,
    checks_argv,
    docker_run_args,
    image_reference,
)
from gpu_smoke.target_types import GpuSmokeTestChecksField, GpuSmokeTestFrameworkField

# The real checks package, a dependency of these tests (plugins/gpu_smoke/BUILD).
CHECKS_SOURCES = "src/python/gpu_smoke_checks"
HAS_GPU = bool(glob.glob("/dev/nvidia[0-9]*"))
NO_GPU_HERE = pytest.mark.skipif(HAS_GPU, reason="this host has a GPU: the checks would run")


class ImageBuiltField(StringField):
    alias = "built"


class NeverBuiltImage(Target):
    """Stands in for a multi-GB `docker_image` (it has its fields): packaging it raises, so a
    test sees whether it was."""

    alias = "never_built_image"
    core_fields = (*COMMON_TARGET_FIELDS, DockerImageSourceField, ImageBuiltField)


@dataclass(frozen=True)
class NeverBuiltImageFieldSet(PackageFieldSet):
    required_fields = (ImageBuiltField,)
    built: ImageBuiltField


@rule
async def build_never_built_image(field_set: NeverBuiltImageFieldSet) -> BuiltPackage:
    raise AssertionError(f"{field_set.address} was built")


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=[
            *register.target_types(),
            PythonSourcesGeneratorTarget,
            PexBinary,
            NeverBuiltImage,
        ],
        rules=[
            *register.rules(),
            *package.rules(),
            *docker_binary.rules(),
            *package_pex_binary.rules(),
            *pex_from_targets.rules(),
            *target_types_rules.rules(),
            *collect_rules({"build_never_built_image": build_never_built_image}),
            UnionRule(PackageFieldSet, NeverBuiltImageFieldSet),
            QueryRule(TestResult, (GpuSmokeTestRequest.Batch,)),
            QueryRule(Addresses, (DependenciesRequest,)),
            QueryRule(DigestContents, (Digest,)),
        ],
    )
    checks = {
        f"{CHECKS_SOURCES}/{path.name}": path.read_text()
        for path in Path(CHECKS_SOURCES).glob("*.py")
    }
    runner.write_files(
        {
            **checks,
            f"{CHECKS_SOURCES}/BUILD": (
                "python_sources()\n"
                'pex_binary(name="pex", entry_point="gpu_smoke_checks.cli:main", '
                'dependencies=[":gpu_smoke_checks"])\n'
            ),
            "tests/gpu_smoke/BUILD": (
                'gpu_smoke_test(name="host", checks=["nvidia-smi", "cuda-matmul"])\n'
                'gpu_smoke_test(name="container", image=":image")\n'
                'never_built_image(name="image", built="no")\n'
                'gpu_smoke_test(name="typo", image=":imgae")\n'
                f'gpu_smoke_test(name="not-an-image", image="{CHECKS_SOURCES}:pex")\n'
            ),
        }
    )
    set_options(runner)
    return runner


def set_options(runner: RuleRunner, *options: str) -> None:
    runner.set_options(
        [
            *offline_pex_cli_options(),
            "--source-root-patterns=['src/python']",
            "--python-interpreter-constraints=['CPython>=3.9,<3.14']",
            *options,
        ],
        env_inherit={"PATH", "PYENV_ROOT", "HOME"},
    )


def run(rule_runner: RuleRunner, name: str) -> TestResult:
    target = rule_runner.get_target(Address("tests/gpu_smoke", target_name=name))
    batch = GpuSmokeTestRequest.Batch("", (GpuSmokeTestFieldSet.create(target),), None)
    return rule_runner.request(TestResult, [batch])


def report(rule_runner: RuleRunner, result: TestResult) -> ET.Element:
    assert result.xml_results is not None
    (xml,) = rule_runner.request(DigestContents, [result.xml_results.digest])
    assert xml.path == f"{result.addresses[0].path_safe_spec}.xml"
    return ET.fromstring(xml.content).find("testsuite")


NO_GPU_REASON = "no GPU (no /dev/nvidia[0-9]* device node and no nvidia-smi on PATH)"


def skip_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gpu_smoke.rules" and r.levelno == logging.WARNING
    ]


@NO_GPU_HERE
@pytest.mark.parametrize(
    "name, checks",
    [
        ("host", ["nvidia-smi", "cuda-matmul"]),
        # Container mode: `:image` is a never_built_image, so this also shows that no image
        # is built on a host without a GPU.
        ("container", ["nvidia-smi", "cuda-matmul", "nixl-transfer", "framework", "serve"]),
    ],
)
def test_without_a_gpu_the_target_is_skipped_with_the_reason(
    rule_runner: RuleRunner, caplog, name: str, checks: list[str]
) -> None:
    result = run(rule_runner, name)
    # Nothing ran: neither passed nor failed, and the reason is a warning.
    assert result.exit_code is None
    assert skip_warnings(caplog) == [f"tests/gpu_smoke:{name} skipped: {NO_GPU_REASON}"]
    suite = report(rule_runner, result)
    assert suite.attrib["name"] == f"tests/gpu_smoke:{name}"
    assert [c.attrib["name"] for c in suite] == checks
    assert all(c.find("skipped").attrib["message"] == NO_GPU_REASON for c in suite)


def test_when_the_preflight_finds_a_gpu_the_image_is_built(rule_runner: RuleRunner) -> None:
    # `true` as the host's Python: the preflight exits 0, as on a GPU host with the toolkit.
    set_options(rule_runner, "--gpu-smoke-host-python=true")
    with pytest.raises(ExecutionError, match="tests/gpu_smoke:image was built"):
        run(rule_runner, "container")


@NO_GPU_HERE
def test_require_gpu_turns_absence_into_a_failure(rule_runner: RuleRunner) -> None:
    set_options(rule_runner, "--gpu-smoke-require-gpu")
    result = run(rule_runner, "container")
    assert result.exit_code == 1
    assert "GPU required: no GPU (" in result.stdout
    assert report(rule_runner, result).attrib["failures"] == "5"


@pytest.mark.parametrize("gpu", [False, True], ids=["no GPU", "GPU"])
def test_an_image_field_that_names_no_image_fails_on_every_machine(
    rule_runner: RuleRunner, gpu: bool
) -> None:
    if gpu:  # `true` as the host's Python: the preflight passes, as on a GPU host.
        set_options(rule_runner, "--gpu-smoke-host-python=true")
    with pytest.raises(ExecutionError) as error:
        run(rule_runner, "typo")
    message = str(error.value)
    assert "the `image` field of tests/gpu_smoke:typo" in message
    assert "tests/gpu_smoke:imgae" in message and "Did you mean" in message

    with pytest.raises(ExecutionError) as error:
        run(rule_runner, "not-an-image")
    message = str(error.value)
    assert (
        f"The `image` field of tests/gpu_smoke:not-an-image names {CHECKS_SOURCES}:pex, a "
        "`pex_binary` target; it must name a `docker_image`" in message
    )


def test_the_image_is_a_dependency_that_peek_checks(rule_runner: RuleRunner) -> None:
    def dependencies(name: str) -> Addresses:
        target = rule_runner.get_target(Address("tests/gpu_smoke", target_name=name))
        return rule_runner.request(Addresses, [DependenciesRequest(target[Dependencies])])

    assert list(dependencies("container")) == [Address("tests/gpu_smoke", target_name="image")]
    assert list(dependencies("host")) == []
    with pytest.raises(ExecutionError, match="the `image` field of tests/gpu_smoke:typo"):
        dependencies("typo")


def test_checks_pex_must_name_a_packageable_target(rule_runner: RuleRunner) -> None:
    set_options(rule_runner, f"--gpu-smoke-checks-pex={CHECKS_SOURCES}:gpu_smoke_checks")
    with pytest.raises(ExecutionError, match=r"\[gpu-smoke\].checks_pex names .* it must name one"):
        run(rule_runner, "host")


def test_checks_argv_and_docker_command() -> None:
    target = RuleRunner(target_types=register.target_types())
    target.write_files(
        {"t/BUILD": 'gpu_smoke_test(name="x", image="//:img", checks=["serve"], framework="vllm")'}
    )
    field_set = GpuSmokeTestFieldSet.create(target.get_target(Address("t", target_name="x")))
    argv = checks_argv("run", field_set, "/reports", require_gpu=True)
    assert argv == (
        "-m", "gpu_smoke_checks", "run", "--checks", "serve", "--expect-gpus", "1",
        "--suite", "t:x", "--junit-xml", "/reports/t.x.xml", "--json", "/reports/t.x.json",
        "--require-gpu", "--framework", "vllm",
    )  # fmt: skip
    args = docker_run_args("sha256:abc", "d/checks.pex", ("--ipc=host",), argv)
    assert args[:6] == ("gpu-smoke-reports", "--rm", "--gpus", "all", "--ipc=host", "-v")
    assert args[6] == f"{{chroot}}/d/checks.pex:{CONTAINER_CHECKS}:ro"
    assert args[9:] == ("-e", f"PYTHONPATH={CONTAINER_CHECKS}", "sha256:abc", "python", *argv)


def test_the_image_is_run_by_id_or_else_by_tag() -> None:
    by_id = BuiltDockerImage.create("sha256:abc", ("dynamo/vllm:runtime",), "info.json")
    assert image_reference(by_id) == "sha256:abc"
    cached = BuiltDockerImage.create("<unknown>", ("dynamo/vllm:runtime",), "info.json")
    assert image_reference(cached) == "dynamo/vllm:runtime"
    with pytest.raises(GpuSmokeError, match="neither an ID nor a tag"):
        image_reference(BuiltDockerImage.create("<unknown>", (), "info.json"))


def test_the_plugin_reads_the_checks_own_contract() -> None:
    from gpu_smoke import contract

    assert contract.CONTRACT_FILE == Path(CHECKS_SOURCES, "contract.py").absolute()
    assert contract.PACKAGE == Path(CHECKS_SOURCES).name
    assert contract.CHECK_NAMES == GpuSmokeTestChecksField.default
    assert contract.FRAMEWORKS == GpuSmokeTestFrameworkField.valid_choices == (
        "vllm", "sglang", "trtllm",
    )  # fmt: skip


def test_the_json_report_reason_is_what_the_skip_says() -> None:
    from pants.engine.fs import FileContent

    from gpu_smoke.rules import skip_reason

    json_report = json.dumps({"gpu": {"reason": "r"}}).encode()
    reports = DigestContents([FileContent("a.xml", b"<x/>"), FileContent("a.json", json_report)])
    assert skip_reason(reports) == "r"
