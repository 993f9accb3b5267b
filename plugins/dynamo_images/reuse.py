"""Skip no-op image builds: reuse, or pull, the image built from the very same inputs.

Pants 2.17 runs `docker build` on every `package` (the process is per-session) because the
image may have been deleted from the engine since. Here each image gets a key made from its
inputs (`image_cache.image_key`: the Dockerfile and build context, declared build args, tags,
platform, upstream and external base image IDs; never the engine) and a record "key -> image
ID" that Pants caches like a process result, locally and through the remote cache. Then:

1. a record whose image is in the engine: reused, its tags put back if they moved; no
   `docker build`;
2. a record whose image is not: pulled from the team registry by its key tag, and kept only if
   its ID is the recorded one (`image_cache.py`);
3. neither: `docker build` runs, and its image is recorded (and, on a writer, pushed).

An image lost for good (not in the engine, not in the registry) is rebuilt and recorded one
link down a chain of keys (`rebuild_key`), up to `[image-reuse].max_rebuild_records` links.
Whether an image is in the engine comes from one listing of the engine's images per session;
only an image that listing lacks, or one with a moved tag, gets a `docker` call of its own.

`BuildOrReuseImage` is asked for by the package rule (`package_image.py`). The build and the
package's metadata are Pants' own (`build_docker_image_with`, pants_internals.py): a first
pass only reads the `docker build` process Pants would run (`PlanBuild`), to make the key; the
second runs the build (`ReusableBuild`) or stands in for it with the chosen image's ID
(`UseImage`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from itertools import chain

from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.package_types import BuiltDockerImage
from pants.backend.docker.subsystems.docker_options import DockerOptions
from pants.backend.docker.subsystems.dockerfile_parser import DockerfileInfo, DockerfileInfoRequest
from pants.backend.docker.target_types import DockerImageTags, DockerImageTagsRequest
from pants.backend.docker.util_rules.docker_binary import DockerBinary
from pants.backend.docker.util_rules.docker_build_args import DockerBuildArgs
from pants.backend.docker.util_rules.docker_build_context import (
    DockerBuildContext,
    DockerBuildContextRequest,
)
from pants.core.goals.package import BuiltPackage
from pants.core.util_rules.system_binaries import BashBinary
from pants.engine.fs import (
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileEntry,
    PathGlobs,
)
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionMembership
from pants.option.global_options import GlobalOptions, KeepSandboxes
from pants.option.option_types import BoolOption, IntOption
from pants.option.subsystem import Subsystem
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap

from dynamo_images.disk import DiskNeed, check_disk, sent_to_builder
from dynamo_images.docker_process import (
    DockerEnvironment,
    DockerEnvironmentRequest,
    DockerProcess,
    DockerScript,
)
from dynamo_images.gates import ImageFacts, ImageFactsRequest
from dynamo_images.image_cache import (
    UPSTREAM_METADATA_GLOBS,
    ImageRecord,
    ImageRecordRequest,
    PulledImage,
    PullImageRequest,
    PushedImage,
    PushImageRequest,
    WriteImageRecord,
    image_key,
    rebuild_key,
)
from dynamo_images.pants_internals import BuildHook, build_docker_image_with
from dynamo_images.target_types import DockerImageSizeBudgetField, parse_size


class ImageReuse(Subsystem):
    options_scope = "image-reuse"
    help = "Reuse the image built from identical inputs instead of running `docker build`."

    enabled = BoolOption(
        default=True,
        help=softwrap(
            """
            Skip `docker build` when an image's inputs are unchanged and the image it produced
            is still in the engine. Off: Pants 2.17's behaviour (build on every `package`).
            """
        ),
    )
    build_no_cache = BoolOption(
        default=False,
        help=softwrap(
            """
            Build every image packaged, with `--no-cache`, so that no layer comes from the
            engine's build cache: cold-build measurements (`benchmarks/`). It forces work and
            changes nothing built, so it is not part of an image's key, and no record is
            read (one is written when none exists for the key).
            """
        ),
    )
    max_rebuild_records = IntOption(
        default=8,
        advanced=True,
        help=softwrap(
            """
            How many times in a row the image built from the same inputs may have been lost
            (not in the engine, not in the team registry) before builds of those inputs stop
            being recorded (each lost image adds one record lookup to the next `package`).
            """
        ),
    )


# The scripts the rules below run (beside this file; each gets docker's path as $1).
DOCKER_ENGINE = DockerScript("dynamo_images", "docker_engine.sh")
EXTERNAL_IMAGE_IDS = DockerScript("dynamo_images", "external_image_ids.sh")
IMAGE_PRESENT_AND_TAGGED = DockerScript("dynamo_images", "image_present_and_tagged.sh")
# Wraps the build: its image ID where Pants reads it (see ReusableBuild).
BUILD_WITH_IMAGE_ID = DockerScript("dynamo_images", "build_with_image_id.sh")
IMAGE_ID_FILE = ".dynamo-image-id"


@dataclass(frozen=True)
class BuildOrReuseImage:
    """The package of a `docker_image`: built, or the image built from the same inputs reused.

    Asked for by the package rule (`package_image.py`), which then runs the image's gates.
    """

    field_set: DockerPackageFieldSet


class DockerEngineUnreachable(Exception):
    pass


@dataclass(frozen=True)
class DockerEngine:
    """What the engine says once per session: its ID (`docker info`: empty when it does not
    answer) and its images with their tags (a reused image whose ID and tags are all listed
    needs no check of its own)."""

    id: str
    tags_by_id: FrozenDict[str, frozenset[str]]
    data_root: str = ""  # where its images live, when the engine is this machine's
    sizes: FrozenDict[str, int] = FrozenDict()
    all_tags: frozenset[str] = frozenset()  # every tag of every image, for the disk pre-flight


# Before the rule that awaits it: Pants reads a helper's Gets when the rule is defined.
async def disk_preflight(
    field_set: DockerPackageFieldSet,
    options: DockerOptions,
    context: DockerBuildContext,
    engine: DockerEngine,
    docker_env: DockerEnvironment,
    union_membership: UnionMembership,
    dockerfile: str,
) -> None:
    """Fails before a build that the engine's disk cannot hold (disk.py); a no-op package, whose
    tags are all in the engine already, is not checked."""
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(field_set.address, description_of_origin="<infallible>"),
    )
    budget = wrapped.target.get(DockerImageSizeBudgetField).value
    if budget is None:
        return
    additional_tags = await MultiGet(
        Get(DockerImageTags, DockerImageTagsRequest, request_type(wrapped.target))
        for request_type in union_membership.get(DockerImageTagsRequest)
        if request_type.is_applicable(wrapped.target)
    )
    refs = field_set.image_refs(
        default_repository=options.default_repository,
        registries=options.registries(),
        interpolation_context=context.interpolation_context,
        additional_tags=tuple(chain.from_iterable(additional_tags)),
    )
    tags = {tag.full_name for registry in refs for tag in registry.tags}
    if tags <= engine.all_tags:
        return
    entries = await Get(DigestEntries, Digest, context.digest)
    sizes = {
        e.path: e.file_digest.serialized_bytes_length for e in entries if isinstance(e, FileEntry)
    }
    files = [sizes[path] for path in sent_to_builder(dockerfile, list(sizes))]
    # An upstream image built in this session is not in the session's listing: asked for.
    unlisted = [i for i in context.upstream_image_ids if i not in engine.sizes]
    facts = await MultiGet(Get(ImageFacts, ImageFactsRequest(i)) for i in unlisted)
    listed = [engine.sizes[i] for i in context.upstream_image_ids if i in engine.sizes]
    need = DiskNeed(
        budget=budget,
        base_size=max(listed + [f.size for f in facts], default=0),
        context_size=sum(files),
    )
    check_disk(str(field_set.address), need, engine.data_root, docker_env.vars.get("DOCKER_HOST"))


@rule(desc="Build or reuse a Docker image")
async def build_or_reuse_docker_image(
    request: BuildOrReuseImage,
    options: DockerOptions,
    global_options: GlobalOptions,
    docker: DockerBinary,
    bash: BashBinary,
    keep_sandboxes: KeepSandboxes,
    union_membership: UnionMembership,
    image_reuse: ImageReuse,
) -> BuiltPackage:
    field_set = request.field_set
    address = str(field_set.address)

    async def build(hook: BuildHook | None) -> BuiltPackage:
        return await build_docker_image_with(
            hook, field_set, options, global_options, docker, keep_sandboxes, union_membership
        )

    if not image_reuse.enabled:
        return await build(None)

    context, dockerfile_info, docker_env, engine = await MultiGet(
        Get(
            DockerBuildContext,
            DockerBuildContextRequest(field_set.address, build_upstream_images=True),
        ),
        Get(DockerfileInfo, DockerfileInfoRequest(field_set.address)),
        Get(DockerEnvironment, DockerEnvironmentRequest()),
        Get(DockerEngine),
    )
    dockerfile_contents = await Get(
        DigestContents, DigestSubset(context.digest, PathGlobs([context.dockerfile]))
    )
    dockerfile = dockerfile_contents[0].content.decode() if dockerfile_contents else ""
    external = external_base_refs(
        dockerfile,
        context.build_args.to_dict(),
        set(dockerfile_info.from_image_build_args.to_dict()),
    )
    build_env: dict[str, str] = {}
    if external:
        # An external base pulled anew (same tag, new image) must rebuild: key on its ID.
        ids = await Get(
            FallibleProcessResult,
            DockerProcess(
                external,
                description=f"Looking up base images of {field_set.address}",
                script=EXTERNAL_IMAGE_IDS,
            ),
        )
        build_env["__EXTERNAL_BASE_IMAGE_IDS"] = ids.stdout.decode().strip().replace("\n", ",")
    # Every ARG of the Dockerfile, as Pants' own parser read them.
    declared = frozenset(dockerfile_info.build_args.to_dict())
    undeclared = frozenset(context.build_args.to_dict()) - declared
    plan = PlanBuild(bash.path, FrozenDict(build_env), declared, undeclared)
    tags = _image(await build(plan)).tags
    planned = plan.planned()
    context_content = await Get(
        Digest, DigestSubset(planned.input_digest, PathGlobs(["**", *UPSTREAM_METADATA_GLOBS]))
    )
    key = image_key(planned, context_content)

    async def use(image_id: str, check: str) -> BuiltPackage | None:
        """The package of `image_id` if it is in the engine (its tags put back), else None."""
        if not set(tags) <= engine.tags_by_id.get(image_id, frozenset()):
            present = await Get(
                FallibleProcessResult,
                DockerProcess(
                    (image_id, *tags),
                    description=f"Checking that {tags[0]} ({image_id}) is in the engine",
                    script=IMAGE_PRESENT_AND_TAGGED,
                    # Each check is a process of its own (one after a pull, one per link of
                    # the chain), not the memoized first one.
                    run_label=check,
                ),
            )
            if present.exit_code != 0:
                return None
        return await build(UseImage(bash.path, image_id))

    for attempt in range(image_reuse.max_rebuild_records):
        record = await Get(ImageRecord, ImageRecordRequest(key))
        if record.image_id is None or image_reuse.build_no_cache:
            break
        package = await use(record.image_id, f"check-{attempt}")
        if package is None and (
            await Get(PulledImage, PullImageRequest(key, record.image_id, address, tags))
        ).ok:
            package = await use(record.image_id, f"check-pulled-{attempt}")
        if package is not None:
            await Get(PushedImage, PushImageRequest(key, record.image_id, address))
            return package
        # Lost for good: build again, recorded one link down the chain.
        key = rebuild_key(key, record.image_id)
    else:
        # Lost too often: build without recording, as Pants 2.17 does.
        return await build(None)

    await disk_preflight(
        field_set, options, context, engine, docker_env, union_membership, dockerfile
    )
    package = await build(
        ReusableBuild(
            bash.path,
            FrozenDict({**build_env, "__DYNAMO_IMAGE_KEY": key}),
            declared,
            undeclared,
            no_cache=image_reuse.build_no_cache,
        )
    )
    image_id = _image(package).image_id
    recorded = await Get(ImageRecord, WriteImageRecord(key, image_id))
    # A record the key already had (a `--no-cache` build of recorded inputs) stays in force:
    # other machines expect its image under the key tag, so this one is not pushed.
    if recorded.image_id == image_id:
        await Get(PushedImage, PushImageRequest(key, image_id, address))
    return package


def _image(package: BuiltPackage) -> BuiltDockerImage:
    return next(a for a in package.artifacts if isinstance(a, BuiltDockerImage))


@dataclass(frozen=True)
class _DeclaredArgsBuild(BuildHook):
    """Pants' `docker build` with only the build args its Dockerfile declares (argv and
    environment), and the extra environment the key needs."""

    bash_path: str
    extra_build_env: FrozenDict[str, str]
    declared_build_args: frozenset[str]
    # Build args the Dockerfile does not declare, which Pants also puts in the environment.
    undeclared_build_args: frozenset[str] = frozenset()

    def build_args(self, build_args: DockerBuildArgs) -> DockerBuildArgs:
        # Docker ignores a build arg its Dockerfile does not declare; leaving it out of the key
        # (argv and environment) means a new commit (DYNAMO_GIT_SHA, a global build arg) does
        # not rebuild an image that never reads it.
        return DockerBuildArgs(
            a for a in build_args if a.split("=", 1)[0] in self.declared_build_args
        )

    def build_env(self, process: Process) -> FrozenDict[str, str]:
        kept = {k: v for k, v in process.env.items() if k not in self.undeclared_build_args}
        return FrozenDict({**kept, **self.extra_build_env})


@dataclass(frozen=True)
class PlanBuild(_DeclaredArgsBuild):
    """Reads the `docker build` process Pants would run, and runs a stand-in that does nothing
    (memoized by pantsd across runs): the key is made from the real one (`planned()`)."""

    _planned: list = dataclasses.field(default_factory=list, compare=False, hash=False)

    def build_process(self, process: Process) -> Process:
        self._planned.append(dataclasses.replace(process, env=self.build_env(process)))
        return _stand_in(self.bash_path, "sha256:planned", process.description)

    def planned(self) -> Process:
        return self._planned[-1]


@dataclass(frozen=True)
class UseImage(BuildHook):
    """Stands in for `docker build` with an image already in the engine."""

    bash_path: str
    image_id: str

    def build_process(self, process: Process) -> Process:
        return _stand_in(self.bash_path, self.image_id, process.description)


def _stand_in(bash_path: str, image_id: str, description: str) -> Process:
    """A process that prints what Pants reads from a build: `writing image <ID> done`."""
    return Process(
        (bash_path, "-c", 'echo "writing image $1 done" >&2', "stand-in", image_id),
        description=f"{description} (reused)",
        level=LogLevel.DEBUG,
        cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
    )


@dataclass(frozen=True)
class ReusableBuild(_DeclaredArgsBuild):
    """Pants' `docker build` of a declared-args-only command, naming its image."""

    no_cache: bool = False

    def build_process(self, process: Process) -> Process:
        """BuildKit's progress output does not always carry the `writing image` line Pants
        parses the ID from; `--iidfile` always has it."""
        docker, build, *options = process.argv
        return dataclasses.replace(
            process,
            argv=(
                self.bash_path, "-c", BUILD_WITH_IMAGE_ID.text(), BUILD_WITH_IMAGE_ID.name,
                IMAGE_ID_FILE, docker, build, f"--iidfile={IMAGE_ID_FILE}",
                *(["--no-cache"] if self.no_cache else []), *options,
            ),  # fmt: skip
            env=self.build_env(process),
            # Its record is what later runs and other machines read (image_cache.py).
            # Memoized by pantsd only so that Pants never runs it again to revalidate a later
            # run's graph (it re-runs per-session processes then); `__DYNAMO_IMAGE_KEY` in
            # its environment makes a rebuild of a lost image a process of its own.
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
        )


_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.IGNORECASE | re.MULTILINE)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def external_base_refs(
    dockerfile: str, build_args: dict[str, str | None], in_repo_args: set[str]
) -> tuple[str, ...]:
    """The images a Dockerfile's FROM lines name that Pants does not build itself.

    Skips `scratch`, earlier stages and refs taken from ARGs whose value is an in-repo image
    address (their IDs are in `__UPSTREAM_IMAGE_IDS` already).
    """
    defaults = {name: value for name, value in _ARG.findall(dockerfile)}
    values = {**defaults, **{k: v for k, v in build_args.items() if v is not None}}
    stages: set[str] = set()
    refs = []
    for ref, stage in _FROM.findall(dockerfile):
        names = set(_VAR.findall(ref))
        resolved = _VAR.sub(lambda m: values.get(m.group(1)) or "", ref)
        if not (names & in_repo_args or resolved in ("scratch", "") or resolved in stages):
            refs.append(resolved)
        if stage:
            stages.add(stage)
    return tuple(dict.fromkeys(refs))


@rule(desc="Ask the Docker engine for its ID and images")
async def docker_engine() -> DockerEngine:
    result, docker_env = await MultiGet(
        Get(
            FallibleProcessResult,
            DockerProcess(
                (),
                description="Asking the Docker engine for its ID and images",
                script=DOCKER_ENGINE,
            ),
        ),
        Get(DockerEnvironment, DockerEnvironmentRequest()),
    )
    first, *listing = result.stdout.decode().splitlines() or [""]
    engine_id, _, data_root = first.strip().partition("\t")
    if not engine_id:
        # Before any build: a `docker build` against no engine fails with Pants' hints about
        # the build context instead, which have nothing to do with it.
        where = docker_env.vars.get("DOCKER_HOST") or "this machine's default socket"
        raise DockerEngineUnreachable(
            f"The Docker engine ({where}) does not answer: "
            f"{result.stderr.decode(errors='replace').strip()}\n\nStart it (./pants starts "
            "this machine's own unless DYNAMO_SKIP_PROVISION=1), fix DOCKER_HOST, or unset "
            "DOCKER_HOST to use this machine's engine."
        )
    tags: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    # Without a listing, every reused image is checked on its own.
    for line in listing if result.exit_code == 0 else ():
        image_id, tag, size = (line.split("\t") + ["", ""])[:3]
        tags.setdefault(image_id, set())
        sizes[image_id] = parse_size(size.replace(" ", "")) or 0
        if tag != "<none>:<none>":
            tags[image_id].add(tag)
    return DockerEngine(
        engine_id,
        FrozenDict((i, frozenset(t)) for i, t in tags.items()),
        data_root,
        FrozenDict(sizes),
        frozenset().union(*tags.values()),
    )


def rules():
    return collect_rules()
