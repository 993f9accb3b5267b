"""Removes this repo's old images from the Docker engine; a dry run unless --apply.

    ./pants run build-support:clean-images -- [--keep N] [--apply] [--target ADDRESS]

Every image the repo builds carries its Pants address in the label `ai.dynamo.build.target`
(containers/images_data.py: BUILT_BY_LABEL); images without it are never looked at. Per target and
architecture it keeps:

- every image that holds a current tag, one that names no commit (`runtime`,
  `runtime-1.4.2`, `local-3.11-amd64`, `stack-1.4.2`): what the latest `package` built or
  reused, so what Pants' reuse records point to;
- the newest N others (`--keep`, default 2), which only hold tags of older commits
  (`runtime-1.4.2-<sha>`) or none;

and removes the rest (each of its tags, or its ID when it has none). An image a container
still uses is reported and left. It talks to the engine through the Docker SDK (the engine's
API, as the `docker` client does, with the same DOCKER_HOST), not by parsing the client's text.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

import docker
from docker.errors import APIError, DockerException

LABEL = "ai.dynamo.build.target"
# A tag that names a commit: `-<40 hex>`, before a multi-arch image's `-<arch>` suffix.
COMMIT_TAG = re.compile(r"-[0-9a-f]{40}(-[a-z0-9]+)?$")


@dataclass(frozen=True)
class Image:
    id: str
    target: str
    arch: str
    created: str  # RFC 3339; sorts as time
    size: int
    tags: tuple[str, ...]

    @property
    def current(self) -> bool:
        return any(not COMMIT_TAG.search(tag.rsplit(":", 1)[1]) for tag in self.tags)


@dataclass(frozen=True)
class Plan:
    keep: tuple[tuple[Image, str], ...]  # (image, why)
    remove: tuple[Image, ...]


def engine() -> docker.DockerClient:
    """The engine DOCKER_HOST names (this machine's by default), or exit naming the fix."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        sys.exit(
            f"clean_images: the Docker engine does not answer ({error}); any ./pants goal that"
            " needs it starts it (build-support/provision-host.sh), or set DOCKER_HOST"
        )
    return client


def labelled_images(client: docker.DockerClient, target: str | None) -> list[Image]:
    selector = LABEL + (f"={target}" if target else "")
    return [
        Image(
            id=image.id,
            target=image.labels[LABEL],
            arch=image.attrs.get("Architecture", ""),
            created=image.attrs["Created"],
            size=int(image.attrs.get("Size", 0)),
            tags=tuple(sorted(image.tags)),
        )
        for image in client.images.list(all=True, filters={"label": selector})
    ]


def remove(client: docker.DockerClient, image: Image) -> str | None:
    """Removes the image by its tags (an ID would also take any tag added since the listing),
    or by its ID when it has none; the engine's reason when it refuses."""
    try:
        for reference in image.tags or (image.id,):
            client.images.remove(reference)
    except APIError as error:
        return str(error.explanation or error)
    return None


def plan(images: list[Image], keep: int) -> Plan:
    kept: list[tuple[Image, str]] = []
    removed: list[Image] = []
    groups: dict[tuple[str, str], list[Image]] = {}
    for image in images:
        groups.setdefault((image.target, image.arch), []).append(image)
    for group in groups.values():
        old = sorted((i for i in group if not i.current), key=lambda i: i.created, reverse=True)
        kept.extend((i, "current tag") for i in group if i.current)
        kept.extend((i, f"among the newest {keep}") for i in old[:keep])
        removed.extend(old[keep:])
    order = lambda i: (i.target, i.arch, i.created)  # noqa: E731
    return Plan(
        tuple(sorted(kept, key=lambda pair: order(pair[0]))), tuple(sorted(removed, key=order))
    )


def describe(image: Image) -> str:
    tags = ", ".join(t.rsplit(":", 1)[1] for t in image.tags) or "no tags"
    return f"{image.target} ({image.arch}) {image.id[7:19]} {image.created[:19]} [{tags}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=int, default=2, help="older images kept per target (2)")
    parser.add_argument("--apply", action="store_true", help="remove them (default: dry run)")
    parser.add_argument("--target", help="only this Pants address (e.g. containers/vllm:runtime)")
    args = parser.parse_args(argv)
    if args.keep < 0:
        parser.error(f"--keep {args.keep}: give 0 or more")

    client = engine()
    result = plan(labelled_images(client, args.target), args.keep)
    for image, why in result.keep:
        print(f"keep    {describe(image)}: {why}")
    for image in result.remove:
        print(f"{'remove' if args.apply else 'would remove'} {describe(image)}")
    # Layers shared with kept images stay: the figure is an upper bound.
    reclaim = sum(i.size for i in result.remove) / 1e9
    if not args.apply:
        print(f"{len(result.remove)} image(s), up to {reclaim:.1f} GB; nothing removed "
              "(dry run): add --apply to remove them")
        return 0
    failed = []
    for image in result.remove:
        reason = remove(client, image)
        if reason:
            failed.append(f"{describe(image)}: {reason}")
    for line in failed:
        print(f"left   {line}", file=sys.stderr)
    print(f"removed {len(result.remove) - len(failed)} image(s), up to {reclaim:.1f} GB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
