"""Image toolkit for Dynamo images.

The native half is the `dynamo-imagekit` binary (Rust, in this wheel's scripts): the
HEALTHCHECK probe, which must not pay for a Python start-up, and the host facts. This package
wraps it and adds what only Python can see: the installed package versions.
"""

from dynamo_imagekit.native import facts, probe
from dynamo_imagekit.report import render_table, report

__all__ = ["facts", "probe", "report", "render_table"]
