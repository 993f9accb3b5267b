"""The image family's data (containers/images_data.py), imported as an ordinary module.

Its macros and templates are tested through Pants' BUILD parser in images_macros_test.py.
"""

from __future__ import annotations

from pathlib import Path

import toml  # pants: no-infer-dep (Pants' own dependency)

from build_graph.family_runner import BUILDABLE, DATA, IMAGES_DATA


def test_the_data_is_consistent() -> None:
    DATA.check_data()


def test_resolves_in_pants_toml_match_the_backends_of_the_data() -> None:
    """pants.toml's [python.resolves] cannot be derived from images_data.py: a backend added
    (or removed) in one and not the other fails here, naming both files."""
    configured = {
        name
        for name in toml.loads(Path("pants.toml").read_text())["python"]["resolves"]
        if name.startswith("images-")
    }
    expected = {DATA.image_resolve(backend) for backend in BUILDABLE}
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
