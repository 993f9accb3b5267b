"""No-op image builds are skipped, and every kind of input change still rebuilds.

These run Pants' Docker rules against the real engine. The `docker` Pants finds is a wrapper
that logs each command before running the real client, so a test sees whether `docker
build` ran; each `package` runs in a new session, like a new `./pants package`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.package_types import BuiltDockerImage
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import testutil
from dynamo_images.image_cache import RECORDS_DIR
from dynamo_images.reuse import external_base_refs
from dynamo_images.testutil import REAL_DOCKER, docker_rule_runner


@pytest.fixture
def rule_runner(tmp_path: Path) -> Iterator[RuleRunner]:
    with docker_rule_runner(tmp_path, "dynamo-reuse-test") as runner:
        new_session(runner)
        yield runner


def new_session(runner: RuleRunner) -> None:
    testutil.new_session(runner, runner.options)  # type: ignore[attr-defined]


def package_image(runner: RuleRunner, name: str) -> tuple[str, bool]:
    """`package` one image in a new session: (image ID, whether `docker build` ran)."""
    new_session(runner)
    log: Path = runner.docker_log  # type: ignore[attr-defined]
    before = log.read_text() if log.exists() else ""
    target = runner.get_target(Address("img", target_name=name))
    built = runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    image = next(a for a in built.artifacts if isinstance(a, BuiltDockerImage))
    ran = log.read_text()[len(before):].splitlines()
    print(f"package {name}: {image.image_id}", *ran, sep="\n  ")  # shown when a test fails
    return image.image_id, any(line.startswith("build ") for line in ran)


def write_image(
    runner: RuleRunner,
    *,
    content: str = "1",
    build_arg: str = "a",
    base: str = "",
    platform: str = "linux/amd64",
    unread_arg: str = "x",
    base_tags: str = '["latest"]',
) -> None:
    runner.write_files(
        {
            "img/BUILD": f"""
file(name="data", source="data.txt")
docker_image(
    name="base",
    instructions=["FROM scratch", "COPY img/data.txt /base.txt"],
    dependencies=[":data"],
    image_tags={base_tags},
)
docker_image(
    name="platform",
    instructions=["FROM scratch", "COPY img/data.txt /data.txt"],
    dependencies=[":data"],
    build_platform="{platform}",
)
docker_image(
    name="app",
    instructions=[
        "ARG BASE=img:base",
        "FROM $BASE",
        "ARG FLAVOUR",
        "LABEL flavour=$FLAVOUR",
        "COPY img/payload.txt /app.txt",
    ],
    dependencies=[":app-file"],
    extra_build_args=["FLAVOUR={build_arg}", "UNREAD={unread_arg}"],
)
file(name="app-file", source="payload.txt")
""",
            # Unique to this test's images: BuildKit's cache never answers from an earlier
            # run's layers (docker 20.10 can keep cache records of layers `rmi` deleted, and
            # then fails the export with "layer does not exist").
            "img/data.txt": f"{runner.repository} {base or 'base'}",  # type: ignore[attr-defined]
            "img/payload.txt": f"{runner.repository} {content}",  # type: ignore[attr-defined]
        }
    )


def test_unchanged_inputs_reuse_the_image(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    first, built = package_image(rule_runner, "app")
    assert built
    again, built_again = package_image(rule_runner, "app")
    assert (again, built_again) == (first, False)


def test_a_no_op_asks_the_engine_once_for_all_images(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    package_image(rule_runner, "app")  # builds base and app
    # The next session re-validates what the last one ran (the checks of the just-built
    # images, which the listing of that session could not know yet); the one after is steady.
    package_image(rule_runner, "app")
    log: Path = rule_runner.docker_log  # type: ignore[attr-defined]
    before = len(log.read_text())
    assert package_image(rule_runner, "app")[1] is False
    commands = [line.split(" ")[:2] for line in log.read_text()[before:].splitlines()]
    # One listing of the engine's images (and its ID), no check per image.
    assert commands.count(["image", "ls"]) == 1
    assert ["image", "inspect"] not in commands


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"content": "2"}, id="a context file"),
        pytest.param({"build_arg": "b"}, id="a build arg"),
        pytest.param({"base": "base v2"}, id="the base image rebuilt"),
    ],
)
def test_every_input_change_rebuilds(rule_runner: RuleRunner, change: dict) -> None:
    write_image(rule_runner)
    first, _ = package_image(rule_runner, "app")
    write_image(rule_runner, **change)
    second, built = package_image(rule_runner, "app")
    assert built and second != first
    # ...and the new result is what the next no-op reuses.
    assert package_image(rule_runner, "app") == (second, False)


def test_a_build_arg_the_dockerfile_does_not_read_changes_nothing(rule_runner: RuleRunner) -> None:
    # As a new commit's DYNAMO_GIT_SHA (a global build arg) for an image without that ARG.
    write_image(rule_runner)
    first, _ = package_image(rule_runner, "app")
    write_image(rule_runner, unread_arg="y")
    assert package_image(rule_runner, "app") == (first, False)


def test_a_new_commit_rebuilds_no_image_that_does_not_read_it(rule_runner: RuleRunner) -> None:
    # A global build arg whose value comes from the environment, as DYNAMO_GIT_SHA does
    # (pants.toml: [docker].build_args); Pants passes it in the build's environment too.
    rule_runner.options.append("--docker-build-args=['DYNAMO_TEST_SHA']")  # type: ignore
    rule_runner.env = {"DYNAMO_TEST_SHA": "commit-1"}  # type: ignore[attr-defined]
    # The base carries the commit in a tag, as containers/base does: Pants puts the base's
    # docker-info.json (its tags) into the app's build context.
    write_image(rule_runner, base_tags='["latest", "latest-{build_args.DYNAMO_TEST_SHA}"]')
    first, _ = package_image(rule_runner, "app")
    base, _ = package_image(rule_runner, "base")
    rule_runner.env = {"DYNAMO_TEST_SHA": "commit-2"}  # type: ignore[attr-defined]
    assert package_image(rule_runner, "app") == (first, False)
    assert package_image(rule_runner, "base") == (base, False)


def test_another_platform_rebuilds_and_each_platform_is_reused(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    amd64, _ = package_image(rule_runner, "platform")
    write_image(rule_runner, platform="linux/arm64")
    arm64, built = package_image(rule_runner, "platform")
    assert built and arm64 != amd64
    write_image(rule_runner)
    assert package_image(rule_runner, "platform") == (amd64, False)


def test_a_deleted_image_is_rebuilt(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    first, _ = package_image(rule_runner, "app")
    subprocess.run([REAL_DOCKER, "rmi", "-f", first], check=True, capture_output=True)
    rebuilt, built = package_image(rule_runner, "app")
    assert built
    inspect = subprocess.run([REAL_DOCKER, "image", "inspect", rebuilt], capture_output=True)
    assert inspect.returncode == 0
    assert package_image(rule_runner, "app") == (rebuilt, False)


def test_a_record_is_kept_by_pants_cache_not_by_its_file(rule_runner: RuleRunner) -> None:
    """The record's file only carries it into Pants' process cache, which is what later runs and
    other machines read (through the remote cache): without the file, it still holds."""
    write_image(rule_runner)
    first, _ = package_image(rule_runner, "app")
    records = Path(RECORDS_DIR)
    ours = [f for f in records.iterdir() if f.read_text().strip() == first]
    assert ours, f"no record of {first} in {records}"
    for record in ours:
        record.unlink()
    assert package_image(rule_runner, "app") == (first, False)


def test_a_moved_tag_is_put_back_without_a_build(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    app, _ = package_image(rule_runner, "app")
    base, _ = package_image(rule_runner, "base")
    tag = rule_runner.request(
        BuiltPackage,
        [DockerPackageFieldSet.create(rule_runner.get_target(Address("img", target_name="app")))],
    ).artifacts[0].tags[0]
    subprocess.run([REAL_DOCKER, "tag", base, tag], check=True)  # someone else's image
    assert package_image(rule_runner, "app") == (app, False)
    inspect = [REAL_DOCKER, "image", "inspect", "--format", "{{.Id}}", tag]
    tagged = subprocess.run(inspect, capture_output=True, text=True).stdout.strip()
    assert tagged == app


def test_an_external_base_pulled_anew_rebuilds(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    base_v1, _ = package_image(rule_runner, "base")
    write_image(rule_runner, base="base v2")
    base_v2, _ = package_image(rule_runner, "base")
    external = f"{rule_runner.repository}-ext:1"  # type: ignore[attr-defined]
    subprocess.run([REAL_DOCKER, "tag", base_v1, external], check=True)
    rule_runner.write_files(
        {"img/BUILD": f"docker_image(name='ext', instructions=['FROM {external}'])"}
    )
    first, _ = package_image(rule_runner, "ext")
    assert package_image(rule_runner, "ext") == (first, False)
    subprocess.run([REAL_DOCKER, "tag", base_v2, external], check=True)  # `docker pull`ed anew
    second, built = package_image(rule_runner, "ext")
    assert built and second != first


def test_a_no_cache_build_never_reuses_a_cached_one(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    first, _ = package_image(rule_runner, "app")
    rule_runner.options.append("--image-reuse-build-no-cache")  # type: ignore[attr-defined]
    log: Path = rule_runner.docker_log  # type: ignore[attr-defined]
    before = len(log.read_text())
    _, built = package_image(rule_runner, "app")
    assert built
    assert any(
        line.startswith("build ") and "--no-cache" in line
        for line in log.read_text()[before:].splitlines()
    )


def test_reuse_can_be_turned_off(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    package_image(rule_runner, "app")
    rule_runner.options.append("--no-image-reuse-enabled")  # type: ignore[attr-defined]
    _, built = package_image(rule_runner, "app")
    assert built


def test_an_unreachable_engine_is_named_before_any_build(rule_runner: RuleRunner) -> None:
    write_image(rule_runner)
    options = [
        *rule_runner.options,  # type: ignore[attr-defined]
        "--docker-env-vars=['DOCKER_BUILDKIT=1', 'DOCKER_HOST=unix:///nonexistent/docker.sock']",
    ]
    testutil.new_session(rule_runner, options)
    target = rule_runner.get_target(Address("img", target_name="app"))
    with pytest.raises(ExecutionError) as error:
        rule_runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    message = str(error.value)
    assert "The Docker engine (unix:///nonexistent/docker.sock) does not answer: Cannot " in message
    assert "fix DOCKER_HOST, or unset DOCKER_HOST" in message
    # Not Pants' hints about the build context: no build ran.
    assert "not referenced by any `COPY`" not in message
    log: Path = rule_runner.docker_log  # type: ignore[attr-defined]
    ran = log.read_text().splitlines() if log.exists() else []
    assert not any(line.startswith("build ") for line in ran), ran


def test_external_base_refs() -> None:
    dockerfile = "\n".join(
        [
            "ARG BASE=img:base",
            "ARG CUDA=nvcr.io/nvidia/cuda:13.0.2-runtime-ubuntu22.04",
            "FROM $BASE AS build",
            "FROM ${CUDA}",
            "FROM build",
            "FROM scratch",
            "FROM --platform=linux/arm64 debian:bookworm AS deb",
        ]
    )
    assert external_base_refs(dockerfile, {"BASE": "reg/base:1", "UNSET": None}, {"BASE"}) == (
        "nvcr.io/nvidia/cuda:13.0.2-runtime-ubuntu22.04",
        "debian:bookworm",
    )
    assert external_base_refs(dockerfile, {"CUDA": "other:2"}, {"BASE"})[0] == "other:2"
