from __future__ import annotations

import os

import pytest

from dynamo_wheels import pep517_shim


def test_split_tag() -> None:
    assert pep517_shim.split_tag("manylinux_2_34_x86_64") == ("manylinux_2_34", "x86_64")
    assert pep517_shim.split_tag("manylinux_2_28_aarch64") == ("manylinux_2_28", "aarch64")
    with pytest.raises(SystemExit, match="not of the form manylinux_X_Y_ARCH"):
        pep517_shim.split_tag("linux_x86_64")


def test_glibc_of() -> None:
    assert pep517_shim.glibc_of("manylinux_2_17_x86_64") == (2, 17)
    assert pep517_shim.glibc_of("linux_x86_64") is None


@pytest.mark.parametrize(
    "backend, variable, value",
    [
        ("maturin", "MATURIN_PEP517_ARGS", "--compatibility manylinux_2_34"),
        ("mesonpy", "_PYTHON_HOST_PLATFORM", "manylinux_2_34-x86_64"),
    ],
)
def test_configure_env_sets_the_policy_per_backend(
    monkeypatch, backend: str, variable: str, value: str
) -> None:
    for name in ("MATURIN_PEP517_ARGS", "_PYTHON_HOST_PLATFORM", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    pep517_shim.configure_env(backend, "manylinux_2_34_x86_64")
    assert os.environ[variable] == value
    # Fixed archive timestamps, unless the caller chose one.
    assert os.environ["SOURCE_DATE_EPOCH"] == "315532800"


def test_missing_host_compiler_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit, match=r"maturin needs cargo, rustc on the PATH.*rustup"):
        pep517_shim.check_host_tools("maturin")
    with pytest.raises(SystemExit, match=r"mesonpy needs c\+\+ .*apt-get install g\+\+"):
        pep517_shim.check_host_tools("mesonpy")
