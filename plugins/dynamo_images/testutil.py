"""For RuleRunner tests of the in-repo plugins and of the BUILD prelude that uses them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import toml  # pants: no-infer-dep (ships with Pants)
from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.core.goals import package, publish
from pants.core.goals.package import BuiltPackage
from pants.core.target_types import FileTarget
from pants.core.util_rules import source_files
from pants.engine.env_vars import CompleteEnvironmentVars
from pants.engine.goal import CurrentExecutingGoals
from pants.engine.internals.session import SessionValues
from pants.engine.rules import QueryRule
from pants.option.options_bootstrapper import OptionsBootstrapper
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import register


def plugin_rules():
    """This plugin's rules plus the core goals' rules that Pants itself would install."""
    return [*register.rules(), *package.rules(), *publish.rules(), *source_files.rules()]


def read_lockfile(path: Path) -> dict:
    """A Pants lockfile's Pex JSON, after Pants' `//` header."""
    text = path.read_text()
    return json.loads("\n".join(line for line in text.splitlines() if not line.startswith("//")))


# Small pure distributions locked with their hashes, for tests that build from real lockfile
# entries (lock_subset): pyproject-metadata requires packaging, which has no dependencies.
TOOLS_LOCK = Path("3rdparty/python/tools.lock")
PACKAGING = ("packaging", "26.4")
PYPROJECT_METADATA = ("pyproject-metadata", "0.12.1")


def lock_subset(path: Path, pins: tuple[tuple[str, str], ...]) -> dict:
    """Lockfile `path`'s Pex JSON with only the entries of `pins` ((name, version), ...), for a
    test resolve of a few real, hash-locked distributions."""
    lock = read_lockfile(path)
    [resolve] = lock["locked_resolves"]
    entries = [
        r for r in resolve["locked_requirements"] if (r["project_name"], r["version"]) in pins
    ]
    assert len(entries) == len(pins), f"{path} no longer locks all of {pins}: pick others"
    lock["locked_resolves"] = [{**resolve, "locked_requirements": entries}]
    lock["requirements"] = ["{}=={}".format(*pin) for pin in pins]
    return lock


def resolve_options(resolves: dict[str, str]) -> list[str]:
    """Options for a RuleRunner whose targets resolve from test lockfiles (`resolves`: name ->
    path) on the images' CPython, with the pex tool ./pants builds (offline_pex_cli_options)."""
    return [
        "--python-enable-resolves",
        f"--python-resolves={resolves!r}",
        "--python-invalid-lockfile-behavior=ignore",
        "--python-interpreter-constraints=['CPython==3.11.*']",
        *offline_pex_cli_options(),
    ]


def offline_pex_cli_options() -> list[str]:
    """Options for a RuleRunner that builds PEXes: the pex tool ./pants builds from PyPI.

    GitHub, where Pants fetches pex from, is unreachable. The test needs `//:launcher` (for
    pants.toml's [pex-cli] pin) and `PANTS_PEX_CLI_URL_TEMPLATE` in its `extra_env_vars`.
    """
    pex_cli = toml.load("pants.toml")["pex-cli"]
    return [
        f"--pex-cli-version={pex_cli['version']}",
        f"--pex-cli-known-versions={pex_cli['known_versions']}",
        f"--pex-cli-url-template={os.environ['PANTS_PEX_CLI_URL_TEMPLATE']}",
    ]


def offline_hadolint_options() -> list[str]:
    """Options for a RuleRunner that lints Dockerfiles: the hadolint ./pants takes from PyPI.

    The test needs `//:launcher` (for pants.toml's [hadolint] pin) and
    `PANTS_HADOLINT_URL_TEMPLATE` in its `extra_env_vars`, and the pex tool's options too
    (Pants parses each Dockerfile with a PEX before linting it).
    """
    hadolint = toml.load("pants.toml")["hadolint"]
    return [
        f"--hadolint-version={hadolint['version']}",
        f"--hadolint-known-versions={hadolint['known_versions']}",
        f"--hadolint-url-template={os.environ['PANTS_HADOLINT_URL_TEMPLATE']}",
        *offline_pex_cli_options(),
    ]


def new_session(runner: RuleRunner, options: list[str]) -> None:
    """Like a new `./pants` run: a session with a build ID of its own (RuleRunner's sessions
    share one, and per-session processes such as the image check are memoized per ID)."""
    runner.set_options(
        options,
        env=getattr(runner, "env", None),  # a test's own variables (`runner.env = {...}`)
        env_inherit={"PATH", "PYENV_ROOT", "HOME"},
    )
    runner.scheduler = runner.scheduler.scheduler.new_session(
        build_id=uuid.uuid4().hex,
        session_values=SessionValues(
            {
                OptionsBootstrapper: runner.options_bootstrapper,
                CompleteEnvironmentVars: runner.environment,
                CurrentExecutingGoals: CurrentExecutingGoals(),
            }
        ),
    )


REAL_DOCKER = "/usr/bin/docker"
# `docker` for the rules under test: logs each command line, then runs the real client.
_LOGGING_DOCKER = """#!/bin/sh
echo "$*" >> {log}
exec {docker} "$@"
"""


@contextlib.contextmanager
def docker_rule_runner(tmp_path: Path, repository_prefix: str, rules=()) -> Iterator[RuleRunner]:
    """A RuleRunner that packages images with the real engine, through a logging `docker`
    (`runner.docker_log`), into a repository of its own (`runner.repository`), whose images
    are removed afterwards. `runner.options` are the options every session needs."""
    if subprocess.run([REAL_DOCKER, "version"], capture_output=True).returncode != 0:
        pytest.fail("These tests need the Docker engine: run them with ./pants test", pytrace=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    (bin_dir / "docker").write_text(_LOGGING_DOCKER.format(log=log, docker=REAL_DOCKER))
    (bin_dir / "docker").chmod(0o755)
    runner = RuleRunner(
        target_types=[*register.target_types(), FileTarget],
        rules=[*plugin_rules(), QueryRule(BuiltPackage, [DockerPackageFieldSet]), *rules],
    )
    runner.repository = f"{repository_prefix}-{uuid.uuid4().hex[:8]}"  # type: ignore[attr-defined]
    runner.options = [  # type: ignore[attr-defined]
        f"--docker-executable-search-paths=['{bin_dir}']",
        "--docker-env-vars=['DOCKER_BUILDKIT=1']",
        f"--docker-default-repository={runner.repository}/{{name}}",  # type: ignore[attr-defined]
        *offline_pex_cli_options(),
    ]
    runner.docker_log = log  # type: ignore[attr-defined]
    try:
        yield runner
    finally:
        remove_test_images(REAL_DOCKER, runner.repository)  # type: ignore[attr-defined]


def owned_copy(image_id: str, tag: str, platform: str = "linux/amd64") -> str:
    """`tag` on a new image of the test's own: `image_id` plus a label, the same layers.

    Tags are global in an engine that several clones share. Tagging someone else's image and
    then removing the tag deletes that image whenever ours was its last tag (its own tags
    moved to a rebuild meanwhile); removing a copy removes only the copy. The classic builder
    makes it: BuildKit reads `FROM <image ID>` as a registry name and would try to pull it.
    """
    dockerfile = f"FROM {image_id}\nLABEL ai.dynamo.test.copy-of={image_id}\n"
    subprocess.run(
        [REAL_DOCKER, "build", "--quiet", "--platform", platform, "--tag", tag, "-"],
        input=dockerfile.encode(), check=True, capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    return tag


def remove_test_images(docker: str, repository: str) -> None:
    """Untags this test's images (`<repository>/*` and `<repository>-*`), nothing else.

    By name, not `rmi -f <id>`: tiny test images built from the same instructions share IDs
    across tests running at the same time, and removing an ID would take theirs too.
    """
    names = subprocess.run(
        [docker, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    ours = [n for n in names if n.startswith((repository + "/", repository + "-"))]
    if ours:
        subprocess.run([docker, "rmi", *ours], capture_output=True)
