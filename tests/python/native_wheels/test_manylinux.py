"""The wheels' platform tags, checked with auditwheel against the production base's glibc."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from native_wheels.helpers import built_wheel

STACK = Path("containers/stack.py")


def production_glibc() -> tuple[int, int]:
    # The prelude's top level only defines data and functions; evaluate it for versions().
    namespace: dict = {}
    exec(STACK.read_text(), namespace)
    major, minor = namespace["versions"]()["production_glibc"].split(".")
    return int(major), int(minor)


def glibc_of(tag: str) -> tuple[int, int]:
    match = re.match(r"manylinux_(\d+)_(\d+)_x86_64$", tag)
    assert match, f"{tag!r} is not a manylinux_X_Y_x86_64 tag"
    return int(match.group(1)), int(match.group(2))


@pytest.mark.parametrize("distribution", ["dynamo_imagekit", "dynamo_hostxfer"])
def test_tag_is_manylinux_and_not_newer_than_production(distribution: str) -> None:
    wheel = built_wheel(distribution)
    claimed = wheel.name[: -len(".whl")].split("-")[-1]
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    needed = re.search(r'platform tag:\s+"([^"]+)"', " ".join(shown.split()))
    assert needed, shown
    assert glibc_of(needed.group(1)) <= glibc_of(claimed), (claimed, shown)
    assert glibc_of(claimed) <= production_glibc(), (
        f"{wheel.name} needs glibc {claimed}, newer than the production base's "
        f"{production_glibc()}"
    )
