"""`image_pex`: a resolve's requirements as the packed venv PEX an image installs, stored.

What `pex_binary(layout="packed", execution_mode="venv", include_tools=True)` builds, with
one difference Pants 2.17's `pex_binary` cannot express: the zips in `.deps/` are stored, not
deflated (Pex's `--no-compress`). A packed PEX of torch and its CUDA wheels is about 4.4 GB
stored and 2.6 GB deflated; deflating it is most of a cold build of the PEX (docs/performance.md,
"Cold build"), and the image that installs it reads the zips once, from the build context.
The PEX is built from the resolve's lockfile by Pants' own Pex, with its caches, so it stays
hash-checked and remote-cacheable like any `pex_binary`.

`exclude` leaves distributions out: a backend's stack PEX omits torch and the CUDA wheels,
which the shared torch layer under every stack already holds (containers/images_data.py:
SHARED_DISTS), so the PEX is about 1 GB instead of 5.5 GB and a cold build never downloads,
zips, stores or sends torch twice. Pex 2.1.137 has no `--exclude`, so the rule resolves the
requirements from the lockfile itself (resolved.py) and passes every other pin with
`--intransitive`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pants.backend.python.target_types import PexLayout, PythonResolveField
from pants.backend.python.util_rules import pex_from_targets
from pants.backend.python.util_rules.pex import Pex, PexRequest
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.backend.python.util_rules.pex_requirements import PexRequirements
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    OutputPathField,
    PackageFieldSet,
)
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    InvalidFieldException,
    StringSequenceField,
    Target,
)
from pants.engine.unions import UnionRule
from pants.util.strutil import help_text
from pex.pep_503 import ProjectName

from dynamo_images import resolved
from dynamo_images.resolved import LockedResolve, LockedResolveRequest

# Pex's cache for these builds: a directory of its own inside Pants' `pex_root` named cache,
# which Pants mounts at `.cache/pex_root` in the sandbox (pants_internals.py, 8). Pex 2.1.137
# keeps stored zips in an `un-compressed` directory inside the one it keeps deflated zips in,
# and a deflated build that finds that directory takes its zip as made and fails
# (`No such file or directory: .../bootstrap_zips/<hash>/.bootstrap`; fixed in pex#3106): every
# other PEX Pants builds is packed and deflated, so the stored ones must not share their cache.
# A relative path: the same argv, so the same cache key, on every machine.
STORED_PEX_ROOT = ".cache/pex_root/stored"
# pex_binary's arguments for execution_mode="venv" and include_tools=True, plus the one it
# lacks. The layout is passed as PexLayout.PACKED.
IMAGE_PEX_ARGS = (
    "--venv",
    "prepend",
    "--include-tools",
    "--no-compress",
    "--pex-root",
    STORED_PEX_ROOT,
)


class ImagePexDependenciesField(Dependencies):
    help = help_text(
        """
        The requirements the PEX holds (`python_requirement` targets of the target's resolve),
        with their transitive dependencies from the lockfile.
        """
    )


class ImagePexExcludeField(StringSequenceField):
    alias = "exclude"
    help = help_text(
        """
        Distributions to leave out of the PEX, each `name==version`: the version the resolve
        must lock it at, or the build fails naming both. Only the named distributions are
        left out; their dependencies stay (the image provides the named ones elsewhere, as
        the shared torch layer does for a backend's stack).
        """
    )


class ImagePexTarget(Target):
    alias = "image_pex"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OutputPathField,
        ImagePexDependenciesField,
        ImagePexExcludeField,
        PythonResolveField,
    )
    help = help_text(
        f"""
        A packed venv PEX (with its tools) of a resolve's requirements, for an image to
        install with `pex venv`: `pex_binary`'s packed layout with the distributions' zips
        stored, not deflated (`{' '.join(IMAGE_PEX_ARGS)}`), so a cold build does not spend its
        time compressing gigabytes of CUDA libraries that the image build unzips at once.
        """
    )


@dataclass(frozen=True)
class ImagePexFieldSet(PackageFieldSet):
    required_fields = (ImagePexDependenciesField, PythonResolveField)

    output_path: OutputPathField
    exclude: ImagePexExcludeField


def without(pins: dict[str, str], exclude: tuple[str, ...], what: str) -> tuple[str, ...]:
    """`pins` as `name==version` requirements, less `exclude` (`name==version` each), which
    must be among them at those versions."""
    left = dict(pins)
    for spec in exclude:
        name, _, version = spec.partition("==")
        name = ProjectName(name).normalized
        locked = left.pop(name, None)
        if not version or locked != version:
            raise InvalidFieldException(
                f"{what}: `exclude` names {spec!r}, but its resolve locks "
                f"{name} {locked or 'not at all'} for these requirements. Each "
                "entry is `name==version` at the version the lockfile pins. Fix: align the "
                "lockfile and the exclusion (for the stacks, SHARED_DISTS in "
                "containers/images_data.py)."
            )
    return tuple(sorted(f"{name}=={version}" for name, version in left.items()))


@dataclass(frozen=True)
class ExcludeRequest:
    pex_request: PexRequest
    exclude: tuple[str, ...]
    what: str


@rule(desc="Resolving an image PEX's requirements less its exclusions")
async def exclude_from_pex(request: ExcludeRequest) -> PexRequest:
    locked = await Get(LockedResolve, LockedResolveRequest(request.pex_request, request.what))
    pins = {artifact.name: artifact.version for artifact in locked.artifacts}
    return dataclasses.replace(
        request.pex_request,
        requirements=PexRequirements(
            without(pins, request.exclude, request.what),
            from_superset=locked.resolve,
            description_of_origin=request.what,
        ),
        additional_args=(*request.pex_request.additional_args, "--intransitive"),
    )


@rule(desc="Building an image's stored PEX")
async def package_image_pex(field_set: ImagePexFieldSet) -> BuiltPackage:
    output_filename = field_set.output_path.value_or_default(file_ending="pex")
    pex_request = await Get(
        PexRequest,
        PexFromTargetsRequest(
            [field_set.address],
            output_filename=output_filename,
            internal_only=False,
            layout=PexLayout.PACKED,
            additional_args=IMAGE_PEX_ARGS,
            include_source_files=False,
        ),
    )
    if field_set.exclude.value:
        pex_request = await Get(
            PexRequest,
            ExcludeRequest(pex_request, field_set.exclude.value, f"{field_set.address}"),
        )
    pex = await Get(Pex, PexRequest, pex_request)
    return BuiltPackage(pex.digest, (BuiltPackageArtifact(output_filename),))


def rules():
    # Pex's rules come with them, so that a RuleRunner with the plugin alone can build one.
    return [
        *collect_rules(),
        *resolved.rules(),
        *pex_from_targets.rules(),
        UnionRule(PackageFieldSet, ImagePexFieldSet),
    ]
