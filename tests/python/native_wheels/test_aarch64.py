"""The aarch64 wheels (cross compiled with the toolchain ./pants provisions): tags,
architecture, and the Rust binary run under qemu. In `./pants test ::`: the arm64 path that
every run exercises (the arm64 images themselves are tagged `arm64`, left out of `::`).
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from native_wheels.helpers import auditwheel_tag, built_wheel, glibc_of, production_glibc

AARCH64_WHEELS = Path("wheels-aarch64")
EM_AARCH64 = 183  # ELF e_machine


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF", "not an ELF file"
    return int.from_bytes(data[18:20], "little")


@pytest.mark.parametrize("distribution", ["dynamo_imagekit", "dynamo_hostxfer"])
def test_tagged_manylinux_aarch64_within_the_production_glibc(distribution: str) -> None:
    wheel = built_wheel(distribution, AARCH64_WHEELS)
    assert wheel.name.endswith("-manylinux_2_34_aarch64.whl")
    needed = glibc_of(auditwheel_tag(wheel), arch="aarch64")
    assert needed <= glibc_of("manylinux_2_34_aarch64", arch="aarch64") <= production_glibc()


def test_hostxfer_extension_is_built_for_aarch64() -> None:
    with zipfile.ZipFile(built_wheel("dynamo_hostxfer", AARCH64_WHEELS)) as wheel:
        (name,) = (n for n in wheel.namelist() if n.endswith(".so"))
        assert name == "dynamo_hostxfer/_native.cpython-311-aarch64-linux-gnu.so"
        assert elf_machine(wheel.read(name)) == EM_AARCH64


def test_imagekit_binary_runs_under_emulation(tmp_path: Path) -> None:
    qemu = shutil.which("qemu-aarch64-static")
    assert qemu, (
        "needs Debian's qemu-user-static, which ./pants installs as root on Debian "
        "(build-support/provision-host.sh; otherwise: apt-get install qemu-user-static)"
    )
    with zipfile.ZipFile(built_wheel("dynamo_imagekit", AARCH64_WHEELS)) as wheel:
        binary = tmp_path / "dynamo-imagekit"
        binary.write_bytes(wheel.read("dynamo_imagekit-0.1.0.data/scripts/dynamo-imagekit"))
    binary.chmod(0o755)
    assert elf_machine(binary.read_bytes()) == EM_AARCH64
    facts = subprocess.run([qemu, str(binary), "facts"], capture_output=True, text=True)
    assert facts.returncode == 0, facts.stderr
    assert '"arch": "aarch64"' in facts.stdout
