from __future__ import annotations

from pathlib import Path

import pytest

from dynamo_benchmarks.layers import Layer
from dynamo_benchmarks.sharing import engine_figures, layer_sizes, plot


def _config(*entries: tuple[str, bool], diff_ids: list[str]) -> dict:
    return {
        "history": [{"created_by": c, **({"empty_layer": True} if e else {})} for c, e in entries],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }


def test_layer_sizes_skip_the_history_entries_that_made_no_layer() -> None:
    config = _config(
        ("ADD rootfs", False), ("ENV A=1", True), ("RUN true", False), ("RUN pip", False),
        diff_ids=["sha256:a", "sha256:b", "sha256:c"],
    )
    history = [Layer("ADD rootfs", 100), Layer("ENV A=1", 0), Layer("RUN true", 0),
               Layer("RUN pip", 7)]
    assert layer_sizes(config, history) == {"sha256:a": 100, "sha256:b": 0, "sha256:c": 7}


def test_layer_sizes_refuse_a_history_that_does_not_match_the_config() -> None:
    config = _config(("ADD rootfs", False), diff_ids=["sha256:a", "sha256:b"])
    with pytest.raises(ValueError, match="1 non-empty history entries for 2 layers"):
        layer_sizes(config, [Layer("ADD rootfs", 100)])


def test_one_engine_stores_a_shared_layer_once() -> None:
    torch = {"sha256:base": 100, "sha256:torch": 5000}
    figures = engine_figures(
        {"dynamo": {**torch, "sha256:d": 1000}, "vllm": {**torch, "sha256:v": 4000}},
        {"dynamo": 6100, "vllm": 9100},
    )
    assert figures["sum_of_sizes"] == 15200
    assert figures["unique"] == 10100
    assert figures["ratio"] == pytest.approx(10100 / 15200)
    assert figures["split"] == {
        "dynamo": {"shared": 5100, "own": 1000}, "vllm": {"shared": 5100, "own": 4000}
    }


def test_the_plot_is_written(tmp_path: Path) -> None:
    torch = {"sha256:base": 100, "sha256:torch": 5000}
    engine = engine_figures({"dynamo": {**torch, "sha256:d": 1000}, "vllm": torch},
                            {"dynamo": 6100, "vllm": 5100})
    plot(engine, tmp_path / "sharing.png")
    assert (tmp_path / "sharing.png").read_bytes().startswith(b"\x89PNG")
