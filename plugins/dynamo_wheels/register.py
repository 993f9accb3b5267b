"""Pants plugin for first-party native wheels.

Adds the `native_wheel` target: a wheel built from a source tree (Rust through maturin, C++
through meson-python, or any PEP 517 backend) with build tools from a hash-locked resolve,
checked with auditwheel, and packaged into the build context of the images that depend on it.
"""

from dynamo_wheels import rules as wheel_rules
from dynamo_wheels.target_types import NativeWheelTarget


def target_types():
    return [NativeWheelTarget]


def rules():
    return wheel_rules.rules()
