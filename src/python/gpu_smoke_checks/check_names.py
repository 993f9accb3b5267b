"""The checks `run --checks` accepts, in the order they run.

plugins/gpu_smoke validates BUILD files against the same names (its tests compare the two).
"""

CHECK_NAMES = ("nvidia-smi", "cuda-matmul", "nixl-transfer", "framework", "serve")
