"""The pex tool the launcher builds (./pants: build_pex_tool) keeps to the PEX_ROOT it is given.

Pants runs every pex process with PEX_ROOT set to its named cache (`--named-caches-dir`). A
pex tool built with pex's default `--strip-pex-env` drops that variable before its own code
runs and resolves into ~/.pex instead: one cache under every workspace, so a build with empty
named caches is not cold, and ~/.pex grows by the wheels of every stack (18 GB in one vllm
benchmark run) where nothing removes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse


def write_wheel(wheels: Path) -> None:
    """demo 1.0, a pure-Python wheel: something for the pex tool to resolve, offline."""
    wheels.mkdir()
    info = "demo-1.0.dist-info"
    with zipfile.ZipFile(wheels / "demo-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("demo.py", "X = 1\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", f"demo.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n")


def test_the_pex_tool_resolves_in_the_pex_root_it_is_given(tmp_path: Path) -> None:
    pex = urlparse(os.environ["PANTS_PEX_CLI_URL_TEMPLATE"]).path  # file://<launcher's cache>
    pex_root, home, wheels = tmp_path / "pex_root", tmp_path / "home", tmp_path / "wheels"
    home.mkdir()
    write_wheel(wheels)
    built = subprocess.run(
        [sys.executable, pex, "--no-pypi", "-f", str(wheels), "demo==1.0", "-o", "demo.pex"],
        cwd=tmp_path,
        env={**os.environ, "PEX_ROOT": str(pex_root), "HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    # pip and what it fetched are in the PEX_ROOT given (Pants' named cache), not $HOME/.pex
    # (where a pex that strips PEX_ROOT puts them: downloads, pip_cache, pip's own PEX).
    assert (pex_root / "pip_cache").is_dir(), sorted(p.name for p in pex_root.iterdir())
    assert not (home / ".pex").exists(), sorted(p.name for p in (home / ".pex").iterdir())
