"""Quality gates that run whenever a `docker_image` is packaged: size budget and SBOM.

The package rule (`package_image.py`) asks for `ImageGates` of the image it built or reused
(`reuse.py`): `size_budget` is checked, then the `sbom` written. Both look at the image
through processes keyed on its ID, which names its content, so Pants' process cache answers
them on every `package` after the first: a no-op `package` runs no `docker` command for them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pants.backend.docker.package_types import BuiltDockerImage
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule

from dynamo_images.docker_process import DockerProcess, DockerScript
from dynamo_images.target_types import format_size

logger = logging.getLogger(__name__)

COLLECTOR = "sbom_collector.py"
# Where the image family's budgets are set (the BUILD prelude).
SIZE_BUDGETS_HOME = "containers/images_data.py: SIZE_BUDGETS"
SBOM_ENDING = "sbom.cdx.json"
# Fixed, so that the same image always gets the same SBOM, serial number included.
_SERIAL_NAMESPACE = uuid.UUID("5b0f5a3e-8d0c-4c1e-9f57-0d3e2a7c9b61")


class ImageSizeBudgetExceeded(Exception):
    pass


class ImageSbomError(Exception):
    pass


# --- what the engine says about an image --------------------------------------------------


@dataclass(frozen=True)
class ImageFactsRequest:
    image_id: str


@dataclass(frozen=True)
class ImageFacts:
    size: int
    platform: str
    created: str


_FACTS_FORMAT = (
    '{"size": {{.Size}}, "os": {{json .Os}}, "arch": {{json .Architecture}}, '
    '"variant": {{json .Variant}}, "created": {{json .Created}}}'
)


@rule(desc="Inspect a Docker image")
async def image_facts(request: ImageFactsRequest) -> ImageFacts:
    result = await Get(
        FallibleProcessResult,
        DockerProcess(
            ("image", "inspect", "--format", _FACTS_FORMAT, request.image_id),
            description=f"Inspecting image {request.image_id}",
            # An image ID names the image's content (config and layers): its size, platform
            # and creation time never change.
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    if result.exit_code != 0:
        raise ImageSbomError(
            f"`docker image inspect {request.image_id}` failed (exit code {result.exit_code}): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    facts = json.loads(result.stdout)
    platform = "/".join(p for p in (facts["os"], facts["arch"], facts["variant"]) if p)
    return ImageFacts(size=int(facts["size"]), platform=platform, created=facts["created"])


# --- size budget --------------------------------------------------------------------------


def check_size_budget(address: Address, facts: ImageFacts, budget: int) -> str:
    """The log line of an image within its budget; raises if it is over."""
    if facts.size > budget:
        raise ImageSizeBudgetExceeded(
            f"The image of {address} is {format_size(facts.size)} ({facts.size:,} bytes), over "
            f"its size budget of {format_size(budget)} ({budget:,} bytes) by "
            f"{format_size(facts.size - budget)}. Make the image smaller, or raise its budget "
            f"where budgets are set ({SIZE_BUDGETS_HOME}; the target's `size_budget` field)."
        )
    return (
        f"Image size: {format_size(facts.size)}, within its budget of {format_size(budget)} "
        f"({facts.size / budget:.0%})"
    )


# --- SBOM ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltImageSbom(BuiltPackageArtifact):
    # Pants' Docker publish rule reads `.tags` of every artifact of an image's package
    # (one of the Pants internals listed in pants_internals.py).
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageSbomRequest:
    address: Address
    image_id: str
    tags: tuple[str, ...]
    path: str


@dataclass(frozen=True)
class ImageSbom:
    digest: Digest
    artifact: BuiltImageSbom


def sbom_path(metadata_path: str) -> str:
    """`<name>.sbom.cdx.json` beside `<name>.docker-info.json` (`<name>-<arch>` per arch).

    An `output_path` of another form loses its last extension: `x/img.json` ->
    `x/img.sbom.cdx.json`.
    """
    directory, slash, filename = metadata_path.rpartition("/")
    stem = filename.removesuffix(".docker-info.json")
    if stem == filename:
        stem = filename.rsplit(".", 1)[0] or filename
    return f"{directory}{slash}{stem}.{SBOM_ENDING}"


COLLECT_SBOM = DockerScript("dynamo_images", "collect_sbom.sh")
# `docker run`'s exit code when the command is not found in the image.
_NOT_FOUND = 127


def _split_reference(tag: str) -> tuple[str, str]:
    """("registry:5000/repo/name", "tag") of "registry:5000/repo/name:tag"."""
    name, sep, version = tag.rpartition(":")
    return (name, version) if sep and "/" not in version else (tag, "")


def cyclonedx_bom(
    request: ImageSbomRequest, facts: ImageFacts, collected: dict[str, Any]
) -> dict[str, Any]:
    name, version = _split_reference(request.tags[0]) if request.tags else (
        str(request.address),
        "",
    )
    properties = [
        {"name": "dynamo:image:id", "value": request.image_id},
        {"name": "dynamo:image:platform", "value": facts.platform},
        *({"name": "dynamo:image:tag", "value": tag} for tag in request.tags),
        {"name": "dynamo:os", "value": f"{collected['os']['id']} {collected['os']['version_id']}"},
    ]
    components = sorted(
        collected["components"], key=lambda c: (c["purl"].split("/")[0], c["name"], c["bom-ref"])
    )
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, request.image_id)}",
        "version": 1,
        "metadata": {
            # The image's creation time: the same image always gets the same SBOM.
            "timestamp": facts.created,
            "tools": {
                "components": [
                    {
                        "type": "application",
                        "group": "dynamo",
                        "name": "dynamo_images.sbom_collector",
                    }
                ]
            },
            "component": {
                "type": "container",
                "bom-ref": request.image_id,
                "name": name,
                **({"version": version} if version else {}),
                "properties": properties,
            },
            "properties": [{"name": "dynamo:pants:address", "value": str(request.address)}],
        },
        "components": components,
    }


@rule(desc="Write a Docker image's SBOM")
async def image_sbom(request: ImageSbomRequest) -> ImageSbom:
    collector = resources.read_binary("dynamo_images", COLLECTOR)
    collector_digest, facts = await MultiGet(
        Get(Digest, CreateDigest([FileContent(COLLECTOR, collector)])),
        Get(ImageFacts, ImageFactsRequest(request.image_id)),
    )
    result = await Get(
        FallibleProcessResult,
        DockerProcess(
            (request.image_id, COLLECTOR),
            description=f"Listing the packages in {request.address} ({request.image_id})",
            script=COLLECT_SBOM,
            input_digest=collector_digest,
            # Keyed on the image ID (argv) and the collector (input digest): an image's
            # packages never change, so this runs once per image.
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    stderr = result.stderr.decode(errors="replace").strip()
    if result.exit_code == _NOT_FOUND:
        raise ImageSbomError(
            f"{request.address} has `sbom=True`, but its image ({request.image_id}) has no "
            "python3: the SBOM is collected by running the image's own python3 (no network). "
            f"Set `sbom=False` on {request.address}, or install python3 in the image.\n\n"
            f"docker: {stderr}"
        )
    if result.exit_code != 0:
        raise ImageSbomError(
            f"Listing the packages of {request.address} ({request.image_id}) for its SBOM "
            f"failed (exit code {result.exit_code}):\n\n{stderr}"
        )
    collected = json.loads(result.stdout)
    bom = cyclonedx_bom(request, facts, collected)
    digest = await Get(
        Digest,
        CreateDigest(
            [FileContent(request.path, (json.dumps(bom, indent=2, sort_keys=True) + "\n").encode())]
        ),
    )
    kinds = [
        p["value"]
        for c in bom["components"]
        for p in c["properties"]
        if p["name"] == "dynamo:package:type"
    ]
    return ImageSbom(
        digest,
        BuiltImageSbom(
            relpath=request.path,
            extra_log_lines=(
                f"SBOM (CycloneDX 1.5): {kinds.count('deb')} Debian packages, "
                f"{kinds.count('python')} Python distributions",
            ),
        ),
    )


# --- the gates of a built image ----------------------------------------------------------


@dataclass(frozen=True)
class ImageGates:
    """The gates of one built (or reused) image: its package, with the gates' lines and files."""

    address: Address
    package: BuiltPackage
    sbom: bool
    size_budget: int | None


@rule(desc="Check a Docker image's size budget and write its SBOM")
async def gate_image(request: ImageGates) -> BuiltPackage:
    package = request.package
    if not request.sbom and request.size_budget is None:
        return package
    index, image = next(
        (i, a) for i, a in enumerate(package.artifacts) if isinstance(a, BuiltDockerImage)
    )
    artifacts: list[BuiltPackageArtifact] = list(package.artifacts)
    digests = [package.digest]
    if request.size_budget is not None:
        facts = await Get(ImageFacts, ImageFactsRequest(image.image_id))
        line = check_size_budget(request.address, facts, request.size_budget)
        logger.debug(f"{request.address}: {line}")
        artifacts[index] = dataclasses.replace(
            image, extra_log_lines=(*image.extra_log_lines, line)
        )
    if request.sbom:
        assert image.relpath is not None
        path = sbom_path(image.relpath)
        built_sbom = await Get(
            ImageSbom, ImageSbomRequest(request.address, image.image_id, image.tags, path)
        )
        artifacts.append(built_sbom.artifact)
        digests.append(built_sbom.digest)
    digest = await Get(Digest, MergeDigests(digests)) if len(digests) > 1 else package.digest
    return BuiltPackage(digest, tuple(artifacts))


def rules():
    return collect_rules()
