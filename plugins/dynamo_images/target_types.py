"""Target types and fields this repo adds to Pants' Docker backend."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Optional, Union

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
    BoolField,
    Dependencies,
    DictStringToStringSequenceField,
    Field,
    InvalidFieldException,
    OverridesField,
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


class DockerImageSbomField(BoolField):
    alias = "sbom"
    default = False
    help = help_text(
        """
        Whether `package` writes a CycloneDX 1.5 JSON SBOM of the image's installed packages
        (Debian packages and Python distributions) beside its `.docker-info.json`, as
        `<name>.sbom.cdx.json`. The packages are listed by running the image's own `python3`
        with no network, so the image must have one; or, with `sbom_installs`, derived on
        the host from its base image's SBOM.
        """
    )


class DockerImageSbomInstallsField(DictStringToStringSequenceField):
    alias = "sbom_installs"
    help = help_text(
        """
        What the image's own instructions install, for an image whose base is another
        `docker_image` of this repo with `sbom=True`: `{site-packages directory in the image:
        [build-context paths of the wheels and packed PEX files installed there]}`; a path
        may be a glob (`wheels/dynamo_imagekit-*.whl`), and `!GLOB` leaves out the wheels it
        matches (a packed PEX's `.deps` entries that the instructions remove again). With
        `sbom=True`, the image's SBOM is then made on the host, with no container run: its
        base image's SBOM plus the Python distributions of those files (name, version,
        license from their METADATA), each at the `.dist-info` an install puts there. A
        promise: the instructions must install exactly that (Python distributions, nothing
        else); an image whose contents the host cannot know leaves it unset and gets its
        packages listed by running the image.
        """
    )


# Decimal units, as `docker images` prints sizes.
SIZE_UNITS = {"MB": 1000**2, "GB": 1000**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MB|GB)\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int | None:
    """Bytes of a size like "650MB", "9.5GB" or an integer number of MB; None if invalid."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value * SIZE_UNITS["MB"] if value > 0 else None
    match = _SIZE.match(value) if isinstance(value, str) else None
    if not match:
        return None
    size = round(float(match.group(1)) * SIZE_UNITS[match.group(2).upper()])
    return size if size > 0 else None


def format_size(size: int) -> str:
    """Bytes as docker prints them: "650 MB", "9.62 GB"."""
    unit = "GB" if size >= SIZE_UNITS["GB"] else "MB"
    return f"{size / SIZE_UNITS[unit]:.2f}".rstrip("0").rstrip(".") + f" {unit}"


# typing's forms, not `X | Y`: `./pants help` evaluates field hints under Python 3.9.
_RawSize = Optional[Union[str, int]]
_Size = Optional[int]
_RawPlatforms = Optional[Iterable[str]]
_Platforms = Optional[tuple[str, ...]]


class DockerImageSizeBudgetField(Field):
    """The most bytes the built image may have (`docker image inspect`'s `.Size`)."""

    alias = "size_budget"
    default = None
    value: _Size
    help = help_text(
        """
        The largest the image may be, as `docker image inspect` reports its size: a string like
        `"650MB"` or `"9.5GB"` (decimal units, as `docker images` prints: 1 MB = 1,000,000
        bytes) or an integer number of MB. `package` fails when the built image is larger.
        Unset: no budget.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: _RawSize, address: Address) -> _Size:
        value = super().compute_value(raw_value, address)
        if value is None:
            return None
        size = parse_size(value)
        if size is None:
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must be a positive size like "
                f"'650MB' or '9.5GB' (units MB or GB, decimal: 1 MB = 1,000,000 bytes) or an "
                f"integer number of MB, but was {value!r}."
            )
        return size


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
    def compute_value(cls, raw_value: _RawPlatforms, address: Address) -> _Platforms:
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
) + (
    DockerImageBuildNetworkField,
    SkipHadolintField,
    DockerImageSbomField,
    DockerImageSbomInstallsField,
    DockerImageSizeBudgetField,
)


class MultiArchOverridesField(OverridesField):
    help = help_text(
        """
        Field values for one generated target, by its generated name (`amd64`, `arm64`,
        `manifest`), set after `{arch}` is filled: what differs between platforms beyond
        the arch's name, e.g. `{"arm64": {"tags": ["arm64"]}, "manifest": {"tags": ["arm64"]}}`.
        A key that names no generated target fails.
        """
    )


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
        the suffix `-<arch>`; the manifest list carries the tags as given. `overrides` sets
        fields of one generated target (`arm64`, `manifest`).
        """
    )
    generated_target_cls = DockerImageTarget
    core_fields = (*COMMON_TARGET_FIELDS, DockerImagePlatformsField, MultiArchOverridesField)
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

        A manifest list exists only in a registry: `package` builds nothing for it (it names
        its images), and `publish` builds every per-platform image, whatever its tags, pushes
        them and then the manifest list (`docker manifest create` + `push`) to the registries
        in their tags. Build the images alone with `package` on each of them.
        """
    )
    core_fields = (*COMMON_TARGET_FIELDS, DockerManifestListDependenciesField)
