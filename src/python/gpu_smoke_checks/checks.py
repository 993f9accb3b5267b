"""The checks. Each takes a Context and returns details, or raises CheckFailed.

Heavy modules (torch, nixl, the framework) are imported inside the checks and passed to the
functions that do the work, so everything but the GPU calls runs in unit tests on a CPU.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gpu_smoke_checks.context import CheckFailed, Context, import_or_fail
from gpu_smoke_checks.contract import CHECK_NAMES, FRAMEWORK_MODULES
from gpu_smoke_checks.results import FAILED, PASSED, CheckResult
from gpu_smoke_checks.serve import serve_one_request

# --- nvidia-smi -------------------------------------------------------------------------

NVIDIA_SMI_QUERY = ["--query-gpu=index,name,memory.total", "--format=csv,noheader"]


@dataclass(frozen=True)
class SmiGpu:
    index: int
    name: str
    memory_total_mib: int


def parse_nvidia_smi_csv(text: str) -> list[SmiGpu]:
    """Parses `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader`."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # The name may itself hold commas; index is first and memory last.
        match = re.fullmatch(r"\s*(\d+)\s*,(.*),\s*(\d+)\s*MiB\s*", line)
        if not match:
            raise CheckFailed(f"unexpected nvidia-smi line: {line!r}")
        index, name, memory = match.groups()
        gpus.append(SmiGpu(int(index), name.strip(), int(memory)))
    return gpus


def expect_at_least(what: str, seen: int, expected: int) -> None:
    if seen < expected:
        raise CheckFailed(f"{what} sees {seen} GPU(s); expected at least {expected}")


def check_nvidia_smi(
    ctx: Context, run: Callable[[Sequence[str]], subprocess.CompletedProcess] | None = None
) -> dict[str, Any]:
    run = run or (lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=120))
    try:
        done = run(["nvidia-smi", *NVIDIA_SMI_QUERY])
    except FileNotFoundError as e:
        raise CheckFailed("nvidia-smi is not on PATH") from e
    if done.returncode != 0:
        raise CheckFailed(f"nvidia-smi exited {done.returncode}: {done.stderr.strip()}")
    gpus = parse_nvidia_smi_csv(done.stdout)
    details = {"gpus": [g.__dict__ for g in gpus]}
    expect_at_least("nvidia-smi", len(gpus), ctx.expect_gpus)
    return details


# --- cuda-matmul ------------------------------------------------------------------------


def matmul_against_cpu(torch: Any, device: str = "cuda", size: int = 512) -> dict[str, Any]:
    """A seeded matmul on `device` compared with the same product on the CPU."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    expected = a @ b
    started = time.perf_counter()
    on_device = (a.to(device) @ b.to(device)).to("cpu")
    elapsed = time.perf_counter() - started
    max_abs_diff = float((on_device - expected).abs().max())
    # fp32 with TF32 off (PyTorch's default for matmul); sums of 512 products.
    tolerance = 1e-3 * size**0.5
    details = {"size": size, "max_abs_diff": max_abs_diff, "tolerance": tolerance, "s": elapsed}
    if not max_abs_diff <= tolerance:
        raise CheckFailed(
            f"{device} matmul differs from the CPU's by {max_abs_diff} (> {tolerance})", details
        )
    return details


def torch_cuda_details(torch: Any, expect_gpus: int) -> dict[str, Any]:
    if not torch.cuda.is_available():
        raise CheckFailed(
            "torch.cuda.is_available() is False on a machine with a GPU "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})"
        )
    count = torch.cuda.device_count()
    expect_at_least("torch.cuda", count, expect_gpus)
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device_count": count,
        "device_name": torch.cuda.get_device_name(0),
    }


def check_cuda_matmul(ctx: Context) -> dict[str, Any]:
    torch = import_or_fail("torch")
    details = torch_cuda_details(torch, ctx.expect_gpus)
    return {**details, **matmul_against_cpu(torch, "cuda")}


# --- nixl-transfer ----------------------------------------------------------------------

TARGET_AGENT = "gpu-smoke-target"
INITIATOR_AGENT = "gpu-smoke-initiator"
NOTIFICATION = b"gpu-smoke-transfer"


def nixl_transfer(
    torch: Any,
    nixl_api: Any,
    device: str = "cuda",
    nbytes: int = 1 << 20,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Two agents in one process: the initiator READs the target's buffer through NIXL.

    The agents meet through metadata exchange (no listener thread, no network discovery),
    as two workers would after exchanging metadata out of band.
    """
    source = torch.randint(0, 256, (nbytes,), dtype=torch.uint8, device=device)
    destination = torch.zeros(nbytes, dtype=torch.uint8, device=device)
    config = nixl_api.nixl_agent_config(backends=["UCX"])
    target = nixl_api.nixl_agent(TARGET_AGENT, config)
    initiator = nixl_api.nixl_agent(INITIATOR_AGENT, config)
    target_registration = target.register_memory(source)
    initiator_registration = initiator.register_memory(destination)
    remote = initiator.add_remote_agent(target.get_agent_metadata())
    handle = initiator.initialize_xfer(
        "READ",
        initiator.get_xfer_descs(destination),
        target.get_xfer_descs(source),
        remote,
        NOTIFICATION,
    )
    try:
        started = time.perf_counter()
        state = initiator.transfer(handle)
        deadline = started + timeout_s
        while state == "PROC" and time.perf_counter() < deadline:
            sleep(0.001)
            state = initiator.check_xfer_state(handle)
        elapsed = time.perf_counter() - started
        details = {"bytes": nbytes, "device": device, "state": state, "s": elapsed}
        if state != "DONE":
            raise CheckFailed(f"NIXL READ of {nbytes} bytes ended in state {state!r}", details)
        # The target learns of the transfer through its notification: both agents took part.
        notified = False
        while not notified and time.perf_counter() < deadline:
            notified = target.check_remote_xfer_done(INITIATOR_AGENT, NOTIFICATION)
            if not notified:
                sleep(0.001)
        if not notified:
            raise CheckFailed("the target agent never received the transfer's notification")
        if not bool(torch.equal(source, destination)):
            mismatched = int((source != destination).sum())
            raise CheckFailed(f"{mismatched} of {nbytes} bytes differ after the transfer", details)
        return details
    finally:
        initiator.release_xfer_handle(handle)
        initiator.remove_remote_agent(remote)
        initiator.deregister_memory(initiator_registration)
        target.deregister_memory(target_registration)


def check_nixl_transfer(ctx: Context) -> dict[str, Any]:
    torch = import_or_fail("torch")
    torch_cuda_details(torch, ctx.expect_gpus)
    import_or_fail("nixl")  # installs nixl._api for the wheel's CUDA flavour
    return nixl_transfer(torch, import_or_fail("nixl._api"))


# --- framework --------------------------------------------------------------------------


def check_framework(ctx: Context) -> dict[str, Any]:
    framework = ctx.resolved_framework()
    module = import_or_fail(FRAMEWORK_MODULES[framework])
    details = {
        "framework": framework,
        "version": getattr(module, "__version__", "unknown"),
        **torch_cuda_details(import_or_fail("torch"), ctx.expect_gpus),
    }
    if framework == "vllm":
        platform = import_or_fail("vllm.platforms").current_platform
        details["vllm_platform"] = type(platform).__name__
        if not platform.is_cuda():
            raise CheckFailed(f"vllm chose platform {type(platform).__name__}, not CUDA", details)
    return details


CHECKS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "nvidia-smi": check_nvidia_smi,
    "cuda-matmul": check_cuda_matmul,
    "nixl-transfer": check_nixl_transfer,
    "framework": check_framework,
    "serve": serve_one_request,
}
assert tuple(CHECKS) == CHECK_NAMES


def run_check(
    name: str,
    ctx: Context,
    checks: dict[str, Callable[[Context], dict[str, Any]]] = CHECKS,
    clock: Callable[[], float] = time.perf_counter,
) -> CheckResult:
    started = clock()
    try:
        details = checks[name](ctx)
    except CheckFailed as e:
        return CheckResult(name, FAILED, e.reason, clock() - started, e.details)
    except Exception as e:  # a crash in a check is that check's failure, not the run's
        return CheckResult(name, FAILED, f"{type(e).__name__}: {e}", clock() - started)
    return CheckResult(name, PASSED, "", clock() - started, details)
