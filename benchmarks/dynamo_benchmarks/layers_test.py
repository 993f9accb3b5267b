from __future__ import annotations

import pytest

from dynamo_benchmarks.layers import CATEGORIES, Layer, attribute, category_of


@pytest.mark.parametrize(
    "distribution, category",
    [
        ("torch", "torch + CUDA"),
        ("nvidia-cublas-cu12", "torch + CUDA"),
        ("nvidia_nccl_cu13", "torch + CUDA"),
        ("triton", "torch + CUDA"),
        ("ai-dynamo", "Dynamo and NIXL"),
        ("ai-dynamo-runtime", "Dynamo and NIXL"),
        ("nixl-cu13", "Dynamo and NIXL"),
        ("vllm", "framework"),
        ("sglang", "framework"),
        ("dynamo-imagekit", "first-party"),
        ("dynamo_hostxfer", "first-party"),
        ("numpy", "other Python"),
        ("pytest", "other Python"),
    ],
)
def test_distributions_go_to_their_origin(distribution: str, category: str) -> None:
    assert category_of(distribution) == category


def test_an_image_is_split_into_its_base_apt_layers_and_distributions() -> None:
    layers = [
        Layer("ADD rootfs.tar /", 100),
        Layer("RUN useradd dynamo", 5),
        Layer("RUN apt-get update && apt-get install -y libnuma1", 20),
        Layer("RUN pex venv /opt/dynamo/venv", 1000),
        Layer("ENV DYNAMO_STAGE=runtime", 0),
    ]
    distributions = {"torch": 600, "ai-dynamo": 200, "numpy": 50, "dynamo-imagekit": 10}
    result = attribute(1130, layers, base_layers=2, distributions=distributions)
    assert list(result) == list(CATEGORIES)
    assert result["base"] == 105
    assert result["system packages"] == 20
    assert result["torch + CUDA"] == 600
    assert result["Dynamo and NIXL"] == 200
    assert result["other Python"] == 50
    assert result["first-party"] == 10
    assert result["framework"] == 0
    # What no category explains (byte-code, venv scaffolding): the rest of the image.
    assert result["other"] == 1130 - 985
    assert sum(result.values()) == 1130
