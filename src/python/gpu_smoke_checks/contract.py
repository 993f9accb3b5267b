"""What the checks and the Pants plugin that runs them (plugins/gpu_smoke) agree on: its one owner.

The plugin validates `gpu_smoke_test` fields against these names, runs `python -m PACKAGE`
with the checks PEX mounted at CONTAINER_CHECKS, and reads the exit codes. It loads this
file by path, inside Pants' own Python 3.9 (plugins/gpu_smoke/contract.py), so it holds
literals only: no imports, nothing newer than Python 3.9.
"""

# The package `python -m` runs (the top-level package of the checks PEX).
PACKAGE = "gpu_smoke_checks"

# The checks `run --checks` (and a target's `checks` field) accepts, in the order they run.
CHECK_NAMES = ("nvidia-smi", "cuda-matmul", "nixl-transfer", "framework", "serve")

# Framework name (as in the images' DYNAMO_BACKEND and a target's `framework` field) -> the
# module the framework check imports.
FRAMEWORK_MODULES = {"vllm": "vllm", "sglang": "sglang", "trtllm": "tensorrt_llm"}

# Exit codes of `run` and `preflight`.
EXIT_PASSED = 0  # nothing failed and something passed (or, for preflight, the GPU is usable)
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_NO_GPU = 3  # every check skipped: nothing to run them on (the plugin reports "skipped")

# Where container mode mounts the checks PEX (and puts it on PYTHONPATH) in an image.
CONTAINER_CHECKS = "/opt/gpu-smoke-checks/checks.pex"
