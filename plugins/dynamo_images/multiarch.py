"""Rules of the architecture matrix: per-platform images, their inputs' arch, manifest lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dynamo_wheels.api import NativeWheels, native_wheel_platform_tag
from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.package_types import BuiltDockerImage
from pants.backend.docker.target_types import DockerImageTagsField, DockerImageTarget
from pants.backend.python.target_types import PexCompletePlatformsField, PexPlatformsField
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    EnvironmentAwarePackageRequest,
    OutputPathField,
    PackageFieldSet,
)
from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.addresses import Addresses
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.process import InteractiveProcess, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    FieldSet,
    GeneratedTargets,
    GenerateTargetsRequest,
    InvalidFieldException,
    Target,
    Targets,
    ValidatedDependencies,
    ValidateDependenciesRequest,
)
from pants.engine.unions import UnionMembership, UnionRule
from pants.util.strutil import bullet_list, softwrap

from dynamo_images.docker_process import DockerProcess, DockerScript
from dynamo_images.image_pex import ImagePexDependenciesField
from dynamo_images.image_wheels import ImageWheelsDependenciesField
from dynamo_images.platforms import (
    PLATFORMS,
    Arch,
    arch_tag,
    host_arch,
    is_loopback_registry,
    manifest_lists,
    registry_of,
    substitute_arch,
    wheel_arch,
)
from dynamo_images.target_types import (
    DockerImageBuildPlatformField,
    DockerImagePlatformsField,
    DockerManifestListDependenciesField,
    DockerManifestListTarget,
    MultiArchDockerImageTarget,
    MultiArchOverridesField,
)

# Also run by tests/python/smoke/test_multiarch.py, from its file.
PUSH_SCRIPT = DockerScript("dynamo_images", "push_manifest_list.sh")

# --- generation -------------------------------------------------------------------------


class GenerateMultiArchDockerImages(GenerateTargetsRequest):
    generate_from = MultiArchDockerImageTarget


def _for_arch(value: Any, arch: Arch) -> Any:
    if isinstance(value, str):
        return substitute_arch(value, arch)
    if isinstance(value, (list, tuple)):
        return [_for_arch(item, arch) for item in value]
    if isinstance(value, dict):
        return {key: _for_arch(item, arch) for key, item in value.items()}
    return value


def _overrides(generator: Target, arches: list[str]) -> dict[str, dict[str, Any]]:
    """The `overrides` field by generated name; a key that names no generated target fails."""
    names = [*arches, "manifest"]
    result: dict[str, dict[str, Any]] = {}
    for keys, fields in (generator[MultiArchOverridesField].value or {}).items():
        for key in keys:
            if key not in names:
                raise InvalidFieldException(
                    f"The `overrides` field in target {generator.address} has the key {key!r}, "
                    f"which names no generated target. Use one of: {', '.join(names)}."
                )
            result.setdefault(key, {}).update(fields)
    return result


@rule
async def generate_multiarch_docker_images(
    request: GenerateMultiArchDockerImages, union_membership: UnionMembership
) -> GeneratedTargets:
    address = request.template_address
    output_dir = address.spec_path.replace("/", ".")
    template = request.template
    platforms = request.generator[DockerImagePlatformsField].value or ()
    overrides = _overrides(request.generator, [PLATFORMS[p].name for p in platforms])
    images = []
    for platform in platforms:
        arch = PLATFORMS[platform]
        fields = _for_arch(template, arch)
        fields[DockerImageTagsField.alias] = [
            arch_tag(tag, arch)
            for tag in fields.get(DockerImageTagsField.alias, DockerImageTagsField.default)
        ]
        fields["extra_build_args"] = [
            *fields.get("extra_build_args", ()),
            f"ARCH={arch.name}",
            f"ARCH_ALT={arch.alt}",
        ]
        fields[DockerImageBuildPlatformField.alias] = platform
        fields[OutputPathField.alias] = (
            f"{output_dir}/{address.target_name}-{arch.name}.docker-info.json"
        )
        fields.update(overrides.get(arch.name, {}))
        images.append(
            DockerImageTarget(
                fields,
                address.create_generated(arch.name),
                union_membership,
                residence_dir=address.spec_path,
            )
        )
    manifest = DockerManifestListTarget(
        {
            "description": f"Manifest list of {address.spec}'s per-platform images",
            "tags": template.get("tags"),
            DockerManifestListDependenciesField.alias: [image.address.spec for image in images],
            **overrides.get("manifest", {}),
        },
        address.create_generated("manifest"),
        union_membership,
        residence_dir=address.spec_path,
    )
    return GeneratedTargets(request.generator, [*images, manifest])


# --- every input has a build for the image's platform ---------------------------------------


@dataclass(frozen=True)
class PlatformImageFieldSet(FieldSet):
    required_fields = (DockerImageBuildPlatformField,)

    build_platform: DockerImageBuildPlatformField


class ValidatePlatformImageDependencies(ValidateDependenciesRequest):
    field_set_type = PlatformImageFieldSet


def _missing_arch_build(dependency: Target, arch: Arch, native_wheels: NativeWheels) -> str | None:
    """Why `dependency` has no build for `arch` (None: it has one)."""
    tag = native_wheel_platform_tag(dependency, native_wheels)
    if tag is not None:
        built_for = wheel_arch(tag)
        if built_for not in (None, arch):
            return (
                f"{dependency.address} builds {tag} wheels: depend on a `native_wheel` with an "
                f"`*_{arch.alt}` platform_tag instead (write its address with {{arch}} or "
                "{arch_alt} to pick it per platform)"
            )
    # image_pex and image_wheels resolve for the interpreter Pex builds with, on this host.
    for field, alias in ((ImagePexDependenciesField, "image_pex"),
                         (ImageWheelsDependenciesField, "image_wheels")):  # fmt: skip
        if dependency.has_field(field) and host_arch() != arch:
            return (
                f"{dependency.address} is an `{alias}`, resolved for this host only: make the "
                f"{arch.alt} PEX with containers/build-inputs/foreign_pex.sh "
                "(containers/images_macros.py, `_pex`)"
            )
    if dependency.has_field(PexPlatformsField):
        resolved_for_platforms = dependency[PexPlatformsField].value or dependency[
            PexCompletePlatformsField
        ].value
        host = host_arch()
        if not resolved_for_platforms and host != arch:
            return (
                f"{dependency.address} is resolved for this host ({host.alt if host else '?'}) "
                f"only: give it `complete_platforms` with a {arch.alt} platform"
            )
    return None


@rule
async def validate_platform_image_dependencies(
    request: ValidatePlatformImageDependencies, native_wheels: NativeWheels
) -> ValidatedDependencies:
    platform = request.field_set.build_platform.value
    if not platform:
        return ValidatedDependencies()
    arch = PLATFORMS[platform]
    dependencies = await Get(Targets, Addresses(request.dependencies))
    missing = [
        reason
        for reason in (_missing_arch_build(dep, arch, native_wheels) for dep in dependencies)
        if reason
    ]
    if missing:
        raise InvalidFieldException(
            f"{request.field_set.address} is built for {platform}, but some of its inputs "
            f"have no {arch.name} build:\n\n{bullet_list(missing)}"
        )
    return ValidatedDependencies()


# --- manifest lists ---------------------------------------------------------------------
# A manifest list lives in a registry only: `package` builds nothing for it (so that
# `./pants package containers/vllm:runtime` stays one image while the emulated members carry
# the tag pants.toml leaves out), and `publish` builds every member, whatever its tags, and
# pushes the members and then the list. `./pants publish containers/dynamo:runtime` thus ships
# every arch, and a list's plain tag never points at images older than its `-amd64` ones.


@dataclass(frozen=True)
class ManifestListMembers:
    """A manifest list's per-platform `docker_image` targets."""

    images: Targets


@rule
async def manifest_list_members(field: DockerManifestListDependenciesField) -> ManifestListMembers:
    images = [
        target
        for target in await Get(Targets, DependenciesRequest(field))
        if DockerPackageFieldSet.is_applicable(target)
    ]
    unplatformed = [str(t.address) for t in images if not t[DockerImageBuildPlatformField].value]
    if unplatformed or not images:
        raise InvalidFieldException(
            f"The manifest list {field.address} needs `docker_image` dependencies with "
            f"`build_platform` set; these have none: {', '.join(unplatformed) or '(no images)'}."
        )
    return ManifestListMembers(Targets(images))


@dataclass(frozen=True)
class BuiltManifestLists:
    """The members built: ((list reference, (per-arch image reference, ...)), ...)."""

    lists: tuple[tuple[str, tuple[str, ...]], ...]


@rule(desc="Build a manifest list's per-platform images")
async def build_manifest_lists(field: DockerManifestListDependenciesField) -> BuiltManifestLists:
    members = await Get(ManifestListMembers, DockerManifestListDependenciesField, field)
    packages = await MultiGet(
        Get(BuiltPackage, EnvironmentAwarePackageRequest(DockerPackageFieldSet.create(target)))
        for target in members.images
    )
    arch_refs = {
        tag: PLATFORMS[target[DockerImageBuildPlatformField].value].name
        for target, package in zip(members.images, packages)
        for image in package.artifacts
        if isinstance(image, BuiltDockerImage)
        for tag in image.tags
    }
    return BuiltManifestLists(tuple(manifest_lists(arch_refs).items()))


@dataclass(frozen=True)
class DockerManifestListFieldSet(PackageFieldSet):
    required_fields = (DockerManifestListDependenciesField,)

    dependencies: DockerManifestListDependenciesField


@rule
async def package_manifest_list(field_set: DockerManifestListFieldSet) -> BuiltPackage:
    members = await Get(
        ManifestListMembers, DockerManifestListDependenciesField, field_set.dependencies
    )
    images = ", ".join(str(target.address) for target in members.images)
    return BuiltPackage(
        EMPTY_DIGEST,
        (
            BuiltPackageArtifact(
                relpath=None,
                extra_log_lines=(
                    f"Manifest list {field_set.address} over {images}: nothing to build here "
                    f"(a list lives in a registry); `./pants publish {field_set.address}` "
                    "builds and pushes the images, then the list",
                ),
            ),
        ),
    )


class PublishManifestListRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishManifestListFieldSet(PublishFieldSet):
    publish_request_type = PublishManifestListRequest
    required_fields = (DockerManifestListDependenciesField,)

    dependencies: DockerManifestListDependenciesField

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "docker manifest", **super().get_output_data()})


@rule
async def publish_manifest_lists(request: PublishManifestListRequest) -> PublishProcesses:
    built = await Get(
        BuiltManifestLists, DockerManifestListDependenciesField, request.field_set.dependencies
    )
    lists = [(name, refs, registry_of(name)) for name, refs in built.lists]
    pushes = iter(
        await MultiGet(
            Get(
                Process,
                DockerProcess(
                    ("--insecure" if is_loopback_registry(registry) else "--secure", name, *refs),
                    description=f"Publishing the manifest list {name}",
                    script=PUSH_SCRIPT,
                    # `docker manifest` keeps its lists under $HOME/.docker.
                    env_var_names=("HOME", "DOCKER_CONFIG"),
                ),
            )
            for name, refs, registry in lists
            if registry is not None
        )
    )
    return PublishProcesses(
        PublishPackages(
            names=(name,),
            description=softwrap(
                """
                (its name has no registry: add one to `[docker].registries` in pants.toml)
                """
            ),
        )
        if registry is None
        else PublishPackages(
            names=(name,),
            process=InteractiveProcess.from_process(next(pushes)),
            description=registry,
        )
        for name, refs, registry in lists
    )


def rules():
    return (
        *collect_rules(),
        UnionRule(GenerateTargetsRequest, GenerateMultiArchDockerImages),
        UnionRule(ValidateDependenciesRequest, ValidatePlatformImageDependencies),
        UnionRule(PackageFieldSet, DockerManifestListFieldSet),
        *PublishManifestListFieldSet.rules(),
    )
