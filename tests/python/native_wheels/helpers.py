"""Where the wheels Pants built land in a test sandbox, and a venv to install them in."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# output_path of the native_wheel targets (src/*/*/BUILD).
WHEELS = Path("wheels")
REBUILDS = Path("wheels-rebuild")
STACK = Path("containers/stack.py")  # needs `containers:stack` among the test's dependencies


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
    # The prelude's top level only defines data and functions; evaluate it for versions().
    namespace: dict = {}
    exec(STACK.read_text(), namespace)
    major, minor = namespace["versions"]()["production_glibc"].split(".")
    return int(major), int(minor)
