"""BuildGrid's `bgd` command, with the team caches' CAS behind `!disk-storage`.

The bgd PEX's entry point. Every `!disk-storage` in bgd.yml (bgd_config.py writes one) is a
VerifiedDiskStorage (verified_storage.py): the same files, served only while their bytes hash to
their names. It takes the tag over rather than adding one because BuildGrid checks bgd.yml
against a schema of its own tags.
"""

from __future__ import annotations

from buildgrid.server.app import cli
from buildgrid.server.app.settings import parser

from dynamo_team_caches.verified_storage import VerifiedDiskStorage


def register() -> None:
    parser.object_tag("!disk-storage")(VerifiedDiskStorage)


def main() -> None:
    register()
    cli()


if __name__ == "__main__":
    main()
