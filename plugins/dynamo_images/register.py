"""Pants plugin for the Dynamo image family: Pants' Docker backend plus what it lacks.

Enable this instead of `pants.backend.docker` (it registers that backend's targets and rules
itself, with its package rule replaced by `package_image.py`): no-op image builds are skipped
(`reuse.py`), `docker_image` gains `build_network` (hermetic builds) and `build_platform`,
`package` writes an SBOM and checks a size budget (`sbom`, `sbom_installs`, `size_budget`:
`gates.py`), the architecture matrix adds `multiarch_docker_image` and `docker_manifest_list`
(`multiarch.py`); an image this machine cannot build is an `unavailable_image` that fails at
once (`unavailable.py`); `image_pex` is the stored packed PEX an image installs
(`image_pex.py`), `image_wheels` the locked wheels it installs as they are (`image_wheels.py`).
Every `docker` command besides the build is made in `docker_process.py`; the Pants internals
all this leans on are listed in `pants_internals.py`. It also registers Pants' hadolint linter
(`pants.backend.docker.lint.hadolint`, which would register the Docker backend a second time):
`./pants lint` checks every image's Dockerfile, generated ones too.
"""

from pants.backend.docker import register as docker_backend
from pants.backend.docker.lint.hadolint import rules as hadolint_rules
from pants.backend.docker.lint.hadolint import skip_field as hadolint_skip_field
from pants.backend.docker.target_types import DockerImageTarget

from dynamo_images import (
    docker_process,
    gates,
    image_cache,
    image_pex,
    image_wheels,
    multiarch,
    package_image,
    pants_internals,
    reuse,
    unavailable,
)
from dynamo_images.target_types import (
    DockerImageBuildNetworkField,
    DockerImageBuildPlatformField,
    DockerImageSbomField,
    DockerImageSbomInstallsField,
    DockerImageSizeBudgetField,
    DockerManifestListTarget,
    MultiArchDockerImageTarget,
)


def target_types():
    return [
        *docker_backend.target_types(),
        MultiArchDockerImageTarget,
        DockerManifestListTarget,
        unavailable.UnavailableImageTarget,
        image_pex.ImagePexTarget,
        image_wheels.ImageWheelsTarget,
    ]


def rules():
    return [
        *pants_internals.docker_backend_rules(),
        DockerImageTarget.register_plugin_field(DockerImageBuildNetworkField),
        DockerImageTarget.register_plugin_field(DockerImageBuildPlatformField),
        DockerImageTarget.register_plugin_field(DockerImageSbomField),
        DockerImageTarget.register_plugin_field(DockerImageSbomInstallsField),
        DockerImageTarget.register_plugin_field(DockerImageSizeBudgetField),
        *hadolint_rules.rules(),
        *hadolint_skip_field.rules(),
        *multiarch.rules(),
        *package_image.rules(),
        *reuse.rules(),
        *image_cache.rules(),
        *gates.rules(),
        *docker_process.rules(),
        *unavailable.rules(),
        *image_pex.rules(),
        *image_wheels.rules(),
    ]
