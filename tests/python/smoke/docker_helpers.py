"""Finding and driving the images that Pants built for this test run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class DockerUnavailable(RuntimeError):
    pass


def docker_cli() -> str:
    # Same client Pants builds with (pants.toml [docker].executable_search_paths).
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DockerUnavailable(
        "No docker client found. Run ./pants test :: (it provisions Docker on Debian as root) "
        "or install Debian's docker.io."
    )


def docker(*args: str, check: bool = True, timeout: float = 600, input: bytes | None = None):
    return subprocess.run(
        [docker_cli(), *args],
        check=check,
        capture_output=True,
        timeout=timeout,
        input=input,
    )


def require_engine() -> None:
    try:
        result = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
    except subprocess.TimeoutExpired as e:
        raise DockerUnavailable("The Docker engine did not answer within 30s.") from e
    if result.returncode != 0:
        raise DockerUnavailable(
            "The Docker engine is unreachable ("
            + result.stderr.decode(errors="replace").strip()
            + "). Start it (`dockerd &` as root, or `systemctl start docker`) or run "
            "`./pants test ::`, which starts it on Debian hosts."
        )


@dataclass(frozen=True)
class BuiltImage:
    address: str
    image_id: str
    tags: tuple[str, ...]

    def inspect(self) -> dict:
        return json.loads(docker("image", "inspect", self.image_id).stdout)[0]

    def labels(self) -> dict[str, str]:
        return self.inspect()["Config"].get("Labels") or {}

    def env(self) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in self.inspect()["Config"].get("Env") or [])
        return {k: v for k, v in pairs}

    def run(self, *command: str, input: bytes | None = None, timeout: float = 300) -> str:
        """`docker run --rm` the image with no network; returns stdout, raises on failure."""
        result = docker(
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            self.image_id,
            *command,
            check=False,
            timeout=timeout,
            input=input,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(command)}` failed in {self.address} (exit {result.returncode}):\n"
                + result.stderr.decode(errors="replace")[-4000:]
            )
        return result.stdout.decode()


def owned_copy(image_id: str, tag: str, platform: str) -> str:
    """`tag` on a new image of the test's own: `image_id` plus a label, the same layers.

    Tags are global in an engine that several clones share: tagging a built image and then
    removing the tag deletes that image whenever ours was its last tag (its own tags moved to
    another clone's rebuild meanwhile). Removing a copy removes only the copy. The classic
    builder makes it: BuildKit reads `FROM <image ID>` as a registry name and would try to pull.
    """
    dockerfile = f"FROM {image_id}\nLABEL ai.dynamo.test.copy-of={image_id}\n"
    result = subprocess.run(
        [docker_cli(), "build", "--quiet", "--platform", platform, "--tag", tag, "-"],
        input=dockerfile.encode(), capture_output=True, timeout=300,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"could not copy {image_id} as {tag}: {result.stderr.decode()}")
    return result.stdout.decode().strip()


def package_stem(address: str) -> str:
    """Where Pants writes what it packages for a docker_image address, less the file ending:
    `containers.dynamo/runtime`; a generated per-platform image (`containers/dynamo:runtime#arm64`)
    writes `containers.dynamo/runtime-arm64`."""
    spec_path, name = address.split(":")
    return f"{spec_path.replace('/', '.')}/{name.replace('#', '-')}"


def built_image(address: str) -> BuiltImage:
    """The image Pants built for `address` (a runtime_package_dependency of the test)."""
    info_file = Path(f"{package_stem(address)}.docker-info.json")
    if not info_file.exists():
        raise AssertionError(
            f"{info_file} is missing: add {address!r} to this test's runtime_package_dependencies."
        )
    info = json.loads(info_file.read_text())
    tags = tuple(tag["name"] for registry in info["registries"] for tag in registry["tags"])
    return BuiltImage(address=address, image_id=info["image_id"], tags=tags)


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def http_post_json(url: str, payload: dict, timeout: float = 60) -> tuple[int, dict | str]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_until(predicate, timeout: float, interval: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
