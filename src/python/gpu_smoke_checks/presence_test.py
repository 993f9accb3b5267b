from gpu_smoke_checks.presence import (
    NO_GPU,
    NO_TOOLKIT,
    Host,
    detect,
    detect_container_toolkit,
    detect_gpu,
)


def host(on_path=(), nodes=(), smi=(0, "")):
    calls = []

    def run(argv):
        calls.append(list(argv))
        return smi

    fake = Host(
        which=lambda name: f"/usr/bin/{name}" if name in on_path else None,
        device_nodes=lambda: list(nodes),
        run=run,
    )
    return fake, calls


def test_nothing_on_the_host_is_no_gpu_and_says_what_is_missing():
    fake, calls = host()
    presence = detect_gpu(fake)
    assert not presence.available
    assert presence.reason == (
        "no GPU (no /dev/nvidia[0-9]* device node and no nvidia-smi on PATH)"
    )
    assert calls == []


def test_a_device_node_is_a_gpu_without_asking_nvidia_smi():
    # /dev/nvidiactl and /dev/nvidia-uvm exist on driver-only hosts too: not GPUs.
    fake, calls = host(nodes=["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"])
    presence = detect_gpu(fake)
    assert presence.available and presence.detail == "device nodes /dev/nvidia0"
    assert calls == []
    fake, _ = host(nodes=["/dev/nvidiactl", "/dev/nvidia-uvm"])
    assert not detect_gpu(fake).available


def test_nvidia_smi_listing_a_gpu_counts_and_its_error_is_the_reason_otherwise():
    fake, calls = host(on_path=["nvidia-smi"], smi=(0, "GPU 0: NVIDIA H100 (UUID: GPU-1)"))
    assert detect_gpu(fake).available
    assert calls == [["/usr/bin/nvidia-smi", "-L"]]
    failing = (9, "NVIDIA-SMI has failed because it couldn't communicate with the driver.\nx")
    fake, _ = host(on_path=["nvidia-smi"], smi=failing)
    presence = detect_gpu(fake)
    assert not presence.available and presence.summary == NO_GPU
    assert presence.detail.endswith("lists none: NVIDIA-SMI has failed because it couldn't "
                                    "communicate with the driver.")  # fmt: skip


def test_container_mode_also_needs_the_toolkit():
    fake, _ = host(nodes=["/dev/nvidia0"])
    assert detect(container_toolkit=False, host=fake).available
    presence = detect(container_toolkit=True, host=fake)
    assert not presence.available and presence.summary == NO_TOOLKIT
    assert "nvidia-container-runtime-hook" in presence.detail
    fake, _ = host(on_path=["nvidia-ctk"], nodes=["/dev/nvidia0"])
    assert detect_container_toolkit(fake).detail == "nvidia-ctk on PATH"
    assert detect(container_toolkit=True, host=fake).available


def test_no_gpu_wins_over_a_missing_toolkit():
    fake, _ = host()
    assert detect(container_toolkit=True, host=fake).summary == NO_GPU
