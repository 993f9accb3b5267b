"""Builds one wheel with a PEP 517 backend, then checks its platform tag with auditwheel.

Run by the `native_wheel` rule with the tool venv's Python, in the source tree:

    python pep517_shim.py BACKEND OUT_DIR PLATFORM_TAG

Standalone on purpose (stdlib only, Python 3.9+): it runs in the build tools' venv, not in
Pants. A tag for another architecture than this machine's makes it a cross build
(docs/wheels.md, aarch64).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Archive timestamps and build paths must not depend on when or where we build.
FIXED_ENV = {"SOURCE_DATE_EPOCH": "315532800", "CARGO_NET_OFFLINE": "true"}


def use_private_home(workdir: str) -> None:
    """HOME and CARGO_HOME of the build's own, unless the target passes them (`env_vars`):
    the host's are not part of the build (nor of its cache key), and nothing is written to
    the user's home."""
    os.environ.setdefault("HOME", os.path.join(workdir, "home"))
    os.environ.setdefault("CARGO_HOME", os.path.join(workdir, "cargo-home"))


def sccache_basedirs(build_dir: str) -> str:
    """Prefixes sccache strips from paths before hashing: the build directory and the tool
    venv (pybind11's headers), whose absolute path differs between workspaces. Both as given
    and resolved: Pex reaches its venvs through short symlinks (venvs/s/<hash>/venv)."""
    dirs = [build_dir, sys.prefix]
    return os.pathsep.join(dict.fromkeys(p for d in dirs for p in (d, os.path.realpath(d))))


@contextlib.contextmanager
def build_place(fixed_dir: str | None):
    """Where the backend builds: (source directory, scratch directory).

    Without sccache, the sandbox and a temporary directory. With sccache, a copy of the tree
    at a fixed path per project (locked while it builds), scratch beside it: compilers see
    absolute paths (rustc's CARGO_MANIFEST_DIR and --out-dir, include paths), and sccache's
    Rust keys cannot ignore them, so a sandbox's random path would make every compile a miss.
    """
    if not fixed_dir:
        with tempfile.TemporaryDirectory() as workdir:
            yield os.getcwd(), workdir
        return
    sandbox = os.environ.get("NATIVE_WHEEL_SANDBOX") or os.getcwd()
    project = os.path.relpath(os.getcwd(), sandbox).replace(os.sep, "-").strip(".-") or "root"
    root = os.path.join(fixed_dir, project)
    os.makedirs(fixed_dir, exist_ok=True)
    with open(root + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Another build of the same tree waits its turn.
        shutil.rmtree(root, ignore_errors=True)  # Never build on a previous build's outputs.
        source, workdir = os.path.join(root, "src"), os.path.join(root, "work")
        shutil.copytree(os.getcwd(), source, symlinks=True)
        os.makedirs(workdir)
        try:
            yield source, workdir
        finally:
            shutil.rmtree(root, ignore_errors=True)


def sccache_stats_document(stats: dict, built_at: float, error: str | None = None) -> dict:
    # built_at tells a fresh build from one replayed out of Pants' cache; error says why a
    # build compiled without sccache.
    document = {"built_at": built_at, "sccache": stats}
    if error:
        document["error"] = error
    return document


def without_sccache() -> None:
    """The compilers without the sccache launcher. CC/CXX stay set to the bare compiler:
    meson puts an sccache it finds on PATH in front of compilers nobody named."""
    for name in ("RUSTC_WRAPPER", "CMAKE_C_COMPILER_LAUNCHER", "CMAKE_CXX_COMPILER_LAUNCHER"):
        os.environ.pop(name, None)
    for name in ("CC", "CXX"):
        value = os.environ.get(name, "")
        if value.startswith("sccache "):
            os.environ[name] = value[len("sccache ") :]


@contextlib.contextmanager
def sccache_server(workdir: str, stats_file: str | None):
    """One sccache server for this build, on a socket of its own, stopped afterwards with its
    statistics written to `stats_file`. Does nothing when sccache is off (no `stats_file`)."""
    if not stats_file:
        yield
        return
    os.environ["SCCACHE_SERVER_UDS"] = os.path.join(workdir, "sccache.sock")
    os.environ["SCCACHE_BASEDIRS"] = sccache_basedirs(os.getcwd())
    # A build that dies leaves no server behind for long.
    os.environ.setdefault("SCCACHE_IDLE_TIMEOUT", "120")
    # A cache that is down slows the build; it never fails it.
    os.environ.setdefault("SCCACHE_IGNORE_SERVER_IO_ERROR", "1")
    started = subprocess.run(["sccache", "--start-server"], capture_output=True, text=True)
    if started.returncode != 0:
        # sccache's server does not start when its store is unreachable (Redis down).
        print(f"warning: sccache did not start, compiling without it: {started.stderr}")
        without_sccache()
    try:
        yield
    finally:
        stats, error = {}, started.stderr.strip() if started.returncode != 0 else None
        if error is None:
            shown = subprocess.run(
                ["sccache", "--show-stats", "--stats-format=json"], capture_output=True, text=True
            )
            subprocess.run(["sccache", "--stop-server"], capture_output=True)
            stats = json.loads(shown.stdout) if shown.returncode == 0 else {}
        with open(stats_file, "w") as f:
            json.dump(sccache_stats_document(stats, time.time(), error), f, indent=1)


def glibc_of(tag: str) -> tuple[int, int] | None:
    match = re.match(r"manylinux_(\d+)_(\d+)_", tag)
    return (int(match.group(1)), int(match.group(2))) if match else None


def split_tag(platform_tag: str) -> tuple[str, str]:
    """'manylinux_2_34_x86_64' -> ('manylinux_2_34', 'x86_64')."""
    match = re.match(r"(manylinux_\d+_\d+)_(\w+)$", platform_tag)
    if not match:
        sys.exit(f"platform tag {platform_tag!r} is not of the form manylinux_X_Y_ARCH")
    return match.group(1), match.group(2)


def is_cross(platform_tag: str) -> bool:
    return split_tag(platform_tag)[1] != platform.machine()


def configure_env(backend: str, platform_tag: str) -> None:
    # The backend's helpers (meson, ninja, maturin, auditwheel, sccache) live next to the
    # interpreter; Pants does not put the tool venv on PATH. The build's own PATH arrives as
    # NATIVE_WHEEL_PATH: Pex's launcher overwrites PATH with Pants' interpreter search path.
    search_path = os.environ.get("NATIVE_WHEEL_PATH") or os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + search_path
    for key, value in FIXED_ENV.items():
        os.environ.setdefault(key, value)
    policy, arch = split_tag(platform_tag)
    if backend.startswith("maturin"):
        # maturin checks symbol versions itself and refuses a wheel that breaks the policy.
        args = [os.environ.get("MATURIN_PEP517_ARGS", ""), f"--compatibility {policy}"]
        if is_cross(platform_tag):
            args.append(f"--target {arch}-unknown-linux-gnu")
            linker = f"CARGO_TARGET_{arch.upper()}_UNKNOWN_LINUX_GNU_LINKER"
            os.environ.setdefault(linker, f"{arch}-linux-gnu-gcc")
        os.environ["MATURIN_PEP517_ARGS"] = " ".join(a for a in args if a)
    else:
        # meson-python and setuptools tag wheels from sysconfig.get_platform(), which honours it.
        os.environ["_PYTHON_HOST_PLATFORM"] = f"{policy}-{arch}"


MESON_CROSS_FILE = """
[binaries]
c = '{arch}-linux-gnu-gcc'
cpp = '{arch}-linux-gnu-g++'
strip = '{arch}-linux-gnu-strip'
python = '{python}'

[host_machine]
system = 'linux'
cpu_family = '{arch}'
cpu = '{arch}'
endian = 'little'
"""

# Debian's Python answers meson's introspection for the target: its multiarch headers pick
# the target's pyconfig.h, and the target's sysconfigdata gives the extension suffix.
CROSS_PYTHON = """#!/bin/sh
_PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__linux_{arch}-linux-gnu exec {python} "$@"
"""


def meson_cross_settings(platform_tag: str, workdir: str) -> dict:
    """config_settings for meson-python that cross compile for the tag's architecture."""
    arch = split_tag(platform_tag)[1]
    version = "{}.{}".format(*sys.version_info[:2])
    python = f"/usr/bin/python{version}"
    sysconfigdata = f"/usr/lib/python{version}/_sysconfigdata__linux_{arch}-linux-gnu.py"
    if not os.path.exists(sysconfigdata):
        deb = DEBIAN_ARCH.get(arch, arch)
        sys.exit(
            f"cross compiling for {arch} needs Debian's python{version} with the {arch} "
            f"sysconfig data ({sysconfigdata}). "
            + cross_install_hint(
                arch,
                f"dpkg --add-architecture {deb} && apt-get update && apt-get install "
                f"python{version} libpython{version}-dev:{deb} g++-{gnu_package(arch)}",
            )
        )
    wrapper = os.path.join(workdir, f"python-{arch}")
    with open(wrapper, "w") as f:
        f.write(CROSS_PYTHON.format(arch=arch, python=python))
    os.chmod(wrapper, 0o755)
    cross_file = os.path.join(workdir, f"{arch}.ini")
    with open(cross_file, "w") as f:
        f.write(MESON_CROSS_FILE.format(arch=arch, python=wrapper))
    return {"setup-args": [f"--cross-file={cross_file}"]}


# What each backend runs from the host, and how to get it on a Debian host (./pants installs
# Debian's g++ and cargo as root: build-support/provision-host.sh).
HOST_TOOLS = {
    "maturin": (
        ("cargo", "rustc"),
        "rustup (https://rustup.rs) or `apt-get install cargo` (./pants does it when it runs "
        "as root on Debian: build-support/provision-host.sh)",
    ),
    "mesonpy": (
        ("c++",),
        "`apt-get install g++` (./pants does it when it runs as root on Debian: "
        "build-support/provision-host.sh)",
    ),
}
# Cross builds (the tag's architecture is not this machine's) use Debian's cross toolchain;
# Rust's standard library for the target comes from Debian too (rustup cannot fetch it here).
CROSS_TOOLS = {
    "maturin": (
        ("cargo", "rustc", "{arch}-linux-gnu-gcc"),
        "dpkg --add-architecture {deb} && apt-get update && apt-get install cargo rustc "
        "libstd-rust-dev:{deb} gcc-{gnu_package}, with /usr/bin first on the build's PATH "
        "(env_vars)",
    ),
    "mesonpy": (
        ("{arch}-linux-gnu-g++",),
        "dpkg --add-architecture {deb} && apt-get update && apt-get install g++-{gnu_package} "
        "python3.11 libpython3.11-dev:{deb}",
    ),
}
# Debian's names for the architectures of platform tags.
DEBIAN_ARCH = {"aarch64": "arm64", "x86_64": "amd64"}


def gnu_package(arch: str) -> str:
    """The suffix of Debian's cross compiler packages (gcc-aarch64-linux-gnu,
    gcc-x86-64-linux-gnu)."""
    return f"{arch.replace('_', '-')}-linux-gnu"


def cross_install_hint(arch: str, commands: str) -> str:
    """What provides a cross toolchain: ./pants on an x86_64 Debian host, else these commands."""
    if arch == "aarch64" and platform.machine() == "x86_64":
        return (
            "./pants installs the aarch64 cross toolchain when it runs as root on a Debian host "
            "(build-support/provision-host.sh; not with DYNAMO_SKIP_PROVISION=1): run a goal "
            f"once as root, or install it by hand: {commands}"
        )
    return (
        f"./pants provisions only the aarch64 cross toolchain, on x86_64 hosts; on this "
        f"{platform.machine()} host install it by hand: {commands}"
    )


def check_host_tools(backend: str, platform_tag: str = "") -> None:
    cross = bool(platform_tag) and is_cross(platform_tag)
    table = CROSS_TOOLS if cross else HOST_TOOLS
    arch = split_tag(platform_tag)[1] if platform_tag else ""
    tools, install = table.get(backend.partition(":")[0], ((), ""))
    tools = tuple(t.format(arch=arch) for t in tools)
    install = install.format(
        arch=arch, deb=DEBIAN_ARCH.get(arch, arch), gnu_package=gnu_package(arch)
    )
    hint = cross_install_hint(arch, install) if cross else f"install with {install}"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"{backend} needs {', '.join(missing)} on the PATH that Pants was started with "
            f"(PATH={os.environ.get('PATH', '')}); {hint}."
        )


def check_platform(wheel_path: str, platform_tag: str) -> None:
    wheel_tag = os.path.basename(wheel_path)[: -len(".whl")].split("-")[-1]
    if wheel_tag == "any":
        return
    out = subprocess.run(["auditwheel", "show", wheel_path], capture_output=True, text=True)
    text = " ".join((out.stdout + out.stderr).split())
    found = re.search(r'platform tag: "([^"]+)"', text)
    if not found:
        sys.exit(f"auditwheel could not classify {os.path.basename(wheel_path)}:\n{text}")
    needed, allowed, claimed = glibc_of(found.group(1)), glibc_of(platform_tag), glibc_of(wheel_tag)
    if needed and allowed and needed > allowed:
        sys.exit(
            f"{os.path.basename(wheel_path)} needs glibc {needed[0]}.{needed[1]} symbols "
            f"(auditwheel: {found.group(1)}), newer than [native-wheels].platform_tag "
            f"{platform_tag} allows. Build on an older toolchain or raise the tag (never "
            f"above the production base's glibc)."
        )
    if claimed is None or (needed and claimed < needed):
        sys.exit(
            f"{os.path.basename(wheel_path)} is tagged {wheel_tag!r} but auditwheel says it "
            f"needs {found.group(1)}; the build backend ignored the platform settings."
        )


def main() -> None:
    backend_spec, out_dir, platform_tag = sys.argv[1:4]
    configure_env(backend_spec, platform_tag)
    check_host_tools(backend_spec, platform_tag)
    module_name, _, attr = backend_spec.partition(":")
    try:
        backend = importlib.import_module(module_name)
    except ImportError as e:
        sys.exit(
            f"build backend {backend_spec!r} (from pyproject.toml) is not installed in the "
            f"[native-wheels] tool environment ({e}); add its distribution to "
            "[native-wheels].requirements and to the resolve's requirements file."
        )
    for part in filter(None, attr.split(".")):
        backend = getattr(backend, part)
    os.makedirs(out_dir, exist_ok=True)
    out_dir = os.path.abspath(out_dir)
    sandbox_dir = os.getcwd()
    stats_file = os.environ.get("NATIVE_WHEEL_SCCACHE_STATS")
    stats_file = os.path.abspath(stats_file) if stats_file else None
    with build_place(os.environ.get("NATIVE_WHEEL_FIXED_DIR")) as (source, workdir):
        os.chdir(source)
        use_private_home(workdir)
        settings = {}
        if module_name == "mesonpy":
            # A fixed build directory name (meson-python picks a random one otherwise).
            settings["build-dir"] = ".mesonpy-build"
            if is_cross(platform_tag):
                settings.update(meson_cross_settings(platform_tag, workdir))
        with sccache_server(workdir, stats_file):
            name = backend.build_wheel(out_dir, settings or None)
        os.chdir(sandbox_dir)
    wheel_path = os.path.join(out_dir, name)
    check_platform(wheel_path, platform_tag)
    print(f"wheel: {name}")


if __name__ == "__main__":
    main()
