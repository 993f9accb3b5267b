"""Quality gates that run whenever a `docker_image` is packaged: size budget and SBOM.

The package rule (`package_image.py`) asks for `ImageGates` of the image it built or reused
(`reuse.py`): `size_budget` is checked, then the `sbom` written. Both look at the image
through processes keyed on its ID, which names its content, so Pants' process cache answers
them on every `package` after the first: a no-op `package` runs no `docker` command for them.

An SBOM is made one of two ways, and says which in its metadata (`dynamo:sbom:method`):

- `collector`: the image's own python3 runs sbom_collector.py in a container and lists what
  is installed (any image with python3);
- `derived`: for an image with `sbom_installs`, whose base is an in-repo image with an SBOM,
  no container runs: the base's SBOM (in the build context) plus the distributions of the
  wheels and PEX files its layers install, read on the host by the same collector script
  (`--installed-at`), with the same components an in-image run lists.
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
from pants.backend.docker.util_rules.docker_build_context import (
    DockerBuildContext,
    DockerBuildContextRequest,
)
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact
from pants.core.util_rules.system_binaries import (
    BinaryPathRequest,
    BinaryPaths,
    BinaryPathTest,
)
from pants.engine.addresses import Address
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    FileContent,
    MergeDigests,
    PathGlobs,
)
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict

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
    # The digests of its layers' contents, bottom first: an image built on another starts
    # with all of the other's.
    layers: tuple[str, ...]


_FACTS_FORMAT = (
    '{"size": {{.Size}}, "os": {{json .Os}}, "arch": {{json .Architecture}}, '
    '"variant": {{json .Variant}}, "created": {{json .Created}}, '
    '"layers": {{json .RootFS.Layers}}}'
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
    return ImageFacts(
        size=int(facts["size"]),
        platform=platform,
        created=facts["created"],
        layers=tuple(facts["layers"] or ()),
    )


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
    # `sbom_installs`: {site-packages directory: build-context paths}; empty: run the collector.
    installs: FrozenDict[str, tuple[str, ...]] = FrozenDict()


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


# `dynamo:sbom:method`: how the SBOM's components were found (module doc).
COLLECTED = "collector"
DERIVED = "derived"


@dataclass(frozen=True)
class SbomContents:
    """What an SBOM lists: the image's OS (`debian 12`) and its components, and how they were
    found (`COLLECTED` or `DERIVED` from the base image `base_image_id`)."""

    os: str
    components: tuple[dict[str, Any], ...]
    method: str
    base_image_id: str = ""


def cyclonedx_bom(
    request: ImageSbomRequest, facts: ImageFacts, contents: SbomContents
) -> dict[str, Any]:
    name, version = _split_reference(request.tags[0]) if request.tags else (
        str(request.address),
        "",
    )
    properties = [
        {"name": "dynamo:image:id", "value": request.image_id},
        {"name": "dynamo:image:platform", "value": facts.platform},
        *({"name": "dynamo:image:tag", "value": tag} for tag in request.tags),
        {"name": "dynamo:os", "value": contents.os},
    ]
    # One component per place: a distribution installed again where the base had it is the
    # later install's.
    by_ref = {c["bom-ref"]: c for c in contents.components}
    components = sorted(
        by_ref.values(), key=lambda c: (c["purl"].split("/")[0], c["name"], c["bom-ref"])
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
            "properties": [
                {"name": "dynamo:pants:address", "value": str(request.address)},
                {"name": "dynamo:sbom:method", "value": contents.method},
                *(
                    [{"name": "dynamo:sbom:base-image", "value": contents.base_image_id}]
                    if contents.base_image_id
                    else []
                ),
            ],
        },
        "components": components,
    }


def _collector() -> CreateDigest:
    return CreateDigest([FileContent(COLLECTOR, resources.read_binary("dynamo_images", COLLECTOR))])


@dataclass(frozen=True)
class CollectedSbomRequest:
    address: Address
    image_id: str


@rule(desc="List the packages in a Docker image")
async def collected_sbom(request: CollectedSbomRequest) -> SbomContents:
    collector_digest = await Get(Digest, CreateDigest, _collector())
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
    return SbomContents(
        os=f"{collected['os']['id']} {collected['os']['version_id']}",
        components=tuple(collected["components"]),
        method=COLLECTED,
    )


# Where the host's python3 for the collector's `--installed-at` is looked for (3.6+, stdlib
# only): the system's, never a project's virtualenv.
_HOST_PYTHON_SEARCH_PATH = ("/usr/bin", "/bin", "/usr/local/bin")


def _base_image_candidates(
    image_layers: tuple[str, ...], upstream: dict[str, ImageFacts]
) -> tuple[str, ...]:
    """The in-repo images an image is built on: of the upstream images in its build context
    (its base and theirs), those with the most of its bottom layers (several only when an
    image adds no layer to the one before it: then both list the same packages). Empty when
    it is built on none of them."""
    ancestors = {
        image_id: len(f.layers)
        for image_id, f in upstream.items()
        if f.layers and image_layers[: len(f.layers)] == f.layers
    }
    most = max(ancestors.values(), default=0)
    return tuple(sorted(i for i, n in ancestors.items() if n == most))


def _base_sbom(
    request: ImageSbomRequest, candidates: tuple[str, ...], sboms: DigestContents
) -> tuple[str, dict[str, Any]]:
    """(ID, SBOM) of the base image, from the SBOMs of the build context."""
    by_id = {}
    for sbom in sboms:
        bom = json.loads(sbom.content)
        by_id[bom.get("metadata", {}).get("component", {}).get("bom-ref")] = bom
    for image_id in candidates:
        if image_id in by_id:
            return image_id, by_id[image_id]
    raise ImageSbomError(
        f"{request.address} has `sbom_installs`: its SBOM is its base image's plus what it "
        f"installs, but its base image ({candidates[0]}) has no SBOM in its build context. "
        f"Set `sbom=True` on the base image's target, or remove `sbom_installs` from "
        f"{request.address} to have its packages listed by running the image."
    )


@rule(desc="Derive a Docker image's SBOM from its base image's")
async def derived_sbom(request: ImageSbomRequest) -> SbomContents:
    """The base image's SBOM plus the distributions `sbom_installs` names (module doc)."""
    context = await Get(
        DockerBuildContext, DockerBuildContextRequest(request.address, build_upstream_images=True)
    )
    upstream_ids = sorted(set(context.upstream_image_ids))
    # (`!GLOB`: files left out by the collector; they are inside an archive already listed.)
    patterns = sorted(
        {p for paths in request.installs.values() for p in paths if not p.startswith("!")}
    )
    sboms, archives, collector_digest, pythons, facts = await MultiGet(
        Get(DigestContents, DigestSubset(context.digest, PathGlobs([f"**/*.{SBOM_ENDING}"]))),
        Get(
            Digest,
            DigestSubset(
                context.digest, PathGlobs([g for p in patterns for g in (p, f"{p}/**")])
            ),
        ),
        Get(Digest, CreateDigest, _collector()),
        Get(
            BinaryPaths,
            BinaryPathRequest(
                binary_name="python3",
                search_path=_HOST_PYTHON_SEARCH_PATH,
                test=BinaryPathTest(args=["-c", "import sys; assert sys.version_info >= (3, 6)"]),
            ),
        ),
        Get(ImageFacts, ImageFactsRequest(request.image_id)),
    )
    upstream_facts = await MultiGet(
        Get(ImageFacts, ImageFactsRequest(image_id)) for image_id in upstream_ids
    )
    candidates = _base_image_candidates(facts.layers, dict(zip(upstream_ids, upstream_facts)))
    if not candidates:
        # Its contents are not what the host knows: list them in the image instead.
        logger.warning(
            f"{request.address}: its image ({request.image_id}) is built on none of the "
            f"in-repo images of its build context ({', '.join(upstream_ids) or 'none'}), so "
            "its SBOM is listed by running the image instead of derived (`sbom_installs`). "
            "Its Dockerfile must be `FROM` a build arg naming a `docker_image` address; or "
            "the base's tag moved to another image while it was built (another checkout "
            "building on the same engine): package it again."
        )
        return await Get(SbomContents, CollectedSbomRequest(request.address, request.image_id))
    base_id, base = _base_sbom(request, candidates, sboms)
    python = pythons.first_path
    if python is None:
        raise ImageSbomError(
            f"{request.address} has `sbom_installs`: its SBOM is made on the host by python3 "
            f"(3.6 or newer), which is not in {', '.join(_HOST_PYTHON_SEARCH_PATH)}. Install "
            f"python3, or remove `sbom_installs` from {request.address}."
        )
    input_digest = await Get(Digest, MergeDigests([archives, collector_digest]))
    sites = sorted(request.installs)
    results = await MultiGet(
        Get(
            FallibleProcessResult,
            Process(
                (python.path, "-I", COLLECTOR, "--installed-at", site, *request.installs[site]),
                description=(
                    f"Listing the Python distributions {request.address} installs into {site}"
                ),
                input_digest=input_digest,
                # Keyed on the archives and the collector (input digest): content only.
                cache_scope=ProcessCacheScope.SUCCESSFUL,
            ),
        )
        for site in sites
    )
    components = list(base["components"])
    for site, result in zip(sites, results):
        if result.exit_code != 0:
            raise ImageSbomError(
                f"Listing the Python distributions that {request.address} installs into {site} "
                f"(its `sbom_installs`: {', '.join(request.installs[site])}, paths in its "
                f"build context) failed:\n\n{result.stderr.decode(errors='replace').strip()}\n\n"
                "Name the wheels and packed PEX files its instructions install, as its "
                "Dockerfile sees them in the build context."
            )
        components.extend(json.loads(result.stdout)["components"])
    os_name = next(
        p["value"]
        for p in base["metadata"]["component"]["properties"]
        if p["name"] == "dynamo:os"
    )
    return SbomContents(
        os=os_name, components=tuple(components), method=DERIVED, base_image_id=base_id
    )


@rule(desc="Write a Docker image's SBOM")
async def image_sbom(request: ImageSbomRequest) -> ImageSbom:
    contents, facts = await MultiGet(
        Get(SbomContents, ImageSbomRequest, request)
        if request.installs
        else Get(SbomContents, CollectedSbomRequest(request.address, request.image_id)),
        Get(ImageFacts, ImageFactsRequest(request.image_id)),
    )
    bom = cyclonedx_bom(request, facts, contents)
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
    how = "; derived from its base image's SBOM" if contents.method == DERIVED else ""
    return ImageSbom(
        digest,
        BuiltImageSbom(
            relpath=request.path,
            extra_log_lines=(
                f"SBOM (CycloneDX 1.5): {kinds.count('deb')} Debian packages, "
                f"{kinds.count('python')} Python distributions{how}",
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
    sbom_installs: FrozenDict[str, tuple[str, ...]] = FrozenDict()


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
            ImageSbom,
            ImageSbomRequest(
                request.address, image.image_id, image.tags, path, request.sbom_installs
            ),
        )
        artifacts.append(built_sbom.artifact)
        digests.append(built_sbom.digest)
    digest = await Get(Digest, MergeDigests(digests)) if len(digests) > 1 else package.digest
    return BuiltPackage(digest, tuple(artifacts))


def rules():
    return collect_rules()
