"""Two independent builds of the same sources give byte-identical wheels.

`:wheel` and `:wheel-rebuild` run the same backend in different sandboxes at different
times (the rebuild's environment differs, so Pants cannot reuse the first result).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from native_wheels.helpers import REBUILDS, built_wheel


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("distribution", ["dynamo_imagekit", "dynamo_hostxfer"])
def test_rebuild_is_byte_identical(distribution: str) -> None:
    first, second = built_wheel(distribution), built_wheel(distribution, REBUILDS)
    assert first.name == second.name
    assert sha256(first) == sha256(second), f"{first.name} differs between two builds"
