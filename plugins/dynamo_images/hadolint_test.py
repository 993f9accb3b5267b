"""`./pants lint` runs hadolint on docker_image targets, generated Dockerfiles included."""

from __future__ import annotations

from typing import Any

import pytest
from pants.backend.docker.lint.hadolint.rules import HadolintFieldSet, HadolintRequest
from pants.core.goals.lint import LintResult, Partitions
from pants.core.util_rules import config_files, external_tool
from pants.engine.addresses import Address
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import register
from dynamo_images.testutil import offline_hadolint_options, plugin_rules

BAD = ["FROM debian:latest", "RUN cd /tmp && touch x"]
GOOD = ["FROM debian:bookworm-20240110", "WORKDIR /tmp", "RUN touch x"]


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=register.target_types(),
        rules=[
            *plugin_rules(),
            *config_files.rules(),
            *external_tool.rules(),
            QueryRule(Partitions, [HadolintRequest.PartitionRequest]),
            QueryRule(LintResult, [HadolintRequest.Batch]),
        ],
    )
    runner.set_options(offline_hadolint_options(), env_inherit={"PATH", "PYENV_ROOT", "HOME"})
    return runner


def lint(runner: RuleRunner, *addresses: Address) -> list[LintResult]:
    """What `./pants lint` does for hadolint: the targets it applies to, then a run per batch."""
    field_sets = tuple(
        HadolintFieldSet.create(target)
        for target in (runner.get_target(address) for address in addresses)
        if HadolintFieldSet.is_applicable(target) and not HadolintFieldSet.opt_out(target)
    )
    partitions: Partitions[HadolintFieldSet, Any] = runner.request(
        Partitions, [HadolintRequest.PartitionRequest(field_sets)]
    )
    return [
        runner.request(LintResult, [HadolintRequest.Batch("", p.elements, p.metadata)])
        for p in partitions
    ]


def test_generated_dockerfile_findings_fail_the_lint(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": f"docker_image(name='bad', instructions={BAD!r})"})
    [result] = lint(rule_runner, Address("img", target_name="bad"))
    assert result.exit_code == 1
    # DL3007: the `latest` tag; DL3003: `cd` instead of WORKDIR. The generated file is named.
    assert "img/Dockerfile.bad:1 DL3007" in result.stdout
    assert "img/Dockerfile.bad:2 DL3003" in result.stdout


def test_clean_generated_dockerfile_passes(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": f"docker_image(name='good', instructions={GOOD!r})"})
    [result] = lint(rule_runner, Address("img", target_name="good"))
    assert result.exit_code == 0, result.stdout


def test_every_platform_image_of_a_multiarch_image_is_linted(rule_runner: RuleRunner) -> None:
    instructions = [*BAD, "ADD rootfs-{arch}.tar /"]
    rule_runner.write_files(
        {
            "img/BUILD": (
                f"multiarch_docker_image(name='base', instructions={instructions!r}, "
                "platforms=['linux/amd64', 'linux/arm64'])\n"
                f"multiarch_docker_image(name='skipped', instructions={BAD!r}, "
                "platforms=['linux/amd64', 'linux/arm64'], skip_hadolint=True)"
            )
        }
    )
    addresses = [
        Address("img", target_name=name, generated_name=arch)
        for name in ("base", "skipped")
        for arch in ("amd64", "arm64")
    ]
    [result] = lint(rule_runner, *addresses)
    assert result.exit_code == 1
    assert "img/Dockerfile.base.amd64:1 DL3007" in result.stdout
    assert "img/Dockerfile.base.arm64:1 DL3007" in result.stdout
    # skip_hadolint on the generator reaches each generated image.
    assert "Dockerfile.skipped" not in result.stdout


def test_config_file_ignores_rules(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "img/BUILD": f"docker_image(name='bad', instructions={BAD!r})",
            ".hadolint.yaml": "ignored:\n  - DL3007\n",
        }
    )
    [result] = lint(rule_runner, Address("img", target_name="bad"))
    assert "DL3007" not in result.stdout
    assert "DL3003" in result.stdout
