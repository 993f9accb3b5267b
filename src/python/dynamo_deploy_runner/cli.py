"""`python -m dynamo_deploy_runner SPEC.yaml [--info-root DIR] [--http-port N]`.

`./pants run deploy:agg` runs this with the spec and the docker-info.json of every image it
names, packaged by Pants in the same run (plugins/dynamo_deploy).
"""

from __future__ import annotations

import argparse
import sys

from dynamo_deploy_runner import runner
from dynamo_deploy_runner.spec import SpecError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dynamo_deploy_runner",
        description="Start a single-host Dynamo deployment from its spec.",
    )
    parser.add_argument("spec", help="the deployment's YAML spec (deploy/*.yaml)")
    parser.add_argument(
        "--info-root",
        default="dist",
        help="where Pants wrote the images' docker-info.json (default: dist)",
    )
    parser.add_argument(
        "--http-port", type=int, default=None, help="the frontend's port (default: a free one)"
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="ADDRESS=IMAGE",
        help="run IMAGE (an ID or tag) for the image address ADDRESS instead of the packaged one",
    )
    args = parser.parse_args(argv)
    try:
        spec = load(args.spec)
    except (OSError, SpecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    overrides = dict(item.split("=", 1) for item in args.image)
    try:
        ids = runner.image_ids_from_info(
            [i for i in spec.images() if i not in overrides], args.info_root
        )
    except runner.DeployError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return runner.run(spec, {**ids, **overrides}, args.http_port)
