"""`image_pex`: a resolve's requirements as the packed venv PEX an image installs, stored.

What `pex_binary(layout="packed", execution_mode="venv", include_tools=True)` builds, with
one difference Pants 2.17's `pex_binary` cannot express: the zips in `.deps/` are stored, not
deflated (Pex's `--no-compress`). A packed PEX of torch and its CUDA wheels is about 4.4 GB
stored and 2.6 GB deflated; deflating it is most of a cold build of the PEX (docs/performance.md,
"Cold build"), and the image that installs it reads the zips once, from the build context.
The PEX is built from the resolve's lockfile by Pants' own Pex, with its caches, so it stays
hash-checked and remote-cacheable like any `pex_binary`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.target_types import PexLayout, PythonResolveField
from pants.backend.python.util_rules import pex_from_targets
from pants.backend.python.util_rules.pex import Pex, PexRequest
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    OutputPathField,
    PackageFieldSet,
)
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import COMMON_TARGET_FIELDS, Dependencies, Target
from pants.engine.unions import UnionRule
from pants.util.strutil import help_text

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


class ImagePexTarget(Target):
    alias = "image_pex"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OutputPathField,
        ImagePexDependenciesField,
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
    pex = await Get(Pex, PexRequest, pex_request)
    return BuiltPackage(pex.digest, (BuiltPackageArtifact(output_filename),))


def rules():
    # Pex's rules come with them, so that a RuleRunner with the plugin alone can build one.
    return [
        *collect_rules(),
        *pex_from_targets.rules(),
        UnionRule(PackageFieldSet, ImagePexFieldSet),
    ]
