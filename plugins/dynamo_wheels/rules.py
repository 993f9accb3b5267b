"""`pants package` for `native_wheel`: run the tree's own PEP 517 backend in a sandbox."""

from __future__ import annotations

import os
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass

import toml  # pants: no-infer-dep (ships with Pants)
from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    FileContent,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
    Snapshot,
)
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from dynamo_wheels.subsystem import NativeWheels
from dynamo_wheels.target_types import (
    NativeWheelEnvVarsField,
    NativeWheelOutputPathField,
    NativeWheelPlatformTagField,
    NativeWheelProjectDirField,
    NativeWheelSourcesField,
)

# What every build sees from Pants' environment: the host's compilers and Rust toolchain.
HOST_TOOLCHAIN_ENV = ("PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME")
# sccache's own settings (where the cache lives, its credentials), passed when sccache is on.
SCCACHE_SETTINGS_ENV = (
    "SCCACHE_DIR",
    "SCCACHE_CACHE_SIZE",
    "SCCACHE_REDIS",
    "SCCACHE_REDIS_ENDPOINT",
    "SCCACHE_REDIS_USERNAME",
    "SCCACHE_REDIS_PASSWORD",
    "SCCACHE_REDIS_KEY_PREFIX",
    "SCCACHE_IGNORE_SERVER_IO_ERROR",
    "SCCACHE_ERROR_LOG",
    "SCCACHE_LOG",
)
SHIM_NAME = "__native_wheel_build.py"
# Pex's launcher exports its own search path as PATH, so the PATH a build should see (Pants'
# own, or a target's `PATH=...`) reaches the shim under this name and the shim restores it.
SEARCH_PATH_ENV = "NATIVE_WHEEL_PATH"
OUT_DIR = "__native_wheel_dist"


class NativeWheelError(Exception):
    pass


@dataclass(frozen=True)
class NativeWheelFieldSet(PackageFieldSet):
    required_fields = (NativeWheelSourcesField,)

    sources: NativeWheelSourcesField
    output_path: NativeWheelOutputPathField
    project_dir: NativeWheelProjectDirField
    platform_tag: NativeWheelPlatformTagField
    env_vars: NativeWheelEnvVarsField


def build_backend_of(pyproject_path: str, pyproject: bytes) -> str:
    try:
        data = toml.loads(pyproject.decode())
    except toml.TomlDecodeError as e:
        raise NativeWheelError(f"{pyproject_path} is not valid TOML: {e}") from e
    backend = data.get("build-system", {}).get("build-backend")
    if not backend:
        raise NativeWheelError(
            f"{pyproject_path} has no [build-system] build-backend; name the PEP 517 backend "
            'that builds this tree, e.g. build-backend = "maturin" or "mesonpy".'
        )
    return backend


def compiler_launcher_env(sccache: bool, c_compiler: str, cxx_compiler: str) -> dict[str, str]:
    """Environment that routes C, C++ and Rust compiles through sccache (empty when off)."""
    if not sccache:
        return {}
    return {
        "RUSTC_WRAPPER": "sccache",
        "CC": f"sccache {c_compiler}",
        "CXX": f"sccache {cxx_compiler}",
        "CMAKE_C_COMPILER_LAUNCHER": "sccache",
        "CMAKE_CXX_COMPILER_LAUNCHER": "sccache",
    }


def search_path_as_native_wheel_path(env: Mapping[str, str]) -> dict[str, str]:
    """The build's environment with PATH moved to where Pex's launcher leaves it alone."""
    moved = {name: value for name, value in env.items() if name != "PATH"}
    if "PATH" in env:
        moved[SEARCH_PATH_ENV] = env["PATH"]
    return moved


def build_env_names(subsystem: NativeWheels, target_env_vars: tuple[str, ...]) -> tuple[str, ...]:
    names = list(HOST_TOOLCHAIN_ENV)
    if subsystem.sccache:
        names.extend(SCCACHE_SETTINGS_ENV)
    names.extend(target_env_vars)
    return tuple(names)


@rule(desc="Build a native wheel", level=LogLevel.DEBUG)
async def package_native_wheel(
    field_set: NativeWheelFieldSet, subsystem: NativeWheels, python_setup: PythonSetup
) -> BuiltPackage:
    source_dir = os.path.normpath(
        os.path.join(field_set.address.spec_path, field_set.project_dir.value or ".")
    )
    pyproject_path = os.path.join(source_dir, "pyproject.toml")
    sources = await Get(SourceFiles, SourceFilesRequest([field_set.sources]))
    pyproject = await Get(
        DigestContents, DigestSubset(sources.snapshot.digest, PathGlobs([pyproject_path]))
    )
    if not pyproject:
        raise NativeWheelError(
            f"{field_set.address}: no {pyproject_path} among its sources. A native_wheel builds "
            "the tree under its BUILD file with the backend that pyproject.toml names (in "
            "`project_dir`, default: next to the BUILD file)."
        )
    backend = build_backend_of(pyproject_path, pyproject[0].content)

    shim = pkgutil.get_data("dynamo_wheels", "pep517_shim.py")
    assert shim is not None
    tools, shim_digest, env = await MultiGet(
        Get(VenvPex, PexRequest, subsystem.to_pex_request(python_setup)),
        Get(Digest, CreateDigest([FileContent(os.path.join(source_dir, SHIM_NAME), shim)])),
        Get(
            EnvironmentVars,
            EnvironmentVarsRequest(build_env_names(subsystem, field_set.env_vars.value or ())),
        ),
    )
    extra_env = {
        **search_path_as_native_wheel_path(env),
        **compiler_launcher_env(subsystem.sccache, subsystem.c_compiler, subsystem.cxx_compiler),
    }
    input_digest = await Get(Digest, MergeDigests([sources.snapshot.digest, shim_digest]))
    result = await Get(
        ProcessResult,
        VenvPexProcess(
            tools,
            argv=(
                SHIM_NAME,
                backend,
                OUT_DIR,
                field_set.platform_tag.value or subsystem.platform_tag,
            ),
            input_digest=input_digest,
            working_directory=source_dir,
            extra_env=extra_env,
            output_directories=(OUT_DIR,),  # Relative to the working directory.
            description=f"Build {field_set.address} with {backend}",
            # INFO: the log shows which wheels a change rebuilt.
            level=LogLevel.INFO,
        ),
    )
    output_path = field_set.output_path.value or ""
    built = await Get(Digest, RemovePrefix(result.output_digest, OUT_DIR))
    wheels = await Get(Snapshot, AddPrefix(built, output_path))
    if len(wheels.files) != 1 or not wheels.files[0].endswith(".whl"):
        raise NativeWheelError(
            f"{backend} built {list(wheels.files)} for {field_set.address}; expected one wheel."
        )
    return BuiltPackage(wheels.digest, (BuiltPackageArtifact(wheels.files[0]),))


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, NativeWheelFieldSet),
    ]
