"""The dev stage: built on runtime, adds developer tools that see the runtime's packages."""

import json

from smoke.docker_helpers import built_image

IMAGE = "containers/dynamo:dev"


def test_dev_tools_see_the_runtime_stack():
    out = built_image(IMAGE).run(
        "sh",
        "-c",
        "pytest --version && python -c 'import dynamo.frontend, IPython; print(\"ok\")' && id -un",
    )
    lines = out.split()
    assert "ok" in lines and lines[-1] == "dynamo", out


def test_dev_is_built_on_runtime():
    runtime = built_image("containers/dynamo:runtime").inspect()["RootFS"]["Layers"]
    dev = built_image(IMAGE).inspect()["RootFS"]["Layers"]
    assert dev[: len(runtime)] == runtime, "dev must start with every layer of runtime"
    assert len(dev) > len(runtime)


def test_hostxfer_bench_moves_and_verifies_bytes_between_two_processes():
    out = built_image(IMAGE).run(
        "python", "-m", "dynamo_hostxfer", "bench", "--size", str(1 << 20), "--iterations", "3",
        "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert result["verified"] is True and result["write_gbps"] > 0, result
