"""Images travel between machines: records keyed on inputs, images in the team registry.

An image's *key* is a hash of what `docker build` is given: the Dockerfile and the build
context (less the metadata of upstream images, `UPSTREAM_METADATA_GLOBS`), the declared build
args, the platform, labels and other options (argv), and the IDs of its upstream images
(in-repo ones in `__UPSTREAM_IMAGE_IDS`, external ones in `__EXTERNAL_BASE_IMAGE_IDS`). It
leaves out what only says *which engine* builds or how hard it tries or what it is called:
the docker binary's path, `DOCKER_HOST` and the other variables in `ENGINE_ENV`,
`--no-cache`, and the tags (the same image under another name is reused and tagged).

The *record* "key -> image ID" is a tiny process (`image_cache_lookup.sh`) whose success
Pants caches, locally and, for writers, in the remote cache; it reads the ID from the file
`image_cache_record.sh` writes in `RECORDS_DIR` after a build. So a second machine with the
team's remote cache finds the record of an image it never built. With a team
registry (`[image-cache].registry`), writers push each image under `<registry>/<repository>:
<key>`, and a machine whose engine lacks a recorded image pulls it by that tag and keeps it
only if its ID is the recorded one: the ID is the digest of the image's config, which names
every layer's digest, so an equal ID is the very image that was built. Anything else is
removed and the image is built. A registry that is down, a missing tag or a pull cut off
midway costs a build and one warning, never a failure.

Writers are the machines that write the remote cache (`[GLOBAL].remote_cache_write`, CI):
one switch for both. Credentials come from Docker's own config or credential helper
(`DOCKER_CONFIG` is passed to pulls and pushes only), never from argv or Pants' cache keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from pants.core.util_rules.system_binaries import BashBinary
from pants.engine.fs import Digest
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.option.global_options import GlobalOptions
from pants.option.option_types import StrOption
from pants.option.subsystem import Subsystem
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap

from dynamo_images.docker_process import DockerProcess, DockerScript
from dynamo_images.gates import SBOM_ENDING
from dynamo_images.pants_internals import REMOTE_FIRST_MILLIS

logger = logging.getLogger(__name__)

# Bump when what goes into a key changes: old records and key tags are then never matched.
KEY_VERSION = 2
# What an upstream image's `package` writes beside it, and Pants 2.17 puts into every dependent
# image's build context: its metadata, whose tags carry the commit. Its content is in the key
# as the upstream image's ID (`__UPSTREAM_IMAGE_IDS`); its metadata is not, or every commit
# would make every image built on another one a new key. (A Dockerfile that COPYs one of these
# files would not be rebuilt for a new tag in it.)
UPSTREAM_METADATA_GLOBS = (
    "!**/*.docker-info.json",
    f"!**/*.{SBOM_ENDING}",
)
# Which engine, which client config, where the client finds its helpers: not what is built.
ENGINE_ENV = frozenset(
    {"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
     "PATH"}
)  # fmt: skip
# Options that make a build do more work, never a different image.
WORK_ONLY_ARGS = frozenset({"--no-cache", "--pull"})
# Where a record is written before Pants caches it (image_cache_lookup.sh says why). A fixed
# path: it is part of every lookup's cache key, so it must be the same on every machine.
RECORDS_DIR = "/tmp/dynamo-image-records"

# The scripts beside this file.
LOOKUP = DockerScript("dynamo_images", "image_cache_lookup.sh")
RECORD = DockerScript("dynamo_images", "image_cache_record.sh")
PROBE = DockerScript("dynamo_images", "registry_probe.sh")
PULL = DockerScript("dynamo_images", "image_cache_pull.sh")
PUSH = DockerScript("dynamo_images", "image_cache_push.sh")
# image_cache_pull.sh's exit codes.
PULLED, PULL_FAILED, STRANGER = 0, 10, 11


class ImageCache(Subsystem):
    options_scope = "image-cache"
    help = "Share images between machines through a registry, by a key made from their inputs."

    registry = StrOption(
        default="",
        help=softwrap(
            """
            The team registry, `host:port` (e.g. `127.0.0.1:5000` from
            `src/python/dynamo_team_caches/team-caches.sh start`). Empty: images are not
            shared (their records still are, through the remote cache). Every client pulls;
            those that write the remote cache (`[GLOBAL].remote_cache_write`, CI) also push.
            The launcher sets it from DYNAMO_IMAGE_CACHE. Credentials: Docker's own config or
            credential helper.
            """
        ),
    )
    repository = StrOption(
        default="dynamo/image-cache",
        advanced=True,
        help="The repository in the team registry that holds the key tags.",
    )

    def host_port(self) -> tuple[str, str]:
        host, sep, port = self.registry.split("/", 1)[0].rpartition(":")
        # No port: Docker talks HTTPS on 443.
        return (host, port) if sep and port.isdigit() else (self.registry.split("/", 1)[0], "443")


def _content_args(argv: list[str]) -> list[str]:
    """argv less what does not change the image: work-only options, and tags (names given to
    the image, not part of it; a tag with the commit in it would otherwise make every commit
    a new key)."""
    kept: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--tag":
            next(args, None)
        elif arg not in WORK_ONLY_ARGS and not arg.startswith("--tag="):
            kept.append(arg)
    return kept


def image_key(process: Process, context: Digest) -> str:
    """The key of the image a `docker build` process makes (see the module doc), from its
    build `context` less upstream images' metadata (`UPSTREAM_METADATA_GLOBS`)."""
    _docker, *argv = process.argv
    payload = {
        "version": KEY_VERSION,
        "argv": _content_args(argv),
        "env": sorted((k, v) for k, v in process.env.items() if k not in ENGINE_ENV),
        "input": [context.fingerprint, context.serialized_bytes_length],
    }
    inputs = json.dumps(payload, sort_keys=True)
    key = hashlib.sha256(inputs.encode()).hexdigest()
    # `-ldebug` shows what went into each key: the first place to look when an image was
    # built where it should have been reused.
    logger.debug("image key %s: %s", key, inputs)
    return key


def rebuild_key(key: str, vanished_id: str) -> str:
    """The key that records a rebuild of `key` after its image `vanished_id` was lost for good.

    A record is never overwritten (Pants answers a cached process without running it), so a
    rebuild is recorded one link further down a chain that every machine walks the same way.
    """
    return hashlib.sha256(f"{key}\nrebuilt after {vanished_id}".encode()).hexdigest()


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRecordRequest:
    key: str
    # The lookup repeated after the record is written, so that its success is cached (what
    # other machines find). The first lookup's failure is memoized for the session; this one
    # differs from it only in what Pants' graph tells apart and its cache key does not
    # (pants_internals.py, 7).
    after_write: bool = False


@dataclass(frozen=True)
class ImageRecord:
    key: str
    image_id: str | None


_NO_ENV: FrozenDict[str, str] = FrozenDict()


def _records_process(bash: BashBinary, script: DockerScript, description: str, *args: str,
                     cache_scope: ProcessCacheScope, env: FrozenDict[str, str] = _NO_ENV,
                     again: bool = False) -> Process:
    return Process(
        (bash.path, "-c", script.text(), script.name, RECORDS_DIR, *args),
        description=description,
        env=env,
        level=LogLevel.DEBUG,
        cache_scope=cache_scope,
        # The first lookup waits for the remote cache (a fast local failure would cancel the
        # remote lookup); the one after the write does not, and is another node of Pants'
        # graph with the same cache key (pants_internals.py, 7).
        remote_cache_speculation_delay_millis=0 if again else REMOTE_FIRST_MILLIS,
    )


@rule(desc="Look up an image record", level=LogLevel.DEBUG)
async def lookup_image_record(request: ImageRecordRequest, bash: BashBinary) -> ImageRecord:
    verb = "Recording" if request.after_write else "Looking up"
    result = await Get(
        FallibleProcessResult,
        _records_process(bash, LOOKUP, f"{verb} image {request.key[:12]}", request.key,
                         cache_scope=ProcessCacheScope.SUCCESSFUL, again=request.after_write),
    )
    image_id = result.stdout.decode().strip() if result.exit_code == 0 else ""
    return ImageRecord(request.key, image_id or None)


@dataclass(frozen=True)
class WriteImageRecord:
    key: str
    image_id: str


@rule(desc="Record an image", level=LogLevel.DEBUG)
async def write_image_record(request: WriteImageRecord, bash: BashBinary) -> ImageRecord:
    """The record now in force: `request`'s, or one already cached for the key."""
    await Get(
        FallibleProcessResult,
        _records_process(bash, RECORD, f"Writing the record of image {request.key[:12]}",
                         request.key, request.image_id,
                         cache_scope=ProcessCacheScope.PER_SESSION,
                         # mkdir and mv (never cached, so its environment is no key).
                         env=FrozenDict({"PATH": "/usr/bin:/bin"})),
    )
    return await Get(ImageRecord, ImageRecordRequest(request.key, after_write=True))


# --- the team registry --------------------------------------------------------------------


@dataclass(frozen=True)
class TeamRegistry:
    """The registry this session uses: `repository` empty when there is none (unset or down)."""

    repository: str
    write: bool

    def ref(self, key: str) -> str:
        return f"{self.repository}:{key}"


@rule(desc="Check the team registry", level=LogLevel.DEBUG)
async def team_registry(
    cache: ImageCache, global_options: GlobalOptions, bash: BashBinary
) -> TeamRegistry:
    if not cache.registry:
        return TeamRegistry("", False)
    host, port = cache.host_port()
    probe = await Get(
        FallibleProcessResult,
        Process(
            (bash.path, "-c", PROBE.text(), PROBE.name, host, port),
            description=f"Checking that the team registry {cache.registry} answers",
            level=LogLevel.DEBUG,
            timeout_seconds=10,
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    if probe.exit_code != 0:
        logger.warning(
            f"The team registry {cache.registry} ([image-cache].registry, DYNAMO_IMAGE_CACHE) "
            "does not answer: images are built here instead of pulled, and none is pushed. "
            "Start it (src/python/dynamo_team_caches/team-caches.sh start) or unset "
            "DYNAMO_IMAGE_CACHE."
        )
        return TeamRegistry("", False)
    return TeamRegistry(f"{cache.registry}/{cache.repository}", global_options.remote_cache_write)


def _docker_said(result: FallibleProcessResult) -> str:
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit code {result.exit_code}"


@dataclass(frozen=True)
class PullImageRequest:
    key: str
    image_id: str
    address: str
    tags: tuple[str, ...]  # the target's, put on the pulled image


@dataclass(frozen=True)
class PulledImage:
    ok: bool


@rule(desc="Pull an image by its key", level=LogLevel.DEBUG)
async def pull_image(request: PullImageRequest, registry: TeamRegistry) -> PulledImage:
    if not registry.repository:
        return PulledImage(False)
    ref = registry.ref(request.key)
    result = await Get(
        FallibleProcessResult,
        DockerProcess(
            (ref, request.image_id, *request.tags),
            description=f"Pulling {request.address} from the team registry",
            script=PULL,
            env_var_names=("DOCKER_CONFIG",),
            level=LogLevel.INFO,
            # Once per pantsd: Pants re-runs per-session processes to revalidate a later
            # run's graph, and a pull is too slow to repeat for that.
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
        ),
    )
    if result.exit_code == PULLED:
        return PulledImage(True)
    if result.exit_code == STRANGER:
        logger.warning(
            f"The team registry holds {result.stdout.decode().strip()} under key "
            f"{request.key}, not the recorded {request.image_id}: it was removed, and "
            f"{request.address} is built here. Remove that key tag from the registry "
            "(docs/caching.md: Images)."
        )
    else:
        logger.warning(
            f"Could not pull {request.address} ({ref}) from the team registry; building it "
            f"here. Docker said: {_docker_said(result)}"
        )
    return PulledImage(False)


@dataclass(frozen=True)
class PushImageRequest:
    key: str
    image_id: str
    address: str


@dataclass(frozen=True)
class PushedImage:
    ok: bool


@rule(desc="Push an image under its key", level=LogLevel.DEBUG)
async def push_image(request: PushImageRequest, registry: TeamRegistry) -> PushedImage:
    if not (registry.repository and registry.write):
        return PushedImage(False)
    ref = registry.ref(request.key)
    result = await Get(
        FallibleProcessResult,
        DockerProcess(
            (request.image_id, ref),
            description=f"Pushing {request.address} to the team registry",
            script=PUSH,
            env_var_names=("DOCKER_CONFIG",),
            level=LogLevel.INFO,
            # Once pushed, the registry holds it: a later package of the same image pushes
            # nothing (after the registry is wiped, `--no-local-cache` once pushes again).
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    if result.exit_code != 0:
        logger.warning(
            f"Could not push {request.address} to the team registry ({ref}); the build goes "
            f"on. Docker said: {_docker_said(result)}"
        )
    return PushedImage(result.exit_code == 0)


def rules():
    return collect_rules()
