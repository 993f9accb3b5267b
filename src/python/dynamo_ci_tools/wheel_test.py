"""The wheel images install: built by Pants (:wheel), installed without pip, run as a module."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dynamo_ci_tools import __version__

# The python_distribution's output_path, and the installer, as they land in the sandbox.
WHEELS = Path("wheels")
INSTALLER = Path("containers/build-inputs/install_wheels.py")


def built_wheel() -> Path:
    found = sorted(WHEELS.glob("dynamo_ci_tools-*.whl"))
    assert len(found) == 1, f"expected one dynamo_ci_tools wheel in {WHEELS}/, found {found}"
    return found[0]


def clean_env() -> dict[str, str]:
    # Nothing of the test's own Python (PYTHONPATH, PEX_*) may leak into the venv's.
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PEX", "VIRTUAL_ENV"))
    }


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> str:
    assert sys.version_info[:2] == (3, 11), "the images run Python 3.11"
    root = tmp_path_factory.mktemp("ci-tools") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, env=clean_env()
    )
    python = root / "bin" / "python"
    assert not (root / "bin" / "pip").exists()
    out = subprocess.run(
        [str(python), str(INSTALLER), str(built_wheel())],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert out.returncode == 0, out.stderr
    assert f"installed {built_wheel().name}" in out.stdout
    return str(python)


def run(python: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, *args], capture_output=True, text=True, cwd=cwd, env=clean_env(), timeout=120
    )


def test_the_wheel_is_pure_python_and_holds_only_the_package():
    wheel = built_wheel()
    assert wheel.name == f"dynamo_ci_tools-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(f"dynamo_ci_tools-{__version__}.dist-info/METADATA").decode()
        stamps = {info.date_time for info in z.infolist()}
    assert stamps == {(1980, 1, 1, 0, 0, 0)}  # SOURCE_DATE_EPOCH: reproducible bytes
    modules = sorted(n for n in names if not n.startswith("dynamo_ci_tools-"))
    assert "dynamo_ci_tools/__main__.py" in modules and "dynamo_ci_tools/prom.py" in modules
    assert all(n.startswith("dynamo_ci_tools/") for n in modules), modules
    assert not [n for n in modules if n.endswith("_test.py") or n.endswith("conftest.py")]
    assert "dynamo_ci_tools/reported.py" in modules  # soak's /metrics window
    # The comparison report (matplotlib) is a host tool, not in the images' wheel.
    assert not [n for n in modules if n.startswith("dynamo_ci_tools/report/")], modules
    assert "Requires-Dist" not in metadata  # standard library only


def test_it_runs_from_the_venv_without_pip(venv_python, tmp_path):
    code = "import dynamo_ci_tools; print(dynamo_ci_tools.__file__)"
    where = run(venv_python, "-c", code, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(Path(venv_python).parent.parent)), where.stdout
    help_out = run(venv_python, "-m", "dynamo_ci_tools", "soak", "--help", cwd=tmp_path)
    assert help_out.returncode == 0, help_out.stderr
    assert "--max-error-rate" in help_out.stdout and "--concurrency" in help_out.stdout


def test_the_installed_tools_soak_a_frontend_and_snapshot_its_metrics(
    venv_python, frontend, tmp_path
):
    soak = run(
        venv_python,
        *("-m", "dynamo_ci_tools", "soak", "--url", frontend.url, "--model", "ok"),
        *("--requests", "6", "--concurrency", "2"),
        cwd=tmp_path,
    )
    assert soak.returncode == 0, soak.stderr
    assert "6 (6 ok, 0 failed)" in soak.stdout and len(frontend.requests) == 6
    snapshot = run(
        venv_python,
        *("-m", "dynamo_ci_tools", "metrics", "snapshot", "--url", frontend.url + "/metrics"),
        *("--label", "fake", "--out", "snap.json"),
        cwd=tmp_path,
    )
    assert snapshot.returncode == 0, snapshot.stderr
    assert (tmp_path / "snap.json").exists()
