"""A backend's runtime image for a platform other than the host's (arm64), run under qemu.

tests/python/smoke/BUILD makes one target of this file per backend and extra platform
(containers/images_data.py: backends()' `platforms`), tagged with the arch (`arm64`), which
pants.toml leaves out of `::`: ./pants --tag="['arm64']" test tests/python/smoke:dynamo-arm64
ARCH_IMAGE is the image's address, ARCH_PLATFORM its platform and ARCH_FRAMEWORK the
framework's import name (empty for Dynamo alone).

Everything runs emulated (qemu-user-static through binfmt_misc), several times slower than
native: the timeouts below leave room for that on slower hosts (the whole file took 28 s on
this project's 2-core machine: docs/images.md, "arm64 images").
"""

from __future__ import annotations

import json
import os

import openai
import pytest

from smoke.docker_helpers import built_image, docker
from smoke.dynamo_serving import MODEL, dynamo_serving

IMAGE = os.environ["ARCH_IMAGE"]
PLATFORM = os.environ["ARCH_PLATFORM"]
FRAMEWORK = os.environ.get("ARCH_FRAMEWORK", "")
# What `uname -m` prints on each platform (the wheels' name of the arch).
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
# Generous for emulation on slow or busy hosts (seconds here, not minutes).
COMMAND_TIMEOUT = 1200
# The frontend and the mocker: two Python processes importing Dynamo under emulation.
STARTUP_TIMEOUT = 1800
# One chat completion of 4 tokens through the frontend, mocker and the tiny model's tokenizer.
REQUEST_TIMEOUT = 600


@pytest.fixture(scope="module")
def image():
    return built_image(IMAGE)


def test_the_image_is_built_for_its_platform_and_runs_there(image):
    assert image.inspect()["Architecture"] == PLATFORM.split("/")[1]
    assert image.run("uname", "-m", timeout=COMMAND_TIMEOUT).strip() == MACHINE[PLATFORM]


def test_dynamo_nixl_and_the_framework_import_and_report_their_pinned_versions(image):
    env = image.env()
    modules = ["dynamo.frontend", "dynamo.mocker", "nixl", "torch"]
    modules += [FRAMEWORK] if FRAMEWORK else []
    script = (
        "import importlib, importlib.metadata as md, json, sys\n"
        "for m in sys.argv[1:]: importlib.import_module(m)\n"
        "print(json.dumps({d: md.version(d) for d in ('ai-dynamo', 'nixl')}))"
    )
    out = image.run("python", "-c", script, *modules, timeout=COMMAND_TIMEOUT)
    found = json.loads(out.strip().splitlines()[-1])
    assert found == {"ai-dynamo": env["DYNAMO_VERSION"], "nixl": env["NIXL_VERSION"]}, out
    if FRAMEWORK:
        version = image.run(
            "python", "-c", f"import {FRAMEWORK}; print({FRAMEWORK}.__version__)",
            timeout=COMMAND_TIMEOUT,
        )  # fmt: skip
        assert version.strip().splitlines()[-1] == env["FRAMEWORK_VERSION"], version


def test_the_imagekit_report_names_the_arch_and_the_pinned_versions(image):
    env = image.env()
    report = json.loads(
        image.run("python", "-m", "dynamo_imagekit", "report", "--json", timeout=COMMAND_TIMEOUT)
    )
    assert report["packages"]["ai-dynamo"] == env["DYNAMO_VERSION"]
    assert report["packages"]["nixl"] == env["NIXL_VERSION"]
    assert report["python"].startswith("3.11.")


def test_the_imagekit_probe_runs(image):
    """The Rust probe (the aarch64 cross build) runs; with nothing listening it says so."""
    out = docker(
        "run", "--rm", "--network", "none", image.image_id,
        "dynamo-imagekit", "probe", "--timeout", "1",
        check=False, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout.startswith(b"unhealthy: cannot connect"), out


def test_the_frontend_serves_a_chat_completion_with_the_mocker_engine(image):
    with dynamo_serving(image, startup_timeout=STARTUP_TIMEOUT) as serving:
        client = openai.OpenAI(
            base_url=serving.base_url + "/v1", api_key="unused", timeout=REQUEST_TIMEOUT
        )
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        # The live frontend answers the probe as Docker's HEALTHCHECK runs it.
        probe = docker(
            "exec", serving.container, "dynamo-imagekit", "probe", check=False,
            timeout=COMMAND_TIMEOUT,
        )  # fmt: skip
    assert completion.choices[0].message.content.strip(), completion
    assert 1 <= completion.usage.completion_tokens <= 4, completion
    assert probe.returncode == 0 and probe.stdout.startswith(b"healthy: HTTP 200"), probe
