from __future__ import annotations

from dynamo_workspaces.registry import family_layers


def test_a_family_counts_each_shared_layer_once() -> None:
    family = family_layers(
        {
            "dynamo:runtime": {"base": 100, "stack": 1000, "wheels": 10},
            "dynamo:dev": {"base": 100, "stack": 1000, "wheels": 10, "tools": 50},
        }
    )
    assert family["images"] == {"dynamo:runtime": 1110, "dynamo:dev": 1160}
    assert family["sum_of_images"] == 2270
    assert family["unique"] == 1160
