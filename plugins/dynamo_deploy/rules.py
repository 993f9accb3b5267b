"""`pants run` for `dynamo_deployment`: package the spec's images, then run the runner.

The spec (YAML) names its images by Pants address. Inference makes them, and the runner,
dependencies of the target, so `peek`, `dependencies` and `--changed-dependents` see them.
`run` packages every image (an image whose inputs did not change is reused, see
plugins/dynamo_images), builds the runner PEX, and runs it in the workspace with the spec
and the images' docker-info.json in the run's sandbox (`--info-root {chroot}`): the runner
starts exactly the image IDs Pants just built, never a tag another build may have moved.
The runner runs `docker` itself; it gets `[docker].env_vars` (dynamo_images/docker_process.py)
over the workspace's environment, so it talks to the engine the images were built in.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml  # pants: no-infer-dep (Pants' own)
from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.python.goals.package_pex_binary import PexBinaryFieldSet
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest
from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunRequest
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Addresses, UnparsedAddressInputs
from pants.engine.fs import Digest, DigestContents, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    FieldSet,
    InferDependenciesRequest,
    InferredDependencies,
    Targets,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from dynamo_deploy.target_types import DeploymentRunnerField, DeploymentSpecField
from dynamo_images import docker_process
from dynamo_images.docker_process import DockerEnvironment, DockerEnvironmentRequest


class DeploymentError(Exception):
    pass


def image_addresses(content: bytes, origin: str) -> list[str]:
    """The `image` of every service in a spec, each once, in spec order."""
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as e:
        raise DeploymentError(f"{origin} is not valid YAML: {e}") from None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        raise DeploymentError(f"{origin}: `services` must map service names to services")
    images = []
    for name, service in services.items():
        image = service.get("image") if isinstance(service, dict) else None
        if not isinstance(image, str) or ":" not in image:
            raise DeploymentError(
                f"{origin}: services.{name}.image must be the Pants address of a docker_image "
                f"(e.g. containers/dynamo:runtime#amd64), got {image!r}"
            )
        images.append(image if image.startswith("//") else "//" + image)
    return list(dict.fromkeys(images))


@dataclass(frozen=True)
class DeploymentFieldSet(RunFieldSet):
    required_fields = (DeploymentSpecField, DeploymentRunnerField)
    # It starts containers that outlive any sandbox: the workspace only.
    run_in_sandbox_behavior = RunInSandboxBehavior.NOT_SUPPORTED

    spec: DeploymentSpecField
    runner: DeploymentRunnerField


@dataclass(frozen=True)
class DeploymentInputsFieldSet(FieldSet):
    required_fields = (DeploymentSpecField, DeploymentRunnerField)

    spec: DeploymentSpecField
    runner: DeploymentRunnerField


@dataclass(frozen=True)
class DeploymentInputs:
    spec_digest: Digest
    spec_path: str
    images: Targets
    runner: Targets


@rule(desc="Read a deployment spec", level=LogLevel.DEBUG)
async def deployment_inputs(field_set: DeploymentInputsFieldSet) -> DeploymentInputs:
    sources = await Get(SourceFiles, SourceFilesRequest([field_set.spec]))
    (spec_path,) = sources.snapshot.files
    (content,) = await Get(DigestContents, Digest, sources.snapshot.digest)
    origin = f"{spec_path} (the spec of {field_set.address})"
    images, runner = await MultiGet(
        Get(
            Targets,
            UnparsedAddressInputs(
                image_addresses(content.content, origin),
                owning_address=field_set.address,
                description_of_origin=origin,
            ),
        ),
        Get(
            Targets,
            UnparsedAddressInputs(
                [field_set.runner.value],
                owning_address=field_set.address,
                description_of_origin=f"the `runner` field of {field_set.address}",
            ),
        ),
    )
    for target in images:
        if not DockerPackageFieldSet.is_applicable(target):
            raise DeploymentError(
                f"{origin} names {target.address} as an image: a `{target.alias}` target, "
                "not a `docker_image`."
            )
    if not all(PexBinaryFieldSet.is_applicable(t) for t in runner):
        raise DeploymentError(
            f"the `runner` field of {field_set.address} must name a `pex_binary`."
        )
    return DeploymentInputs(sources.snapshot.digest, spec_path, images, runner)


class InferDeploymentDependencies(InferDependenciesRequest):
    infer_from = DeploymentInputsFieldSet


@rule(desc="Infer a deployment's images and runner", level=LogLevel.DEBUG)
async def infer_deployment_dependencies(
    request: InferDeploymentDependencies,
) -> InferredDependencies:
    inputs = await Get(DeploymentInputs, DeploymentInputsFieldSet, request.field_set)
    return InferredDependencies(
        Addresses(t.address for t in (*inputs.images, *inputs.runner))
    )


@rule(desc="Run a deployment", level=LogLevel.DEBUG)
async def run_deployment(field_set: DeploymentFieldSet) -> RunRequest:
    inputs = await Get(
        DeploymentInputs,
        DeploymentInputsFieldSet,
        DeploymentInputsFieldSet(field_set.address, field_set.spec, field_set.runner),
    )
    images = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(DockerPackageFieldSet.create(t)))
        for t in inputs.images
    )
    runner, docker_env = await MultiGet(
        Get(RunRequest, PexBinaryFieldSet, PexBinaryFieldSet.create(inputs.runner[0])),
        Get(DockerEnvironment, DockerEnvironmentRequest()),
    )
    digest = await Get(
        Digest, MergeDigests([runner.digest, inputs.spec_digest, *(i.digest for i in images)])
    )
    return RunRequest(
        digest=digest,
        args=(
            *runner.args,
            "{chroot}/" + inputs.spec_path,
            "--info-root",
            "{chroot}",
        ),
        extra_env={**docker_env.vars, **runner.extra_env},
        immutable_input_digests=runner.immutable_input_digests,
        append_only_caches=runner.append_only_caches,
    )


def rules():
    return [
        *collect_rules(),
        *docker_process.rules(),
        *DeploymentFieldSet.rules(),
        UnionRule(InferDependenciesRequest, InferDeploymentDependencies),
    ]
