"""The platforms images can be built for, and the pure helpers the multi-arch rules use."""

from __future__ import annotations

import platform as host_platform
from dataclasses import dataclass

from dynamo_wheels.api import platform_tag_error


@dataclass(frozen=True)
class Arch:
    platform: str  # Docker's name: linux/arm64
    name: str  # Docker's / Debian's arch: arm64 (BuildKit's TARGETARCH, generated target names)
    alt: str  # the kernel's / wheels' name: aarch64 (uname -m, manylinux tags, ARCH_ALT)


ARCHES = (
    Arch("linux/amd64", "amd64", "x86_64"),
    Arch("linux/arm64", "arm64", "aarch64"),
)
PLATFORMS = {arch.platform: arch for arch in ARCHES}
SUPPORTED_PLATFORMS = tuple(PLATFORMS)


def host_arch() -> Arch | None:
    machine = host_platform.machine()
    return next((arch for arch in ARCHES if machine in (arch.name, arch.alt)), None)


def substitute_arch(text: str, arch: Arch) -> str:
    """Fills `{arch}` (amd64, arm64) and `{arch_alt}` (x86_64, aarch64) in a field value.

    Plain replacement, not str.format: Dockerfile lines carry `${VAR}` braces of their own.
    """
    return text.replace("{arch}", arch.name).replace("{arch_alt}", arch.alt)


def arch_tag(tag: str, arch: Arch) -> str:
    """A per-arch image's tag: the manifest list's tag plus the arch."""
    return f"{tag}-{arch.name}"


def wheel_arch(platform_tag: str) -> Arch | None:
    """The arch a wheel platform tag (manylinux_2_34_aarch64, any) runs on; None: every arch.

    A malformed tag raises: it must never pass as fitting every arch."""
    if platform_tag == "any":
        return None
    error = platform_tag_error(platform_tag)
    if error:
        raise ValueError(error)
    return next(arch for arch in ARCHES if platform_tag.endswith("_" + arch.alt))


def registry_of(image_ref: str) -> str | None:
    """The registry host of an image reference, as Docker reads it (None: Docker Hub / local)."""
    first, sep, _ = image_ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def is_loopback_registry(registry: str) -> bool:
    """Docker talks plain HTTP to loopback registries; `docker manifest` must be told so."""
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


def manifest_lists(arch_refs: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Groups per-arch image references into manifest lists.

    `arch_refs` maps each per-arch reference (`reg/repo:tag-arm64`) to its arch name; the list
    that holds it is the same reference without the `-<arch>` suffix.
    """
    lists: dict[str, list[str]] = {}
    for ref, arch in sorted(arch_refs.items()):
        suffix = "-" + arch
        if not ref.endswith(suffix):
            raise ValueError(f"{ref} is not tagged for {arch}: per-arch tags end in {suffix}")
        lists.setdefault(ref[: -len(suffix)], []).append(ref)
    return {name: tuple(refs) for name, refs in lists.items()}
