"""What a registry's image cache holds, read with the registry's HTTP API (v2): its key tags,
and each image's layers and config, to tell what a family of images shares; from its access
log, what it served; and a registry of one's own to push to (Debian's docker-registry)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from dynamo_workspaces.engines import wait_until
from dynamo_workspaces.team_caches import free_port

KEY_REPOSITORY = "dynamo/image-cache"  # [image-cache].repository's default
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _get(registry: str, path: str) -> dict:
    request = urllib.request.Request(
        f"http://{registry}/v2/{path}", headers={"Accept": MANIFEST_V2}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def key_tags(registry: str, repository: str = KEY_REPOSITORY) -> dict[str, str]:
    """{tag: image ID} of the image cache (the ID is the manifest's config digest); empty when
    nothing was pushed yet."""
    try:
        tags = _get(registry, f"{repository}/tags/list").get("tags") or []
    except urllib.error.HTTPError:
        return {}
    manifests = {tag: _get(registry, f"{repository}/manifests/{tag}") for tag in tags}
    return {tag: manifest["config"]["digest"] for tag, manifest in manifests.items()}


def image_layers(registry: str, tag: str, repository: str = KEY_REPOSITORY) -> dict[str, int]:
    """{layer digest: compressed size} of one image."""
    manifest = _get(registry, f"{repository}/manifests/{tag}")
    return {layer["digest"]: layer["size"] for layer in manifest["layers"]}


def image_config(registry: str, tag: str, repository: str = KEY_REPOSITORY) -> dict:
    """The image's config (its rootfs diff IDs and history, `empty_layer` entries included)."""
    digest = _get(registry, f"{repository}/manifests/{tag}")["config"]["digest"]
    return _get(registry, f"{repository}/blobs/{digest}")


@contextlib.contextmanager
def local_registry(directory: Path) -> Iterator[tuple[str, Path]]:
    """Debian's docker-registry on a free loopback port, storing under `directory`: yields its
    address and its log (the access log RegistryLog reads); stopped and deleted afterwards."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed: apt-get install -y docker-registry "
                           "(./pants provisions it as root on Debian)")
    directory.mkdir(parents=True)
    address = f"127.0.0.1:{free_port()}"
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n"
        f"http:\n  addr: {address}\n"
    )
    log = directory / "registry.log"
    with log.open("w") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)

    def answers() -> bool:
        try:
            return urllib.request.urlopen(f"http://{address}/v2/", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(f"the registry at {address}", answers, 30, log)
        yield address, log
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(directory / "data", ignore_errors=True)


def family_layers(per_image: dict[str, dict[str, int]]) -> dict:
    """What images share: each image's compressed layers summed (pulled one by one, with
    nothing shared) against the unique layers (what one engine needs)."""
    unique: dict[str, int] = {}
    for layers in per_image.values():
        unique.update(layers)
    return {
        "images": {name: sum(layers.values()) for name, layers in per_image.items()},
        "sum_of_images": sum(sum(layers.values()) for layers in per_image.values()),
        "unique": sum(unique.values()),
    }


# A line of the registry's access log (combined format): `"GET <path> HTTP/1.1" 200 <bytes>`.
_SERVED = re.compile(r'"GET [^"]+ HTTP/[0-9.]+" 2\d\d (\d+) ')


class RegistryLog:
    """The bytes a registry served from a point of its access log on: what its clients
    downloaded, counted by the server itself (no proxy in the way of the transfer)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def served(self) -> int:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        return sum(int(m.group(1)) for m in _SERVED.finditer(text))
