"""Disk pre-flight: a `docker build` that cannot fit fails before it starts, not an hour in.

What a build needs on the engine's disk is estimated from what Pants knows before building:
the image's `size_budget` less the image it builds on (its new layers at most), plus the build
context (BuildKit copies it in: the multi-GB PEX of a stack image), plus a margin. Checked only
when the build will run, that is when the engine lacks one of the image's tags (a no-op
`package` reuses the image and needs nothing), and only for a local engine, whose data root
this machine can see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dynamo_images.target_types import format_size

MARGIN = 1_000_000_000  # logs, BuildKit's metadata, the SBOM run
CLEAN_UP = "./pants run build-support:clean-images -- --apply"
# Where the engine may not be this machine's: its data root is not ours to measure.
_REMOTE_SCHEMES = ("tcp://", "ssh://", "http://", "https://")


class NotEnoughDisk(Exception):
    pass


@dataclass(frozen=True)
class DiskNeed:
    budget: int
    base_size: int
    context_size: int

    @property
    def bytes(self) -> int:
        return max(self.budget - self.base_size, 0) + self.context_size + MARGIN


def free_bytes(path: str) -> int | None:
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def check_disk(
    address: str, need: DiskNeed, data_root: str, docker_host: str | None, free=free_bytes
) -> None:
    """Raises NotEnoughDisk when the engine's data root has less room than the build needs."""
    if not data_root or (docker_host or "").startswith(_REMOTE_SCHEMES):
        return
    available = free(data_root)
    if available is None or available >= need.bytes:
        return
    raise NotEnoughDisk(
        f"Not enough free disk to build {address}: it needs about {format_size(need.bytes)} "
        f"on {data_root} (its size budget {format_size(need.budget)} less the "
        f"{format_size(need.base_size)} image it builds on, plus its "
        f"{format_size(need.context_size)} build context and {format_size(MARGIN)} to spare), "
        f"and {format_size(available)} is free. Free space first: `{CLEAN_UP}` removes this "
        "repo's old images (a dry run without --apply shows what); `docker builder prune` "
        "trims BuildKit's cache (docs/operations.md)."
    )
