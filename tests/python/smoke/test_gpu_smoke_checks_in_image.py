"""The GPU checks in containers/dynamo:runtime#amd64 on a CPU: everything that runs without a GPU.

`gpu_smoke_test` (tests/gpu_smoke) mounts the checks PEX into an image onto PYTHONPATH and runs
it with `docker run --gpus all` on GPU hosts. Here the same mount must work with the image's own
Python, detect that there is no GPU and report every check skipped; and the NIXL transfer
must work with the image's real nixl and torch with host memory in place of GPU memory (UCX
moves DRAM the same way through the same calls).
"""

import json
from pathlib import Path

from gpu_smoke_checks.contract import CONTAINER_CHECKS, EXIT_NO_GPU, PACKAGE
from smoke.docker_helpers import built_image, docker

IMAGE = "containers/dynamo:runtime#amd64"
# A runtime_package_dependency of this test (tests/python/smoke/BUILD).
CHECKS_PEX = Path("src.python.gpu_smoke_checks/gpu-smoke-checks.pex")


def run_with_checks(*command: str, network: str = "none"):
    image = built_image(IMAGE)
    # Pants records "<unknown>" as the ID of a fully cached BuildKit build: then the tag.
    reference = image.image_id if image.image_id.startswith("sha256:") else image.tags[0]
    mount = ["-v", f"{CHECKS_PEX.resolve()}:{CONTAINER_CHECKS}:ro"]
    mount += ["-e", f"PYTHONPATH={CONTAINER_CHECKS}"]
    result = docker(
        "run", "--rm", "--network", network, *mount, reference, *command, check=False
    )  # fmt: skip
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def test_without_a_gpu_every_check_is_skipped_with_the_reason():
    code, out, err = run_with_checks("python", "-m", PACKAGE, "run")
    assert code == EXIT_NO_GPU, err
    lines = out.splitlines()
    assert lines[-1] == "0 passed, 0 failed, 5 skipped"
    assert all(line.startswith("SKIPPED") and "no GPU (" in line for line in lines[:-1]), out


NIXL_ON_DRAM = """
import json, torch, nixl._api as nixl_api
from gpu_smoke_checks.checks import nixl_transfer
print(json.dumps(nixl_transfer(torch, nixl_api, device="cpu", nbytes=1 << 20)))
"""


def test_the_nixl_transfer_check_moves_and_verifies_bytes_with_the_images_nixl():
    """The check's real path with the image's nixl and UCX: two agents, a READ, the target's
    notification and a byte-for-byte comparison (it raises on any difference). The matmul
    check needs two devices to compare: on a CPU it could only compare the CPU with itself,
    so its pass/fail logic is tested with a fake torch (checks_test.py) and on GPU hosts."""
    code, out, err = run_with_checks("python", "-c", NIXL_ON_DRAM)
    assert code == 0, err
    details = json.loads(out.splitlines()[-1])
    assert details["state"] == "DONE" and details["bytes"] == 1 << 20, details


SERVE_WITH_THE_MOCKER = """
import sys
from gpu_smoke_checks import serve
from gpu_smoke_checks.context import Context
mocker = [sys.executable, "-m", "dynamo.mocker", "--model-path", serve.MODEL,
          "--model-name", serve.MODEL, *serve.DISCOVERY_FLAGS]
details = serve.serve_with(Context(workdir="/tmp/serve", serve_timeout_s=240), mocker, False)
print("completion_tokens", details["completion_tokens"])
"""


def test_the_serve_check_drives_the_real_frontend_with_the_mocker_engine():
    """The serve check's model, processes, readiness wait, request and shutdown, for real;
    on a GPU the engine is the framework's instead of the mocker."""
    code, out, err = run_with_checks("python", "-c", SERVE_WITH_THE_MOCKER, network="host")
    assert code == 0, err[-4000:]
    tokens = int(out.splitlines()[-1].split()[-1])
    assert tokens >= 1, out
