"""Disk pre-flight: a `docker build` that cannot fit fails before it starts, not an hour in.

What a build needs on the engine's disk is estimated from what Pants knows before building:
the image's `size_budget` less the image it builds on (its new layers at most), plus the part of
the build context the Dockerfile names (BuildKit copies in only that: the multi-GB PEX of a
stack image, not the PEXes of the images below that Pants also puts in the context), plus a
margin. Checked only when the build will run, that is when the engine lacks one of the image's
tags (a no-op `package` reuses the image and needs nothing), and only for a local engine, whose
data root this machine can see.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

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


# The words of a Dockerfile a context path can hide in: COPY/ADD sources and `--mount=...,source=`.
_WORDS = re.compile(r"[^\s,=\"'\[\]]+")


def sent_to_builder(dockerfile: str, paths: list[str]) -> set[str]:
    """The context `paths` the Dockerfile names, itself or through a directory or a glob above
    it: what BuildKit transfers. A source of `.`, or one made of a variable, counts the whole
    context."""
    if _copies_whole_context(dockerfile):
        return set(paths)
    words = {w.rstrip("/") for w in _WORDS.findall(dockerfile)}
    globs = [w for w in words if any(c in w for c in "*?[")]

    def named(path: str) -> bool:
        candidates = [path, *(str(p) for p in PurePosixPath(path).parents if str(p) != ".")]
        return any(c in words or any(fnmatch.fnmatch(c, g) for g in globs) for c in candidates)

    return {p for p in paths if named(p)}


def _copies_whole_context(dockerfile: str) -> bool:
    """A COPY or ADD of `.` from the context, or a source this reading cannot resolve (a
    variable): counted as the whole context, as before this reading."""
    for line in dockerfile.replace("\\\n", " ").splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            if any(w.startswith("--from") for w in words):
                continue
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            if any(w in (".", "./") or "$" in w for w in sources):
                return True
        if any("$" in m for m in re.findall(r"source=([^,\s]+)", line)):
            return True
    return False


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
        f"{format_size(need.context_size)} of build context its Dockerfile uses and "
        f"{format_size(MARGIN)} to spare), "
        f"and {format_size(available)} is free. Free space first: `{CLEAN_UP}` removes this "
        "repo's old images (a dry run without --apply shows what); `docker builder prune` "
        "trims BuildKit's cache (docs/operations.md)."
    )
