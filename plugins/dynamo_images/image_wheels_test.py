"""`image_wheels` downloads the wheels a real lockfile entry locks (from PyPI) and checks each
against its locked sha256; a lockfile whose hash the file does not match fails, naming both."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from pants.backend.python.target_types import PythonRequirementTarget
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import image_wheels
from dynamo_images.image_wheels import ImageWheelsFieldSet, ImageWheelsTarget
from dynamo_images.testutil import (
    PACKAGING,
    PYPROJECT_METADATA,
    TOOLS_LOCK,
    lock_subset,
    resolve_options,
)

# pyproject-metadata requires packaging: two small pure wheels of the tools lockfile (testutil).
PINS = (PYPROJECT_METADATA, PACKAGING)


def locked_hashes(lock: dict) -> dict[str, str]:
    """{wheel file name: locked sha256}."""
    return {
        artifact["url"].rsplit("/", 1)[1]: artifact["hash"]
        for entry in lock["locked_resolves"][0]["locked_requirements"]
        for artifact in entry["artifacts"]
    }


@pytest.fixture
def rule_runner(tmp_path: Path) -> RuleRunner:
    runner = RuleRunner(
        target_types=[ImageWheelsTarget, PythonRequirementTarget],
        rules=[
            *image_wheels.rules(),
            QueryRule(BuiltPackage, [ImageWheelsFieldSet]),
            QueryRule(DigestContents, [Digest]),
        ],
        isolated_local_store=True,
        bootstrap_args=[f"--named-caches-dir={tmp_path / 'named_caches'}"],
    )
    lock = lock_subset(TOOLS_LOCK, PINS)
    tampered = json.loads(json.dumps(lock))
    for entry in tampered["locked_resolves"][0]["locked_requirements"]:
        if entry["project_name"] == "packaging":
            for artifact in entry["artifacts"]:
                artifact["hash"] = "0" * 64
    runner.write_files(
        {
            "r.lock": json.dumps(lock),
            "t.lock": json.dumps(tampered),
            "BUILD": (
                "python_requirement(name='r', requirements=['pyproject-metadata==0.12.1'],"
                " resolve='r')\n"
                "image_wheels(name='wheels', dependencies=[':r'], resolve='r')\n"
                "python_requirement(name='t', requirements=['pyproject-metadata==0.12.1'],"
                " resolve='t')\n"
                "image_wheels(name='tampered', dependencies=[':t'], resolve='t')\n"
                "image_wheels(name='without', dependencies=[':r'], resolve='r',\n"
                "             exclude=['packaging==26.4'])\n"
                "image_wheels(name='wrong', dependencies=[':r'], resolve='r',\n"
                "             exclude=['packaging==25.0'])\n"
            ),
        }
    )
    certs = os.environ.get("PANTS_CA_CERTS_PATH")
    runner.set_options(
        [
            *resolve_options({"r": "r.lock", "t": "t.lock"}),
            *([f"--ca-certs-path={certs}"] if certs else []),
        ],
        env_inherit={"PATH", "PYENV_ROOT", "HOME"},
    )
    runner.lock = lock  # type: ignore[attr-defined]
    return runner


def test_the_locked_wheels_of_the_requirements_and_their_dependencies(
    rule_runner: RuleRunner,
) -> None:
    target = rule_runner.get_target(Address("", target_name="wheels"))
    package = rule_runner.request(BuiltPackage, [ImageWheelsFieldSet.create(target)])
    assert [a.relpath for a in package.artifacts] == ["wheels"]
    files = {c.path: c.content for c in rule_runner.request(DigestContents, [package.digest])}
    assert sorted(files) == [
        "wheels/packaging-26.4-py3-none-any.whl",
        "wheels/pyproject_metadata-0.12.1-py3-none-any.whl",
    ], sorted(files)
    hashes = locked_hashes(rule_runner.lock)  # type: ignore[attr-defined]
    for path, content in files.items():
        assert hashlib.sha256(content).hexdigest() == hashes[path.split("/")[1]], path


def test_a_file_whose_sha256_the_lockfile_does_not_lock_fails_naming_both(
    rule_runner: RuleRunner,
) -> None:
    target = rule_runner.get_target(Address("", target_name="tampered"))
    with pytest.raises(ExecutionError) as error:
        rule_runner.request(BuiltPackage, [ImageWheelsFieldSet.create(target)])
    message = str(error.value)
    assert "packaging-26.4-py3-none-any.whl has sha256 " in message, message
    assert f"but the lockfile locks {'0' * 64}" in message and "generate-lockfiles" in message


def test_exclude_leaves_a_locked_distribution_out_and_keeps_what_requires_it(
    rule_runner: RuleRunner,
) -> None:
    target = rule_runner.get_target(Address("", target_name="without"))
    package = rule_runner.request(BuiltPackage, [ImageWheelsFieldSet.create(target)])
    files = {c.path for c in rule_runner.request(DigestContents, [package.digest])}
    assert files == {"without/pyproject_metadata-0.12.1-py3-none-any.whl"}, files


def test_exclude_at_another_version_than_locked_fails_naming_both(
    rule_runner: RuleRunner,
) -> None:
    target = rule_runner.get_target(Address("", target_name="wrong"))
    with pytest.raises(ExecutionError) as error:
        rule_runner.request(BuiltPackage, [ImageWheelsFieldSet.create(target)])
    message = str(error.value)
    assert "'packaging==25.0'" in message and "locks packaging 26.4" in message, message
    assert "Fix: " in message
