"""The sanity report every image prints first: what is installed and what the host provides."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from dynamo_imagekit.native import facts

# Distribution names worth reporting, in display order; absent ones are reported as absent.
PACKAGES = ("ai-dynamo", "ai-dynamo-runtime", "nixl", "torch", "vllm", "sglang", "tensorrt-llm")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def report(root: str | None = None) -> dict:
    host = facts(root)
    return {
        "python": platform.python_version(),
        "image": {
            key.lower(): os.environ.get(key)
            for key in (
                "DYNAMO_BACKEND",
                "DYNAMO_STAGE",
                "DYNAMO_VERSION",
                "NIXL_VERSION",
                "FRAMEWORK_VERSION",
            )
        },
        "packages": {dist: _version(dist) for dist in PACKAGES},
        **host,
    }


def render_table(data: dict) -> str:
    rows = [("python", data["python"]), ("arch", data["arch"])]
    rows += [(f"image.{k}", v) for k, v in data["image"].items()]
    rows += [(f"package.{k}", v) for k, v in data["packages"].items()]
    gpu, cuda = data["gpu"], data["cuda"]
    rows += [
        ("gpu.devices", str(gpu["devices"])),
        ("gpu.driver", gpu["driver"]),
        ("cuda.version", cuda["version"]),
        ("cuda.libcuda", cuda["libcuda"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v if v is not None else '-'}" for k, v in rows)
