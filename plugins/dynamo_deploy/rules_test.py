from __future__ import annotations

from pathlib import Path

import pytest
from pants.backend.docker.target_types import DockerImageSourceField
from pants.backend.python import target_types_rules
from pants.backend.python.target_types import PexBinary, PythonSourcesGeneratorTarget
from pants.engine.addresses import Address, Addresses
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import COMMON_TARGET_FIELDS, DependenciesRequest, Target
from pants.testutil.rule_runner import RuleRunner

from dynamo_deploy import register
from dynamo_deploy.rules import DeploymentError, image_addresses
from dynamo_deploy.target_types import DeploymentDependenciesField


class FakeImage(Target):
    """Has a docker_image's source field, so the rules take it for one; never built here."""

    alias = "fake_docker_image"
    core_fields = (*COMMON_TARGET_FIELDS, DockerImageSourceField)


SPEC = """
name: t
model: {name: tiny}
services:
  worker: {componentType: worker, image: containers/dynamo:runtime, command: [x]}
  Frontend: {componentType: frontend, image: "//containers/dynamo:runtime", command: [x]}
"""


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=[*register.target_types(), PythonSourcesGeneratorTarget, PexBinary, FakeImage],
        rules=[
            *register.rules(),
            *target_types_rules.rules(),
            QueryRule(Addresses, (DependenciesRequest,)),
        ],
    )
    runner.write_files(
        {
            "containers/dynamo/BUILD": 'fake_docker_image(name="runtime", source=None)\n',
            "src/runner/BUILD": 'pex_binary(name="runner", entry_point="x:main")\n',
            "deploy/t.yaml": SPEC,
            "deploy/bad.yaml": SPEC.replace("containers/dynamo:runtime", "src/runner:runner"),
            "deploy/BUILD": (
                'dynamo_deployment(name="t", spec="t.yaml", runner="src/runner:runner")\n'
                'dynamo_deployment(name="bad", spec="bad.yaml", runner="src/runner:runner")\n'
            ),
        }
    )
    return runner


def dependencies(rule_runner: RuleRunner, name: str) -> set[str]:
    target = rule_runner.get_target(Address("deploy", target_name=name))
    addresses = rule_runner.request(
        Addresses, [DependenciesRequest(target[DeploymentDependenciesField])]
    )
    return {a.spec for a in addresses}


def test_the_spec_images_and_the_runner_are_inferred_dependencies(rule_runner):
    assert dependencies(rule_runner, "t") == {"containers/dynamo:runtime", "src/runner:runner"}


def test_an_image_that_is_no_docker_image_fails_naming_it(rule_runner):
    with pytest.raises(ExecutionError, match=r"names src/runner:runner as an image.*docker_image"):
        dependencies(rule_runner, "bad")


def test_image_addresses_of_the_repo_specs():
    for name in ("agg", "disagg"):
        content = Path(f"deploy/{name}.yaml").read_bytes()
        assert image_addresses(content, name) == ["//containers/dynamo:runtime#amd64"]


def test_a_service_without_an_address_is_an_error():
    with pytest.raises(DeploymentError, match=r"services.w.image must be the Pants address"):
        image_addresses(b"services: {w: {image: dynamo}}", "x.yaml")
