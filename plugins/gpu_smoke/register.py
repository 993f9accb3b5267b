"""Pants plugin for GPU smoke tests.

Adds the `gpu_smoke_test` target: `./pants test` runs the first-party GPU checks
(src/python/gpu_smoke_checks) inside an image with `docker run --gpus all` (container mode)
or with the host's Python (host mode), and reports them skipped, with the reason, where
there is no GPU.
"""

from gpu_smoke import rules as gpu_rules
from gpu_smoke.target_types import GpuSmokeTestTarget


def target_types():
    return [GpuSmokeTestTarget]


def rules():
    return gpu_rules.rules()
