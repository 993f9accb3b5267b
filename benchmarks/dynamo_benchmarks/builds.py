"""The two ways of building a backend's runtime and dev images that the benchmark compares.

`OursBuild` runs `./pants package` in a workspace (a copy of the repo: the benchmark's edits
never touch the developer's tree). `BaselineBuild` runs `docker build` on
benchmarks/baseline/Dockerfile with a context made from the same workspace's sources, pins and
base images. Both expose `build(stages)`, which returns the seconds it took.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from dynamo_workspaces.team_caches import BGD_DIST, BGD_TARGET, SCRIPT, TeamCaches, free_port
from dynamo_workspaces.workspace import PantsRun, Workspace, tail

BASELINE_DOCKERFILE = "benchmarks/baseline/Dockerfile"
# The BuildKit-capable 20.10 client (pants.toml [docker].executable_search_paths).
DOCKER = "/usr/bin/docker"
# The base images the family builds on (multiarch: the amd64 member).
BASE_RUNTIME = "containers/base:runtime#amd64"
BASE_DEVEL = "containers/base:devel"
# The wheels' build backends: their pins come from the tools lockfile.
BUILD_TOOLS = ("maturin", "meson-python", "meson", "ninja", "pybind11")
# What the baseline's build context takes from the workspace.
BASELINE_SOURCES = ("src/rust/imagekit", "src/cpp/hostxfer")


class BuildFailed(Exception):
    pass


@functools.cache
def _images_data(repo: Path):
    """The repo's containers/images_data.py, imported as an ordinary module (it needs no Pants)."""
    spec = importlib.util.spec_from_file_location("images_data", repo / "containers/images_data.py")
    assert spec and spec.loader, repo
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_address(repo: Path, backend: str, stage: str) -> str:
    """One stage's host-platform image as the repo's data addresses it:
    `containers/dynamo:runtime#amd64` for a multi-arch backend, else `containers/vllm:runtime`."""
    return _images_data(repo).image_address(backend, stage)


def size_budget(repo: Path, backend: str, stage: str) -> int:
    """The stage's size budget in bytes (images_data.SIZE_BUDGETS, "6.4GB"): a bound on the
    image's size known before anything is built (the slow scenarios' disk checks)."""
    data = _images_data(repo)
    budget = dict(data.SIZE_BUDGETS)[backend][data.STAGES.index(stage)]
    units = {"GB": 10**9, "MB": 10**6}
    return int(float(budget[:-2]) * units[budget[-2:]])


def info_name(address: str) -> str:
    """Where `package` writes an image's docker-info.json under dist/, less the ending:
    `containers.dynamo/runtime-amd64` for `containers/dynamo:runtime#amd64`."""
    directory, name = address.split(":")
    return f"{directory.replace('/', '.')}/{name.replace('#', '-')}"


def log(message: str) -> None:
    """A line of the benchmark's progress, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def lock_pins(lockfile: Path) -> dict[str, str]:
    """{project name: version} of a Pants (pex) lockfile."""
    text = "\n".join(
        line for line in lockfile.read_text().splitlines() if not line.startswith("//")
    )
    lock = json.loads(text)
    return {
        req["project_name"]: req["version"]
        for resolve in lock["locked_resolves"]
        for req in resolve["locked_requirements"]
    }


def requirements_of(peeked: list[dict], backend: str) -> tuple[list[str], list[str]]:
    """(requirements, dev tools) from `./pants peek` of the backend's two requirement targets."""
    by_name = {t["address"].rsplit(":", 1)[1]: t["requirements"] for t in peeked}
    return by_name[f"{backend}-requirements"], by_name[f"{backend}-dev-tools"]


def ca_bundle() -> Path:
    """The host's CA bundle, which pip inside the baseline's containers needs (a TLS proxy)."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass
class OursBuild:
    workspace: Workspace
    backend: str
    env: dict[str, str] = field(default_factory=dict)
    pantsd: bool = True
    last_run: PantsRun | None = None

    def addresses(self, stages: tuple[str, ...]) -> list[str]:
        return [image_address(self.workspace.root, self.backend, stage) for stage in stages]

    def pants(self, *args: str, timeout: float = 5400) -> PantsRun:
        # Compiles go through sccache, as in a team with the caches (docs/caching.md); its
        # local disk store is the workspace's (env SCCACHE_DIR).
        args = ("--native-wheels-sccache", *args)
        run = self.workspace.pants(*args, env=self.env, pantsd=self.pantsd, timeout=timeout)
        if run.returncode != 0:
            raise BuildFailed(f"./pants {' '.join(args)} failed:\n{tail(run.log)}")
        self.last_run = run
        return run

    def build(self, stages: tuple[str, ...], *targets: str, flags: tuple[str, ...] = ()) -> float:
        """`package` the stages' images (and `targets`); the seconds it took."""
        return self.pants(*flags, "package", *self.addresses(stages), *targets).seconds

    def build_family(self) -> float:
        return self.pants(
            "--filter-target-type=docker_image,docker_manifest_list", "package", "containers::"
        ).seconds

    def image(self, stage: str) -> str:
        """The image `package` last wrote for this stage: its first tag (docker-info.json)."""
        return self.tag(self.stage_info_name(stage))

    def stage_info_name(self, stage: str) -> str:
        return info_name(image_address(self.workspace.root, self.backend, stage))

    def tag(self, name: str) -> str:
        return self.info(name)["registries"][0]["tags"][0]["name"]

    def image_id(self, stage: str) -> str:
        return self.info(self.stage_info_name(stage))["image_id"]

    def info(self, name: str) -> dict:
        return json.loads((self.workspace.root / "dist" / f"{name}.docker-info.json").read_text())

    def base_images(self) -> tuple[str, str]:
        """(runtime base, devel base) image tags, built by Pants if needed."""
        self.pants("package", BASE_RUNTIME, BASE_DEVEL)
        return self.tag("containers.base/runtime-amd64"), self.tag("containers.base/devel")

    def requirements(self) -> tuple[list[str], list[str]]:
        """(the backend's requirements, its dev tools): the requirement strings of its targets."""
        output = self.workspace.root / "dist" / "benchmark-requirements.json"
        self.pants(
            "peek",
            f"--output-file={output}",
            f"3rdparty/python:{self.backend}-requirements",
            f"3rdparty/python:{self.backend}-dev-tools",
        )
        return requirements_of(json.loads(output.read_text()), self.backend)

    def start_team_caches(self, repo: Path, data_dir: Path) -> TeamCaches:
        """Starts the team caches (BuildGrid, Redis, the registry) on free ports with the
        repo's script, BuildGrid's server built here (the repo's own pantsd is busy running the
        benchmark). Stopped by `caches.script("stop")`, or when this process ends."""
        self.pants("package", BGD_TARGET)
        caches = TeamCaches(
            data_dir, free_port(), free_port(), bgd=self.workspace.root / BGD_DIST,
            script_file=repo / SCRIPT,
        )
        started = caches.start()
        if started.returncode != 0:
            raise BuildFailed(f"the team caches did not start:\n{started.stderr}")
        return caches

    def stop(self) -> None:
        """Stops this workspace's pantsd by its PID (never by pattern: other clones' run too)."""
        for pid_file in self.workspace.root.glob(".pids/*/pantsd/pid"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass


@dataclass
class BaselineBuild:
    workspace_root: Path
    backend: str
    context: Path
    base_runtime: str
    base_devel: str
    # Where its images go: "" for this machine's engine only, or a registry ("host:port"),
    # their repository then under it (fresh-remote pushes and pulls them).
    registry: str = ""
    docker_host: str | None = None  # another engine (fresh-remote's new machine)
    # Plain Docker's way of sharing a build across machines: the cache metadata goes into the
    # image (BUILDKIT_INLINE_CACHE=1), and a second machine builds `--cache-from` it.
    inline_cache: bool = False
    cache_from: tuple[str, ...] = ()
    # The steps of the last `build`, all stages: {"cached": n, "ran": n} (BuildKit's log).
    last_steps: dict[str, int] = field(default_factory=dict)

    @property
    def repository(self) -> str:
        prefix = f"{self.registry}/" if self.registry else ""
        return f"{prefix}dynamo-baseline/{self.backend}"

    def image(self, stage: str) -> str:
        return f"{self.repository}:{stage}"

    def pin_base_images(self) -> None:
        """Tags the base images for the baseline alone: a Pants build that rebuilds a base
        (the cold scenario) moves the family's tags, and must not change the baseline's."""
        for stage, image in (("runtime", self.base_runtime), ("devel", self.base_devel)):
            pinned = f"dynamo-baseline/base:{stage}"
            subprocess.run([DOCKER, "tag", image, pinned], check=True, capture_output=True)
            setattr(self, f"base_{stage}", pinned)

    def write_context(self, stack: list[str], dev: list[str]) -> None:
        """The build context: the Dockerfile, requirement files and pins (written once)."""
        self.context.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.workspace_root / BASELINE_DOCKERFILE, self.context / "Dockerfile")
        locks = self.workspace_root / "3rdparty" / "python"
        pins = lock_pins(locks / f"images-{self.backend}.lock")
        tools = lock_pins(locks / "tools.lock")
        write_lines(
            self.context / "constraints.txt", (f"{n}=={v}" for n, v in sorted(pins.items()))
        )
        write_lines(self.context / "stack.txt", stack)
        write_lines(self.context / "dev.txt", dev)
        write_lines(self.context / "build-tools.txt", (f"{n}=={tools[n]}" for n in BUILD_TOOLS))

    def sync_sources(self) -> None:
        """The wheels' sources, as they are in the workspace now (the edits included)."""
        for source in BASELINE_SOURCES:
            target = self.context / source
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                self.workspace_root / source, target, ignore=shutil.ignore_patterns("target")
            )

    def build(self, stages: tuple[str, ...], no_cache: bool = False) -> float:
        """Builds each stage (`--target`), in order; the seconds of all of them."""
        self.sync_sources()
        start = time.time()
        self.last_steps = {"cached": 0, "ran": 0}
        for stage in stages:
            command = [
                DOCKER,
                "build",
                "--progress",
                "plain",
                "--target",
                stage,
                "--tag",
                self.image(stage),
                "--build-arg",
                f"RUNTIME_IMAGE={self.base_runtime}",
                "--build-arg",
                f"DEVEL_IMAGE={self.base_devel}",
                "--secret",
                f"id=ca-bundle,src={ca_bundle()}",
                *(["--no-cache"] if no_cache else []),
                *(["--build-arg", "BUILDKIT_INLINE_CACHE=1"] if self.inline_cache else []),
                *(arg for image in self.cache_from for arg in ("--cache-from", image)),
                # A new machine's engine has no route out (engines.SecondEngine): a step that
                # misses the cache runs on the host's network.
                *(["--network", "host"] if self.docker_host else []),
                str(self.context),
            ]
            result = subprocess.run(
                command,
                env=self.docker_env,
                capture_output=True,
                text=True,
                timeout=5400,
            )
            if result.returncode != 0:
                raise BuildFailed(
                    f"the baseline's `docker build --target {stage}` failed:\n"
                    f"{tail(result.stderr)}"
                )
            for kind, count in buildkit_steps(result.stderr).items():
                self.last_steps[kind] += count
        return time.time() - start

    @property
    def docker_env(self) -> dict[str, str]:
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        return env

    def push(self, stages: tuple[str, ...]) -> None:
        for stage in stages:
            pushed = subprocess.run(
                [DOCKER, "push", self.image(stage)], env=self.docker_env, capture_output=True,
                text=True,
            )
            if pushed.returncode != 0:
                raise BuildFailed(f"docker push {self.image(stage)} failed:\n{tail(pushed.stderr)}")

    @staticmethod
    def drop_cache_mounts() -> None:
        """Empties BuildKit's cache mounts (pip's and cargo's caches): a cold build's start."""
        subprocess.run(
            [DOCKER, "builder", "prune", "--force", "--filter", "type=exec.cachemount"],
            capture_output=True,
            check=True,
        )


def buildkit_steps(log: str) -> dict[str, int]:
    """How many of a build's steps (`#N [stage i/n] ...` in BuildKit's plain log, less its
    `[internal]` ones) came from the cache (`#N CACHED`) and how many ran."""
    steps = set(re.findall(r"^#(\d+) \[(?!internal\])", log, flags=re.M))
    cached = set(re.findall(r"^#(\d+) CACHED$", log, flags=re.M)) & steps
    return {"cached": len(cached), "ran": len(steps - cached)}


def write_lines(path: Path, lines) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))
