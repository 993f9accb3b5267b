"""Every `docker` command the in-repo plugins run, made in one place: its argv and environment.

A rule asks for `Get(FallibleProcessResult, DockerProcess(...))` (or `Get(Process, ...)` to
wrap it, as `publish` does): `docker <args>`, or a bash script beside the rules that gets
docker's path as `$1` (`DockerScript`, read as a resource). The environment is merged here
once, the way Pants' own `DockerBinary` merges it for `docker build`:

    [docker].tools' PATH  <  the caller's `env`  <  [docker].env_vars

(later wins; PATH is joined instead, the tools' directories first). `[docker].env_vars`
(DOCKER_HOST, DOCKER_BUILDKIT) says which engine and how for every command, the build
included, so a caller's environment never overrides it. The GPU smoke test used to merge in
the opposite order (the tools' PATH over everything): it follows this one now; the two differ
only when `[docker].tools` is set, which this repo does not do.

The `docker build` itself is made by Pants (`DockerBinary.build_image`, same merge);
`reuse.py` only rewrites it. `dynamo_deploy`'s runner runs `docker` itself, outside Pants: it
gets `DockerEnvironment`, so it talks to the engine the images were built in.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from pants.backend.docker.subsystems.docker_options import DockerOptions
from pants.backend.docker.util_rules.docker_binary import DockerBinary
from pants.core.util_rules.system_binaries import BashBinary
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import EMPTY_DIGEST, Digest
from pants.engine.process import Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from dynamo_images.pants_internals import docker_process_environment


@dataclass(frozen=True)
class DockerScript:
    """A bash script beside the rules, declared as a `resource` in its BUILD file and read
    with importlib.resources: `DockerScript("dynamo_images", "docker_engine.sh")`. Its text
    is in the process's argv (`bash -c`), so editing it changes the cache key of every
    process that runs it."""

    package: str
    name: str

    def text(self) -> str:
        return resources.read_text(self.package, self.name)


@dataclass(frozen=True)
class DockerProcess:
    """`docker <args>`, or `bash <script> <docker> <args>` when `script` is set."""

    args: tuple[str, ...]
    description: str
    script: DockerScript | None = None
    # Tells apart runs of one script with the same arguments in one session ($0): a
    # per-session process otherwise runs once per session.
    run_label: str = ""
    # The caller's own variables (under [docker].env_vars), and names to pass from Pants'
    # environment beside [docker].env_vars (HOME for `docker manifest`).
    env: FrozenDict[str, str] = FrozenDict()
    env_var_names: tuple[str, ...] = ()
    input_digest: Digest = EMPTY_DIGEST
    output_directories: tuple[str, ...] = ()
    timeout_seconds: int | None = None
    cache_scope: ProcessCacheScope = ProcessCacheScope.PER_SESSION
    level: LogLevel = LogLevel.DEBUG


@dataclass(frozen=True)
class DockerEnvironment:
    """`[docker].env_vars` (plus any names asked for), as Pants' environment gives them."""

    vars: FrozenDict[str, str]


@dataclass(frozen=True)
class DockerEnvironmentRequest:
    extra_names: tuple[str, ...] = ()


@rule(desc="Read the Docker environment", level=LogLevel.DEBUG)
async def docker_environment(
    request: DockerEnvironmentRequest, options: DockerOptions.EnvironmentAware
) -> DockerEnvironment:
    env = await Get(
        EnvironmentVars, EnvironmentVarsRequest([*options.env_vars, *request.extra_names])
    )
    return DockerEnvironment(FrozenDict(env))


@rule(desc="Make a docker command", level=LogLevel.DEBUG)
async def docker_process(
    request: DockerProcess, docker: DockerBinary, bash: BashBinary
) -> Process:
    docker_env = await Get(DockerEnvironment, DockerEnvironmentRequest(request.env_var_names))
    if request.script is None:
        argv: tuple[str, ...] = (docker.path, *request.args)
    else:
        name = request.script.name + (f"#{request.run_label}" if request.run_label else "")
        argv = (bash.path, "-c", request.script.text(), name, docker.path, *request.args)
    return Process(
        argv,
        description=request.description,
        env=docker_process_environment(docker, {**request.env, **docker_env.vars}),
        input_digest=request.input_digest,
        immutable_input_digests=docker.extra_input_digests,
        output_directories=request.output_directories,
        timeout_seconds=request.timeout_seconds,
        level=request.level,
        cache_scope=request.cache_scope,
    )


def rules():
    return collect_rules()
