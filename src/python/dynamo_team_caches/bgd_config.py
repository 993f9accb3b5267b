"""BuildGrid's server configuration (bgd.yml) for the team caches, written as data.

    PEX_MODULE=dynamo_team_caches.bgd_config dist/team-caches/bgd.pex --data-dir DIR \
        [--bind 127.0.0.1] [--reapi-port 50051] [--redis-host 127.0.0.1] [--redis-port 6379] \
        [--action-cache-db 1]

team-caches.sh runs it inside the bgd PEX, so the file is written by the PyYAML that BuildGrid
reads it with, and no value (a data dir with a quote in it, say) can break its syntax.
BuildGrid's types are YAML tags on mappings (`!channel`, `!disk-storage`, ...); an object used
in two places (the CAS storage, the Redis connection, the action cache) is written once with an
anchor and referred to by alias, as BuildGrid's parser expects.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import yaml

HEADER = "# Written by team-caches.sh (bgd_config.py); edited copies are overwritten on start.\n"


@dataclass(eq=False)  # identity: the same object twice is one anchor and its alias
class Tagged:
    """A mapping with one of BuildGrid's tags; `anchor` names it where it is used again."""

    tag: str
    fields: dict = field(default_factory=dict)
    anchor: str | None = None


THREAD_POOL_SIZE = 128


def config(
    *,
    data_dir: str,
    bind: str = "127.0.0.1",
    reapi_port: int = 50051,
    redis_host: str = "127.0.0.1",
    redis_port: int = 6379,
    action_cache_db: int = 1,
) -> dict:
    """One instance (named "") serving the action cache, the CAS and ByteStream: a disk CAS
    under <data_dir>/cas, the action cache in Redis (so it survives a restart of BuildGrid)."""
    redis = Tagged(
        "!redis-connection",
        {"host": redis_host, "port": redis_port, "db": action_cache_db},
        anchor="redis",
    )
    cas = Tagged("!disk-storage", {"path": f"{data_dir}/cas"}, anchor="cas")
    # Action digest -> the ActionResult's digest (the ActionResult itself is a CAS blob). An
    # entry whose blobs are gone is dropped at its next lookup.
    action_cache = Tagged(
        "!redis-action-cache",
        {"storage": cas, "redis": redis, "allow-updates": True, "cache-failed-actions": False},
        anchor="action-cache",
    )
    return {
        "server": [Tagged("!channel", {"address": f"{bind}:{reapi_port}", "insecure-mode": True})],
        # gRPC threads, each serving one RPC at a time; an RPC beyond them is refused
        # (ResourceExhausted). BuildGrid's default, 5 per core, is 10 on a 2-core host, and a
        # Pants client opens up to 128 at once ([GLOBAL].remote_store_rpc_concurrency): a
        # refused download of an input fails the client's build.
        "thread-pool-size": THREAD_POOL_SIZE,
        "connections": [redis],
        "storages": [cas],
        "caches": [action_cache],
        "instances": [
            {
                "name": "",
                "services": [
                    Tagged("!action-cache", {"cache": action_cache}),
                    Tagged("!cas", {"storage": cas}),
                    Tagged("!bytestream", {"storage": cas}),
                ],
            }
        ],
    }


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes Tagged values, with their own anchor names (not `id001`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.anchor_names: dict[int, str] = {}

    def generate_anchor(self, node: yaml.Node) -> str:
        return self.anchor_names.get(id(node)) or super().generate_anchor(node)


def _represent_tagged(dumper: _Dumper, value: Tagged) -> yaml.Node:
    node = dumper.represent_mapping(value.tag, value.fields)
    if value.anchor:
        dumper.anchor_names[id(node)] = value.anchor
    return node


_Dumper.add_representer(Tagged, _represent_tagged)


def dump(data: dict) -> str:
    return HEADER + yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--reapi-port", type=int, default=50051)
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--action-cache-db", type=int, default=1)
    args = parser.parse_args(argv)
    sys.stdout.write(dump(config(**vars(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
