"""Host-memory transfers and bandwidth figures between two agents in separate processes.

The C++ core (`_native`) registers shared-memory regions and copies between them; `bench`
drives a two-process transfer and reports bandwidth and latency. It stands beside NIXL's own
agent in the `ci` stage and in benchmarks; its import name does not shadow `nixl`.
"""

from dynamo_hostxfer._native import Agent, Region, TransferStats  # pants: no-infer-dep
from dynamo_hostxfer.bench import BenchResult, run_bench

__all__ = ["Agent", "Region", "TransferStats", "BenchResult", "run_bench"]
