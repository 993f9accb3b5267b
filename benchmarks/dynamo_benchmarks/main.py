"""Build-performance benchmark: this repo's Pants build against a plain Docker baseline.

    ./pants run benchmarks:bench -- [--backend dynamo] [--repeat 3] [--scenarios ...] [--out DIR]

For one backend's runtime and dev images, in one process and on the same machine, it times
our build (`./pants package`) and the baseline (benchmarks/baseline/Dockerfile, `docker
build`) in these scenarios:

  noop           nothing changed
  python-change  a one-line change in a first-party Python file of the runtime image
  cpp-change     a one-line change in first-party C++ (the dev image's hostxfer wheel), with
                 the wheels compiled and sccache's counts
  family-noop    no-op `package` of every image of the family (ours; pantsd warm)
  cold           (not by default: minutes, and gigabytes of disk) empty caches: a fresh
                 workspace with its own empty Pants store and named caches, `docker build
                 --no-cache`, BuildKit's cache mounts emptied; like the baseline, it writes no
                 cache (a laptop away from the team caches)
  cold-ci        (not by default) the same, writing the remote cache and the team registry as
                 CI's cold run does (the baseline is the same run as cold's)
  fresh-remote   (not by default: the longest, and tens of GB of disk) a new machine with the
                 team caches warm, for --fresh-remote-backends' runtime and dev images: ours,
                 the baseline with inline cache, and a plain `docker pull` (fresh_remote.py)

Then it attributes the images' sizes to their origin (layers.py), prints the table with
medians and the ratios ours/baseline, and writes report.md, scenarios.png, sizes.png and
results.json to --out (default dist/benchmark).

It works in copies of the repo (git's tracked and untracked files, under --scratch): the
edits never touch your tree. The copies share your Pants caches (except for the cold
scenarios) and Docker engine. Running time: docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from dynamo_workspaces.team_caches import remote_env
from dynamo_workspaces.workspace import Workspace

from dynamo_benchmarks import layers, report
from dynamo_benchmarks.builds import (
    DOCKER,
    BaselineBuild,
    BuildFailed,
    OursBuild,
    log,
    size_budget,
)
from dynamo_benchmarks.fresh_remote import FreshRemote

STAGES = ("runtime", "dev")
# The one-line edits: a first-party Python file of the runtime image, C++ of the dev image.
# Each run's edit is new (a nonce), so no cache anywhere has seen it.
PYTHON_FILE = "src/rust/imagekit/python/dynamo_imagekit/report.py"
CPP_FILE = "src/cpp/hostxfer/src/transfer.cpp"
PYTHON_WHEEL, CPP_WHEEL = "src/rust/imagekit:wheel", "src/cpp/hostxfer:wheel"
DEFAULT_SCENARIOS = ("noop", "python-change", "cpp-change", "family-noop")
SCENARIOS = (*DEFAULT_SCENARIOS, "cold", "cold-ci", "fresh-remote")
# What the slow scenarios hold at once, in times the images' size. cold: the backend's wheels
# and images several times over (downloads, unpacked wheels, the PEX, our image, the
# baseline's stack stage and image, the remote cache). fresh-remote: CI's empty store and
# named caches (the wheels downloaded and installed, the PEX; a packed PEX built anew is not
# byte-identical, so CI also builds a new stack image), the remote cache's copy of the PEX,
# the registry (ours and the baseline's), the baseline's CI engine and the new machine's.
# Measured for cold on 2026-11-28 (dynamo): 7 minutes in, before the runtime image, the cold
# workspace held 19 GB (its store and named caches), the team caches 6 GB and the engine 24 GB
# (32 GB more than at the start), with the baseline still to build: 4x filled the disk.
DISK_FACTOR = {"cold": 7, "cold-ci": 7, "fresh-remote": 5}


def python_edit(nonce: str) -> str:
    return f"BENCHMARK_EDIT = {nonce!r}\n"


def cpp_edit(nonce: str) -> str:
    # Kept in the binary (`used`), so that the wheel, and then the image, really change.
    return f'[[gnu::used]] static const char kBenchmarkEdit[] = "{nonce}";\n'


class Edit:
    """Appends one line to a workspace file; `restore` puts the original back."""

    def __init__(self, root: Path, path: str, line: str):
        self.path = root / path
        self.original = self.path.read_text()
        self.path.write_text(self.original + line)

    def restore(self) -> None:
        self.path.write_text(self.original)


def git(repo: Path, *args: str) -> str:
    return subprocess.check_output(["git", *args], cwd=repo, text=True).strip()


def repo_files(repo: Path) -> tuple[str, ...]:
    files = git(repo, "ls-files", "-co", "--exclude-standard").splitlines()
    return tuple(f for f in files if (repo / f).is_file())


def path_without_this_venv(path: str) -> str:
    """PATH as the shell that ran `./pants run` had it: the benchmark's venv (which a venv PEX
    puts first) taken out."""
    venv = Path(sys.prefix).resolve()
    kept = [p for p in path.split(os.pathsep) if p and venv not in Path(p).resolve().parents]
    return os.pathsep.join(kept)


def pants_caches() -> tuple[Path, Path]:
    """The developer's own Pants store and named caches (Pants' defaults)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pants"
    return cache / "lmdb_store", cache / "named_caches"


def timed(label: str, build) -> float:
    seconds = build()
    log(f"  {label}: {seconds:.2f} s")
    return seconds


def run_noop(ours: OursBuild, baseline: BaselineBuild, repeat: int) -> dict:
    # One untimed round first: pantsd's first run after a build re-checks what it ran.
    ours.build(STAGES)
    baseline.build(STAGES)
    return {
        "ours": [timed("ours", lambda: ours.build(STAGES)) for _ in range(repeat)],
        "baseline": [timed("baseline", lambda: baseline.build(STAGES)) for _ in range(repeat)],
    }


def run_edits(
    ours: OursBuild,
    baseline: BaselineBuild,
    repeat: int,
    path: str,
    edit,
    stage: str,
    wheel: str,
) -> dict:
    """`repeat` one-line edits of `path`, each built into `stage`. Ours also packages the
    edited `wheel` target: only the targets asked for write their sccache statistics."""
    result: dict = {"ours": [], "baseline": [], "compiled": [], "sccache": []}
    root = ours.workspace.root
    for _ in range(repeat):
        change = Edit(root, path, edit(uuid.uuid4().hex[:12]))
        try:
            result["ours"].append(timed("ours", lambda: ours.build((stage,), wheel)))
            sccache = ours.last_run.summary["sccache"]
            result["compiled"].append(sccache["compiled"])
            result["sccache"].append(sccache_counts(sccache))
            result["baseline"].append(timed("baseline", lambda: baseline.build((stage,))))
        finally:
            change.restore()
    # Back to the unedited images (cached: a reuse), so the next scenario starts from them.
    ours.build(STAGES)
    baseline.build(STAGES)
    return result


def sccache_counts(sccache: dict) -> str:
    """`cache_summary`'s sccache figures of one run, in a few words."""
    misses = ", ".join(f"{lang} {c['misses']}" for lang, c in sccache["by_language"].items())
    return f"{sccache['hits']} hits, {sccache['misses']} misses ({misses or 'none'})"


def run_family(ours: OursBuild, repeat: int) -> dict:
    timed("ours (warm-up)", ours.build_family)
    return {"ours": [timed("ours", ours.build_family) for _ in range(repeat)]}


def run_cold(
    repo: Path,
    files: tuple[str, ...],
    scratch: Path,
    ours: OursBuild,
    base_runtime: str,
    *,
    team_caches: bool,
) -> float:
    """Ours from nothing: a workspace of its own (empty Pants store and named caches),
    `docker build --no-cache`. With `team_caches`, it also writes the remote cache and the team
    registry, as CI's cold run does. The seconds it took."""
    caches = ours.start_team_caches(repo, scratch / "caches") if team_caches else None
    before = image_ids()
    # sccache's store: the team's Redis or a directory of the workspace, empty either way: the
    # cold build compiles everything.
    env = {k: v for k, v in ours.env.items() if k != "SCCACHE_DIR"}
    env.update(
        remote_env(caches, write=True)
        if caches
        else {"SCCACHE_DIR": str(scratch / "cold" / "sccache")}
    )
    cold = dataclasses.replace(
        ours,
        workspace=Workspace.copy_of(repo, scratch / "cold", entries=files),
        env=env,
        pantsd=False,
    )
    try:
        return timed(
            "ours",
            lambda: cold.build(
                STAGES, flags=("--no-remote-cache-read", "--image-reuse-build-no-cache")
            ),
        )
    finally:
        # Gigabytes nothing needs any more: the workspace and the images the cold build made
        # (the warm workspace's next `package` puts their tags back).
        made = new_images(before, repository_prefix(base_runtime))
        if made:
            subprocess.run([DOCKER, "rmi", "--force", *made], capture_output=True)
        shutil.rmtree(cold.workspace.root.parent, ignore_errors=True)
        if caches:
            caches.script("stop")


def images() -> list[tuple[str, str]]:
    """(ID, repository) of every tag in the engine."""
    out = subprocess.run(
        [DOCKER, "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [tuple(line.split()) for line in out.stdout.splitlines()]  # type: ignore[misc]


def image_ids() -> set[str]:
    return {image_id for image_id, _ in images()}


def repository_prefix(tag: str) -> str:
    """`127.0.0.1:5000/dynamo/` of `127.0.0.1:5000/dynamo/base:local-3.11-amd64`: the family's
    repositories."""
    return tag.rsplit(":", 1)[0].rsplit("/", 1)[0] + "/"


def new_images(before: set[str], prefix: str) -> set[str]:
    """Images the engine did not hold `before`, tagged in the family's repositories: what a
    cold build made, the stack and the torch layer included (which `package` of runtime and
    dev writes no docker-info.json for)."""
    return {i for i, repo in images() if i not in before and repo.startswith(prefix)}


def check_disk(scenario: str, scratch: Path, image_size: int) -> None:
    needed = DISK_FACTOR[scenario] * image_size
    free = shutil.disk_usage(scratch).free
    if free < needed:
        raise BuildFailed(
            f"the {scenario} scenario needs about {needed / 1e9:.0f} GB free "
            f"({DISK_FACTOR[scenario]}x its images' size) and {scratch} has {free / 1e9:.0f} GB. "
            "Free some (docs/operations.md: `docker builder prune`, unused images), or leave "
            f"`{scenario}` out of --scenarios."
        )


def measure_sizes(ours: OursBuild, baseline: BaselineBuild, base_runtime: str) -> list[dict]:
    """Every family image `package` wrote in the workspace, then the baseline's."""
    images = []
    dist = ours.workspace.root / "dist"
    order = ("stack", *STAGES, "ci")
    infos = sorted(
        dist.glob("containers.*/*.docker-info.json"),
        key=lambda i: (
            i.parent.name,
            order.index(n) if (n := i.name.split(".")[0]) in order else 9,
        ),
    )
    for info in infos:
        backend, stage = info.parent.name.split(".", 1)[1], info.name.split(".")[0]
        if backend != "base":
            images.append((f"ours {backend}:{stage}", ours.tag(f"{info.parent.name}/{stage}")))
    images += [(f"baseline {baseline.backend}:{s}", baseline.image(s)) for s in STAGES]
    sizes = []
    for label, image in images:
        log(f"  attributing {label}")
        categories = layers.attribute_image(DOCKER, image, base_runtime)
        sizes.append(
            {
                "label": label,
                "image": image,
                "size": layers.image_size(DOCKER, image),
                "categories": categories,
            }
        )
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="dynamo", help="the backend whose images to time")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=list(DEFAULT_SCENARIOS),
        choices=SCENARIOS,
        help="default: all but cold and fresh-remote (slow: see the docs)",
    )
    parser.add_argument(
        "--fresh-remote-backends",
        nargs="+",
        default=["dynamo", "vllm"],
        help="the backends whose runtime and dev images fresh-remote gets (default: dynamo vllm)",
    )
    parser.add_argument("--no-sizes", action="store_true", help="skip the size attribution")
    parser.add_argument("--out", type=Path, default=Path("dist/benchmark"))
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="where the workspace copies go (default: a new temp folder)",
    )
    parser.add_argument("--repo", type=Path, default=None, help="default: the git top level")
    args = parser.parse_args(argv)

    repo = (args.repo or Path(git(Path.cwd(), "rev-parse", "--show-toplevel"))).resolve()
    for backend in (args.backend, *args.fresh_remote_backends):
        if not (repo / "containers" / backend / "BUILD").is_file():
            parser.error(f"backend {backend}: no containers/{backend}/BUILD in {repo}")
    out = args.out if args.out.is_absolute() else repo / args.out
    scratch = Path(tempfile.mkdtemp(prefix="dynamo-benchmark-", dir=args.scratch))
    files = repo_files(repo)
    # The images' labels carry the commit, and Pants' process keys the PATH it searches for
    # interpreters: with both as in your shell, the copies build (and reuse) what your tree does.
    env = {
        "DYNAMO_GIT_SHA": git(repo, "rev-parse", "HEAD"),
        "DYNAMO_GIT_DATE": git(repo, "log", "-1", "--format=%cI"),
        "PATH": path_without_this_venv(os.environ.get("PATH", "")),
        # sccache's store for the warm workspace: kept between benchmark runs.
        "SCCACHE_DIR": str(Path.home() / ".cache" / "dynamo-benchmark-sccache"),
    }
    store, named_caches = pants_caches()
    warm_ws = dataclasses.replace(
        Workspace.copy_of(repo, scratch / "warm", entries=files),
        store=store,
        named_caches=named_caches,
    )
    ours = OursBuild(warm_ws, args.backend, env)
    scenarios: dict = {}
    errors: list[str] = []
    try:
        log(f"preparing: base images, {args.backend} requirements, the baseline's context")
        base_runtime, base_devel = ours.base_images()
        stack, dev = ours.requirements()
        baseline = BaselineBuild(
            warm_ws.root, args.backend, scratch / "baseline-context", base_runtime, base_devel
        )
        baseline.pin_base_images()
        baseline.write_context(stack, dev)
        if not args.no_sizes or set(args.scenarios) & set(DEFAULT_SCENARIOS):
            log("first builds (not timed): ours and the baseline")
            timed("ours", lambda: ours.build(STAGES))
            timed("baseline", lambda: baseline.build(STAGES))
        if "noop" in args.scenarios:
            log("noop")
            scenarios["noop"] = run_noop(ours, baseline, args.repeat)
        if "python-change" in args.scenarios:
            log(f"python-change: one line in {PYTHON_FILE}")
            scenarios["python-change"] = run_edits(
                ours, baseline, args.repeat, PYTHON_FILE, python_edit, "runtime", PYTHON_WHEEL
            )
        if "cpp-change" in args.scenarios:
            log(f"cpp-change: one line in {CPP_FILE}")
            scenarios["cpp-change"] = run_edits(
                ours, baseline, args.repeat, CPP_FILE, cpp_edit, "dev", CPP_WHEEL
            )
        if "family-noop" in args.scenarios:
            log("family-noop")
            scenarios["family-noop"] = run_family(ours, args.repeat)
        sizes = [] if args.no_sizes else measure_sizes(ours, baseline, base_runtime)
        for name in ("cold", "cold-ci"):
            if name not in args.scenarios:
                continue
            try:
                check_disk(name, scratch, size_budget(repo, args.backend, "runtime"))
                log(f"{name}: ours (empty Pants store and named caches, docker build --no-cache"
                    + (", writing the team caches)" if name == "cold-ci" else ")"))
                scenarios[name] = {
                    "ours": [
                        run_cold(
                            repo, files, scratch, ours, base_runtime, team_caches=name == "cold-ci"
                        )
                    ]
                }
            except BuildFailed as e:  # the report of the other scenarios is still written
                log(f"{name}: not measured: {e}")
                errors.append(f"{name}: {e}")
        cold_scenarios = [n for n in ("cold", "cold-ci") if n in scenarios]
        if cold_scenarios:
            # One baseline for both: it writes no cache either way.
            log("cold: baseline (BuildKit cache mounts emptied, docker build --no-cache)")
            BaselineBuild.drop_cache_mounts()
            cold_baseline = timed("baseline", lambda: baseline.build(STAGES, no_cache=True))
            for name in cold_scenarios:
                scenarios[name]["baseline"] = [cold_baseline]
        if "fresh-remote" in args.scenarios:
            backends = tuple(args.fresh_remote_backends)
            try:
                fresh = FreshRemote(
                    repo, files, scratch, ours, backends, STAGES, base_runtime, base_devel,
                    repeat=args.repeat,
                )
                check_disk("fresh-remote", scratch, fresh.package_warm())
                scenarios["fresh-remote"] = fresh.run()
            except BuildFailed as e:
                log(f"fresh-remote: not measured: {e}")
                errors.append(f"fresh-remote: {e}")
    except BuildFailed as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 1
    finally:
        ours.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    results = {
        "backend": args.backend,
        "repeat": args.repeat,
        "command": "./pants run benchmarks:bench -- " + " ".join(argv or sys.argv[1:]),
        "environment": {
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.node()}",
            "commit": env["DYNAMO_GIT_SHA"][:12],
        },
        "scenarios": scenarios,
        "sizes": sizes,
        "not_measured": errors,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(report.table(results))
    print()
    print("\n".join(report.verdicts(results)))
    print(f"\nwrote {report.write(results, out)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
