"""GPU smoke checks of a Dynamo image or host: `python -m gpu_smoke_checks run --checks ...`.

Standard library only at import time: the checks import torch, nixl and the framework lazily,
from whatever environment runs them (an image's venv, a GPU host's Python), so the package
runs unchanged from a PEX put on PYTHONPATH (docs/plugins.md: gpu_smoke_test).
"""
