from __future__ import annotations

from pathlib import Path

from dynamo_workspaces.registry import RegistryLog, family_layers


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


def test_the_registry_log_counts_what_was_served_since_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    blob = (
        '127.0.0.1 - - [27/Nov/2026:21:38:27 +0000] "GET /v2/x/blobs/sha256:ab HTTP/1.1" 200 {} '
        '"" "docker/20.10"\n'
    )
    log.write_text(blob.format(1000) + 'time="..." level=info msg="response completed"\n')
    served = RegistryLog(log)
    served.mark()
    with log.open("a") as out:
        out.write(blob.format(123556) + blob.replace("GET", "HEAD").format(77) + blob.format(9))
        out.write(blob.replace(" 200 ", " 404 ").format(55))
    assert served.served() == 123556 + 9  # GETs answered, since the mark
