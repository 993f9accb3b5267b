from __future__ import annotations

import pytest
from pants.backend.python.util_rules import pex
from pants.core.goals.package import BuiltPackage
from pants.core.util_rules import source_files
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from dynamo_wheels import register
from dynamo_wheels.rules import (
    NativeWheelError,
    NativeWheelFieldSet,
    build_backend_of,
    compiler_launcher_env,
    refuse_sccache_credentials,
    sccache_stats_path,
    search_path_as_native_wheel_path,
    toolchain_search_path,
)
from dynamo_wheels.target_types import (
    NativeWheelEnvVarsField,
    NativeWheelOutputPathField,
    NativeWheelPlatformTagField,
    NativeWheelSourcesField,
    NativeWheelTarget,
)

MATURIN_PYPROJECT = '[build-system]\nrequires = ["maturin"]\nbuild-backend = "maturin"\n'


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=register.target_types(),
        rules=[
            *register.rules(),
            *pex.rules(),
            *source_files.rules(),
            QueryRule(BuiltPackage, [NativeWheelFieldSet]),
            QueryRule(source_files.SourceFiles, [source_files.SourceFilesRequest]),
        ],
    )
    runner.set_options(
        ["--python-resolves={'tools': 'tools.lock'}", "--native-wheels-install-from-resolve=tools"]
    )
    return runner


def package(rule_runner: RuleRunner, spec_path: str) -> BuiltPackage:
    target = rule_runner.get_target(Address(spec_path, target_name="wheel"))
    return rule_runner.request(BuiltPackage, [NativeWheelFieldSet.create(target)])


def test_fields_default_to_the_whole_tree(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "src/kit/BUILD": 'native_wheel(name="wheel")',
            "src/kit/pyproject.toml": MATURIN_PYPROJECT,
            "src/kit/Cargo.toml": "",
            "src/kit/src/main.rs": "",
            "src/kit/python/kit/__init__.py": "",
            "src/kit/target/release/stale": "",
        }
    )
    target = rule_runner.get_target(Address("src/kit", target_name="wheel"))
    assert isinstance(target, NativeWheelTarget)
    assert target[NativeWheelOutputPathField].value == "wheels"
    assert target[NativeWheelEnvVarsField].value == ()
    request = source_files.SourceFilesRequest([target[NativeWheelSourcesField]])
    sources = rule_runner.request(source_files.SourceFiles, [request])
    # Build outputs and the BUILD file are not sources: they would invalidate every build.
    assert sources.files == (
        "src/kit/Cargo.toml",
        "src/kit/pyproject.toml",
        "src/kit/python/kit/__init__.py",
        "src/kit/src/main.rs",
    )


def test_missing_pyproject_names_the_target(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"src/kit/BUILD": 'native_wheel(name="wheel")', "src/kit/a.rs": ""})
    message = r"src/kit:wheel: no src/kit/pyproject.toml among its sources"
    with pytest.raises(ExecutionError, match=message):
        package(rule_runner, "src/kit")


def test_project_dir_moves_where_pyproject_is_looked_for(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "up/BUILD": 'native_wheel(name="wheel", project_dir="lib/bindings/python")',
            "up/pyproject.toml": MATURIN_PYPROJECT,  # the workspace's, not the bindings'
        }
    )
    with pytest.raises(ExecutionError, match=r"no up/lib/bindings/python/pyproject.toml"):
        package(rule_runner, "up")


def test_unset_resolve_says_what_to_set(rule_runner: RuleRunner) -> None:
    rule_runner.set_options(["--python-resolves={'tools': 'tools.lock'}"])
    rule_runner.write_files(
        {"src/kit/BUILD": 'native_wheel(name="wheel")', "src/kit/pyproject.toml": MATURIN_PYPROJECT}
    )
    with pytest.raises(ExecutionError, match=r"install_from_resolve is None; set it in pants.toml"):
        package(rule_runner, "src/kit")


@pytest.mark.parametrize(
    "pyproject, message",
    [
        ('[build-system]\nrequires = ["maturin"]\n', "has no \\[build-system\\] build-backend"),
        ("[build-system\n", "is not valid TOML"),
    ],
)
def test_bad_pyproject_is_named(pyproject: str, message: str) -> None:
    with pytest.raises(NativeWheelError, match=f"src/kit/pyproject.toml {message}"):
        build_backend_of("src/kit/pyproject.toml", pyproject.encode())


def test_build_backend_is_read() -> None:
    assert build_backend_of("p", b'[build-system]\nbuild-backend = "mesonpy"\n') == "mesonpy"


def test_sccache_launchers_only_when_enabled() -> None:
    assert compiler_launcher_env(False, "cc", "c++") == {}
    assert compiler_launcher_env(True, "gcc", "g++") == {
        "RUSTC_WRAPPER": "sccache",
        "CC": "sccache gcc",
        "CXX": "sccache g++",
        "CMAKE_C_COMPILER_LAUNCHER": "sccache",
        "CMAKE_CXX_COMPILER_LAUNCHER": "sccache",
    }


def test_build_path_is_the_compilers_directories_not_the_hosts_path() -> None:
    rust = "/root/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/rustc"
    assert toolchain_search_path([rust, "/usr/bin/cc", "/usr/bin/c++"]) == (
        "/root/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin",
        "/usr/bin",
        "/bin",
    )
    # A compiler that was not found adds nothing.
    assert toolchain_search_path(["", "/usr/local/bin/cc", ""]) == (
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
    )


@pytest.mark.parametrize(
    "env, named",
    [
        ({"SCCACHE_REDIS_PASSWORD": "x"}, "SCCACHE_REDIS_PASSWORD"),
        ({"SCCACHE_WEBDAV_TOKEN": "x"}, "SCCACHE_WEBDAV_TOKEN"),
        ({"SCCACHE_REDIS_ENDPOINT": "redis://:pw@cache:6379"}, "SCCACHE_REDIS_ENDPOINT"),
        ({"SCCACHE_REDIS": "redis://user:pw@cache/0"}, "SCCACHE_REDIS"),
    ],
)
def test_sccache_credentials_in_the_environment_are_refused(env: dict, named: str) -> None:
    with pytest.raises(NativeWheelError, match=f"{named}.*set SCCACHE_CONF"):
        refuse_sccache_credentials(env)


def test_sccache_locations_without_credentials_pass() -> None:
    refuse_sccache_credentials({"SCCACHE_REDIS_ENDPOINT": "redis://cache:6379/0"})
    refuse_sccache_credentials({})


def test_sccache_stats_land_per_target() -> None:
    assert sccache_stats_path("src/rust/imagekit", "wheel") == (
        "sccache-stats/src.rust.imagekit.wheel.json"
    )


def test_the_builds_path_survives_pexs_launcher() -> None:
    # A target's `PATH=/usr/bin:/bin` (or Pants' own PATH) reaches the shim, which restores it.
    assert search_path_as_native_wheel_path({"PATH": "/usr/bin:/bin", "HOME": "/root"}) == {
        "NATIVE_WHEEL_PATH": "/usr/bin:/bin",
        "HOME": "/root",
    }
    assert search_path_as_native_wheel_path({"HOME": "/root"}) == {"HOME": "/root"}


@pytest.mark.parametrize(
    "tag", ["manylinux_2_34_arm64", "manylinux_2_34_x86-64", "linux_x86_64", "aarch64"]
)
def test_a_malformed_platform_tag_fails_where_it_is_declared(
    rule_runner: RuleRunner, tag: str
) -> None:
    rule_runner.write_files({"src/kit/BUILD": f'native_wheel(name="wheel", platform_tag="{tag}")'})
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(Address("src/kit", target_name="wheel"))
    message = str(error.value)
    assert f"The `platform_tag` field of src/kit:wheel: {tag!r} is not a platform tag" in message
    assert "manylinux_<glibc major>_<glibc minor>_<arch>" in message
    assert "x86_64, aarch64" in message


def test_a_malformed_platform_tag_option_fails_naming_the_option(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {"src/kit/BUILD": 'native_wheel(name="wheel")', "src/kit/pyproject.toml": MATURIN_PYPROJECT}
    )
    rule_runner.set_options(
        [
            "--python-resolves={'tools': 'tools.lock'}",
            "--native-wheels-install-from-resolve=tools",
            "--native-wheels-platform-tag=manylinux_2_34_amd64",
        ]
    )
    with pytest.raises(ExecutionError) as error:
        package(rule_runner, "src/kit")
    assert "[native-wheels].platform_tag (for src/kit:wheel): 'manylinux_2_34_amd64' is not" in str(
        error.value
    )


def test_a_wellformed_platform_tag_is_kept(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {"src/kit/BUILD": 'native_wheel(name="wheel", platform_tag="manylinux_2_28_aarch64")'}
    )
    target = rule_runner.get_target(Address("src/kit", target_name="wheel"))
    assert target[NativeWheelPlatformTagField].value == "manylinux_2_28_aarch64"
