"""Pants plugin for the Dynamo image family.

Adds what Pants 2.17's Docker backend lacks: a `build_network` field on `docker_image` for
hermetic builds, and the architecture matrix (`build_platform`, `multiarch_docker_image`,
`docker_manifest_list`).
"""

from pants.backend.docker.target_types import DockerImageTarget

from dynamo_images import multiarch
from dynamo_images.target_types import (
    DockerImageBuildNetworkField,
    DockerImageBuildPlatformField,
    DockerManifestListTarget,
    MultiArchDockerImageTarget,
)


def target_types():
    return [MultiArchDockerImageTarget, DockerManifestListTarget]


def rules():
    return [
        DockerImageTarget.register_plugin_field(DockerImageBuildNetworkField),
        DockerImageTarget.register_plugin_field(DockerImageBuildPlatformField),
        *multiarch.rules(),
    ]
