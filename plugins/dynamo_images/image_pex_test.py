"""`image_pex` builds pex_binary's packed venv PEX with its zips stored, from a real lockfile
entry, with the pex tool ./pants builds (the wheel comes from PyPI, hash-checked)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from pants.backend.python import target_types_rules
from pants.backend.python.goals import package_pex_binary
from pants.backend.python.goals.package_pex_binary import PexBinaryFieldSet
from pants.backend.python.target_types import PexBinary, PythonRequirementTarget
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import image_pex
from dynamo_images.image_pex import ImagePexFieldSet, ImagePexTarget
from dynamo_images.testutil import PACKAGING, TOOLS_LOCK, lock_subset, resolve_options

# The test's resolve: an entry of the tools lockfile (testutil).
PIN = PACKAGING


@pytest.fixture
def rule_runner(tmp_path: Path) -> RuleRunner:
    runner = RuleRunner(
        target_types=[ImagePexTarget, PexBinary, PythonRequirementTarget],
        rules=[
            *image_pex.rules(),
            *package_pex_binary.rules(),
            *target_types_rules.rules(),
            QueryRule(BuiltPackage, [ImagePexFieldSet]),
            QueryRule(BuiltPackage, [PexBinaryFieldSet]),
            QueryRule(DigestContents, [Digest]),
        ],
        # Pex runs every time, on caches of the test's own: what each build finds there is
        # known. So Pex downloads, and its pip must not read the host's pip.conf (pants.toml).
        isolated_local_store=True,
        bootstrap_args=[f"--named-caches-dir={tmp_path / 'named_caches'}"],
    )
    runner.write_files(
        {
            "r.lock": json.dumps(lock_subset(TOOLS_LOCK, (PIN,))),
            "BUILD": (
                "python_requirement(name='req', requirements=['{}=={}'], resolve='r')\n"
                "image_pex(name='env', dependencies=[':req'], resolve='r')\n"
                "pex_binary(name='deflated', dependencies=[':req'], resolve='r', layout='packed')\n"
            ).format(*PIN),
        }
    )
    runner.set_options(
        [
            *resolve_options({"r": "r.lock"}),
            "--subprocess-environment-env-vars=['XDG_CONFIG_DIRS=/nonexistent']",
        ],
        env_inherit={"PATH", "PYENV_ROOT", "HOME"},
    )
    return runner


def test_an_image_pex_is_a_packed_venv_pex_whose_zips_are_stored(rule_runner: RuleRunner) -> None:
    target = rule_runner.get_target(Address("", target_name="env"))
    package = rule_runner.request(BuiltPackage, [ImagePexFieldSet.create(target)])
    assert [a.relpath for a in package.artifacts] == ["env.pex"]
    files = {c.path: c.content for c in rule_runner.request(DigestContents, [package.digest])}
    # pex_binary's packed layout: PEX-INFO, the bootstrap zip and one zip per distribution.
    info = json.loads(files["env.pex/PEX-INFO"])
    assert info["venv"] is True and info["includes_tools"] is True, info
    [wheel] = [p for p in files if p.startswith("env.pex/.deps/packaging-")]
    entries = zipfile.ZipFile(io.BytesIO(files[wheel])).infolist()
    assert any(e.filename.endswith("packaging/version.py") for e in entries)
    # The difference from pex_binary: nothing deflated.
    assert {e.compress_type for e in entries} == {zipfile.ZIP_STORED}, wheel


def test_a_deflated_pex_built_after_it_finds_its_own_cache(rule_runner: RuleRunner) -> None:
    """Pex 2.1.137 fails a deflated packed build that finds the stored zips' cache directory
    (image_pex.py, STORED_PEX_ROOT): every other PEX Pants builds is deflated and packed."""
    stored = rule_runner.get_target(Address("", target_name="env"))
    rule_runner.request(BuiltPackage, [ImagePexFieldSet.create(stored)])
    deflated = rule_runner.get_target(Address("", target_name="deflated"))
    package = rule_runner.request(BuiltPackage, [PexBinaryFieldSet.create(deflated)])
    files = {c.path: c.content for c in rule_runner.request(DigestContents, [package.digest])}
    [wheel] = [p for p in files if p.startswith("deflated.pex/.deps/packaging-")]
    entries = zipfile.ZipFile(io.BytesIO(files[wheel])).infolist()
    assert zipfile.ZIP_DEFLATED in {e.compress_type for e in entries}
