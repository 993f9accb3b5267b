"""Pants plugin for the Dynamo image family.

Adds what Pants 2.17's Docker backend lacks for hermetic builds (a `build_network` field on
`docker_image`).
"""

from pants.backend.docker.target_types import DockerImageTarget

from dynamo_images.target_types import DockerImageBuildNetworkField


def target_types():
    return []


def rules():
    return [DockerImageTarget.register_plugin_field(DockerImageBuildNetworkField)]
