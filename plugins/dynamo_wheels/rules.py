"""`pants package` for `native_wheel`: run the tree's own PEP 517 backend in a sandbox."""

from __future__ import annotations

import hashlib
import os
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import toml  # pants: no-infer-dep (ships with Pants)
from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.core.util_rules.system_binaries import (
    BinaryPathRequest,
    BinaryPaths,
    BinaryPathTest,
)
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
    NativeWheelSccacheField,
    NativeWheelSourcesField,
    platform_tag_error,
)

# Where the host's compilers are looked for: only to find them. The build's PATH is made of the
# directories they were found in, never the host's PATH, HOME or rustup settings, so the
# process (and its cache key) is the same in every workspace on machines with the same
# toolchain: that is what lets a remote cache serve one machine's build to another.
TOOLCHAIN_LOOKUP_ENV = ("PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME")
# Always on the build's PATH after the compilers' own directories: the linker, ar, strip.
SYSTEM_SEARCH_PATH = ("/usr/bin", "/bin")
# sccache's own settings (where the cache lives), passed when sccache is on. A process's
# environment is part of the action Pants uploads to a remote cache, so credentials never
# travel this way: they go in the file SCCACHE_CONF names (only its path is passed).
SCCACHE_SETTINGS_ENV = (
    "SCCACHE_CONF",
    "SCCACHE_DIR",
    "SCCACHE_CACHE_SIZE",
    "SCCACHE_REDIS",
    "SCCACHE_REDIS_ENDPOINT",
    "SCCACHE_REDIS_KEY_PREFIX",
    "SCCACHE_REDIS_EXPIRATION",
    "SCCACHE_REDIS_RW_MODE",
    "SCCACHE_BUCKET",
    "SCCACHE_REGION",
    "SCCACHE_ENDPOINT",
    "SCCACHE_S3_KEY_PREFIX",
    "SCCACHE_GCS_BUCKET",
    "SCCACHE_GCS_KEY_PREFIX",
    "SCCACHE_GCS_RW_MODE",
    "SCCACHE_GCS_KEY_PATH",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "SCCACHE_WEBDAV_ENDPOINT",
    "SCCACHE_WEBDAV_KEY_PREFIX",
    "SCCACHE_WEBDAV_RW_MODE",
    "SCCACHE_IGNORE_SERVER_IO_ERROR",
    "SCCACHE_ERROR_LOG",
    "SCCACHE_LOG",
)
# Variables that hold credentials: refused, with where to put them instead.
SCCACHE_SECRET_ENV = (
    "SCCACHE_REDIS_PASSWORD",
    "SCCACHE_REDIS_USERNAME",
    "SCCACHE_WEBDAV_PASSWORD",
    "SCCACHE_WEBDAV_TOKEN",
)
REDIS_URL_ENV = ("SCCACHE_REDIS", "SCCACHE_REDIS_ENDPOINT")
# The shim reads these: the sandbox root and the file, relative to the build directory, that
# it writes sccache's statistics to. Pants substitutes `{chroot}` when the process runs, so
# the cache key does not see the sandbox's path.
SANDBOX_ENV = "NATIVE_WHEEL_SANDBOX"
SCCACHE_STATS_ENV = "NATIVE_WHEEL_SCCACHE_STATS"
SCCACHE_STATS_FILE = "__native_wheel_sccache.json"
SCCACHE_STATS_DIR = "sccache-stats"
# With sccache, the shim builds a copy of the tree at a fixed path under this directory.
FIXED_DIR_ENV = "NATIVE_WHEEL_FIXED_DIR"
# What the toolchain is (versions of rustc, cc, c++): in the key, so an upgrade rebuilds.
TOOLCHAIN_FINGERPRINT_ENV = "NATIVE_WHEEL_TOOLCHAIN"
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
    sccache: NativeWheelSccacheField


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


def refuse_sccache_credentials(env: Mapping[str, str]) -> None:
    """Credentials in the build's environment would be stored in every action Pants uploads."""
    found = [name for name in SCCACHE_SECRET_ENV if env.get(name)]
    for name in REDIS_URL_ENV:
        if "@" in env.get(name, "").partition("://")[2].partition("/")[0]:
            found.append(f"{name} (user:password@ in the URL)")
    if found:
        raise NativeWheelError(
            f"{', '.join(found)} set for an sccache build: a build's environment is part of "
            "the action Pants uploads to a remote cache. Put the credentials in an sccache "
            "config file readable only by you (e.g. [cache.redis] endpoint/password) and set "
            "SCCACHE_CONF to its path instead (docs/caching.md)."
        )


def build_env_names(sccache: bool, target_env_vars: tuple[str, ...]) -> tuple[str, ...]:
    names = list(SCCACHE_SETTINGS_ENV) if sccache else []
    names.extend(target_env_vars)
    return tuple(names)


@dataclass(frozen=True)
class NativeToolchainRequest:
    c_compiler: str
    cxx_compiler: str


@dataclass(frozen=True)
class NativeToolchain:
    """The host's compilers as the build sees them: a fixed search path and their versions."""

    search_path: tuple[str, ...]
    fingerprint: str

    @property
    def path_env(self) -> str:
        return os.pathsep.join(self.search_path)


def toolchain_search_path(binaries: Iterable[str]) -> tuple[str, ...]:
    """The directories of the found compilers, then the system's, each once, in order."""
    dirs = [os.path.dirname(b) for b in binaries if b]
    return tuple(dict.fromkeys([*dirs, *SYSTEM_SEARCH_PATH]))


@rule(desc="Find the native toolchain", level=LogLevel.DEBUG)
async def find_native_toolchain(request: NativeToolchainRequest) -> NativeToolchain:
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(TOOLCHAIN_LOOKUP_ENV))
    search_path = tuple(env.get("PATH", "").split(os.pathsep)) or SYSTEM_SEARCH_PATH
    # rustup's `rustc` is a proxy that needs HOME/RUSTUP_HOME; the toolchain it points at
    # (its sysroot's bin/, with the real cargo and rustc) needs neither.
    versions = (
        ("rustc", "-vV"),
        (request.c_compiler, "--version"),
        (request.cxx_compiler, "--version"),
    )
    requests = [
        BinaryPathRequest(
            binary_name="rustc",
            search_path=search_path,
            test=BinaryPathTest(["--print", "sysroot"], fingerprint_stdout=False),
        ),
        *(
            BinaryPathRequest(
                binary_name=name, search_path=search_path, test=BinaryPathTest([flag])
            )
            for name, flag in versions
        ),
    ]
    sysroot, rustc, cc, cxx = await MultiGet(
        Get(BinaryPaths, BinaryPathRequest, path_request) for path_request in requests
    )
    rust_bin = ""
    if sysroot.first_path and sysroot.first_path.fingerprint.strip():
        rust_bin = os.path.join(sysroot.first_path.fingerprint.strip(), "bin", "rustc")
    found = [p.first_path for p in (rustc, cc, cxx)]
    fingerprint = hashlib.sha256(
        "\n".join(p.fingerprint if p else "-" for p in found).encode()
    ).hexdigest()
    return NativeToolchain(
        toolchain_search_path([rust_bin, *(p.path if p else "" for p in found[1:])]),
        fingerprint,
    )


def sccache_stats_path(address_spec_path: str, target_name: str) -> str:
    """Where a build's sccache statistics land in `dist/` (and the package's digest)."""
    return os.path.join(
        SCCACHE_STATS_DIR, f"{address_spec_path.replace('/', '.')}.{target_name}.json"
    )


@rule(desc="Build a native wheel", level=LogLevel.DEBUG)
async def package_native_wheel(
    field_set: NativeWheelFieldSet, subsystem: NativeWheels, python_setup: PythonSetup
) -> BuiltPackage:
    platform_tag = field_set.platform_tag.value or subsystem.platform_tag
    # On for the repo, and not turned off for this wheel (a rebuild that must compile itself).
    sccache = subsystem.sccache and field_set.sccache.value
    tag_error = platform_tag_error(platform_tag)
    if tag_error:  # the field checks its own value; this is the option's
        raise NativeWheelError(
            f"[native-wheels].platform_tag (for {field_set.address}): {tag_error}. Set it in "
            "pants.toml or with --native-wheels-platform-tag."
        )
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
    if sccache:
        refuse_sccache_credentials(
            await Get(
                EnvironmentVars,
                EnvironmentVarsRequest((*SCCACHE_SECRET_ENV, *REDIS_URL_ENV)),
            )
        )
    tools, shim_digest, env, toolchain = await MultiGet(
        Get(VenvPex, PexRequest, subsystem.to_pex_request(python_setup)),
        Get(Digest, CreateDigest([FileContent(os.path.join(source_dir, SHIM_NAME), shim)])),
        Get(
            EnvironmentVars,
            EnvironmentVarsRequest(build_env_names(sccache, field_set.env_vars.value or ())),
        ),
        Get(
            NativeToolchain,
            NativeToolchainRequest(subsystem.c_compiler, subsystem.cxx_compiler),
        ),
    )
    extra_env = {
        # A target's `PATH=...` wins over the toolchain's.
        **search_path_as_native_wheel_path({"PATH": toolchain.path_env, **env}),
        TOOLCHAIN_FINGERPRINT_ENV: toolchain.fingerprint,
        SANDBOX_ENV: "{chroot}",
        **compiler_launcher_env(sccache, subsystem.c_compiler, subsystem.cxx_compiler),
        **(
            {SCCACHE_STATS_ENV: SCCACHE_STATS_FILE, FIXED_DIR_ENV: subsystem.sccache_build_dir}
            if sccache
            else {}
        ),
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
                platform_tag,
            ),
            input_digest=input_digest,
            working_directory=source_dir,
            extra_env=extra_env,
            output_directories=(OUT_DIR,),  # Relative to the working directory.
            output_files=(SCCACHE_STATS_FILE,) if sccache else (),
            description=f"Build {field_set.address} with {backend}",
            # INFO: the log shows which wheels a change rebuilt.
            level=LogLevel.INFO,
        ),
    )
    output_path = field_set.output_path.value or ""
    built = await Get(Digest, DigestSubset(result.output_digest, PathGlobs([f"{OUT_DIR}/**"])))
    built = await Get(Digest, RemovePrefix(built, OUT_DIR))
    wheels = await Get(Snapshot, AddPrefix(built, output_path))
    if len(wheels.files) != 1 or not wheels.files[0].endswith(".whl"):
        raise NativeWheelError(
            f"{backend} built {list(wheels.files)} for {field_set.address}; expected one wheel."
        )
    artifacts = [BuiltPackageArtifact(wheels.files[0])]
    digest = wheels.digest
    if sccache:
        # sccache's statistics of this build, for dynamo_team_caches/cache_summary.py; a build
        # replayed from a cache replays the statistics of the build that made it.
        stats_path = sccache_stats_path(field_set.address.spec_path, field_set.address.target_name)
        stats = await Get(
            DigestContents, DigestSubset(result.output_digest, PathGlobs([SCCACHE_STATS_FILE]))
        )
        if stats:
            stats_digest = await Get(
                Digest, CreateDigest([FileContent(stats_path, stats[0].content)])
            )
            digest = await Get(Digest, MergeDigests([digest, stats_digest]))
            artifacts.append(BuiltPackageArtifact(stats_path))
    return BuiltPackage(digest, tuple(artifacts))


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, NativeWheelFieldSet),
    ]
