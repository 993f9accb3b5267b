"""Is there a GPU to run on? Decided up front, before any check touches CUDA.

A GPU is present when the kernel driver exposes a device node (/dev/nvidia0, ...) or
`nvidia-smi -L` lists one. Without either, every check is skipped with the reason (a
CPU-only developer machine or CI). With one, a check that cannot use it *fails*: a GPU host
whose CUDA is broken is what these checks exist to catch.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpu_smoke_checks.results import Presence

NO_GPU = "no GPU"
NO_TOOLKIT = "no NVIDIA container toolkit"
DEVICE_GLOB = "/dev/nvidia[0-9]*"
# `docker run --gpus` hands the devices to the container through the toolkit's hook.
TOOLKIT_BINARIES = ("nvidia-container-runtime-hook", "nvidia-ctk", "nvidia-container-cli")


@dataclass(frozen=True)
class Host:
    """What presence detection reads from the machine; tests pass their own."""

    which: Callable[[str], str | None] = shutil.which
    device_nodes: Callable[[], Sequence[str]] = lambda: sorted(glob.glob(DEVICE_GLOB))
    run: Callable[[Sequence[str]], tuple[int, str]] = lambda argv: _run(argv)


THIS_HOST = Host()


def _run(argv: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return done.returncode, (done.stdout + done.stderr).strip()


def detect_gpu(host: Host = THIS_HOST) -> Presence:
    nodes = [n for n in host.device_nodes() if re.fullmatch(r"/dev/nvidia\d+", n)]
    if nodes:
        return Presence(True, detail=f"device nodes {', '.join(nodes)}")
    smi = host.which("nvidia-smi")
    if smi is None:
        return Presence(False, NO_GPU, "no /dev/nvidia[0-9]* device node and no nvidia-smi on PATH")
    code, out = host.run([smi, "-L"])
    listed = [line for line in out.splitlines() if line.startswith("GPU ")]
    if code == 0 and listed:
        return Presence(True, detail=f"nvidia-smi -L lists {len(listed)} GPU(s)")
    first_line = out.splitlines()[0] if out else f"exit code {code}"
    return Presence(
        False,
        NO_GPU,
        f"no /dev/nvidia[0-9]* device node; `nvidia-smi -L` lists none: {first_line}",
    )


def detect_container_toolkit(host: Host = THIS_HOST) -> Presence:
    found = [b for b in TOOLKIT_BINARIES if host.which(b)]
    if found:
        return Presence(True, detail=f"{found[0]} on PATH")
    return Presence(
        False,
        NO_TOOLKIT,
        f"none of {', '.join(TOOLKIT_BINARIES)} on PATH; `docker run --gpus` needs the "
        "NVIDIA Container Toolkit on the Docker host (or run the checks in host mode)",
    )


def detect(container_toolkit: bool, host: Host = THIS_HOST) -> Presence:
    """The GPU, then (for container mode) the toolkit that hands it to containers."""
    gpu = detect_gpu(host)
    if not gpu.available or not container_toolkit:
        return gpu
    return detect_container_toolkit(host)
