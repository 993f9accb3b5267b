"""sharing: what the backends' runtime images share, on one engine and over the wire.

Reads the runtime images `./pants package` last wrote (dist/containers.<backend>/
runtime.docker-info.json, and containers/base:torch's), pushes them to a registry of its own
(Debian's docker-registry on a free port, under --scratch) and measures:

  engine  the bytes one engine stores for all of them (each layer once; uncompressed, the
          layer sizes `docker history` reports, matched to layers by the image config read
          back from the registry) against the sum of their sizes (`docker image inspect`);
  pull    a second `dockerd` with empty storage pulls the first backend's image, then each
          of the others: what each pull downloaded (the registry's access log) against that
          image's compressed size;
  dists   which distributions every runtime takes from containers/base:torch's shared venv,
          and each backend's largest of its own.

Prints the figures and writes them to --out (sharing.json, and sharing.png: each runtime's
shared and own layers). Issue 15 (part 4) asks for engine
at most 65% for dynamo + vllm + sglang, and vllm pulled after dynamo at most 50%.

    ./pants package containers/base:torch containers/{vllm,sglang}:runtime
    ./pants package containers/dynamo:runtime#amd64
    ./pants run benchmarks:sharing -- [--backends dynamo vllm sglang] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from dynamo_workspaces.engines import SecondEngine
from dynamo_workspaces.registry import (
    RegistryLog,
    image_config,
    image_layers,
    local_registry,
)

from dynamo_benchmarks import layers
from dynamo_benchmarks.builds import DOCKER, image_address, info_name, log

REPOSITORY = "dynamo/sharing"
TOP_OWN = 8  # each backend's largest own distributions listed


def built_image(repo: Path, address: str) -> str:
    """The image ID `./pants package <address>` last wrote to dist/."""
    info = repo / "dist" / f"{info_name(address)}.docker-info.json"
    if not info.is_file():
        sys.exit(f"sharing: no {info}: run ./pants package {address} first")
    return json.loads(info.read_text())["image_id"]


def layer_sizes(config: dict, history: list[layers.Layer]) -> dict[str, int]:
    """{diff ID: uncompressed bytes}: `docker history`'s entries (oldest first) are the
    config's history entries, and those that are not `empty_layer` are its layers, in order."""
    entries = config["history"]
    if len(entries) != len(history):
        raise ValueError(f"the config has {len(entries)} history entries, docker {len(history)}")
    sizes = [h.size for e, h in zip(entries, history) if not e.get("empty_layer")]
    diff_ids = config["rootfs"]["diff_ids"]
    if len(sizes) != len(diff_ids):
        raise ValueError(f"{len(sizes)} non-empty history entries for {len(diff_ids)} layers")
    return dict(zip(diff_ids, sizes))


def engine_figures(per_image: dict[str, dict[str, int]], sizes: dict[str, int]) -> dict:
    """One engine's bytes for all the images (each layer once) against the sum of their sizes,
    and each image's split: layers another image has too (`shared`) and its `own`."""
    unique: dict[str, int] = {}
    for image_layers_ in per_image.values():
        unique.update(image_layers_)
    holders = {
        layer: sum(layer in image_layers_ for image_layers_ in per_image.values())
        for layer in unique
    }
    split = {
        image: {
            "shared": sum(size for layer, size in layers_.items() if holders[layer] > 1),
            "own": sum(size for layer, size in layers_.items() if holders[layer] == 1),
        }
        for image, layers_ in per_image.items()
    }
    total = sum(sizes.values())
    return {
        "sizes": sizes,
        "split": split,
        "sum_of_sizes": total,
        "unique": sum(unique.values()),
        "ratio": sum(unique.values()) / total,
    }


def plot(engine: dict, path: Path) -> None:
    """Each runtime's layers, shared with another runtime or its own, and what one engine
    stores for all of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{image}:runtime", split) for image, split in engine["split"].items()]
    shared_once = engine["unique"] - sum(split["own"] for _, split in rows)
    rows.append(("one engine, all of them", {"shared": shared_once,
                                             "own": engine["unique"] - shared_once}))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * len(rows)))
    for i, (_, split) in enumerate(rows):
        ax.barh(i, split["shared"] / 1e9, color="tab:blue",
                label="layers shared with another runtime (base, base:torch)" if i == 0 else None)
        ax.barh(i, split["own"] / 1e9, left=split["shared"] / 1e9, color="tab:orange",
                label="its own layers" if i == 0 else None)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("GB (uncompressed)")
    ax.set_title(f"One engine stores {engine['ratio']:.0%} of the runtimes' summed sizes")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def own_distributions(docker: str, image: str, top: int) -> list[tuple[str, int]]:
    """The largest distributions in the image's own venv (not the shared one)."""
    sizes = layers.measure_distributions(docker, image, (layers.VENV,))
    return sorted(sizes.items(), key=lambda item: -item[1])[:top]


def pulls(engine: SecondEngine, served: RegistryLog, refs: dict[str, str],
          compressed: dict[str, int]) -> dict[str, dict]:
    """Pulls each image in turn into `engine` (which keeps what it pulled before)."""
    result = {}
    for backend, ref in refs.items():
        served.mark()
        engine.docker("pull", ref)
        got = served.served()
        result[backend] = {
            "downloaded": got,
            "compressed_size": compressed[backend],
            "ratio": got / compressed[backend],
        }
        log(f"  pulled {backend}: {got / 1e9:.2f} of {compressed[backend] / 1e9:.2f} GB")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["dynamo", "vllm", "sglang"])
    parser.add_argument("--out", type=Path, default=Path("dist/sharing"))
    parser.add_argument("--scratch", type=Path, default=None,
                        help="where the registry and the second engine store (default: a "
                        "temporary folder)")
    args = parser.parse_args(argv)
    repo = Path.cwd()
    images = {b: built_image(repo, image_address(repo, b, "runtime")) for b in args.backends}
    torch = built_image(repo, "containers/base:torch")
    scratch = Path(tempfile.mkdtemp(prefix="dyn-share-", dir=args.scratch))
    run = uuid.uuid4().hex[:8]
    tags = {b: f"{b}-{run}" for b in images}
    with local_registry(scratch / "registry") as (registry, access_log):
        refs = {b: f"{registry}/{REPOSITORY}:{tags[b]}" for b in images}
        try:
            for backend, image in images.items():
                log(f"sharing: pushing {backend}:runtime to {registry}")
                subprocess.run([DOCKER, "tag", image, refs[backend]], check=True)
                subprocess.run([DOCKER, "push", refs[backend]], check=True,
                               capture_output=True)
        finally:
            subprocess.run([DOCKER, "rmi", *refs.values()], capture_output=True)
        per_image = {
            b: layer_sizes(image_config(registry, tags[b], REPOSITORY),
                           layers.history(DOCKER, images[b]))
            for b in images
        }
        sizes = {b: layers.image_size(DOCKER, images[b]) for b in images}
        compressed = {b: sum(image_layers(registry, tags[b], REPOSITORY).values())
                      for b in images}
        # A short root: a unix socket's path has at most 107 characters.
        engine = SecondEngine(Path(tempfile.mkdtemp(prefix="dyn-share-engine-")))
        try:
            engine.start()
            log("sharing: a new machine pulls them in turn")
            pulled = pulls(engine, RegistryLog(access_log), refs, compressed)
        finally:
            engine.stop()
    results = {
        "engine": engine_figures(per_image, sizes),
        "pull": pulled,
        "shared": sorted(layers.measure_distributions(DOCKER, torch, (layers.SHARED_VENV,)).items(),
                         key=lambda item: -item[1]),
        "own": {b: own_distributions(DOCKER, images[b], TOP_OWN) for b in images},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sharing.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results["engine"], args.out / "sharing.png")
    shutil.rmtree(scratch, ignore_errors=True)
    stored = results["engine"]
    print(f"engine: {stored['unique'] / 1e9:.2f} GB stored for {stored['sum_of_sizes'] / 1e9:.2f}"
          f" GB of images ({stored['ratio']:.0%}; "
          + ", ".join(f"{b} {s / 1e9:.2f} GB" for b, s in stored["sizes"].items()) + ")")
    for backend, pull in pulled.items():
        print(f"pull {backend}: {pull['downloaded'] / 1e9:.2f} of "
              f"{pull['compressed_size'] / 1e9:.2f} GB ({pull['ratio']:.0%})")
    print(f"written: {args.out / 'sharing.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
