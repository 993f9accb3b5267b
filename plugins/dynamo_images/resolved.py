"""What a resolve's lockfile resolves to for the images: pins and the artifacts to download.

Pex's own resolver (the `pex` library Pants runs on, the same version as its Pex tool), run
in Pants' process on the lockfile Pants loads, for the interpreter Pex builds with, as `pex3
interpreter inspect` describes it: the artifacts `image_wheels` downloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import PexRequest, ReqStrings
from pants.backend.python.util_rules.pex_cli import PexPEX
from pants.backend.python.util_rules.pex_environment import PexEnvironment, PythonExecutable
from pants.backend.python.util_rules.pex_requirements import (
    LoadedLockfile,
    LoadedLockfileRequest,
    Lockfile,
    PexRequirements,
    Resolve,
)
from pants.engine.fs import Digest, DigestContents
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import InvalidFieldException
from pex.dist_metadata import Requirement
from pex.pep_425 import CompatibilityTags
from pex.pep_508 import MarkerEnvironment
from pex.resolve.lockfile import json_codec
from pex.targets import CompletePlatform

# What Pex tells of the interpreter it builds with: the JSON of a complete platform.
INSPECT_ARGS = ("interpreter", "inspect", "--verbose", "--markers", "--tags")


@dataclass(frozen=True)
class LockedArtifact:
    name: str  # PEP 503-normalized
    version: str
    url: str
    filename: str
    sha256: str


def locked_artifacts(
    lockfile: bytes, interpreter: bytes, roots: tuple[str, ...]
) -> tuple[LockedArtifact, ...]:
    """The artifact of every distribution the Pex lockfile (`lockfile`, its `//` header
    stripped) resolves for `roots` on the interpreter `interpreter` describes (the JSON of
    `pex3 interpreter inspect --verbose --markers --tags`): what Pex would put in a PEX, by Pex's
    own resolver. Raises ValueError with Pex's message if the lockfile cannot satisfy them."""
    info = json.loads(interpreter)
    target = CompletePlatform.create(
        MarkerEnvironment(**info["marker_environment"]),
        CompatibilityTags.from_strings(info["compatible_tags"]),
    )
    [locked_resolve] = json_codec.loads(lockfile.decode()).locked_resolves
    resolved = locked_resolve.resolve(target, [Requirement.parse(r) for r in roots])
    if not hasattr(resolved, "downloadable_artifacts"):  # a pex.result.Error
        raise ValueError(str(resolved))
    artifacts = []
    for downloadable in resolved.downloadable_artifacts:
        artifact, pin = downloadable.artifact, downloadable.pin
        if artifact.fingerprint.algorithm != "sha256" or not hasattr(artifact, "filename"):
            raise ValueError(f"{pin}: {artifact.url} is not a file locked by its sha256")
        artifacts.append(
            LockedArtifact(
                pin.project_name.normalized,
                pin.version.raw,
                artifact.url,
                artifact.filename,
                artifact.fingerprint.hash,
            )
        )
    return tuple(sorted(artifacts, key=lambda a: a.name))


@dataclass(frozen=True)
class LockedResolveRequest:
    """The lockfile subset `pex_request` (requirements from a resolve) would be built from."""

    pex_request: PexRequest
    what: str  # the target, for messages


@dataclass(frozen=True)
class LockedResolve:
    resolve: Resolve
    artifacts: tuple[LockedArtifact, ...]
    python: PythonExecutable  # the interpreter they were resolved for, which Pex builds with


@rule(desc="Resolving requirements from a lockfile for the images' interpreter")
async def locked_resolve(
    request: LockedResolveRequest, pex_pex: PexPEX, pex_environment: PexEnvironment
) -> LockedResolve:
    requirements = request.pex_request.requirements
    resolve = getattr(requirements, "from_superset", None)
    if not isinstance(requirements, PexRequirements) or not isinstance(resolve, Resolve):
        raise InvalidFieldException(f"{request.what}: its requirements need a resolve's lockfile")
    roots = await Get(ReqStrings, PexRequirements, requirements)
    lockfile = await Get(Lockfile, Resolve, resolve)
    loaded = await Get(LoadedLockfile, LoadedLockfileRequest(lockfile))
    [lock] = await Get(DigestContents, Digest, loaded.lockfile_digest)
    # The interpreter Pex builds with (the same constraints and search path), described by
    # Pex itself. Asked once per pantsd, as the machine's interpreters may change.
    python = await Get(
        PythonExecutable, InterpreterConstraints, request.pex_request.interpreter_constraints
    )
    pex_env = pex_environment.in_sandbox(working_directory=None)
    inspected = await Get(
        ProcessResult,
        Process(
            (python.path, pex_pex.exe, *INSPECT_ARGS),
            env={**pex_env.environment_dict(python=python), "PEX_SCRIPT": "pex3"},
            input_digest=pex_pex.digest,
            append_only_caches=pex_env.append_only_caches,
            description=f"Inspecting the interpreter {request.what} is built with",
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
        ),
    )
    try:
        artifacts = locked_artifacts(lock.content, inspected.stdout, roots.req_strings)
    except ValueError as e:
        raise InvalidFieldException(f"{request.what}: {e}") from e
    return LockedResolve(resolve, artifacts, python)


def rules():
    return collect_rules()
