"""The `native_wheel` target: a wheel built from a source tree by its own PEP 517 backend."""

from __future__ import annotations

import re
from typing import Optional

from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    Dependencies,
    InvalidFieldException,
    MultipleSourcesField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.strutil import softwrap


class NativeWheelSourcesField(MultipleSourcesField):
    # The whole tree under the BUILD file: an upstream checkout drops in unchanged.
    default = ("**/*", "!BUILD", "!**/target/**", "!**/build/**", "!**/__pycache__/**")
    expected_file_extensions = None
    help = softwrap(
        """
        The source tree, relative to the BUILD file: `pyproject.toml` with a
        `[build-system] build-backend`, and everything the backend reads.
        """
    )


class NativeWheelOutputPathField(StringField):
    alias = "output_path"
    default = "wheels"
    help = "Folder under `dist/` (and in Docker build contexts) that receives the wheel."


class NativeWheelProjectDirField(StringField):
    alias = "project_dir"
    default = "."
    help = softwrap(
        """
        The directory, relative to the BUILD file, that holds `pyproject.toml`; the build
        backend runs there. Set it when the target sits at the root of a larger tree whose
        files the backend reads (an upstream Cargo workspace with its bindings in
        `lib/bindings/python`, say).
        """
    )


# The platform tags native wheels are built for: the build shim (pep517_shim.py) and
# auditwheel take manylinux_<glibc major>_<glibc minor>_<arch>, for the arches built here.
PLATFORM_TAG_ARCHES = ("x86_64", "aarch64")
PLATFORM_TAG = re.compile(r"manylinux_\d+_\d+_(" + "|".join(PLATFORM_TAG_ARCHES) + ")")


def platform_tag_error(tag: object) -> str | None:
    """Why `tag` is not a platform tag a native wheel can be built for (None: it is one)."""
    if isinstance(tag, str) and PLATFORM_TAG.fullmatch(tag):
        return None
    return (
        f"{tag!r} is not a platform tag: use manylinux_<glibc major>_<glibc minor>_<arch> with "
        f"<arch> one of {', '.join(PLATFORM_TAG_ARCHES)}, e.g. manylinux_2_34_aarch64"
    )


# typing's form, not `str | None`: `./pants help` evaluates field hints under Python 3.9.
_Tag = Optional[str]


class NativeWheelPlatformTagField(StringField):
    alias = "platform_tag"
    default = None
    help = softwrap(
        """
        The wheel's platform tag, when not `[native-wheels].platform_tag`:
        `manylinux_<glibc major>_<glibc minor>_<arch>`, `<arch>` x86_64 or aarch64. A tag for
        another architecture (`manylinux_2_34_aarch64` on an x86_64 machine) cross compiles
        with Debian's cross toolchain: see docs/wheels.md.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: _Tag, address: Address) -> _Tag:
        value = super().compute_value(raw_value, address)
        error = None if value is None else platform_tag_error(value)
        if error:
            raise InvalidFieldException(f"The `{cls.alias}` field of {address}: {error}.")
        return value


class NativeWheelSccacheField(BoolField):
    alias = "sccache"
    default = True
    help = softwrap(
        """
        Compile through sccache when `[native-wheels].sccache` is on. False: this wheel's
        build always compiles everything itself, so that it can check another build (the
        reproducibility rebuild, `:wheel-rebuild`).
        """
    )


class NativeWheelEnvVarsField(StringSequenceField):
    alias = "env_vars"
    default = ()
    help = softwrap(
        """
        Extra environment for the build backend: `NAME=value`, or `NAME` to pass Pants'
        own value. `PATH`, `HOME`, `CARGO_HOME` and `RUSTUP_HOME` are always passed (the
        host's compilers and Rust toolchain); `PATH=...` replaces the search path the backend
        sees.
        """
    )


class NativeWheelDependenciesField(Dependencies):
    pass


class NativeWheelTarget(Target):
    alias = "native_wheel"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        NativeWheelSourcesField,
        NativeWheelOutputPathField,
        NativeWheelProjectDirField,
        NativeWheelPlatformTagField,
        NativeWheelEnvVarsField,
        NativeWheelSccacheField,
        NativeWheelDependenciesField,
    )
    help = softwrap(
        """
        A Python wheel with native code (Rust through maturin, C/C++ through meson-python,
        or any PEP 517 backend), built from the source tree under this BUILD file with the
        backend that its `pyproject.toml` names. The build tools are installed hash-checked
        from `[native-wheels].install_from_resolve`; the wheel is checked with auditwheel
        against `[native-wheels].platform_tag`. `docker_image` targets that depend on it
        get the wheel in their build context under `output_path`.
        """
    )
