"""What other plugins may use of `dynamo_wheels`: the rest of the package is its own.

`dynamo_images` checks that every input of a per-platform image has a build for its arch
(multiarch.py); for a `native_wheel` that is the wheel's platform tag. It asks here, so a
change inside this plugin (a field renamed, the default moved) stays inside it.
"""

from __future__ import annotations

from pants.engine.target import Target

from dynamo_wheels.subsystem import NativeWheels
from dynamo_wheels.target_types import (
    NativeWheelPlatformTagField,
    NativeWheelTarget,
    platform_tag_error,
)

__all__ = ["NativeWheels", "NativeWheelTarget", "native_wheel_platform_tag", "platform_tag_error"]


def native_wheel_platform_tag(target: Target, native_wheels: NativeWheels) -> str | None:
    """The platform tag of the wheel `target` builds (its own, else `[native-wheels]`'s);
    None when `target` is not a `native_wheel`."""
    if not target.has_field(NativeWheelPlatformTagField):
        return None
    return target[NativeWheelPlatformTagField].value or native_wheels.platform_tag
