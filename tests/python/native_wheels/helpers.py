"""Where the wheels Pants built land in a test sandbox, and a venv to install them in."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# output_path of the native_wheel targets (src/*/*/BUILD).
WHEELS = Path("wheels")
REBUILDS = Path("wheels-rebuild")
# The image family's data; needs `containers:preludes` among the test's dependencies.
IMAGES_DATA = Path("containers/images_data.py")


def built_wheel(distribution: str, folder: Path = WHEELS) -> Path:
    found = sorted(folder.glob(f"{distribution}-*.whl"))
    assert len(found) == 1, f"expected one {distribution} wheel in {folder}/, found {found}"
    return found[0]


@dataclass(frozen=True)
class WheelVenv:
    root: Path

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    def script(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def run(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 120)
        return subprocess.run(list(argv), **kwargs)


def auditwheel_tag(wheel: Path) -> str:
    """The platform tag `auditwheel show` says the wheel's binaries need."""
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r'platform tag:\s+"([^"]+)"', " ".join(shown.split()))
    assert found, shown
    return found.group(1)


def glibc_of(tag: str, arch: str = "x86_64") -> tuple[int, int]:
    match = re.match(rf"manylinux_(\d+)_(\d+)_{arch}$", tag)
    assert match, f"{tag!r} is not a manylinux_X_Y_{arch} tag"
    return int(match.group(1)), int(match.group(2))


def production_glibc() -> tuple[int, int]:
    # The data prelude is plain Python: imported as an ordinary module for its versions().
    spec = importlib.util.spec_from_file_location("images_data", IMAGES_DATA)
    assert spec and spec.loader, IMAGES_DATA
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    major, minor = data.version("production_glibc").split(".")
    return int(major), int(minor)
