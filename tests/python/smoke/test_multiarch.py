"""The architecture matrix end to end: a multi-arch image built for amd64 and arm64 (qemu),
each image run on its arch, then both published to a real registry as one manifest list by
the script `./pants publish` runs. The image is the multiarch_docker_image MULTIARCH_IMAGE
(tests/python/smoke/BUILD: the runtime base in `::`, each multi-arch backend's runtime with
the `arm64` tag)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from dynamo_workspaces.registry import local_registry

from smoke.docker_helpers import docker, docker_cli, owned_copy

MULTIARCH_IMAGE = os.environ.get("MULTIARCH_IMAGE", "containers/base:runtime")
PLATFORMS = ("linux/amd64", "linux/arm64")
REPOSITORY = "dynamo/matrix"  # in the test's own registry
PUSH_SCRIPT = "plugins/dynamo_images/push_manifest_list.sh"
MANIFEST_LIST_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """platform -> image ID, from each per-platform image's `package` output (the generator
    writes `<dir>/<name>-<arch>.docker-info.json`: plugins/dynamo_images/multiarch.py)."""
    directory, name = MULTIARCH_IMAGE.split(":")
    infos = {p: Path(f"{directory.replace('/', '.')}/{name}-{p.split('/')[1]}.docker-info.json")
             for p in PLATFORMS}  # fmt: skip
    return {p: json.loads(info.read_text())["image_id"] for p, info in infos.items()}


def test_both_platforms_are_built(images: dict[str, str]) -> None:
    for platform, image_id in images.items():
        inspected = json.loads(docker("image", "inspect", image_id).stdout)[0]
        assert f"{inspected['Os']}/{inspected['Architecture']}" == platform


@pytest.mark.parametrize(
    "platform,machine", [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")]
)
def test_each_image_runs_on_its_arch(images: dict[str, str], platform: str, machine: str) -> None:
    image = images[platform]
    run = docker("run", "--rm", "--network", "none", "--platform", platform, image, "uname", "-m")
    assert run.stdout.decode().strip() == machine


@pytest.fixture
def registry(tmp_path: Path):
    """Debian's docker-registry on a free loopback port, storing under tmp_path."""
    with local_registry(tmp_path / "registry") as (address, _log):
        yield address


def test_published_manifest_list_has_both_platforms(images: dict[str, str], registry: str):
    repository = f"{registry}/{REPOSITORY}"
    run = uuid.uuid4().hex[:8]
    # Copies of our own under this run's tags (removing them never touches the built images).
    refs = {p: f"{repository}:matrix-{run}-{p.split('/')[1]}" for p in sorted(images)}
    copies = {p: owned_copy(image_id, refs[p], p) for p, image_id in images.items()}
    try:
        subprocess.run(
            ["bash", PUSH_SCRIPT, docker_cli(), "--insecure", f"{repository}:matrix-{run}",
             *refs.values()],
            check=True, capture_output=True, timeout=600,
        )
    finally:
        docker("rmi", *refs.values(), check=False)

    request = urllib.request.Request(
        f"http://{registry}/v2/{REPOSITORY}/manifests/matrix-{run}",
        headers={"Accept": ", ".join(MANIFEST_LIST_TYPES)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest_list = json.loads(response.read())
    assert manifest_list["mediaType"] in MANIFEST_LIST_TYPES
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}" for m in manifest_list["manifests"]
    }
    assert platforms == set(PLATFORMS)
    # Each entry is the very image pushed for that platform: its config is the copy's, and its
    # layers are as many as the built image's (the copy adds a label, no layer).
    for entry in manifest_list["manifests"]:
        platform = f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        built = json.loads(docker("image", "inspect", images[platform]).stdout)[0]
        manifest = urllib.request.Request(
            f"http://{registry}/v2/{REPOSITORY}/manifests/{entry['digest']}",
            headers={"Accept": entry["mediaType"]},
        )
        with urllib.request.urlopen(manifest, timeout=10) as response:
            pushed = json.loads(response.read())
        assert pushed["config"]["digest"] == copies[platform]
        assert len(pushed["layers"]) == len(built["RootFS"]["Layers"])
