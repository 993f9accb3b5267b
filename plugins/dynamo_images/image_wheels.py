"""`image_wheels`: the wheels a resolve locks for some requirements, downloaded and checked
against the lockfile's sha256, as a directory for an image to install straight from.

The shared torch layer (containers/base:torch) installs torch and its CUDA wheels this way:
no PEX is built for it, so its 2.6 GB of wheels are downloaded, stored and sent to the engine
as they are, and unpacked once, in the image (docs/performance.md, "Cold build"). Which
wheels: Pex's resolver on the resolve's lockfile, for the interpreter Pex builds with
(resolved.py), so the same files a PEX of those requirements would hold. The download is a
cacheable process (download_wheels.py beside this file); its key is the URLs and hashes.

A backend's stack installs its own the same way, with `exclude`: without torch and the CUDA
wheels, which the shared torch layer under every stack already holds (containers/images_data.py:
SHARED_DISTS), so a cold build never downloads, stores or sends them twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from pants.backend.python.target_types import PythonResolveField
from pants.backend.python.util_rules import pex_from_targets
from pants.backend.python.util_rules.pex import PexRequest
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    OutputPathField,
    PackageFieldSet,
)
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    InvalidFieldException,
    StringSequenceField,
    Target,
)
from pants.engine.unions import UnionRule
from pants.option.global_options import GlobalOptions, ca_certs_path_to_file_content
from pants.util.logging import LogLevel
from pants.util.strutil import help_text
from pex.pep_503 import ProjectName

from dynamo_images import resolved
from dynamo_images.resolved import LockedArtifact, LockedResolve, LockedResolveRequest

SCRIPT = "download_wheels.py"
MANIFEST = "wheels.json"
# Passed through to the download when set: urllib reads them.
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")


class ImageWheelsDependenciesField(Dependencies):
    help = help_text(
        """
        The requirements whose wheels to download (`python_requirement` targets of the
        target's resolve), with their transitive dependencies from the lockfile.
        """
    )


class ImageWheelsExcludeField(StringSequenceField):
    alias = "exclude"
    help = help_text(
        """
        Distributions to leave out, each `name==version`: the version the resolve must lock it
        at, or the build fails naming both. Only the named distributions are left out; their
        dependencies stay (the image provides the named ones elsewhere, as the shared torch
        layer does for a backend's stack).
        """
    )


class ImageWheelsTarget(Target):
    alias = "image_wheels"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OutputPathField,
        ImageWheelsDependenciesField,
        ImageWheelsExcludeField,
        PythonResolveField,
    )
    help = help_text(
        """
        A directory of the wheels a resolve's lockfile locks for some requirements and their
        dependencies, on the images' interpreter, each checked against its locked sha256: for
        an image to install straight from (no PEX to build, zip and unzip).
        """
    )


@dataclass(frozen=True)
class ImageWheelsFieldSet(PackageFieldSet):
    required_fields = (ImageWheelsDependenciesField, PythonResolveField)

    output_path: OutputPathField
    exclude: ImageWheelsExcludeField


def without(
    artifacts: tuple[LockedArtifact, ...], exclude: tuple[str, ...], what: str
) -> tuple[LockedArtifact, ...]:
    """`artifacts` less the distributions `exclude` names (`name==version` each), which must
    be among them at those versions."""
    locked = {artifact.name: artifact.version for artifact in artifacts}
    left = set(locked)
    for spec in exclude:
        name, _, version = spec.partition("==")
        name = ProjectName(name).normalized
        if not version or locked.get(name) != version:
            raise InvalidFieldException(
                f"{what}: `exclude` names {spec!r}, but its resolve locks "
                f"{name} {locked.get(name) or 'not at all'} for these requirements. Each "
                "entry is `name==version` at the version the lockfile pins. Fix: align the "
                "lockfile and the exclusion (for the stacks, SHARED_DISTS in "
                "containers/images_data.py)."
            )
        left.discard(name)
    return tuple(artifact for artifact in artifacts if artifact.name in left)


@rule(desc="Downloading an image's locked wheels")
async def package_image_wheels(
    field_set: ImageWheelsFieldSet, global_options: GlobalOptions
) -> BuiltPackage:
    output_dir = field_set.output_path.value_or_default(file_ending=None)
    what = str(field_set.address)
    # The requirements, resolve and interpreter constraints a PEX of the target would have.
    pex_request = await Get(
        PexRequest,
        PexFromTargetsRequest(
            [field_set.address],
            output_filename=output_dir,
            internal_only=False,
            include_source_files=False,
        ),
    )
    locked = await Get(LockedResolve, LockedResolveRequest(pex_request, what))
    artifacts = without(locked.artifacts, field_set.exclude.value or (), what)
    manifest = [{"url": a.url, "filename": a.filename, "sha256": a.sha256} for a in artifacts]
    files = [
        FileContent(SCRIPT, resources.read_binary("dynamo_images", SCRIPT)),
        FileContent(MANIFEST, json.dumps(manifest, indent=1).encode()),
    ]
    env = dict(await Get(EnvironmentVars, EnvironmentVarsRequest(PROXY_VARS)))
    if global_options.ca_certs_path:
        certs = ca_certs_path_to_file_content(global_options.ca_certs_path)
        files.append(certs)
        env["DOWNLOAD_CA_CERTS"] = certs.path
    result = await Get(
        ProcessResult,
        Process(
            (locked.python.path, SCRIPT, MANIFEST, output_dir),
            input_digest=await Get(Digest, CreateDigest(files)),
            output_directories=(output_dir,),
            env={k: v for k, v in env.items() if v},
            description=f"Downloading {len(manifest)} locked wheels for {what}",
            level=LogLevel.INFO,
        ),
    )
    return BuiltPackage(result.output_digest, (BuiltPackageArtifact(output_dir),))


def rules():
    return [
        *collect_rules(),
        *resolved.rules(),
        *pex_from_targets.rules(),
        UnionRule(PackageFieldSet, ImageWheelsFieldSet),
    ]
