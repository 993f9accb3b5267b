"""Two-process host transfer: a target agent in a child process, an initiator here."""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass

from dynamo_hostxfer._native import Agent  # pants: no-infer-dep

LATENCY_BYTES = 4096


@dataclass(frozen=True)
class BenchResult:
    size_bytes: int
    iterations: int
    write_gbps: float
    read_gbps: float
    latency_p50_us: float
    latency_p99_us: float
    verified: bool

    def as_dict(self) -> dict:
        return asdict(self)


def region_name(role: str) -> str:
    return f"/dynamo-hostxfer-{role}-{os.getpid()}-{secrets.token_hex(4)}"


def serve_target(size: int) -> None:
    """The target side: registers a region, prints its metadata, answers checksum requests."""
    agent = Agent("target")
    region = agent.register_region(region_name("target"), size)
    region.fill(2)
    print(Agent.metadata(region), flush=True)
    for line in sys.stdin:
        if line.strip() == "checksum":
            print(region.checksum(), flush=True)
        elif line.strip() == "exit":
            break
    del region  # unlinks the shared-memory object


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_bench(size: int = 16 << 20, iterations: int = 20) -> BenchResult:
    """Moves `size` bytes `iterations` times each way and checks what arrived."""
    target = subprocess.Popen(
        [sys.executable, "-m", "dynamo_hostxfer", "target", "--size", str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        metadata = target.stdout.readline().strip()
        if not metadata:
            raise RuntimeError(f"the target process exited ({target.wait()}) before registering")

        def remote_checksum() -> int:
            target.stdin.write("checksum\n")
            target.stdin.flush()
            return int(target.stdout.readline())

        agent = Agent("initiator")
        local = agent.register_region(region_name("initiator"), size)
        remote = agent.load_remote(metadata)

        agent.transfer("READ", local, remote, size)
        verified = local.checksum() == remote_checksum()
        local.fill(1)
        agent.transfer("WRITE", local, remote, size)
        verified = verified and local.checksum() == remote_checksum()

        write = agent.transfer("WRITE", local, remote, size, iterations)
        read = agent.transfer("READ", local, remote, size, iterations)
        small = agent.transfer("WRITE", local, remote, min(LATENCY_BYTES, size), 1000)
        target.stdin.write("exit\n")
        target.stdin.flush()
    finally:
        if target.wait(timeout=30) != 0:
            raise RuntimeError(f"the target process failed with exit code {target.returncode}")

    gbps = lambda s: s.bytes_per_op * s.iterations / s.total_seconds / 1e9  # noqa: E731
    return BenchResult(
        size_bytes=size,
        iterations=iterations,
        write_gbps=round(gbps(write), 3),
        read_gbps=round(gbps(read), 3),
        latency_p50_us=round(statistics.median(small.op_seconds) * 1e6, 3),
        latency_p99_us=round(_percentile(small.op_seconds, 0.99) * 1e6, 3),
        verified=verified,
    )
