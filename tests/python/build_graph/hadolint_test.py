"""Every image of the family passes hadolint with the repo's .hadolint.yaml, in both profiles.

`./pants lint ::` checks the default (local) profile only; this also covers the production
base's Dockerfile, and fails on any new finding in containers/images_templates.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pants.backend.docker.lint.hadolint.rules import HadolintFieldSet, HadolintRequest
from pants.base.specs import RawSpecs, RecursiveGlobSpec
from pants.core.goals.lint import LintResult, Partitions
from pants.core.util_rules import config_files, external_tool
from pants.engine.rules import QueryRule
from pants.engine.target import Targets
from pants.testutil.rule_runner import RuleRunner

from build_graph.family_runner import PRELUDE_OPTION, family_rule_runner
from dynamo_images.testutil import offline_hadolint_options

CONFIG = ".hadolint.yaml"


@pytest.fixture
def rule_runner() -> RuleRunner:
    return family_rule_runner(
        [
            *config_files.rules(),
            *external_tool.rules(),
            QueryRule(Targets, [RawSpecs]),
            QueryRule(Partitions, [HadolintRequest.PartitionRequest]),
            QueryRule(LintResult, [HadolintRequest.Batch]),
        ],
        files={CONFIG: Path(CONFIG).read_text()},
    )


@pytest.mark.parametrize("profile", ["local", "production"])
def test_the_family_passes_hadolint(rule_runner: RuleRunner, profile: str) -> None:
    rule_runner.set_options(
        [PRELUDE_OPTION, *offline_hadolint_options()],
        env={"DYNAMO_BASE_PROFILE": profile},
        env_inherit={"PATH", "PYENV_ROOT", "HOME"},
    )
    # What `./pants lint containers::` lints: each docker_image, generated ones included.
    specs = RawSpecs(
        recursive_globs=(RecursiveGlobSpec("containers"),), description_of_origin="test"
    )
    targets = rule_runner.request(Targets, [specs])
    field_sets = tuple(
        HadolintFieldSet.create(t) for t in targets if HadolintFieldSet.is_applicable(t)
    )
    linted = {fs.address.spec for fs in field_sets}
    assert linted >= {
        "containers/base:runtime#amd64",
        "containers/base:runtime#arm64",
        "containers/base:devel",
        "containers/dynamo:runtime#amd64",
        "containers/dynamo:runtime#arm64",
        "containers/vllm:dev#amd64",
        "containers/vllm:dev#arm64",
    }, linted
    partitions: Partitions[HadolintFieldSet, Any] = rule_runner.request(
        Partitions, [HadolintRequest.PartitionRequest(field_sets)]
    )
    [partition] = partitions
    result = rule_runner.request(
        LintResult, [HadolintRequest.Batch("", partition.elements, partition.metadata)]
    )
    assert result.exit_code == 0, f"hadolint findings ({profile} profile):\n{result.stdout}"
