"""The one place docker commands are made: their argv and environment (docker_process.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pants.backend.docker.util_rules import docker_binary
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner
from pants.util.frozendict import FrozenDict

from dynamo_images import docker_process
from dynamo_images.docker_process import DockerProcess, DockerScript

# A `docker` that prints its arguments and DOCKER_HOST.
FAKE_DOCKER = '#!/bin/sh\necho "$* host=$DOCKER_HOST"\n'


@pytest.fixture
def rule_runner(tmp_path: Path) -> RuleRunner:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    runner = RuleRunner(
        rules=[
            *docker_process.rules(),
            *docker_binary.rules(),
            QueryRule(Process, [DockerProcess]),
            QueryRule(FallibleProcessResult, [DockerProcess]),
        ]
    )
    runner.set_options(
        [
            f"--docker-executable-search-paths=['{bin_dir}']",
            "--docker-env-vars=['DOCKER_HOST=unix:///from-options', 'DOCKER_BUILDKIT=1']",
        ],
        env_inherit={"PATH"},
    )
    return runner


def test_docker_env_vars_win_over_the_callers_env(rule_runner: RuleRunner) -> None:
    caller_env = FrozenDict({"DOCKER_HOST": "unix:///from-caller", "CUDA_VISIBLE_DEVICES": "0"})
    request = DockerProcess(("version",), description="docker version", env=caller_env)
    process = rule_runner.request(Process, [request])
    assert process.argv[0].endswith("/bin/docker") and process.argv[1:] == ("version",)
    assert process.env["DOCKER_HOST"] == "unix:///from-options"
    assert process.env["DOCKER_BUILDKIT"] == "1"
    assert process.env["CUDA_VISIBLE_DEVICES"] == "0"


def test_a_script_gets_docker_as_its_first_argument(rule_runner: RuleRunner) -> None:
    script = DockerScript("dynamo_images", "external_image_ids.sh")
    request = DockerProcess(("some-ref",), description="IDs", script=script, run_label="1")
    process = rule_runner.request(Process, [request])
    bash, dash_c, text, name, docker, *args = process.argv
    assert (dash_c, name, args) == ("-c", "external_image_ids.sh#1", ["some-ref"])
    assert text.startswith("# The local IDs") and docker.endswith("/bin/docker")


def test_the_sandbox_is_substituted_for_chroot(rule_runner: RuleRunner) -> None:
    """gpu_smoke mounts files of the sandbox into the container as `{chroot}/...`."""
    result = rule_runner.request(
        FallibleProcessResult,
        [DockerProcess(("run", "-v", "{chroot}/reports:/reports"), description="docker run")],
    )
    out = result.stdout.decode().strip()
    assert result.exit_code == 0, result.stderr
    assert out.startswith("run -v /") and "{chroot}" not in out, out
    assert out.endswith("/reports:/reports host=unix:///from-options")
