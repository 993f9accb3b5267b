"""The image family's data (containers/images_data.py), imported as an ordinary module.

Its macros and templates are tested through Pants' BUILD parser in images_macros_test.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import toml  # pants: no-infer-dep (Pants' own dependency)

from build_graph.family_runner import DATA, IMAGES_DATA
from dynamo_images.testutil import read_lockfile


def test_the_data_is_consistent() -> None:
    DATA.check_data()


def test_resolves_in_pants_toml_match_the_backends_of_the_data() -> None:
    """pants.toml's [python.resolves] cannot be derived from images_data.py: a backend added
    (or removed) in one and not the other fails here, naming both files. The shared torch
    layer's resolve (SHARED_RESOLVE) is one of them."""
    configured = {
        name
        for name in toml.loads(Path("pants.toml").read_text())["python"]["resolves"]
        if name.startswith("images-")
    }
    expected = set(DATA.image_resolves())
    assert configured == expected, (
        f"pants.toml [python.resolves] has {sorted(configured)} but the buildable backends of "
        f"{IMAGES_DATA} need {sorted(expected)}: add (or remove) `images-<backend>` there, with "
        "its lockfile (./pants generate-lockfiles --resolve=images-<backend>)"
    )
    for resolve in configured:
        assert Path(f"3rdparty/python/{resolve}.lock").is_file(), resolve



def test_the_gpu_checks_import_each_backends_framework_by_the_datas_module() -> None:
    """The GPU checks run in the images, where this data is not, so their contract
    (src/python/gpu_smoke_checks/contract.py, literals only) names each framework's module
    again: it must be the module the data installs."""
    contract: dict = {}
    exec(Path("src/python/gpu_smoke_checks/contract.py").read_text(), contract)
    modules = {
        name: spec["framework"][1] for name, spec in DATA.backends().items() if spec["framework"]
    }
    assert contract["FRAMEWORK_MODULES"] == modules


def _locked(resolve: str) -> list[dict]:
    lock = read_lockfile(Path(f"3rdparty/python/{resolve}.lock"))
    return [r for locked in lock["locked_resolves"] for r in locked["locked_requirements"]]


def _lockfile_pins(resolve: str) -> dict[str, str]:
    return {requirement["project_name"]: requirement["version"] for requirement in _locked(resolve)}


def _shared_artifacts(resolve: str) -> dict[str, set[str]]:
    shared = {name for name, _ in DATA.shared_dists()}
    return {
        r["project_name"]: {a["hash"] for a in r["artifacts"]}
        for r in _locked(resolve)
        if r["project_name"] in shared
    }


@pytest.mark.parametrize("resolve", DATA.image_resolves())
def test_each_lockfile_pins_the_shared_torch_layer_as_the_data_does(resolve: str) -> None:
    """Every stack builds on one torch layer (containers/base:torch, locked in SHARED_RESOLVE):
    a lockfile that pins one of SHARED_DISTS at another version would ship a torch its own
    venv was not locked with (the stack's build fails too, later and slower)."""
    errors = DATA.shared_pin_errors(resolve, _lockfile_pins(resolve))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("resolve", [r for r in DATA.image_resolves() if r != DATA.SHARED_RESOLVE])
def test_each_lockfile_locks_the_shared_torch_layers_files(resolve: str) -> None:
    """A stack installs its PEX without SHARED_DISTS (drop_shared_dists.py), trusting that the
    shared venv holds the very files its lockfile locked: the same wheel hashes as images-torch's
    (the same version rebuilt and uploaded anew would differ)."""
    torch, mine = _shared_artifacts(DATA.SHARED_RESOLVE), _shared_artifacts(resolve)
    differ = sorted(name for name in torch if mine.get(name) != torch[name])
    assert not differ, (
        f"3rdparty/python/{resolve}.lock locks other files than images-torch.lock for "
        f"{', '.join(differ)} (the shared torch layer). Fix: regenerate both: ./pants "
        f"generate-lockfiles --resolve={resolve} --resolve={DATA.SHARED_RESOLVE}"
    )


def test_a_disagreeing_lockfile_is_named_with_both_versions_and_the_fix() -> None:
    pins = {name: pin for name, pin in DATA.shared_dists()}
    pins["Triton"] = "3.5.1"
    del pins["nvidia-nccl-cu13"]
    errors = DATA.shared_pin_errors("images-vllm", pins)
    assert len(errors) == 2
    assert errors[0].startswith(
        "3rdparty/python/images-vllm.lock pins triton 3.5.1 but the shared torch layer "
        "(containers/images_data.py: SHARED_DISTS) has 3.6.0. Fix:"
    )
    assert "--resolve=images-vllm" in errors[0]
    assert "pins nvidia-nccl-cu13 (nothing)" in errors[1]
