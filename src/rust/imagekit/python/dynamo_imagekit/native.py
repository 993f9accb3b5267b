"""Calls into the `dynamo-imagekit` binary that this wheel installs next to the interpreter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

BINARY = "dynamo-imagekit"


def binary_path() -> str:
    """The binary from this environment's scripts directory, else from PATH."""
    for scripts in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = Path(scripts) / BINARY
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(BINARY)
    if not found:
        raise FileNotFoundError(
            f"{BINARY} is not installed next to {sys.executable} nor on PATH; "
            "install the dynamo-imagekit wheel (it ships the binary as a script)"
        )
    return found


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    message: str


def probe(url: str | None = None, timeout: float = 3.0) -> ProbeResult:
    """One health probe, exactly as Docker's HEALTHCHECK runs it."""
    argv = [binary_path(), "probe", "--timeout", str(timeout)]
    if url:
        argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5)
    return ProbeResult(healthy=out.returncode == 0, message=(out.stdout + out.stderr).strip())


def facts(root: str | None = None) -> dict:
    """GPUs, driver and CUDA as the container sees them."""
    argv = [binary_path(), "facts"] + (["--root", root] if root else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)
