"""The collector's host mode (`--installed-at`), which derived SBOMs use: wheels and packed
PEX files listed as the distributions an install puts into a site-packages directory."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dynamo_images.sbom_collector import archived_distributions

SITE = "/opt/venv/lib/python3.11/site-packages"


def write_wheel(path: Path, dist_info: str, metadata: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist_info}/METADATA", metadata)
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\n")


def test_wheels_and_a_packed_pex_are_listed_where_they_install(tmp_path: Path) -> None:
    # A packed PEX keeps each distribution as a zip under .deps/.
    pex = tmp_path / "env.pex"
    write_wheel(
        pex / ".deps/PyYAML-6.0.2-cp311-cp311-linux_x86_64.whl",
        "PyYAML-6.0.2.dist-info",
        "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.2\nLicense: MIT\n",
    )
    (pex / "PEX-INFO").write_text("{}")
    write_wheel(
        tmp_path / "wheels/my_tool-1.0-py3-none-any.whl",
        "my_tool-1.0.dist-info",
        "Metadata-Version: 2.4\nName: my_tool\nVersion: 1.0\n"
        "Classifier: License :: OSI Approved :: Apache Software License\n",
    )
    components = archived_distributions(
        SITE, [str(pex), str(tmp_path / "wheels/my_tool-*.whl")]
    )
    assert [(c["name"], c["bom-ref"]) for c in components] == [
        ("PyYAML", f"pkg:pypi/pyyaml@6.0.2#{SITE}/PyYAML-6.0.2.dist-info"),
        ("my_tool", f"pkg:pypi/my-tool@1.0#{SITE}/my_tool-1.0.dist-info"),
    ]
    assert components[0]["licenses"] == [{"license": {"name": "MIT"}}]
    assert components[1]["licenses"] == [{"license": {"name": "Apache Software License"}}]
    assert {"name": "dynamo:python:environment", "value": "/opt/venv"} in components[0][
        "properties"
    ]


def test_a_path_that_matches_nothing_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="wheels/missing-\\*.whl: matches no file"):
        archived_distributions(SITE, [str(tmp_path / "wheels/missing-*.whl")])


def test_a_bang_glob_leaves_out_the_pex_entries_it_matches(tmp_path: Path) -> None:
    pex = tmp_path / "env.pex"
    for name, version in (("torch", "2.11.0"), ("dynamo", "1.4.2")):
        write_wheel(
            pex / f".deps/{name}-{version}-py3-none-any.whl",
            f"{name}-{version}.dist-info",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        )
    (pex / "PEX-INFO").write_text("{}")
    listed = archived_distributions(SITE, [str(pex), f"!{pex}/.deps/torch-2.11.0-*.whl"])
    assert [c["name"] for c in listed] == ["dynamo"]
    with pytest.raises(SystemExit, match="matches no file"):
        archived_distributions(SITE, [str(pex), f"!{pex}/.deps/triton-*.whl"])
