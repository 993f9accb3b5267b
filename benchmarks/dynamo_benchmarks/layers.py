"""Where an image's bytes come from: its layers attributed to their origin.

An image's size is split into:
  base             the layers of the base image it was built on (OS, Python, tini, the user)
  system packages  layers that ran apt-get on top of the base
  torch + CUDA     torch, triton and NVIDIA's CUDA wheels (the bulk of every backend)
  framework        the serving framework itself (vllm, sglang, their own extras)
  Dynamo and NIXL  ai-dynamo, ai-dynamo-runtime, nixl and its CUDA builds
  other Python     every other third-party distribution the venvs hold (dev tools included)
  first-party      the wheels built from src/ (imagekit, hostxfer, ci-tools)
  other            what is left: byte-code caches, venv scaffolding, image metadata

Layers are read with `docker history`; the Python part (venvs are one layer each, so layers
cannot split it) by running the image's own interpreter over its installed distributions and
adding up the files each one's RECORD lists.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass

CATEGORIES = (
    "base",
    "system packages",
    "torch + CUDA",
    "framework",
    "Dynamo and NIXL",
    "other Python",
    "first-party",
    "other",
)

FIRST_PARTY = ("dynamo-imagekit", "dynamo-hostxfer", "dynamo-ci-tools")
FRAMEWORKS = ("vllm", "sglang", "tensorrt-llm", "flashinfer", "xgrammar", "sgl-kernel")
_TORCH_CUDA = re.compile(r"^(torch|torchaudio|torchvision|triton|nvidia-.*|cuda-.*|cupy-.*)$")
_DYNAMO_NIXL = re.compile(r"^(ai-dynamo.*|nixl.*)$")

# Lists the distributions of every venv in the image with the bytes of their files. Runs with
# the image's own python3 (stdlib only); a file two venvs share (a .pth link) counts once.
_MEASURE = r"""
import importlib.metadata as md, json, os, sys
sizes, seen = {}, set()
for venv in sys.argv[1:]:
    if not os.path.isdir(venv):
        continue
    lib = os.path.join(venv, "lib")
    for site in [os.path.join(lib, d, "site-packages") for d in os.listdir(lib)]:
        for dist in md.distributions(path=[site]):
            total = 0
            for f in dist.files or ():
                path = os.path.realpath(os.path.join(site, f))
                if path in seen or not os.path.isfile(path):
                    continue
                seen.add(path)
                total += os.path.getsize(path)
            name = dist.metadata["Name"].lower().replace("_", "-").replace(".", "-")
            sizes[name] = sizes.get(name, 0) + total
print(json.dumps(sizes))
"""

# The images' venvs (containers/images_data.py: VENV, DEV_VENV, SHARED_VENV): each backend's
# own, and containers/base:torch's, which every stack shares.
VENV = "/opt/dynamo/venv"
SHARED_VENV = "/opt/dynamo/shared-venv"
VENVS = (VENV, "/opt/dynamo/dev-venv", SHARED_VENV)


def category_of(distribution: str) -> str:
    name = distribution.lower().replace("_", "-")
    if name in FIRST_PARTY:
        return "first-party"
    if _TORCH_CUDA.match(name):
        return "torch + CUDA"
    if _DYNAMO_NIXL.match(name):
        return "Dynamo and NIXL"
    if name in FRAMEWORKS or name.startswith(("vllm-", "sglang-")):
        return "framework"
    return "other Python"


@dataclass(frozen=True)
class Layer:
    created_by: str
    size: int


def history(docker: str, image: str) -> list[Layer]:
    """The image's layers, oldest first."""
    out = subprocess.run(
        [
            docker,
            "history",
            "--no-trunc",
            "--human=false",
            "--format",
            "{{json .CreatedBy}}\t{{.Size}}",
            image,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    layers = []
    for line in out.splitlines():
        created_by, size = line.rsplit("\t", 1)
        layers.append(Layer(json.loads(created_by), int(size)))
    return layers[::-1]


def attribute(
    image_size: int,
    layers: list[Layer],
    base_layers: int,
    distributions: dict[str, int],
) -> dict[str, int]:
    """Bytes per category (CATEGORIES, all present) of an image whose first `base_layers`
    layers are its base image's."""
    result = dict.fromkeys(CATEGORIES, 0)
    result["base"] = sum(layer.size for layer in layers[:base_layers])
    result["system packages"] = sum(
        layer.size for layer in layers[base_layers:] if "apt-get install" in layer.created_by
    )
    for name, size in distributions.items():
        result[category_of(name)] += size
    result["other"] = max(0, image_size - sum(result.values()))
    return result


def image_size(docker: str, image: str) -> int:
    out = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


def measure_distributions(
    docker: str, image: str, venvs: tuple[str, ...] = VENVS
) -> dict[str, int]:
    out = subprocess.run(
        [
            docker,
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "0:0",
            "--entrypoint",
            "python3",
            image,
            "-I",
            "-c",
            _MEASURE,
            *venvs,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def attribute_image(docker: str, image: str, base_image: str) -> dict[str, int]:
    """Bytes per category of `image`, built on `base_image`."""
    layers = history(docker, image)
    base = len(history(docker, base_image))
    return attribute(image_size(docker, image), layers, base, measure_distributions(docker, image))
