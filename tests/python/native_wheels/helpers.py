"""Where the wheels Pants built land in a test sandbox, and a venv to install them in."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# output_path of the native_wheel targets (src/*/*/BUILD).
WHEELS = Path("wheels")
REBUILDS = Path("wheels-rebuild")


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
