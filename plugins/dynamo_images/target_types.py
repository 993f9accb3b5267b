"""Fields this repo adds to Pants' `docker_image` target."""

from __future__ import annotations

from pants.backend.docker.target_types import DockerBuildOptionFieldValueMixin
from pants.engine.target import StringField
from pants.util.strutil import help_text


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
