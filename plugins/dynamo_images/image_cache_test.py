"""Image keys name what is built, never which engine builds it."""

from __future__ import annotations

import dataclasses

import pytest
from pants.engine.fs import EMPTY_DIGEST, Digest
from pants.engine.process import Process
from pants.testutil.option_util import create_subsystem

from dynamo_images.image_cache import ImageCache, image_key, rebuild_key

CONTEXT = Digest("a" * 64, 1234)


def build(**changes) -> Process:
    process = Process(
        argv=("/usr/bin/docker", "build", "--platform=linux/amd64", "--tag", "dynamo/x:1",
              "--build-arg", "BASE=sha256:" + "b" * 64, "--file", "x.Dockerfile", "."),
        description="Building docker image dynamo/x:1",
        env={"DOCKER_BUILDKIT": "1", "__UPSTREAM_IMAGE_IDS": "sha256:" + "b" * 64},
        input_digest=CONTEXT,
    )
    return dataclasses.replace(process, **changes)


def key(process: Process) -> str:
    """The key of a build whose context holds no upstream image's metadata (reuse.py keys the
    context less that; reuse_test.py checks it)."""
    return image_key(process, process.input_digest)


def test_the_engine_and_the_client_are_not_in_the_key() -> None:
    first = key(build())
    elsewhere = build(
        argv=("/opt/wrapped/docker", *build().argv[1:]),
        env={**build().env, "DOCKER_HOST": "unix:///run/b.sock", "DOCKER_CONFIG": "/tmp/c",
             "PATH": "/x"},
        description="another description",
    )
    assert key(elsewhere) == first
    forced = build(argv=(*build().argv[:2], "--no-cache", "--pull", *build().argv[2:]))
    assert key(forced) == first
    renamed = build(argv=tuple(a.replace("dynamo/x:1", "dynamo/x:1-abc123") for a in build().argv))
    assert key(renamed) == first


@pytest.mark.parametrize(
    "change",
    [
        {"input_digest": Digest("c" * 64, 1234)},  # the Dockerfile or any context file
        {"input_digest": EMPTY_DIGEST},
        {"argv": ("/usr/bin/docker", "build", "--platform=linux/arm64", *build().argv[3:])},
        {"argv": (*build().argv[:-3], "--build-arg", "X=1", *build().argv[-3:])},
        {"env": {**build().env, "__UPSTREAM_IMAGE_IDS": "sha256:" + "d" * 64}},
        {"env": {**build().env, "__EXTERNAL_BASE_IMAGE_IDS": "sha256:" + "e" * 64}},
        {"env": {**build().env, "DOCKER_BUILDKIT": "0"}},
    ],
    ids=["context", "empty-context", "platform", "build-arg", "upstream", "external", "builder"],
)
def test_every_input_is_in_the_key(change: dict) -> None:
    assert key(build(**change)) != key(build())


def test_a_key_is_a_valid_docker_tag_and_rebuilds_chain_to_new_keys() -> None:
    first = key(build())
    assert len(first) == 64 and set(first) <= set("0123456789abcdef")
    assert rebuild_key(first, "sha256:1") not in (first, rebuild_key(first, "sha256:2"))
    assert rebuild_key(first, "sha256:1") == rebuild_key(first, "sha256:1")


@pytest.mark.parametrize(
    "registry, expected",
    [
        ("127.0.0.1:5000", ("127.0.0.1", "5000")),
        ("registry.example.com", ("registry.example.com", "443")),
        ("r.example.com:8443/team", ("r.example.com", "8443")),
    ],
)
def test_the_registry_probe_address(registry: str, expected: tuple[str, str]) -> None:
    cache = create_subsystem(ImageCache, registry=registry, repository="dynamo/image-cache")
    assert cache.host_port() == expected
