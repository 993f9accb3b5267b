"""The `dynamo_deployment` target: a single-host deployment of the built images."""

from __future__ import annotations

from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    SingleSourceField,
    StringField,
    Target,
)
from pants.util.strutil import help_text


class DeploymentSpecField(SingleSourceField):
    alias = "spec"
    required = True
    expected_file_extensions = (".yaml", ".yml")
    help = help_text(
        """
        The deployment's YAML spec (docs/deploy.md): its services, each with `image`, the
        Pants address of a `docker_image`. Those images are this target's dependencies
        (inferred from the spec) and are packaged by `pants run` before they start.
        """
    )


class DeploymentRunnerField(StringField):
    alias = "runner"
    required = True
    help = help_text(
        """
        Address of the `pex_binary` that starts the deployment
        (`src/python/dynamo_deploy_runner:runner`): `pants run` runs it with the spec and the
        docker-info.json of every image, and passes on the arguments after `--`.
        """
    )


class DeploymentDependenciesField(Dependencies):
    """The images the spec names and the runner, added by inference (rules.py)."""


class DynamoDeploymentTarget(Target):
    alias = "dynamo_deployment"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        DeploymentDependenciesField,
        DeploymentSpecField,
        DeploymentRunnerField,
    )
    help = help_text(
        """
        A single-host Dynamo deployment: `pants run` packages the images its spec names and
        starts them as containers (host networking), serving until Ctrl-C or SIGTERM, then
        removes the containers it started.
        """
    )
