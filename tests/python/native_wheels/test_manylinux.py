"""The wheels' platform tags, checked with auditwheel against the production base's glibc."""

from __future__ import annotations

import pytest
from native_wheels.helpers import auditwheel_tag, built_wheel, glibc_of, production_glibc


@pytest.mark.parametrize("distribution", ["dynamo_imagekit", "dynamo_hostxfer"])
def test_tag_is_manylinux_and_not_newer_than_production(distribution: str) -> None:
    wheel = built_wheel(distribution)
    claimed = wheel.name[: -len(".whl")].split("-")[-1]
    needed = auditwheel_tag(wheel)
    assert glibc_of(needed) <= glibc_of(claimed), (claimed, needed)
    assert glibc_of(claimed) <= production_glibc(), (
        f"{wheel.name} needs glibc {claimed}, newer than the production base's "
        f"{production_glibc()}"
    )
