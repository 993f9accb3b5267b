from __future__ import annotations

import pytest
from dynamo_wheels.api import NativeWheelTarget
from pants.backend.docker.target_types import (
    DockerImageBuildArgsField,
    DockerImageDependenciesField,
    DockerImageInstructionsField,
    DockerImageTagsField,
)
from pants.backend.python.target_types import PexBinary
from pants.core.goals.package import BuiltPackage, OutputPathField
from pants.core.goals.publish import PublishProcesses
from pants.core.target_types import FileTarget
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.process import Process
from pants.engine.rules import QueryRule
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    DependenciesRequest,
    Tags,
    Target,
)
from pants.testutil.rule_runner import MockGet, RuleRunner, run_rule_with_mocks

from dynamo_images import register
from dynamo_images.docker_process import DockerProcess
from dynamo_images.multiarch import (
    BuiltManifestLists,
    DockerManifestListFieldSet,
    PublishManifestListFieldSet,
    PublishManifestListRequest,
    publish_manifest_lists,
)
from dynamo_images.platforms import (
    PLATFORMS,
    is_loopback_registry,
    manifest_lists,
    registry_of,
    wheel_arch,
)
from dynamo_images.target_types import (
    DockerImageBuildNetworkField,
    DockerImageBuildPlatformField,
    DockerManifestListDependenciesField,
)
from dynamo_images.testutil import plugin_rules


class PlatformImage(Target):
    """An image's platform and dependencies, without docker_image's Dockerfile inference (which
    needs the dockerfile parser PEX, a download)."""

    alias = "platform_image"
    core_fields = (*COMMON_TARGET_FIELDS, Dependencies, DockerImageBuildPlatformField)


TWO_ARCH_IMAGE = """
file(name="rootfs-amd64", source="rootfs-amd64.tar")
file(name="rootfs-arm64", source="rootfs-arm64.tar")
multiarch_docker_image(
    name="base",
    platforms=["linux/amd64", "linux/arm64"],
    instructions=["FROM scratch", "ADD img/rootfs-{arch}.tar /", "RUN echo ${ARCH_ALT}"],
    dependencies=[":rootfs-{arch}"],
    image_tags=["1.0", "1.0-{build_args.GIT_SHA}"],
    extra_build_args=["GIT_SHA"],
    build_network="none",
)
"""
FILES = {"img/rootfs-amd64.tar": "", "img/rootfs-arm64.tar": ""}


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=[
            FileTarget,
            NativeWheelTarget,
            PexBinary,
            PlatformImage,
            *register.target_types(),
        ],
        rules=[
            *plugin_rules(),
            QueryRule(Addresses, [DependenciesRequest]),
            QueryRule(BuiltPackage, [DockerManifestListFieldSet]),
            QueryRule(Process, [DockerProcess]),
        ],
    )
    runner.set_options([], env_inherit={"PATH"})
    return runner


def generated(name: str) -> Address:
    return Address("img", target_name="base", generated_name=name)


def test_one_image_per_platform_and_a_manifest_list(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": TWO_ARCH_IMAGE, **FILES})
    arm64 = rule_runner.get_target(generated("arm64"))
    amd64 = rule_runner.get_target(generated("amd64"))

    assert list(arm64[DockerImageBuildPlatformField].options(str)) == [
        "--platform",
        "linux/arm64",
    ]
    assert arm64[DockerImageInstructionsField].value == (
        "FROM scratch",
        "ADD img/rootfs-arm64.tar /",
        "RUN echo ${ARCH_ALT}",  # Dockerfile braces are left alone
    )
    assert arm64[DockerImageTagsField].value == ("1.0-arm64", "1.0-{build_args.GIT_SHA}-arm64")
    assert arm64[DockerImageBuildArgsField].value == ("GIT_SHA", "ARCH=arm64", "ARCH_ALT=aarch64")
    assert arm64[DockerImageBuildNetworkField].value == "none"
    assert amd64[DockerImageTagsField].value == ("1.0-amd64", "1.0-{build_args.GIT_SHA}-amd64")
    assert {amd64[OutputPathField].value, arm64[OutputPathField].value} == {
        "img/base-amd64.docker-info.json",
        "img/base-arm64.docker-info.json",
    }

    assert arm64[DockerImageDependenciesField].value == (":rootfs-arm64",)

    manifest = rule_runner.get_target(generated("manifest"))
    images = rule_runner.request(
        Addresses, [DependenciesRequest(manifest[DockerManifestListDependenciesField])]
    )
    assert set(images) == {generated("amd64"), generated("arm64")}


def test_overrides_set_fields_of_one_generated_target(rule_runner: RuleRunner) -> None:
    build = TWO_ARCH_IMAGE.replace(
        'build_network="none",',
        'build_network="none", tags=["small"], '
        'overrides={"arm64": {"tags": ["arm64"], "dependencies": [":rootfs-amd64"]}, '
        '"manifest": {"tags": ["arm64"]}},',
    )
    rule_runner.write_files({"img/BUILD": build, **FILES})
    arm64 = rule_runner.get_target(generated("arm64"))
    assert arm64[Tags].value == ("arm64",)
    assert arm64[DockerImageDependenciesField].value == (":rootfs-amd64",)
    assert rule_runner.get_target(generated("amd64"))[Tags].value == ("small",)
    assert rule_runner.get_target(generated("manifest"))[Tags].value == ("arm64",)


def test_an_override_naming_no_generated_target_fails(rule_runner: RuleRunner) -> None:
    build = TWO_ARCH_IMAGE.replace(
        'build_network="none",', 'build_network="none", overrides={"aarch64": {"tags": []}},'
    )
    rule_runner.write_files({"img/BUILD": build, **FILES})
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(generated("arm64"))
    assert "'aarch64', which names no generated target. Use one of: amd64, arm64, manifest" in str(
        error.value
    )


@pytest.mark.parametrize("platforms", [["linux/s390x"], ["linux/amd64", "linux/amd64"], []])
def test_bad_platforms_are_rejected_when_build_files_are_read(
    rule_runner: RuleRunner, platforms: list[str]
) -> None:
    rule_runner.write_files(
        {"img/BUILD": f"multiarch_docker_image(name='base', platforms={platforms!r})"}
    )
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(generated("amd64"))
    assert "linux/amd64, linux/arm64" in str(error.value)


def test_unknown_build_platform_names_the_allowed_values(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": "docker_image(build_platform='linux/riscv64')"})
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(Address("img"))
    assert "linux/riscv64" in str(error.value) and "linux/arm64" in str(error.value)


def image_with(dependency: str) -> str:
    return f"""
native_wheel(name="wheel-x86_64", platform_tag="manylinux_2_34_x86_64")
native_wheel(name="wheel-aarch64", platform_tag="manylinux_2_34_aarch64")
pex_binary(name="env", entry_point="app.py")
image_pex(name="stored-env")
image_wheels(name="wheels")
platform_image(name="base-amd64", build_platform="linux/amd64", dependencies=["{dependency}"])
platform_image(name="base-arm64", build_platform="linux/arm64", dependencies=["{dependency}"])
"""


def dependencies_of(rule_runner: RuleRunner, arch: str) -> Addresses:
    image = rule_runner.get_target(Address("img", target_name=f"base-{arch}"))
    return rule_runner.request(Addresses, [DependenciesRequest(image[Dependencies])])


def test_an_input_without_a_build_for_the_arch_fails_before_any_build(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.write_files({"img/BUILD": image_with(":wheel-x86_64"), "img/app.py": ""})
    x86_64_wheel = Address("img", target_name="wheel-x86_64")
    assert list(dependencies_of(rule_runner, "amd64")) == [x86_64_wheel]
    with pytest.raises(ExecutionError) as error:
        dependencies_of(rule_runner, "arm64")
    message = str(error.value)
    assert "img:base-arm64 is built for linux/arm64" in message
    assert "img:wheel-x86_64 builds manylinux_2_34_x86_64 wheels" in message


def test_a_wheel_for_the_arch_passes(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": image_with(":wheel-aarch64"), "img/app.py": ""})
    assert list(dependencies_of(rule_runner, "arm64")) == [
        Address("img", target_name="wheel-aarch64")
    ]


@pytest.mark.parametrize(
    "pex, message",
    [
        ("env", "img:env is resolved for this host (x86_64) only"),
        ("stored-env", "img:stored-env is an `image_pex`, resolved for this host only"),
        ("wheels", "img:wheels is an `image_wheels`, resolved for this host only"),
    ],
)
def test_a_host_resolved_pex_has_no_build_for_another_arch(
    rule_runner: RuleRunner, pex: str, message: str
) -> None:
    rule_runner.write_files({"img/BUILD": image_with(f":{pex}"), "img/app.py": ""})
    dependencies_of(rule_runner, "amd64")  # this host is x86_64
    with pytest.raises(ExecutionError) as error:
        dependencies_of(rule_runner, "arm64")
    assert message in str(error.value)


def test_package_builds_no_image_and_names_the_publish_command(rule_runner: RuleRunner) -> None:
    """`package containers/vllm:runtime` packages the untagged list too: it must stay cheap."""
    rule_runner.write_files({"img/BUILD": TWO_ARCH_IMAGE, **FILES})
    manifest = rule_runner.get_target(generated("manifest"))
    package = rule_runner.request(BuiltPackage, [DockerManifestListFieldSet.create(manifest)])
    assert package.digest == EMPTY_DIGEST
    (artifact,) = package.artifacts
    assert artifact.relpath is None
    assert artifact.extra_log_lines == (
        "Manifest list img:base#manifest over img:base#amd64, img:base#arm64: nothing to build "
        "here (a list lives in a registry); `./pants publish img:base#manifest` builds and "
        "pushes the images, then the list",
    )


def test_a_list_over_images_without_a_platform_fails(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "img/BUILD": 'file(name="f", source="f")\n'
            'docker_manifest_list(name="m", dependencies=[":f"])',
            "img/f": "",
        }
    )
    manifest = rule_runner.get_target(Address("img", target_name="m"))
    with pytest.raises(ExecutionError, match="needs `docker_image` dependencies"):
        rule_runner.request(BuiltPackage, [DockerManifestListFieldSet.create(manifest)])


def publish_processes(rule_runner: RuleRunner, lists) -> PublishProcesses:
    """publish's processes when building the list's images gave `lists`: the images themselves
    are built for real by tests/python/smoke/test_multiarch.py."""
    rule_runner.write_files({"img/BUILD": TWO_ARCH_IMAGE, **FILES})
    field_set = PublishManifestListFieldSet.create(rule_runner.get_target(generated("manifest")))

    def build(field: DockerManifestListDependenciesField) -> BuiltManifestLists:
        assert field.address == generated("manifest")  # every member, whatever its tags
        return BuiltManifestLists(lists)

    return run_rule_with_mocks(
        publish_manifest_lists,
        rule_args=[PublishManifestListRequest(field_set, ())],
        mock_gets=[
            MockGet(BuiltManifestLists, (DockerManifestListDependenciesField,), build),
            MockGet(Process, (DockerProcess,), lambda p: rule_runner.request(Process, [p])),
        ],
    )


def test_publish_builds_the_images_and_pushes_each_list_to_its_registry(
    rule_runner: RuleRunner,
) -> None:
    refs = ("127.0.0.1:5000/d/base:1.0-amd64", "127.0.0.1:5000/d/base:1.0-arm64")
    (job,) = publish_processes(rule_runner, (("127.0.0.1:5000/d/base:1.0", refs),))
    assert job.names == ("127.0.0.1:5000/d/base:1.0",)
    # bash -c <the script's text> <its name> <docker> <the script's arguments>
    argv = job.process.process.argv
    assert argv[1] == "-c" and argv[2].startswith("#!/usr/bin/env bash\n# Publishes one")
    assert argv[3:] == (
        "push_manifest_list.sh",
        argv[4],  # the docker binary Pants found
        "--insecure",
        "127.0.0.1:5000/d/base:1.0",
        *refs,
    )
    assert argv[4].endswith("docker")


def test_publish_skips_a_list_with_no_registry(rule_runner: RuleRunner) -> None:
    (job,) = publish_processes(rule_runner, (("d/base:1.0", ("d/base:1.0-amd64",)),))
    assert job.process is None
    assert "[docker].registries" in job.description


def test_manifest_lists_group_per_arch_tags() -> None:
    assert manifest_lists(
        {"r:5000/a:1-amd64": "amd64", "r:5000/a:1-arm64": "arm64", "r:5000/a:sha-arm64": "arm64"}
    ) == {
        "r:5000/a:1": ("r:5000/a:1-amd64", "r:5000/a:1-arm64"),
        "r:5000/a:sha": ("r:5000/a:sha-arm64",),
    }
    with pytest.raises(ValueError, match="not tagged for arm64"):
        manifest_lists({"a:1": "arm64"})


def test_registry_and_arch_helpers() -> None:
    assert registry_of("127.0.0.1:5000/dynamo/base:1") == "127.0.0.1:5000"
    assert registry_of("nvcr.io/nvidia/cuda:13") == "nvcr.io"
    assert registry_of("dynamo/base:1") is None
    assert is_loopback_registry("127.0.0.1:5000") and is_loopback_registry("localhost:5000")
    assert not is_loopback_registry("registry.example.com:443")
    assert wheel_arch("manylinux_2_34_aarch64") == PLATFORMS["linux/arm64"]
    assert wheel_arch("manylinux_2_28_x86_64") == PLATFORMS["linux/amd64"]
    assert wheel_arch("any") is None
    # A malformed tag never passes as fitting every arch.
    for malformed in ("manylinux_2_34_arm64", "manylinux_2_34_x86-64", "x86_64", ""):
        with pytest.raises(ValueError, match="is not a platform tag"):
            wheel_arch(malformed)
