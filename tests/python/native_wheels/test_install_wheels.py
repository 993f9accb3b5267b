"""containers/build-inputs/install_wheels.py: how images install the wheels (their venvs have
no pip)."""

from __future__ import annotations

import base64
import hashlib
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
    assert out.returncode != 0 and "usage: install_wheels.py [-h] [--shared" in out.stderr
    assert "give the wheels to install" in out.stderr


def test_installs_data_files_and_scripts_and_refuses_in_one_pass(tmp_path: Path) -> None:
    """What the locked wheels need beyond the first-party ones (sympy's man page in
    `.data/data`, nixl's headers, console scripts); a mismatch anywhere leaves nothing of the
    wheel in the venv."""
    python = bare_venv(tmp_path / "venv")
    files = {
        "demo/__init__.py": b"X = 41 + 1\n\ndef main():\n    print('answer', X)\n",
        "demo-1.0.data/data/share/man/man1/demo.1": b".TH DEMO 1\n",
        "demo-1.0.data/headers/demo.h": b"#define DEMO 42\n",
        "demo-1.0.data/scripts/demo": b"#!python\nimport demo\nprint(demo.X)\n",
        "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
        "demo-1.0.dist-info/entry_points.txt": b"[console_scripts]\nDemo-Answer = demo:main\n",
    }

    def write(path: Path, tampered: bool) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
            record = []
            for name, data in files.items():
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
                record.append(f"{name},sha256={digest.rstrip('=')},{len(data)}")
                changed = tampered and "man1" in name
                wheel.writestr(name, data + (b"# changed\n" if changed else b""))
            wheel.writestr("demo-1.0.dist-info/RECORD", "\n".join(record) + "\n")
        return path

    (tmp_path / "bad").mkdir()
    bad = write(tmp_path / "bad" / "demo-1.0-py3-none-any.whl", tampered=True)
    out = subprocess.run([python, SCRIPT, bad], capture_output=True, text=True)
    assert out.returncode != 0 and "demo.1 does not match the wheel's RECORD" in out.stderr
    venv_root = tmp_path / "venv"
    assert not list(venv_root.rglob("demo*")) and not (venv_root / ".installing").exists()
    # A locked wheel (its file checked against the lockfile) with a wrong RECORD, as some
    # publishers ship them: installed, with a warning naming the file.
    locked_python = bare_venv(tmp_path / "locked")
    out = subprocess.run([locked_python, SCRIPT, "--locked", bad], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning: " in out.stderr and "demo.1 does not match the wheel's RECORD" in out.stderr
    assert list((tmp_path / "locked").glob("share/man/man1/demo.1"))

    good = write(tmp_path / "demo-1.0-py3-none-any.whl", tampered=False)
    out = subprocess.run([python, SCRIPT, good], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (venv_root / "share/man/man1/demo.1").read_bytes() == b".TH DEMO 1\n"
    [header] = venv_root.glob("include/site/python3.*/demo/demo.h")  # where pip puts it
    assert header.read_bytes() == b"#define DEMO 42\n"
    script = subprocess.run([venv_root / "bin" / "demo"], capture_output=True, text=True)
    assert script.stdout == "42\n", script.stderr
    # The entry point's console script, as pip writes it (its name keeps its case).
    script = subprocess.run([venv_root / "bin" / "Demo-Answer"], capture_output=True, text=True)
    assert script.stdout == "answer 42\n", script.stderr
    assert not (venv_root / ".installing").exists()

    # A stack's venv on that one (`--shared`): it imports that venv's distributions after its
    # own, and gets wrappers for their console scripts that run with its own interpreter.
    stack_python = bare_venv(tmp_path / "stack")
    site = next(venv_root.glob("lib/python*/site-packages"))
    out = subprocess.run([stack_python, SCRIPT, "--shared", site], capture_output=True)
    assert out.returncode == 0, out.stderr
    wrapper = tmp_path / "stack" / "bin" / "Demo-Answer"
    assert wrapper.read_text().startswith(f"#!{stack_python}\n")
    script = subprocess.run([wrapper], capture_output=True, text=True)
    assert script.stdout == "answer 42\n", script.stderr
    out = subprocess.run([stack_python, "-c", "import demo; print(demo.__file__)"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.stdout.startswith(f"{site}/demo/"), out.stderr
