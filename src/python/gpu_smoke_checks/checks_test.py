import subprocess
from types import SimpleNamespace

import pytest

from gpu_smoke_checks.checks import (
    CHECKS,
    INITIATOR_AGENT,
    NOTIFICATION,
    check_nvidia_smi,
    matmul_against_cpu,
    nixl_transfer,
    parse_nvidia_smi_csv,
    run_check,
    torch_cuda_details,
)
from gpu_smoke_checks.context import CheckFailed, Context
from gpu_smoke_checks.contract import CHECK_NAMES
from gpu_smoke_checks.results import FAILED, PASSED

SMI = "0, NVIDIA H100 80GB HBM3, 81559 MiB\n1, NVIDIA A100-SXM4-80GB, 81920 MiB\n"


def test_checks_run_in_the_declared_order():
    assert tuple(CHECKS) == CHECK_NAMES


def test_nvidia_smi_csv_is_parsed_including_names_with_commas():
    gpus = parse_nvidia_smi_csv(SMI + "2, Odd, Name, 1024 MiB\n\n")
    assert [(g.index, g.name, g.memory_total_mib) for g in gpus] == [
        (0, "NVIDIA H100 80GB HBM3", 81559),
        (1, "NVIDIA A100-SXM4-80GB", 81920),
        (2, "Odd, Name", 1024),
    ]


@pytest.mark.parametrize("line", ["0, GPU, [N/A]", "x, GPU, 10 MiB", "nonsense", "0, 10 MiB"])
def test_unexpected_nvidia_smi_output_fails_naming_the_line(line):
    with pytest.raises(CheckFailed) as error:
        parse_nvidia_smi_csv(line)
    assert str(error.value) == f"unexpected nvidia-smi line: {line!r}"


def smi(stdout="", code=0, stderr=""):
    return lambda argv: subprocess.CompletedProcess(argv, code, stdout, stderr)


def test_nvidia_smi_check_counts_gpus_against_the_expectation():
    assert len(check_nvidia_smi(Context(expect_gpus=2), smi(SMI))["gpus"]) == 2
    with pytest.raises(CheckFailed, match="nvidia-smi sees 2 GPU\\(s\\); expected at least 4"):
        check_nvidia_smi(Context(expect_gpus=4), smi(SMI))
    with pytest.raises(CheckFailed, match="nvidia-smi exited 9: driver gone"):
        check_nvidia_smi(Context(), smi(code=9, stderr="driver gone\n"))


class Scalar:
    """A 1x1 'tensor': enough of torch for the matmul comparison."""

    def __init__(self, value, device="cpu", drift=0.0):
        self.value, self.device, self.drift = value, device, drift

    def to(self, device):
        return Scalar(self.value + (self.drift if device == "cuda" else 0), device, self.drift)

    def __matmul__(self, other):
        return Scalar(self.value * other.value, self.device, self.drift)

    def __sub__(self, other):
        return Scalar(self.value - other.value)

    def abs(self):
        return Scalar(abs(self.value))

    def max(self):
        return self

    def __float__(self):
        return float(self.value)


def fake_matmul_torch(drift):
    class Generator:
        def manual_seed(self, seed):
            return self

    return SimpleNamespace(
        Generator=Generator, randn=lambda *a, generator: Scalar(2.0, drift=drift)
    )


def test_matmul_passes_within_tolerance_and_fails_beyond_it():
    details = matmul_against_cpu(fake_matmul_torch(0.0), size=4)
    assert details["max_abs_diff"] == 0.0 and details["tolerance"] == pytest.approx(2e-3)
    with pytest.raises(CheckFailed, match="cuda matmul differs from the CPU's by 5.0 "):
        matmul_against_cpu(fake_matmul_torch(1.0), size=4)


def fake_cuda_torch(available=True, count=1):
    cuda = SimpleNamespace(
        is_available=lambda: available,
        device_count=lambda: count,
        get_device_name=lambda i: "NVIDIA H100",
    )
    return SimpleNamespace(cuda=cuda, __version__="2.11.0", version=SimpleNamespace(cuda="13.0"))


def test_torch_that_cannot_see_cuda_fails_on_a_gpu_host():
    assert torch_cuda_details(fake_cuda_torch(count=2), 2)["device_count"] == 2
    with pytest.raises(CheckFailed, match=r"is_available\(\) is False .*torch 2.11.0.*CUDA 13.0"):
        torch_cuda_details(fake_cuda_torch(available=False), 1)
    with pytest.raises(CheckFailed, match="torch.cuda sees 1 GPU"):
        torch_cuda_details(fake_cuda_torch(count=1), 2)


# --- NIXL: the transfer logic with the GPU and NIXL calls replaced -------------------------


class Buffer:
    def __init__(self, data, device):
        self.data, self.device = bytearray(data), device

    def __ne__(self, other):
        return Buffer(bytes(a != b for a, b in zip(self.data, other.data)), self.device)

    def sum(self):
        return sum(self.data)


fake_torch = SimpleNamespace(
    uint8="uint8",
    randint=lambda lo, hi, shape, dtype, device: Buffer(bytes(range(shape[0])), device),
    zeros=lambda n, dtype, device: Buffer(bytes(n), device),
    equal=lambda a, b: a.data == b.data,
)


class FakeNixl:
    """Two agents that meet by metadata; READ copies the remote buffer (or corrupts it)."""

    def __init__(self, states=("PROC", "DONE"), corrupt=False, notify=True):
        self.states, self.corrupt, self.notify = list(states), corrupt, notify
        self.agents, self.calls = {}, []
        fake = self

        class Agent:
            def __init__(self, name, config):
                assert config.backends == ["UCX"]
                self.name, self.notifications = name, []
                fake.agents[name] = self

            def register_memory(self, tensor):
                fake.calls.append(("register", self.name, tensor.device))
                return ("reg", tensor)

            def deregister_memory(self, registration):
                fake.calls.append(("deregister", self.name))

            def get_agent_metadata(self):
                return self.name.encode()

            def add_remote_agent(self, metadata):
                return metadata.decode()

            def remove_remote_agent(self, name):
                fake.calls.append(("remove_remote", name))

            def get_xfer_descs(self, tensor):
                return tensor

            def initialize_xfer(self, op, local, remote, remote_agent, notif):
                assert (op, notif) == ("READ", NOTIFICATION)
                return SimpleNamespace(local=local, remote=remote, peer=remote_agent, notif=notif)

            def transfer(self, handle):
                handle.local.data[:] = handle.remote.data
                if fake.corrupt:
                    handle.local.data[0] ^= 0xFF
                if fake.notify:
                    fake.agents[handle.peer].notifications.append((self.name, handle.notif))
                return fake.next_state()

            def check_xfer_state(self, handle):
                return fake.next_state()

            def check_remote_xfer_done(self, peer, tag):
                return (peer, tag) in self.notifications

            def release_xfer_handle(self, handle):
                fake.calls.append(("release", self.name))

        self.nixl_agent = Agent
        self.nixl_agent_config = lambda backends: SimpleNamespace(backends=backends)

    def next_state(self):
        # The last state repeats: ["PROC"] is a transfer that never completes.
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def transfer(fake, **kwargs):
    return nixl_transfer(fake_torch, fake, nbytes=64, sleep=lambda s: None, **kwargs)


def test_nixl_read_between_two_agents_copies_the_buffer_and_cleans_up():
    fake = FakeNixl()
    details = transfer(fake)
    assert details["state"] == "DONE" and details["bytes"] == 64 and details["device"] == "cuda"
    assert ("register", "gpu-smoke-target", "cuda") in fake.calls
    assert ("register", INITIATOR_AGENT, "cuda") in fake.calls
    assert fake.calls[-4:] == [
        ("release", INITIATOR_AGENT),
        ("remove_remote", "gpu-smoke-target"),
        ("deregister", INITIATOR_AGENT),
        ("deregister", "gpu-smoke-target"),
    ]


@pytest.mark.parametrize(
    "fake, message",
    [
        (FakeNixl(states=["ERR"]), "NIXL READ of 64 bytes ended in state 'ERR'"),
        (FakeNixl(corrupt=True), "1 of 64 bytes differ after the transfer"),
        (FakeNixl(notify=False), "never received the transfer's notification"),
    ],
)
def test_nixl_transfer_failures_are_named_and_still_clean_up(fake, message):
    with pytest.raises(CheckFailed, match=message):
        transfer(fake, timeout_s=0.05)
    assert ("release", INITIATOR_AGENT) in fake.calls
    assert ("deregister", "gpu-smoke-target") in fake.calls


def test_a_transfer_that_never_completes_times_out():
    fake = FakeNixl(states=["PROC"])
    with pytest.raises(CheckFailed, match="ended in state 'PROC'"):
        transfer(fake, timeout_s=0.01)


# --- framework selection and running one check ---------------------------------------------


def test_framework_comes_from_the_option_or_the_images_backend():
    assert Context(framework="sglang", environ={"DYNAMO_BACKEND": "vllm"}).resolved_framework() == (
        "sglang"
    )
    assert Context(environ={"DYNAMO_BACKEND": "vllm"}).resolved_framework() == "vllm"
    with pytest.raises(CheckFailed, match="DYNAMO_BACKEND is 'dynamo'; pass --framework"):
        Context(environ={"DYNAMO_BACKEND": "dynamo"}).resolved_framework()


def test_run_check_times_the_check_and_turns_errors_into_failures():
    ticks = iter([10.0, 12.5])
    checks = {"ok": lambda ctx: {"n": ctx.expect_gpus}, "crash": lambda ctx: 1 / 0}
    result = run_check("ok", Context(expect_gpus=3), checks, clock=lambda: next(ticks))
    assert (result.status, result.duration_s, result.details) == (PASSED, 2.5, {"n": 3})
    crashed = run_check("crash", Context(), checks)
    assert crashed.status == FAILED and crashed.reason == "ZeroDivisionError: division by zero"
