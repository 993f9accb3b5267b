"""containers/build-inputs/drop_shared_dists.py: how another arch's stack installs its PEX
without the shared torch layer's distributions, run on real packed PEXes made by the pex tool
./pants builds (offline, from wheels written here), as containers/base:torch-arm64 and a
stack use them, followed by `install_wheels.py --shared` as the stack's RUN does."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

SCRIPT = Path("containers/build-inputs/drop_shared_dists.py").resolve()  # run by path
INSTALLER = Path("containers/build-inputs/install_wheels.py").resolve()
PYTHON = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def write_wheel(wheels: Path, name: str, version: str, files: dict[str, str],
                requires: tuple[str, ...] = (), scripts: dict[str, str] | None = None) -> None:
    """A pure-Python wheel: its files, METADATA (with Requires-Dist), entry points, RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    files = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    if scripts:
        files[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{script} = {target}\n" for script, target in scripts.items()
        )
    with zipfile.ZipFile(wheels / f"{dist}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
        wheel.writestr(f"{info}/RECORD", "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n")


def pex(tmp_path: Path, wheels: Path, output: str, *requirements: str) -> Path:
    """A packed PEX with its tools, as Pants builds `python-env` and `shared-torch-env`."""
    tool = urlparse(os.environ["PANTS_PEX_CLI_URL_TEMPLATE"]).path  # file://<launcher's cache>
    built = subprocess.run(
        [sys.executable, tool, "--no-pypi", "-f", str(wheels), *requirements,
         "--layout", "packed", "--include-tools", "-o", output],
        cwd=tmp_path, env={**os.environ, "PEX_ROOT": str(tmp_path / "pex_root")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return tmp_path / output


@pytest.fixture
def pexes(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the stack's PEX, a venv holding the shared PEX, its site-packages)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "nvidia-cublas", "13.1.0.3", {"nvidia/cublas/lib/libcublas.so": "y" * 50})
    # jinja2: what only a shared distribution requires, and the stack still installs.
    write_wheel(wheels, "jinja2", "3.1.6", {"jinja2/__init__.py": ""})
    write_wheel(wheels, "torch", "2.11.0", {"torch/__init__.py": "", "torch/run.py":
                "def main():\n    print('torchrun here')\n"},
                requires=("nvidia-cublas==13.1.0.3", "jinja2"),
                scripts={"torchrun": "torch.run:main"})
    write_wheel(wheels, "filelock", "4.2.12", {"filelock/__init__.py": ""})
    write_wheel(wheels, "dynamo", "1.4.2", {"dynamo/__init__.py": ""},
                requires=("torch==2.11.0", "filelock"))
    stack = pex(tmp_path, wheels, "python-env.pex", "dynamo==1.4.2")
    shared = pex(tmp_path, wheels, "shared-torch-env.pex", "torch==2.11.0")
    shared_venv = tmp_path / "shared-venv"
    made = subprocess.run([sys.executable, shared, "venv", "--compile", str(shared_venv)],
                          env={**os.environ, "PEX_TOOLS": "1",
                               "PEX_ROOT": str(tmp_path / "pex_root")},
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return stack, tmp_path / "venv", shared_venv / "lib" / PYTHON / "site-packages"


def run(stack: Path, venv: Path, shared: Path, *specs: str) -> subprocess.CompletedProcess:
    """The stack's RUN: drop_shared_dists.py, then install_wheels.py --shared if it passed."""
    out = subprocess.run(
        [sys.executable, SCRIPT, str(stack), str(venv), str(shared), *specs],
        env={**os.environ, "PEX_ROOT": str(stack.parent / "pex_root")},
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode == 0:
        shared_out = subprocess.run([venv / "bin" / "python", INSTALLER, "--shared", shared],
                                    capture_output=True, text=True)  # fmt: skip
        assert shared_out.returncode == 0, shared_out.stderr
    return out


def test_installs_all_but_the_shared_distributions_and_points_at_the_shared_venv(pexes) -> None:
    stack, venv, shared = pexes
    out = run(stack, venv, shared, "torch==2.11.0", "nvidia-cublas==13.1.0.3")
    assert out.returncode == 0, out.stderr
    site = venv / "lib" / PYTHON / "site-packages"
    assert {p.name for p in site.glob("*.dist-info")} == {
        "dynamo-1.4.2.dist-info", "filelock-4.2.12.dist-info", "jinja2-3.1.6.dist-info"
    }
    assert not (site / "torch").exists() and not (site / "nvidia").exists()
    assert (site / "dynamo-shared-venv.pth").read_text() == f"{shared}\n"
    assert "installed 3 distributions" in out.stdout
    assert "2 left to" in out.stdout and "(2 of them dropped from the PEX)" in out.stdout
    found = subprocess.run(
        [venv / "bin" / "python", "-c", "import torch, dynamo; print(torch.__file__)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert found.stdout.strip() == str(shared / "torch" / "__init__.py"), found.stderr
    # The shared distribution's console script runs with this venv's Python.
    torchrun = subprocess.run([venv / "bin" / "torchrun"], capture_output=True, text=True)
    assert torchrun.stdout == "torchrun here\n", torchrun.stderr
    assert (venv / "bin" / "torchrun").read_text().startswith(f"#!{venv}/bin/python\n")


def test_a_version_the_pex_does_not_lock_fails_naming_it_and_the_fix(pexes) -> None:
    stack, venv, shared = pexes
    out = run(stack, venv, shared, "torch==2.11.0", "filelock==4.3.1")
    assert out.returncode != 0
    assert "is not in the shared venv" in out.stderr and "filelock 4.3.1" in out.stderr
    out = run(stack, venv, shared, "nvidia-cublas==13.1.0.4")
    assert out.returncode != 0 and "nvidia-cublas 13.1.0.4 is not in the shared venv" in out.stderr
    assert not venv.exists()


def test_a_shared_version_the_stack_does_not_lock_fails_naming_it(pexes) -> None:
    stack, venv, shared = pexes
    (shared / "torch-2.12.0.dist-info").mkdir()  # the shared venv has it, the PEX does not
    out = run(stack, venv, shared, "torch==2.12.0")
    assert out.returncode != 0
    assert "this stack's PEX locks torch 2.11.0, not 2.12.0" in out.stderr
    assert "SHARED_DISTS" in out.stderr and not venv.exists()
