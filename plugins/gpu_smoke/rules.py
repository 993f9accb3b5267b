"""`pants test` for `gpu_smoke_test`: decide GPU presence on the host, then run the checks.

The checks themselves (src/python/gpu_smoke_checks) detect the GPU and write the results;
these rules only choose where they run:

1. host mode (no `image`): one process, `<host python> -m gpu_smoke_checks run`.
2. container mode: `... preflight --container-toolkit` on the host first; only when the host
   has a GPU and the NVIDIA Container Toolkit is the image built and the checks run in it
   with `docker run --rm --gpus all`, the checks package bind-mounted onto PYTHONPATH. A
   machine without a GPU (CI) never builds the multi-GB image.

Exit code EXIT_NO_GPU (3, the checks' contract.py) means nothing ran: the target is reported
as skipped (Pants 2.17's TestResult has no such state: `exit_code=None` plus a warning that
says why; see dynamo_images/pants_internals.py). The container's `docker run` is made like
every other docker command (dynamo_images/docker_process.py). With `[gpu-smoke].require_gpu`
the checks report absence as failures themselves (`--require-gpu`), so the test fails.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.package_types import BuiltDockerImage
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest, PackageFieldSet
from pants.core.goals.test import TestFieldSet, TestRequest, TestResult, TestSubsystem
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, DigestContents, DigestSubset, PathGlobs, RemovePrefix, Snapshot
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import (
    FieldSet,
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    InferDependenciesRequest,
    InferredDependencies,
    Targets,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from dynamo_images import docker_process
from dynamo_images.docker_process import DockerProcess, DockerScript
from dynamo_images.pants_internals import skipped_test_result
from gpu_smoke.contract import CONTAINER_CHECKS, EXIT_NO_GPU, EXIT_PASSED, PACKAGE
from gpu_smoke.subsystem import GpuSmoke
from gpu_smoke.target_types import (
    GpuSmokeTestChecksField,
    GpuSmokeTestExpectGpusField,
    GpuSmokeTestFrameworkField,
    GpuSmokeTestImageField,
    GpuSmokeTestTimeoutField,
)

logger = logging.getLogger(__name__)

REPORTS_DIR = "gpu-smoke-reports"
# Where the container writes its reports (it sees the checks package at CONTAINER_CHECKS).
CONTAINER_REPORTS = "/gpu-smoke-reports"


class GpuSmokeError(Exception):
    pass


@dataclass(frozen=True)
class GpuSmokeTestImageFieldSet(FieldSet):
    required_fields = (GpuSmokeTestImageField,)

    image: GpuSmokeTestImageField


@dataclass(frozen=True)
class GpuSmokeTestFieldSet(TestFieldSet):
    required_fields = (GpuSmokeTestChecksField,)

    image: GpuSmokeTestImageField
    checks: GpuSmokeTestChecksField
    expect_gpus: GpuSmokeTestExpectGpusField
    framework: GpuSmokeTestFrameworkField
    timeout: GpuSmokeTestTimeoutField


class GpuSmokeTestRequest(TestRequest):
    tool_subsystem = GpuSmoke
    field_set_type = GpuSmokeTestFieldSet


@dataclass(frozen=True)
class PackageOneTarget:
    """Build the single packageable target an option or field names."""

    address_inputs: UnparsedAddressInputs


@rule(desc="Package a GPU smoke test input", level=LogLevel.DEBUG)
async def package_one_target(request: PackageOneTarget) -> BuiltPackage:
    targets = await Get(Targets, UnparsedAddressInputs, request.address_inputs)
    field_sets = await Get(
        FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets)
    )
    origin = request.address_inputs.description_of_origin
    if len(field_sets.field_sets) != 1:
        raise GpuSmokeError(
            f"{origin} names {', '.join(t.address.spec for t in targets) or 'nothing'}; it must "
            "name one target that `pants package` builds."
        )
    return await Get(BuiltPackage, EnvironmentAwarePackageRequest(field_sets.field_sets[0]))


@dataclass(frozen=True)
class GpuSmokeImage:
    """The target a `gpu_smoke_test`'s `image` field names, known to be a `docker_image`."""

    address: Address


@rule(desc="Resolve a GPU smoke test's image", level=LogLevel.DEBUG)
async def resolve_gpu_smoke_image(field: GpuSmokeTestImageField) -> GpuSmokeImage:
    # A missing address fails here with Pants' own "did you mean" message, naming the field.
    targets = await Get(Targets, UnparsedAddressInputs, field.to_unparsed_address_inputs())
    (target,) = targets
    if not DockerPackageFieldSet.is_applicable(target):
        raise GpuSmokeError(
            f"The `{field.alias}` field of {field.address} names {target.address}, a "
            f"`{target.alias}` target; it must name a `docker_image` (the checks run inside "
            "it), or be left out to run the checks on the host."
        )
    return GpuSmokeImage(target.address)


class InferGpuSmokeImageDependency(InferDependenciesRequest):
    infer_from = GpuSmokeTestImageFieldSet


@rule(desc="Infer a GPU smoke test's dependency on its image", level=LogLevel.DEBUG)
async def infer_gpu_smoke_image_dependency(
    request: InferGpuSmokeImageDependency,
) -> InferredDependencies:
    """The image is a dependency: `peek` and `dependencies` check it, and
    `--changed-dependents` reruns the test when the image changes."""
    if not request.field_set.image.value:
        return InferredDependencies([])
    image = await Get(GpuSmokeImage, GpuSmokeTestImageField, request.field_set.image)
    return InferredDependencies([image.address])


def checks_argv(
    command: str,
    field_set: GpuSmokeTestFieldSet,
    reports_dir: str,
    container_toolkit: bool = False,
    require_gpu: bool = False,
) -> tuple[str, ...]:
    """`-m gpu_smoke_checks <command> ...` for the target, writing reports to reports_dir."""
    name = field_set.address.path_safe_spec
    argv = [
        "-m", PACKAGE, command,
        "--checks", ",".join(field_set.checks.value or ()),
        "--expect-gpus", str(field_set.expect_gpus.value),
        "--suite", field_set.address.spec,
        "--junit-xml", f"{reports_dir}/{name}.xml",
        "--json", f"{reports_dir}/{name}.json",
    ]  # fmt: skip
    if container_toolkit:
        argv.append("--container-toolkit")
    if require_gpu:
        argv.append("--require-gpu")
    if command == "run" and field_set.framework.value:
        argv.extend(["--framework", field_set.framework.value])
    return tuple(argv)


# $1 docker, $2 the reports folder (made writable for the image's user), then `docker run`'s.
RUN_IN_IMAGE = DockerScript("gpu_smoke", "run_in_image.sh")


def docker_run_args(
    image_id: str, checks_pex: str, run_args: tuple[str, ...], argv: tuple[str, ...]
) -> tuple[str, ...]:
    """The container-mode `run_in_image.sh` arguments after docker's path: the reports folder,
    then `docker run`'s (Pants replaces `{chroot}` with the sandbox's path)."""
    return (
        REPORTS_DIR,
        "--rm", "--gpus", "all", *run_args,
        "-v", f"{{chroot}}/{checks_pex}:{CONTAINER_CHECKS}:ro",
        "-v", f"{{chroot}}/{REPORTS_DIR}:{CONTAINER_REPORTS}",
        "-e", f"PYTHONPATH={CONTAINER_CHECKS}",
        image_id, "python", *argv,
    )  # fmt: skip


def image_reference(image: BuiltDockerImage) -> str:
    """The built image's ID, or its first tag when Pants could not read the ID from BuildKit's
    output (it records "<unknown>" when a fully cached build prints no `writing image`)."""
    if image.image_id.startswith("sha256:"):
        return image.image_id
    if image.tags:
        return image.tags[0]
    raise GpuSmokeError(f"Pants recorded neither an ID nor a tag for the image {image.relpath}.")


def skip_reason(reports: DigestContents) -> str:
    for report in reports:
        if report.path.endswith(".json"):
            return json.loads(report.content)["gpu"]["reason"]
    raise GpuSmokeError("the GPU checks wrote no JSON report")


@rule(desc="Run GPU smoke checks", level=LogLevel.DEBUG)
async def run_gpu_smoke_test(
    batch: GpuSmokeTestRequest.Batch[GpuSmokeTestFieldSet, Any],
    subsystem: GpuSmoke,
    test_subsystem: TestSubsystem,
) -> TestResult:
    field_set = batch.single_element
    container = bool(field_set.image.value)
    if container:
        # On every machine, GPU or not: a wrong `image` must not pass where it is never run.
        await Get(GpuSmokeImage, GpuSmokeTestImageField, field_set.image)
    checks = await Get(
        BuiltPackage,
        PackageOneTarget(
            UnparsedAddressInputs(
                [subsystem.checks_pex],
                owning_address=None,
                description_of_origin="[gpu-smoke].checks_pex",
            )
        ),
    )
    checks_pex = checks.artifacts[0].relpath
    assert checks_pex is not None
    host_env = await Get(EnvironmentVars, EnvironmentVarsRequest(subsystem.env_vars))
    timeout = field_set.timeout.calculate_from_global_options(test_subsystem)
    # On the host: the whole run (host mode), or only the GPU detection (container mode).
    # Never cached: whether a GPU is there is a fact about this machine, not about the inputs.
    host_argv = checks_argv(
        "preflight" if container else "run",
        field_set,
        REPORTS_DIR,
        container_toolkit=container,
        require_gpu=subsystem.require_gpu,
    )
    host_result = await Get(
        FallibleProcessResult,
        Process(
            # /usr/bin/env finds the host's Python on the PATH passed in, not one Pants picks.
            argv=("/usr/bin/env", subsystem.host_python, *host_argv),
            input_digest=checks.digest,
            env={**host_env, "PYTHONPATH": checks_pex},
            output_directories=(REPORTS_DIR,),
            description=f"{'GPU preflight' if container else 'GPU checks'} for {field_set.address}",
            level=LogLevel.DEBUG,
            timeout_seconds=timeout,
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    result = host_result
    if container and host_result.exit_code == EXIT_PASSED:
        image_inputs = field_set.image.to_unparsed_address_inputs()
        image = await Get(BuiltPackage, PackageOneTarget(image_inputs))
        built = [a for a in image.artifacts if isinstance(a, BuiltDockerImage)]
        if not built:
            raise GpuSmokeError(
                f"Packaging {field_set.image.value} (the `image` field of {field_set.address}) "
                "gave no Docker image."
            )
        result = await Get(
            FallibleProcessResult,
            DockerProcess(
                docker_run_args(
                    image_reference(built[0]),
                    checks_pex,
                    tuple(subsystem.docker_run_args),
                    checks_argv("run", field_set, CONTAINER_REPORTS, require_gpu=True),
                ),
                description=f"GPU checks in {field_set.image.value} for {field_set.address}",
                script=RUN_IN_IMAGE,
                # Under [docker].env_vars (DOCKER_HOST and the like, as for `docker build`).
                env=host_env,
                input_digest=checks.digest,
                output_directories=(REPORTS_DIR,),
                timeout_seconds=timeout,
                cache_scope=ProcessCacheScope.PER_SESSION,
            ),
        )

    reports = await Get(Digest, RemovePrefix(result.output_digest, REPORTS_DIR))
    xml_results = await Get(Snapshot, DigestSubset(reports, PathGlobs(["*.xml"])))
    if result.exit_code == EXIT_NO_GPU:
        reason = skip_reason(await Get(DigestContents, Digest, reports))
        # Logged on every run (the rule reruns each session: a TestResult is never memoized).
        logger.warning(f"{field_set.address} skipped: {reason}")
        return skipped_test_result(result, field_set.address, test_subsystem.output, xml_results)
    return TestResult.from_fallible_process_result(
        result, field_set.address, test_subsystem.output, xml_results=xml_results
    )


def rules():
    return [
        *collect_rules(),
        *docker_process.rules(),
        *GpuSmokeTestRequest.rules(),
        UnionRule(InferDependenciesRequest, InferGpuSmokeImageDependency),
    ]

