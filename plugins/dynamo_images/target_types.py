"""Target types and fields this repo adds to Pants' Docker backend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pants.backend.docker.lint.hadolint.skip_field import SkipHadolintField
from pants.backend.docker.target_types import (
    DockerBuildOptionFieldMixin,
    DockerBuildOptionFieldValueMixin,
    DockerImageTarget,
    OptionValueFormatter,
)
from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    InvalidFieldException,
    StringField,
    StringSequenceField,
    Target,
    TargetGenerator,
)
from pants.util.strutil import help_text

from dynamo_images.platforms import SUPPORTED_PLATFORMS


class DockerImageBuildNetworkField(DockerBuildOptionFieldValueMixin, StringField):
    """`docker build --network`: Pants 2.17's docker_image has no such field.

    Image builds here are hermetic: every Python package reaches the build through the
    context (Pants-resolved, hash-checked), so `none` is what images use.
    """

    alias = "build_network"
    default = "default"
    valid_choices = ("default", "none", "host")
    docker_build_option = "--network"
    help = help_text(
        """
        The network mode of `docker build` (its `--network` option). `none` makes the build
        hermetic: nothing in the Dockerfile can reach a network.
        """
    )


class DockerImageBuildPlatformField(DockerBuildOptionFieldMixin, StringField):
    """`docker build --platform`: Pants 2.17's docker_image has no such field."""

    alias = "build_platform"
    default = None
    valid_choices = SUPPORTED_PLATFORMS
    docker_build_option = "--platform"
    help = help_text(
        f"""
        The platform the image is built for (`docker build --platform`), one of
        {", ".join(SUPPORTED_PLATFORMS)}. Unset: the engine's own. A platform other than the
        host's builds under qemu emulation. Set by `multiarch_docker_image` on the images it
        generates; its dependencies must have a build for this platform (checked before any
        build starts).
        """
    )

    def option_values(self, *, value_formatter: OptionValueFormatter) -> Iterator[str]:
        if self.value:
            yield self.value


class DockerImagePlatformsField(StringSequenceField):
    alias = "platforms"
    required = True
    help = help_text(
        f"""
        The platforms to build the image for: one `docker_image` is generated per platform
        (`<address>#amd64`, `<address>#arm64`), plus `<address>#manifest`, the manifest list
        that publishes them under one name. Allowed: {", ".join(SUPPORTED_PLATFORMS)}.
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Iterable[str] | None, address: Address
    ) -> tuple[str, ...] | None:
        value = super().compute_value(raw_value, address)
        assert value is not None  # required
        unknown = [p for p in value if p not in SUPPORTED_PLATFORMS]
        if unknown or not value or len(set(value)) != len(value):
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must list each platform once, "
                f"from: {', '.join(SUPPORTED_PLATFORMS)}. Got {list(value)}"
                + (f"; unknown: {', '.join(unknown)}." if unknown else ".")
            )
        return value


# Everything a docker_image takes, given per generator and moved to each generated image.
# `output_path` is not: each image gets its own (`<name>-<arch>.docker-info.json`).
_MOVED_DOCKER_IMAGE_FIELDS = tuple(
    field
    for field in DockerImageTarget.core_fields
    if field not in COMMON_TARGET_FIELDS and field is not OutputPathField
) + (DockerImageBuildNetworkField, SkipHadolintField)


class MultiArchDockerImageTarget(TargetGenerator):
    alias = "multiarch_docker_image"
    help = help_text(
        """
        A `docker_image` declared once for several platforms.

        Takes every field `docker_image` takes, plus `platforms`, and generates one
        `docker_image` per platform (`#amd64`, `#arm64`) and a `docker_manifest_list`
        (`#manifest`) over them. In each generated image, `{arch}` (amd64, arm64) and
        `{arch_alt}` (x86_64, aarch64) in any string field are replaced by its arch (for
        per-arch base images, rootfs files and wheels), `build_platform` is set, the build args
        `ARCH` and `ARCH_ALT` are added (BuildKit adds `TARGETARCH` itself) and each tag gets
        the suffix `-<arch>`; the manifest list carries the tags as given.
        """
    )
    generated_target_cls = DockerImageTarget
    core_fields = (*COMMON_TARGET_FIELDS, DockerImagePlatformsField)
    copied_fields = COMMON_TARGET_FIELDS
    moved_fields = _MOVED_DOCKER_IMAGE_FIELDS


class DockerManifestListDependenciesField(Dependencies):
    help = "The per-platform `docker_image` targets the manifest list publishes."


class DockerManifestListTarget(Target):
    alias = "docker_manifest_list"
    help = help_text(
        """
        A multi-arch manifest list over per-platform `docker_image` targets (each with
        `build_platform` set and tags ending in `-<arch>`), usually generated by
        `multiarch_docker_image`.

        `package` builds the images and writes `<name>.manifest-list.json` (each list's name
        and the per-arch images in it). `publish` pushes the images and then the manifest list
        (`docker manifest create` + `push`) to the registries in their tags.
        """
    )
    core_fields = (*COMMON_TARGET_FIELDS, DockerManifestListDependenciesField, OutputPathField)
