"""Where the in-repo plugins lean on Pants 2.17 internals, in one place: revisit each on a
Pants upgrade (the tests named say which behaviour depends on it).

1. `_Options` (pants.engine.internals.options_parsing): the parsed options of the running
   goal, read for the specs given on the command line (`CommandLineSpecs`). Pants hands a
   rule its resolved targets, never whether the user named a target or a glob matched it.
   (`unavailable.py`; tests/python/build_graph/images_macros_test.py)
2. Replacing a rule by function identity: `docker_backend_rules()` is Pants' Docker backend
   less its package rule `build_docker_image`, which `package_image.py` replaces. A rename
   of that function, or a second rule for `DockerPackageFieldSet`, breaks the rule graph.
3. Calling Pants' rule function `build_docker_image` directly with a `DockerBinary`
   subclass (`build_docker_image_with`): 2.17 makes the `docker build` process inside that
   rule, from `DockerBinary.build_image`, and offers no hook to make it cacheable. The
   subclass rewrites the build args and the process (`reuse.py`); it depends on the rule's
   signature and on `build_image`'s keyword `build_args` (reuse_test.py).
4. `DockerBinary._get_process_environment`, Pants' own merge of the docker environment
   (`docker_process_environment`, used by `docker_process.py` for every other command).
5. A test result that says "nothing ran": 2.17's `TestResult` has no skipped state;
   `exit_code=None` is how a backend reports it, and 2.17 renders it at debug level only
   (`skipped_test_result`, used by `gpu_smoke`; gpu_smoke/rules_test.py).
6. Pants' Docker publish rule reads `.tags` of every artifact of an image's package, so the
   SBOM artifact has a `tags` attribute (`gates.BuiltImageSbom`, the one reach left there).
7. `remote_cache_speculation_delay_millis`: Pants races a process against its remote cache
   lookup and cancels the lookup when the process ends first, so a record lookup (a tiny
   process that fails fast on a miss) waits `REMOTE_FIRST_MILLIS` for the remote cache. The
   delay is part of a process's identity in Pants' graph but not of its cache key: the lookup
   repeated after the record is written (delay 0) runs again in the same session, and its
   result answers the first one's in later runs and on other machines (image_cache.py;
   tests/python/image_cache, reuse_test.py).
8. Where Pants mounts its `pex_root` named cache in a Pex process's sandbox, `.cache/pex_root`
   (`PexEnvironment`'s private `_PEX_ROOT_DIRNAME`): `image_pex.py` gives Pex a cache
   directory inside it, so its stored zips never share Pex 2.1.137's cache with the deflated
   ones of every other PEX (image_pex_test.py).
9. Pex's library inside Pants' process (2.1.137, the version of Pants' Pex tool): its lockfile
   codec (`pex.resolve.lockfile.json_codec`) and resolver (`LockedResolve.resolve` on a
   `CompletePlatform` made from `pex3 interpreter inspect`), and Pants' `PexPEX` and
   `LoadedLockfile` to run and feed them (`resolved.py`, for `image_wheels`;
   image_wheels_test.py). The inspection runs the Pex tool
   itself, not `PexCliProcess`, which adds `--cert`, an option `pex3 interpreter` refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pants.backend.docker import register as docker_backend
from pants.backend.docker.goals import package_image as pants_package_image
from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.subsystems.docker_options import DockerOptions
from pants.backend.docker.util_rules.docker_binary import DockerBinary
from pants.backend.docker.util_rules.docker_build_args import DockerBuildArgs
from pants.core.goals.package import BuiltPackage
from pants.core.goals.test import ShowOutput, TestResult
from pants.engine.addresses import Address
from pants.engine.fs import Snapshot
from pants.engine.internals.options_parsing import _Options
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import collect_rules, rule
from pants.engine.unions import UnionMembership
from pants.option.global_options import GlobalOptions, KeepSandboxes

# --- 1. the command line's specs ----------------------------------------------------------


@dataclass(frozen=True)
class CommandLineSpecs:
    """The target specs of the running command, as typed (`containers::`, `dir:name`)."""

    specs: tuple[str, ...]


@rule
def command_line_specs(options: _Options) -> CommandLineSpecs:
    return CommandLineSpecs(tuple(options.options.specs))


# --- 2. and 3. Pants' docker build rule, replaced and wrapped ------------------------------


def docker_backend_rules():
    """Pants' Docker backend, less the package rule `package_image.py` replaces."""
    replaced = pants_package_image.build_docker_image
    return [r for r in docker_backend.rules() if getattr(r, "func", None) is not replaced]


class _HookedDockerBinary(DockerBinary):
    """The docker binary, with `docker build`'s args and process rewritten by `hook`."""

    def __init__(self, docker: DockerBinary, hook: BuildHook):
        super().__init__(
            docker.path, docker.fingerprint, docker.extra_env, docker.extra_input_digests
        )
        object.__setattr__(self, "hook", hook)

    def build_image(self, *args, build_args: DockerBuildArgs, **kwargs) -> Process:
        process = super().build_image(
            *args, build_args=self.hook.build_args(build_args), **kwargs
        )
        return self.hook.build_process(process)


class BuildHook:
    """What `build_docker_image_with` changes in Pants' `docker build` (a frozen dataclass)."""

    def build_args(self, build_args: DockerBuildArgs) -> DockerBuildArgs:
        return build_args

    def build_process(self, process: Process) -> Process:
        return process


async def build_docker_image_with(
    hook: BuildHook | None,
    field_set: DockerPackageFieldSet,
    options: DockerOptions,
    global_options: GlobalOptions,
    docker: DockerBinary,
    keep_sandboxes: KeepSandboxes,
    union_membership: UnionMembership,
) -> BuiltPackage:
    """Pants' own image build (its rule function, called directly), with `hook` applied to
    the `docker build` process it makes; None: exactly Pants' build."""
    return await pants_package_image.build_docker_image(
        field_set,
        options,
        global_options,
        docker if hook is None else _HookedDockerBinary(docker, hook),
        keep_sandboxes,
        union_membership,
    )


# --- 4. the docker environment ------------------------------------------------------------


def docker_process_environment(docker: DockerBinary, env: Mapping[str, str]) -> Mapping[str, str]:
    """`env` over `[docker].tools`' PATH, PATH joined: as Pants makes `docker build`'s."""
    return docker._get_process_environment(env)


# --- 5. a test that did not run -----------------------------------------------------------


def skipped_test_result(
    result: FallibleProcessResult,
    address: Address,
    output_setting: ShowOutput,
    xml_results: Snapshot | None,
) -> TestResult:
    """The result of a test that ran nothing (say why in a warning: 2.17 shows this result at
    debug level only and leaves it out of the summary; the engine accepts no TestResult
    subclass that would render otherwise)."""
    return TestResult(
        exit_code=None,
        stdout=result.stdout.decode(),
        stdout_digest=result.stdout_digest,
        stderr=result.stderr.decode(),
        stderr_digest=result.stderr_digest,
        addresses=(address,),
        output_setting=output_setting,
        result_metadata=None,
        xml_results=xml_results,
    )


def rules():
    return collect_rules()


# --- 7. remote cache first ----------------------------------------------------------------

# At most this long for the remote cache before running locally (it answers in milliseconds,
# or is cut off by [GLOBAL].remote_cache_rpc_timeout_millis first).
REMOTE_FIRST_MILLIS = 30_000
