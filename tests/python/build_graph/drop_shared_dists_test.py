"""containers/build-inputs/drop_shared_dists.py: how a stack leaves the shared torch layer's
distributions out of its own venv (and so out of its layer)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

SCRIPT = Path("containers/build-inputs/drop_shared_dists.py").resolve()  # run by path


def site_of(root: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(root)
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return root / "lib" / python / "site-packages"


def install(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    """A distribution as pex venv leaves it: its files and a dist-info whose RECORD lists them."""
    info = f"{name.replace('-', '_')}-{version}.dist-info"
    files = {**files, f"{info}/METADATA": f"Name: {name}\nVersion: {version}\n"}
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    record = [f"{path},," for path in files] + [f"{info}/RECORD,,", f"../../../bin/{name},,"]
    (site / info / "RECORD").write_text("\n".join(record) + "\n")


def run(venv_root: Path, shared: Path, *specs: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv_root / "bin" / "python", SCRIPT, str(shared), *specs],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def venvs(tmp_path: Path):
    stack, shared = site_of(tmp_path / "stack"), site_of(tmp_path / "shared")
    torch = {"torch/__init__.py": "", "torch/lib/libtorch.so": "x" * 100}
    cublas = {"nvidia/cublas/lib/libcublas.so": "y" * 50}
    for site in (stack, shared):
        install(site, "torch", "2.11.0", torch)
        install(site, "nvidia-cublas", "13.1.0.3", cublas)
    install(stack, "dynamo", "1.4.2", {"dynamo/__init__.py": ""})
    install(stack, "filelock", "4.2.12", {"filelock/__init__.py": ""})
    (stack / "torch" / "__pycache__").mkdir()
    (stack / "torch" / "__pycache__" / "__init__.cpython-311.pyc").write_text("")
    return tmp_path / "stack", stack, shared


def test_drops_the_shared_distributions_and_points_at_the_shared_venv(venvs) -> None:
    root, stack, shared = venvs
    out = run(root, shared, "torch==2.11.0", "nvidia-cublas==13.1.0.3")
    assert out.returncode == 0, out.stderr
    left = {p.name for p in stack.iterdir() if not p.name.startswith("_")}
    # torch, nvidia/ (a namespace emptied) and both dist-infos are gone; the rest stays.
    assert left == {
        "dynamo",
        "dynamo-1.4.2.dist-info",
        "filelock",
        "filelock-4.2.12.dist-info",
        "dynamo-shared-venv.pth",
    }
    assert (stack / "dynamo-shared-venv.pth").read_text() == f"{shared}\n"
    assert (shared / "torch" / "lib" / "libtorch.so").exists()
    assert "2 distributions left to" in out.stdout
    found = subprocess.run(
        [root / "bin" / "python", "-c", "import torch, dynamo; print(torch.__file__)"],
        capture_output=True,
        text=True,
    )
    assert found.stdout.strip() == str(shared / "torch" / "__init__.py"), found.stderr


def test_a_version_the_stack_does_not_install_fails_naming_it_and_the_fix(venvs) -> None:
    root, stack, shared = venvs
    install(shared, "triton", "3.6.0", {"triton/__init__.py": ""})
    install(stack, "triton", "3.5.1", {"triton/__init__.py": ""})
    out = run(root, shared, "triton==3.6.0")
    assert out.returncode != 0
    assert "installs triton 3.5.1, not 3.6.0" in out.stderr and "SHARED_DISTS" in out.stderr
    assert (stack / "triton" / "__init__.py").exists()


def test_the_same_version_built_differently_is_refused(venvs) -> None:
    root, stack, shared = venvs
    install(shared, "triton", "3.6.0", {"triton/__init__.py": ""})
    install(stack, "triton", "3.6.0", {"triton/__init__.py": "", "triton/extra.py": ""})
    out = run(root, shared, "triton==3.6.0")
    assert out.returncode != 0 and "their RECORDs differ" in out.stderr


def test_a_distribution_missing_from_the_shared_venv_fails(venvs) -> None:
    root, _, shared = venvs
    out = run(root, shared, "nvidia-nccl-cu13==2.28.9")
    assert out.returncode != 0 and "is not in the shared venv" in out.stderr
