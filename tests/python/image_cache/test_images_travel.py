"""Images travel between machines through the team registry, by keys made from their inputs.

Two Pants workspaces with their own local stores (two machines, as far as Pants can tell), and
two Docker engines: this machine's, and a second `dockerd` with its own data root, started
and stopped here. They share one BuildGrid (the records) and one registry (the images). The
writer (CI) builds a small chain of images on engine A; the reader gets every image on
engine B with no `docker build` at all, the very same image IDs, and runs it. Then what can
go wrong: the registry down, another image under a key tag, a pull cut off midway. Every
case builds, with one warning, and never uses an image it cannot verify.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dynamo_workspaces.engines import SecondEngine, logging_docker
from dynamo_workspaces.proxy import CountingProxy
from dynamo_workspaces.records import forget
from dynamo_workspaces.registry import KEY_REPOSITORY, family_layers, image_layers, key_tags
from dynamo_workspaces.team_caches import TeamCaches, free_port, remote_env
from dynamo_workspaces.workspace import PantsRun, Workspace, tail
from image_cache.cutting_proxy import CuttingProxy

BGD_PEX = Path("team-caches/bgd.pex")  # runtime_package_dependencies
DOCKER = "/usr/bin/docker"

CAT_C = r"""
#include <stdio.h>
int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "r");
  int c;
  if (!f) return 2;
  while ((c = fgetc(f)) != EOF) putchar(c);
  return 0;
}
"""
MESSAGE = "an image that travelled\n"
BULK_BYTES = 32 * 1024 * 1024
CHAIN = ("tool", "app")


def chain_build(repository: str) -> str:
    return f'''
file(name="cat", source="cat")
file(name="message", source="message.txt")
# A process output in the build context that never lands in a layer, as the stacks' PEX:
# the image's key needs its digest, a machine that pulls the image never needs its bytes.
shell_command(
    name="bulk",
    command="head -c {BULK_BYTES} /dev/zero > bulk.bin",
    tools=["head"],
    output_files=["bulk.bin"],
)
docker_image(
    name="tool",
    repository="{repository}/tool",
    instructions=["FROM scratch", "COPY chain/cat /cat"],
    dependencies=[":cat", ":bulk"],
)
docker_image(
    name="app",
    repository="{repository}/app",
    instructions=[
        "ARG BASE=chain:tool",
        "FROM $BASE",
        "COPY chain/message.txt /message.txt",
        'ENTRYPOINT ["/cat", "/message.txt"]',
    ],
    dependencies=[":message"],
)
'''


def write_chain(workspace: Workspace, repository: str, cat: Path) -> None:
    chain = workspace.root / "chain"
    chain.mkdir()
    (chain / "BUILD").write_text(chain_build(repository))
    (chain / "message.txt").write_text(MESSAGE)
    (chain / "cat").write_bytes(cat.read_bytes())
    (chain / "cat").chmod(0o755)


def docker_info(workspace: Workspace, name: str) -> dict:
    return json.loads((workspace.root / "dist" / "chain" / f"{name}.docker-info.json").read_text())


def image_ids(workspace: Workspace) -> dict[str, str]:
    return {name: docker_info(workspace, name)["image_id"] for name in CHAIN}


def warnings(log: str) -> list[str]:
    # --stats-log (the harness's counters) always suggests the hdrhistogram plugin.
    return [line for line in log.splitlines() if "[WARN]" in line and "hdrhistogram" not in line]


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> Iterator[TeamCaches]:
    """BuildGrid, Redis and the registry on free ports, with the bgd PEX this test run built."""
    caches = TeamCaches(tmp_path_factory.mktemp("team-caches"), free_port(), free_port())
    caches.adopt_bgd(BGD_PEX)
    started = caches.start()
    assert started.returncode == 0, started.stderr
    yield caches
    caches.script("stop")


@pytest.fixture(scope="module")
def cat(tmp_path_factory) -> Path:
    """A static `cat`: the chain's images run it, with nothing else in them."""
    directory = tmp_path_factory.mktemp("cat")
    (directory / "cat.c").write_text(CAT_C)
    subprocess.run(
        ["gcc", "-static", "-Os", "-s", "-o", "cat", "cat.c"], cwd=directory, check=True
    )
    return directory / "cat"


@pytest.fixture(scope="module")
def repository() -> Iterator[str]:
    """The chain's repositories, this run's own; their tags are removed from this machine's
    engine afterwards (tags are global in an engine that several clones share)."""
    name = f"dynamo-image-cache-test-{uuid.uuid4().hex[:8]}"
    yield name
    tags = subprocess.run(
        [DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
        text=True,
    ).stdout.split()
    ours = [t for t in tags if f"/{name}/" in f"/{t}"]  # with or without a registry in front
    if ours:
        subprocess.run([DOCKER, "rmi", *ours], capture_output=True)


@pytest.fixture(scope="module")
def written(caches: TeamCaches, cat: Path, repository: str, tmp_path_factory) -> dict[str, str]:
    """CI: builds the chain on this machine's engine, writing the records to the remote cache
    and the images to the team registry. The image IDs by name."""
    workspace = Workspace.copy_of(Path.cwd(), tmp_path_factory.mktemp("writer"))
    write_chain(workspace, repository, cat)
    run = workspace.pants("package", "chain:tool", "chain:app", env=remote_env(caches, write=True))
    assert run.returncode == 0, tail(run.log)
    assert not warnings(run.log), tail(run.log)
    print("writer:", tail(run.log, 80))
    ids = image_ids(workspace)
    pushed = key_tags(caches.registry)
    assert sorted(pushed.values()) == sorted(ids.values()), pushed
    # The records' files are this machine's; the new machine gets them from the remote cache.
    forget(set(ids.values()))
    return ids


@pytest.fixture(scope="module")
def engine() -> Iterator[SecondEngine]:
    # A short root: a unix socket's path has at most 107 characters.
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="dyn-engine-")),
                          options=("--max-download-attempts=1",))
    engine.start()
    yield engine
    engine.stop()


def read_on_engine(
    engine: SecondEngine, caches: TeamCaches, repository: str, cat: Path, parent: Path,
    registry: str | None = None, remote_cache: str | None = None,
) -> tuple[PantsRun, Workspace, list[str]]:
    """A new machine (a fresh workspace on a wiped engine B) packages the chain, reading the
    team caches: its run, workspace and the docker commands it ran."""
    engine.wipe()
    workspace = Workspace.copy_of(Path.cwd(), parent)
    write_chain(workspace, repository, cat)
    log = logging_docker(parent / "bin")
    env = {
        **remote_env(caches, write=False),
        "DOCKER_HOST": engine.host,
        "PANTS_DOCKER_EXECUTABLE_SEARCH_PATHS": f"['{log.parent}']",
    }
    if registry:
        env["DYNAMO_IMAGE_CACHE"] = registry
    if remote_cache:
        env["DYNAMO_REMOTE_CACHE"] = remote_cache
    run = workspace.pants("package", "chain:tool", "chain:app", env=env)
    assert run.returncode == 0, tail(run.log)
    commands = log.read_text().splitlines() if log.exists() else []
    print(tail(run.log, 80), *commands, sep="\n  ")  # shown when a test fails
    return run, workspace, commands


def ran(commands: list[str], subcommand: str) -> list[str]:
    return [c for c in commands if c.split(" ", 1)[0] == subcommand]


def runs_and_prints_the_message(engine: SecondEngine, workspace: Workspace) -> None:
    """The app image, by the tag the package gave it, runs on engine B and reads its file."""
    tag = docker_info(workspace, "app")["registries"][0]["tags"][0]["name"]
    shown = engine.docker("run", "--rm", "--network", "none", tag)
    assert shown.stdout == MESSAGE


def test_a_new_machine_pulls_every_image_and_builds_none(
    written: dict[str, str], engine: SecondEngine, caches: TeamCaches, repository: str,
    cat: Path, tmp_path: Path,
) -> None:
    # The registry and the remote cache through proxies that count what the new machine
    # downloads.
    proxy = CountingProxy(("127.0.0.1", caches.registry_port)).start()
    reapi = CountingProxy(("127.0.0.1", caches.reapi_port)).start()
    try:
        run, workspace, commands = read_on_engine(
            engine, caches, repository, cat, tmp_path, registry=proxy.address,
            remote_cache=f"grpc://{reapi.address}",
        )
    finally:
        proxy.stop()
        reapi.stop()
    # Without the bytes: the bulk output is in `tool`'s key by its digest, and the remote
    # cache is asked only whether it exists (cache_content_behavior = "validate").
    print(f"remote cache: {reapi.received} bytes to the new machine")
    assert 0 < reapi.received < BULK_BYTES / 4, reapi.received
    assert not ran(commands, "build"), commands
    assert len(ran(commands, "pull")) == len(CHAIN), commands
    # A family at once: `app` is `tool` plus a layer; pulled after `tool`, it fetched only that
    # layer (the shared one came once), besides manifests and configs.
    tags = key_tags(caches.registry)
    family = family_layers({tag: image_layers(caches.registry, tag) for tag in tags})
    shared = family["sum_of_images"] - family["unique"]
    assert shared > 100_000  # the static `cat` layer, in both images
    assert family["unique"] <= proxy.received < family["unique"] + shared / 2, family
    assert image_ids(workspace) == written
    assert set(written.values()) <= engine.image_ids()
    assert not warnings(run.log), tail(run.log)
    runs_and_prints_the_message(engine, workspace)
    # A reader never pushes: the registry holds what the writer pushed, nothing more.
    assert not ran(commands, "push"), commands
    assert sorted(key_tags(caches.registry).values()) == sorted(written.values())


def test_a_registry_that_is_down_costs_a_build_and_one_warning(
    written: dict[str, str], engine: SecondEngine, caches: TeamCaches, repository: str,
    cat: Path, tmp_path: Path,
) -> None:
    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    run, workspace, commands = read_on_engine(
        engine, caches, repository, cat, tmp_path, registry=down
    )
    assert len(ran(commands, "build")) == len(CHAIN) and not ran(commands, "pull"), commands
    [warning] = warnings(run.log)
    assert down in warning and "does not answer" in warning
    runs_and_prints_the_message(engine, workspace)


def test_another_image_under_a_key_tag_is_removed_and_never_used(
    written: dict[str, str], engine: SecondEngine, caches: TeamCaches, repository: str,
    cat: Path, tmp_path: Path,
) -> None:
    [app_key] = [k for k, i in key_tags(caches.registry).items() if i == written["app"]]
    ref = f"{caches.registry}/{KEY_REPOSITORY}:{app_key}"
    # A stranger: the tool image plus a label (the classic builder takes FROM <image ID>),
    # also tagged in this run's repository, whose tags the `repository` fixture removes.
    stranger = subprocess.run(
        [DOCKER, "build", "--quiet", "--tag", ref, "--tag", f"{repository}/stranger:latest", "-"],
        input=f"FROM {written['tool']}\nLABEL stranger=1\n", text=True, capture_output=True,
        check=True, env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    try:
        subprocess.run([DOCKER, "push", ref], check=True, capture_output=True)
        run, workspace, commands = read_on_engine(engine, caches, repository, cat, tmp_path)
        [warning] = warnings(run.log)
        assert app_key in warning and stranger in warning and written["app"] in warning
        assert [c for c in ran(commands, "build") if "/app:" in c], commands
        assert stranger not in engine.image_ids()
        runs_and_prints_the_message(engine, workspace)
    finally:
        # The registry as the writer left it, for the other tests.
        subprocess.run([DOCKER, "tag", written["app"], ref], check=True)
        subprocess.run([DOCKER, "push", ref], check=True, capture_output=True)
        subprocess.run([DOCKER, "rmi", ref], capture_output=True)


def test_a_pull_cut_off_midway_costs_a_build_and_a_warning(
    written: dict[str, str], engine: SecondEngine, caches: TeamCaches, repository: str,
    cat: Path, tmp_path: Path,
) -> None:
    proxy = CuttingProxy(("127.0.0.1", caches.registry_port), cut=True).start()
    try:
        run, workspace, commands = read_on_engine(
            engine, caches, repository, cat, tmp_path, registry=f"127.0.0.1:{proxy.port}"
        )
    finally:
        proxy.stop()
    assert proxy.cuts >= 1
    assert ran(commands, "pull") and ran(commands, "build"), commands
    found = warnings(run.log)
    # One warning for each image it could not pull, naming it.
    assert found and len(found) == len(ran(commands, "pull")), found
    assert all("Could not pull" in w for w in found), found
    runs_and_prints_the_message(engine, workspace)
