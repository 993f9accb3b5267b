"""`pants package` of a `docker_image`: build it or reuse it, then run its gates.

This rule replaces Pants' own (`build_docker_image` in
pants/backend/docker/goals/package_image.py; pants_internals.py says how). Read top-down:

1. `BuildOrReuseImage` (`reuse.py`): Pants' `docker build`, made cacheable, or the image the
   same inputs built before when it is still in the engine;
2. `ImageGates` (`gates.py`): the target's `size_budget` checked, its `sbom` written.
"""

from __future__ import annotations

from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.core.goals.package import BuiltPackage
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.util.frozendict import FrozenDict

from dynamo_images.gates import ImageGates
from dynamo_images.reuse import BuildOrReuseImage
from dynamo_images.target_types import (
    DockerImageSbomField,
    DockerImageSbomInstallsField,
    DockerImageSizeBudgetField,
)


@rule(desc="Package a Docker image")
async def package_docker_image(field_set: DockerPackageFieldSet) -> BuiltPackage:
    wrapped, package = await MultiGet(
        Get(
            WrappedTarget,
            WrappedTargetRequest(field_set.address, description_of_origin="<infallible>"),
        ),
        Get(BuiltPackage, BuildOrReuseImage(field_set)),
    )
    return await Get(
        BuiltPackage,
        ImageGates(
            field_set.address,
            package,
            sbom=wrapped.target.get(DockerImageSbomField).value,
            size_budget=wrapped.target.get(DockerImageSizeBudgetField).value,
            # Pants' dict-of-sequences field: a FrozenDict of tuples already.
            sbom_installs=wrapped.target.get(DockerImageSbomInstallsField).value or FrozenDict(),
        ),
    )


def rules():
    return collect_rules()
