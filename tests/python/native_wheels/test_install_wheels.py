"""containers/build-inputs/install_wheels.py: how images install the wheels (their venvs have
no pip)."""

from __future__ import annotations

import subprocess
import venv
import zipfile
from pathlib import Path

from native_wheels.helpers import built_wheel

SCRIPT = Path("containers/build-inputs/install_wheels.py")  # run by path, as images run it


def bare_venv(root: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(root)
    return root / "bin" / "python"


def test_installs_the_toolkit_and_its_binary_without_pip(tmp_path: Path) -> None:
    python = bare_venv(tmp_path / "venv")
    wheel = built_wheel("dynamo_imagekit")
    out = subprocess.run([python, SCRIPT, wheel], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    binary = tmp_path / "venv" / "bin" / "dynamo-imagekit"
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("dynamo-imagekit 0.1.0")
    report = subprocess.run(
        [python, "-m", "dynamo_imagekit", "report", "--json"], capture_output=True, text=True
    )
    assert report.returncode == 0 and '"arch"' in report.stdout


def test_refuses_a_wheel_whose_files_do_not_match_its_record(tmp_path: Path) -> None:
    python = bare_venv(tmp_path / "venv")
    original = built_wheel("dynamo_imagekit")
    tampered = tmp_path / original.name
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "dynamo_imagekit/report.py":
                data += b"\nimport os; os.system('true')\n"
            dst.writestr(item, data)
    out = subprocess.run([python, SCRIPT, tampered], capture_output=True, text=True)
    assert out.returncode != 0
    assert "dynamo_imagekit/report.py does not match the wheel's RECORD" in out.stderr
    assert not (tmp_path / "venv" / "bin" / "dynamo-imagekit").exists()


def test_usage(tmp_path: Path) -> None:
    python = bare_venv(tmp_path / "venv")
    out = subprocess.run([python, SCRIPT], capture_output=True, text=True)
    assert out.returncode != 0 and "usage: python install_wheels.py WHEEL" in out.stderr
