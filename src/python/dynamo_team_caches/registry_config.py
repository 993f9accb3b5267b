"""The team registry's configuration (Debian's docker-registry, the distribution server).

    PEX_MODULE=dynamo_team_caches.registry_config dist/team-caches/bgd.pex --data-dir DIR \
        [--bind 127.0.0.1] [--port 5000]

team-caches.sh runs it inside the bgd PEX (which carries PyYAML), like bgd_config.py. Images
are stored under <data_dir>/registry; deletes are allowed, so that old key tags can be removed
(docs/caching.md: Images). Plain HTTP on the bind address: Docker trusts 127.0.0.1 without TLS;
a registry for a team gets TLS and authentication in front (docs/caching.md says how).
"""

from __future__ import annotations

import argparse
import sys

import yaml

HEADER = (
    "# Written by team-caches.sh (registry_config.py); edited copies are overwritten on start.\n"
)


def config(*, data_dir: str, bind: str = "127.0.0.1", port: int = 5000) -> dict:
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": f"{data_dir}/registry"},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"{bind}:{port}"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    sys.stdout.write(HEADER + yaml.safe_dump(config(**vars(args)), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
