from __future__ import annotations

import pytest
from pants.backend.docker.target_types import DockerImageTarget
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from dynamo_images.target_types import DockerImageBuildNetworkField
from dynamo_images.testutil import plugin_rules


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(target_types=[DockerImageTarget], rules=plugin_rules())


def test_build_network_becomes_a_docker_build_option(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {"img/BUILD": "docker_image(build_network='none', instructions=['FROM scratch'])"}
    )
    target = rule_runner.get_target(Address("img"))
    assert list(target[DockerImageBuildNetworkField].options()) == ["--network=none"]


def test_build_network_defaults_to_the_engine_default(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": "docker_image(instructions=['FROM scratch'])"})
    target = rule_runner.get_target(Address("img"))
    assert list(target[DockerImageBuildNetworkField].options()) == ["--network=default"]


def test_unknown_build_network_names_the_allowed_values(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {"img/BUILD": "docker_image(build_network='internet', instructions=['FROM scratch'])"}
    )
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(Address("img"))
    message = str(error.value)
    assert "build_network" in message and "internet" in message
    assert "['default', 'host', 'none']" in message or "default, host, none" in message
