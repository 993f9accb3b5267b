"""fresh-remote: a new machine gets the images the team's CI already built.

One BuildGrid and one registry (the team caches, on free ports). CI is a workspace with an
empty local store on this machine's engine: it packages each backend's runtime and dev images,
writing Pants' remote cache and pushing the images under their keys (issue 14's image cache),
and it builds the baseline Dockerfile the way plain Docker shares builds, with
BUILDKIT_INLINE_CACHE=1, pushing the images and the base images they start from.

The new machine is a second `dockerd` with empty storage (engines.SecondEngine), wiped before
each of three ways of getting the same images, timed:

  ours      a fresh workspace (empty local store) that reads the team caches: `./pants
            package`, through a `docker` that logs every command (no `docker build` may run)
  baseline  `docker build --cache-from` the baseline's pushed images, stage by stage
  pull      a plain `docker pull` of our images from the same registry: the floor

Each way also reports what it downloaded: from the registry (its access log) and from the
REAPI store (a byte-counting proxy; ours alone uses it: a few MB, as its hits are validated,
not fetched, so the PEX the stack was built from stays in the cache). The
layers of our images, read from the registry, show what a family shares: the sum of each
image's layers against the unique layers, and what ours actually pulled. The three ways take
turns, `repeat` rounds.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dynamo_workspaces.engines import SecondEngine, logging_docker
from dynamo_workspaces.proxy import CountingProxy
from dynamo_workspaces.records import HiddenRecords
from dynamo_workspaces.registry import (
    KEY_REPOSITORY,
    RegistryLog,
    family_layers,
    image_layers,
    key_tags,
)
from dynamo_workspaces.team_caches import BGD_TARGET, TeamCaches, remote_env
from dynamo_workspaces.workspace import Workspace

from dynamo_benchmarks import layers
from dynamo_benchmarks.builds import (
    DOCKER,
    BaselineBuild,
    BuildFailed,
    OursBuild,
    image_address,
    info_name,
    log,
)


def addresses(repo: Path, backends: tuple[str, ...], stages: tuple[str, ...]) -> list[str]:
    return [image_address(repo, b, s) for b in backends for s in stages]


def info_of(repo: Path, backend: str, stage: str) -> str:
    """The docker-info.json name (under dist/) of one stage's image."""
    return info_name(image_address(repo, backend, stage))


@dataclasses.dataclass
class FreshRemote:
    repo: Path
    files: tuple[str, ...]
    scratch: Path
    warm: OursBuild  # the benchmark's warm workspace: the bgd PEX, the baseline's sources
    backends: tuple[str, ...]
    stages: tuple[str, ...]
    base_runtime: str  # the base images, as the warm workspace built them
    base_devel: str
    repeat: int = 1  # rounds of the three ways
    # CI's time to write the caches (not compared: a team pays it once, on its CI).
    ci_ours_s: float = dataclasses.field(default=0.0, init=False)
    ci_baseline_s: float = dataclasses.field(default=0.0, init=False)

    def package_warm(self) -> int:
        """Packages the images in the warm workspace (untimed: the engine then holds what CI
        will push) and returns the size of the backends' last stages (each holds the layers of
        the stages before it), for the disk check."""
        self.warm.pants("package", *addresses(self.repo, self.backends, self.stages), BGD_TARGET)
        last = self.stages[-1]
        return sum(
            layers.image_size(DOCKER, self.warm.info(info_of(self.repo, b, last))["image_id"])
            for b in self.backends
        )

    def run(self) -> dict:
        caches = self.warm.start_team_caches(self.repo, self.scratch / "caches")
        # The remote cache through a proxy that counts its bytes (a few MB); the registry's
        # bytes from its own access log, so no proxy slows the gigabytes of the pulls.
        reapi = CountingProxy(("127.0.0.1", caches.reapi_port)).start()
        served = RegistryLog(caches.data_dir / "registry.log")
        # A short root: a unix socket's path has at most 107 characters.
        engine = SecondEngine(Path(tempfile.mkdtemp(prefix="dyn-fresh-")))
        rounds: list[dict] = []
        try:
            env = {k: v for k, v in self.warm.env.items() if k != "SCCACHE_DIR"}
            written = self.write_ours(env, caches)
            baselines = self.write_baseline(caches.registry)
            tags = {i: tag for tag, i in key_tags(caches.registry).items()}
            engine.start()
            # The three ways in turn, `repeat` times: a load that comes and goes on the
            # machine weighs on each alike.
            for n in range(self.repeat):
                log(f"fresh-remote: round {n + 1} of {self.repeat}")
                with HiddenRecords(set(written.values())):
                    ours = self.read_ours(env, caches, engine, reapi, served)
                if ours["images"] != written:
                    raise BuildFailed(
                        f"the new machine's images differ from CI's: {ours['images']} != "
                        f"{written}"
                    )
                baseline = self.read_baseline(engine, served, baselines)
                ids = written.values()
                pull = self.pull(engine, served, caches.registry, [tags[i] for i in ids])
                rounds.append({"ours": ours, "baseline": baseline, "pull": pull})
            per_image = {n: image_layers(caches.registry, tags[i]) for n, i in written.items()}
        finally:
            engine.stop()
            reapi.stop()
            caches.script("stop")
        last = rounds[-1]
        family = family_layers(per_image)
        family["pulled_by_ours"] = last["ours"]["registry_bytes"]
        return {
            **{way: [r[way]["seconds"] for r in rounds] for way in ("ours", "baseline", "pull")},
            "bytes": {
                "ours": {
                    "registry": last["ours"]["registry_bytes"],
                    "remote_store": last["ours"]["reapi_bytes"],
                },
                "baseline": {"registry": last["baseline"]["registry_bytes"]},
                "pull": {"registry": last["pull"]["registry_bytes"]},
            },
            "docker_builds": {
                "ours": [b for r in rounds for b in r["ours"]["builds"]],
                "baseline_steps": last["baseline"]["cached"],
            },
            "family": family,
            "remote_cache": last["ours"]["remote_cache"],
            "timeline": last["ours"]["timeline"],
            "ci_seconds": {"ours": self.ci_ours_s, "baseline": self.ci_baseline_s},
            "note": f"{' + '.join(self.backends)} {' + '.join(self.stages)} on an empty engine",
        }

    # --- CI -------------------------------------------------------------------------------

    def write_ours(self, env: dict, caches: TeamCaches) -> dict[str, str]:
        """CI packages the images in a workspace with an empty local store (a local hit is never
        uploaded), writing the remote cache and pushing each image under its key."""
        log("fresh-remote: CI (ours) packages the images, writing the team caches")
        writer = OursBuild(
            Workspace.copy_of(self.repo, self.scratch / "ci", entries=self.files),
            self.backends[0],
            {**env, **remote_env(caches, write=True)},
            pantsd=False,
        )
        run = writer.pants("package", *addresses(self.repo, self.backends, self.stages))
        self.ci_ours_s = run.seconds
        log(f"  CI (ours): {run.seconds:.0f} s")
        ids = {
            f"{b}:{s}": writer.info(info_of(self.repo, b, s))["image_id"]
            for b in self.backends
            for s in self.stages
        }
        pushed = set(key_tags(caches.registry).values())
        missing = [name for name, i in ids.items() if i not in pushed]
        if missing:
            raise BuildFailed(f"CI did not push {missing} to the image cache:\n{run.log[-3000:]}")
        # Its store is CI's machine's: the new machine has only the remote cache.
        shutil.rmtree(writer.workspace.root.parent, ignore_errors=True)
        return ids

    def write_baseline(self, registry: str) -> dict[str, BaselineBuild]:
        """CI builds the baseline with inline cache metadata and pushes it, with its bases, on
        an engine of its own (a CI machine: removed afterwards, with all it built)."""
        log("fresh-remote: CI (baseline) builds with BUILDKIT_INLINE_CACHE=1 and pushes")
        start = time.time()
        bases = {}
        for stage, image in (("runtime", self.base_runtime), ("devel", self.base_devel)):
            bases[stage] = f"{registry}/dynamo-baseline/base:{stage}"
            for command in (["tag", image, bases[stage]], ["push", bases[stage]]):
                subprocess.run([DOCKER, *command], check=True, capture_output=True)
        subprocess.run([DOCKER, "rmi", *bases.values()], capture_output=True)
        ci_engine = SecondEngine(Path(tempfile.mkdtemp(prefix="dyn-ci-"))).start()
        builds = {}
        try:
            for backend in self.backends:
                stack, dev = dataclasses.replace(self.warm, backend=backend).requirements()
                build = BaselineBuild(
                    self.warm.workspace.root, backend, self.scratch / f"baseline-{backend}",
                    bases["runtime"], bases["devel"], registry=registry,
                    docker_host=ci_engine.host, inline_cache=True,
                )
                build.write_context(stack, dev)
                build.build(self.stages)
                build.push(self.stages)
                builds[backend] = dataclasses.replace(build, docker_host=None, inline_cache=False)
        finally:
            ci_engine.stop()
        self.ci_baseline_s = time.time() - start
        return builds

    # --- the new machine ------------------------------------------------------------------

    def read_ours(
        self, env: dict, caches: TeamCaches, engine: SecondEngine, reapi: CountingProxy,
        served: RegistryLog,
    ) -> dict:
        log("fresh-remote: the new machine (ours): ./pants package, reading the team caches")
        engine.wipe()
        docker_log = logging_docker(self.scratch / "new-machine-bin")
        reader = OursBuild(
            Workspace.copy_of(self.repo, self.scratch / "new-machine", entries=self.files),
            self.backends[0],
            {
                **env,
                **remote_env(caches, write=False),
                "DYNAMO_REMOTE_CACHE": f"grpc://{reapi.address}",
                "DOCKER_HOST": engine.host,
                "PANTS_DOCKER_EXECUTABLE_SEARCH_PATHS": f"['{docker_log.parent}']",
            },
            pantsd=False,
        )
        reapi.reset()
        served.mark()
        run = reader.pants("package", *addresses(self.repo, self.backends, self.stages))
        result = {
            "seconds": run.seconds,
            "registry_bytes": served.served(),
            "reapi_bytes": reapi.received,
            "builds": [c for c in docker_log.read_text().splitlines() if c.startswith("build ")],
            "images": {
                f"{b}:{s}": reader.info(info_of(self.repo, b, s))["image_id"]
                for b in self.backends
                for s in self.stages
            },
            "remote_cache": run.summary.get("pants", {}),
            # Where its time went: Pants' timed steps (pulls, builds) as it logged them.
            "timeline": [line for line in run.log.splitlines() if "[INFO]" in line],
        }
        log(
            f"  ours: {run.seconds:.0f} s, "
            f"{result['registry_bytes'] / 1e9:.2f} GB from the registry, "
            f"{reapi.received / 1e6:.1f} MB from the remote cache, "
            f"{len(result['builds'])} docker builds"
        )
        shutil.rmtree(reader.workspace.root.parent, ignore_errors=True)
        return result

    def read_baseline(
        self, engine: SecondEngine, served: RegistryLog, builds: dict[str, BaselineBuild]
    ) -> dict:
        log("fresh-remote: the new machine (baseline): docker build --cache-from the registry")
        engine.wipe()
        served.mark()
        seconds, cached = 0.0, {}
        for backend, ci in builds.items():
            fresh = dataclasses.replace(
                ci, docker_host=engine.host, inline_cache=False,
                cache_from=tuple(ci.image(s) for s in self.stages),
            )
            seconds += fresh.build(self.stages)
            cached[backend] = fresh.last_steps
        got = served.served()
        log(f"  baseline: {seconds:.0f} s, {got / 1e9:.2f} GB from the registry")
        return {"seconds": seconds, "registry_bytes": got, "cached": cached}

    def pull(
        self, engine: SecondEngine, served: RegistryLog, registry: str, tags: list[str]
    ) -> dict:
        log("fresh-remote: the new machine (floor): docker pull of the same images")
        engine.wipe()
        served.mark()
        start = time.time()
        for tag in tags:
            subprocess.run(
                [DOCKER, "-H", engine.host, "pull", f"{registry}/{KEY_REPOSITORY}:{tag}"],
                check=True, capture_output=True, timeout=3600,
            )
        seconds, got = time.time() - start, served.served()
        log(f"  pull: {seconds:.0f} s, {got / 1e9:.2f} GB from the registry")
        return {"seconds": seconds, "registry_bytes": got}
